//! Kernel Stein discrepancy: the Stein kernel in tiles, KSD^2 and its wild bootstrap.
//!
//! For a radial base kernel k(x, x') = phi(t), t = |x - x'|^2, delta = x - x', and the
//! scores s = grad log p(x), s' = grad log p(x'), the Stein kernel is
//!
//!   u_p(x, x') = phi s.s' + 2 phi' (s' - s).delta - 2 d phi' - 4 t phi''
//!
//! (s' k + grad_x' k) . (s k + grad_x k) expanded; Liu, Lee & Jordan 2016, eq. 6;
//! Gorham & Mackey 2017). It is computed on SIMD lanes like the other kernels, and never
//! stored: KSD^2 and the bootstrap use streamed products U = H V (`kernel_product`).

use std::ops::Range;

use ndarray::{Array2, ArrayView2};

use crate::arith::exp::{exp, fma};
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::arith::sum::neumaier_sum;
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::kernel::kernel_product::{
    blocks_of, kernel_times, store_block, zero_diagonal, TileSource,
};
use crate::kernel::pairsum::{PackedPoints, LANES};

/// Base kernel of the Stein kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SteinBase {
    /// (1 + t / h^2)^(-1/2) (Gorham & Mackey 2017 with beta = -1/2, c = h).
    Imq { bandwidth: f64 },
    /// exp(-t / (2 h^2))
    Gaussian { bandwidth: f64 },
}

impl SteinBase {
    pub fn from_name(name: &str, bandwidth: f64) -> Result<Self> {
        if !(bandwidth.is_finite() && bandwidth > 0.0) {
            return invalid(format!(
                "bandwidth must be finite and positive, got {bandwidth}"
            ));
        }
        match name {
            "imq" => Ok(SteinBase::Imq { bandwidth }),
            "gaussian" => Ok(SteinBase::Gaussian { bandwidth }),
            _ => invalid(format!(
                "unknown Stein base kernel {name:?}; expected \"imq\" or \"gaussian\""
            )),
        }
    }

    /// (phi, phi', phi'') at t.
    #[inline(always)]
    fn derivatives<const FMA: bool>(&self, t: f64) -> (f64, f64, f64) {
        match *self {
            SteinBase::Imq { bandwidth } => {
                let c = 1.0 / (bandwidth * bandwidth);
                let r = 1.0 / fma::<FMA>(t, c, 1.0).sqrt();
                let r2 = r * r;
                (r, -0.5 * c * r * r2, 0.75 * c * c * r * r2 * r2)
            }
            SteinBase::Gaussian { bandwidth } => {
                let c = 1.0 / (2.0 * bandwidth * bandwidth);
                let phi = exp::<FMA>(-t * c);
                (phi, -c * phi, c * c * phi)
            }
        }
    }
}

struct SteinTiles {
    base: SteinBase,
    x: Vec<f64>,
    s: Vec<f64>,
    d: usize,
    n: usize,
    px: PackedPoints,
    ps: PackedPoints,
    include_diagonal: bool,
}

impl SteinTiles {
    fn new(
        x: ArrayView2<'_, f64>,
        s: ArrayView2<'_, f64>,
        base: SteinBase,
        include_diagonal: bool,
    ) -> Result<Self> {
        let (n, d) = x.dim();
        if s.dim() != (n, d) {
            return invalid(format!(
                "scores have shape {:?}, expected {:?} like the sample",
                s.dim(),
                (n, d)
            ));
        }
        if d == 0 {
            return invalid("the sample has zero features");
        }
        let flat =
            |a: ArrayView2<'_, f64>| a.rows().into_iter().flatten().copied().collect::<Vec<_>>();
        Ok(Self {
            base,
            x: flat(x),
            s: flat(s),
            d,
            n,
            px: PackedPoints::pack(x, None),
            ps: PackedPoints::pack(s, None),
            include_diagonal,
        })
    }
}

struct FillStein<'a> {
    src: &'a SteinTiles,
    rows: Range<usize>,
    cols: Range<usize>,
    out: &'a mut [f64],
}

impl IsaJob for FillStein<'_> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let FillStein {
            src,
            rows,
            cols,
            out,
        } = self;
        let (d, width) = (src.d, cols.len());
        let df = d as f64;
        for (a, i) in rows.enumerate() {
            let xi = &src.x[i * d..(i + 1) * d];
            let si = &src.s[i * d..(i + 1) * d];
            let out_row = &mut out[a * width..(a + 1) * width];
            for b in blocks_of(&cols) {
                let (xb, _) = src.px.block(b);
                let (sb, _) = src.ps.block(b);
                let mut t = [0.0f64; LANES];
                let mut ss = [0.0f64; LANES];
                let mut sd = [0.0f64; LANES];
                for k in 0..d {
                    let xk: &[f64; LANES] = xb[k * LANES..(k + 1) * LANES].try_into().unwrap();
                    let sk: &[f64; LANES] = sb[k * LANES..(k + 1) * LANES].try_into().unwrap();
                    for j in 0..LANES {
                        let dx = xi[k] - xk[j];
                        t[j] = fma::<FMA>(dx, dx, t[j]);
                        ss[j] = fma::<FMA>(si[k], sk[j], ss[j]);
                        sd[j] = fma::<FMA>(sk[j] - si[k], dx, sd[j]);
                    }
                }
                let mut vals = [0.0f64; LANES];
                for j in 0..LANES {
                    let (phi, dphi, ddphi) = src.base.derivatives::<FMA>(t[j]);
                    let v = phi * ss[j] + 2.0 * dphi * sd[j];
                    vals[j] = v - 2.0 * df * dphi - 4.0 * t[j] * ddphi;
                }
                store_block(out_row, &cols, b, &vals);
            }
            if !src.include_diagonal {
                zero_diagonal(out_row, &cols, i);
            }
        }
    }
}

impl TileSource for SteinTiles {
    fn n_rows(&self) -> usize {
        self.n
    }
    fn n_cols(&self) -> usize {
        self.n
    }
    fn fill(&self, rows: Range<usize>, cols: Range<usize>, out: &mut [f64]) {
        dispatch(
            Isa::current(),
            FillStein {
                src: self,
                rows,
                cols,
                out,
            },
        )
    }
}

/// Squared KSD of the sample x (n, d) with scores s = grad log p(x):
/// the U-statistic sum_{i != j} u_p(x_i, x_j) / (n (n - 1)) when `unbiased`, else the
/// V-statistic sum_{i, j} u_p(x_i, x_j) / n^2.
pub fn ksd_squared(
    x: ArrayView2<'_, f64>,
    s: ArrayView2<'_, f64>,
    base: SteinBase,
    unbiased: bool,
    ctl: &Control,
) -> Result<f64> {
    let n = x.nrows();
    let min = if unbiased { 2 } else { 1 };
    if n < min {
        return invalid(format!("KSD needs at least {min} points, got {n}"));
    }
    let tiles = SteinTiles::new(x, s, base, !unbiased)?;
    let ones = Array2::<f64>::ones((n, 1));
    let rows = kernel_times(&tiles, ones.view(), ctl)?;
    let total = neumaier_sum(rows.iter().copied());
    let nf = n as f64;
    Ok(if unbiased {
        total / (nf * (nf - 1.0))
    } else {
        total / (nf * nf)
    })
}

/// Wild-bootstrap replicates of the KSD^2 V-statistic: for each column w of `signs`
/// (n, P; Rademacher +-1), sum_ij w_i w_j u_p(x_i, x_j) / n^2
/// (Chwialkowski, Strathmann & Gretton 2016; Liu, Lee & Jordan 2016).
pub fn ksd_wild_bootstrap(
    x: ArrayView2<'_, f64>,
    s: ArrayView2<'_, f64>,
    base: SteinBase,
    signs: ArrayView2<'_, f64>,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let n = x.nrows();
    if signs.nrows() != n {
        return invalid(format!("signs have {} rows, expected {n}", signs.nrows()));
    }
    let tiles = SteinTiles::new(x, s, base, true)?;
    let u = kernel_times(&tiles, signs, ctl)?;
    let nf = n as f64;
    Ok((0..signs.ncols())
        .map(|p| neumaier_sum((0..n).map(|i| signs[[i, p]] * u[[i, p]])) / (nf * nf))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    /// u_p by finite-difference-free direct formula with libm, for one pair.
    fn stein_pair(base: SteinBase, x: &[f64], y: &[f64], sx: &[f64], sy: &[f64]) -> f64 {
        let d = x.len() as f64;
        let t: f64 = x.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum();
        let (phi, dphi, ddphi) = match base {
            SteinBase::Imq { bandwidth: h } => {
                let a = 1.0 + t / (h * h);
                (
                    a.powf(-0.5),
                    -0.5 / (h * h) * a.powf(-1.5),
                    0.75 / h.powi(4) * a.powf(-2.5),
                )
            }
            SteinBase::Gaussian { bandwidth: h } => {
                let p = (-t / (2.0 * h * h)).exp();
                (p, -p / (2.0 * h * h), p / (4.0 * h.powi(4)))
            }
        };
        // (s_x k + grad_x k) . (s_y k + grad_y k) written out term by term.
        let grad_x: Vec<f64> = x.iter().zip(y).map(|(a, b)| 2.0 * dphi * (a - b)).collect();
        let grad_y: Vec<f64> = grad_x.iter().map(|g| -g).collect();
        let sxsy: f64 = sx.iter().zip(sy).map(|(a, b)| a * b).sum();
        let sx_grady: f64 = sx.iter().zip(&grad_y).map(|(a, b)| a * b).sum();
        let sy_gradx: f64 = sy.iter().zip(&grad_x).map(|(a, b)| a * b).sum();
        sxsy * phi + sx_grady + sy_gradx - 4.0 * t * ddphi - 2.0 * d * dphi
    }

    #[test]
    fn ksd_matches_pairwise_formula() {
        let ctl = Control::new();
        let x = random_points(70, 3, 1);
        let s = random_points(70, 3, 2);
        for base in [
            SteinBase::Imq { bandwidth: 1.3 },
            SteinBase::Gaussian { bandwidth: 0.8 },
        ] {
            let (mut off, mut diag) = (0.0, 0.0);
            for i in 0..70 {
                for j in 0..70 {
                    let u = stein_pair(
                        base,
                        x.row(i).as_slice().unwrap(),
                        x.row(j).as_slice().unwrap(),
                        s.row(i).as_slice().unwrap(),
                        s.row(j).as_slice().unwrap(),
                    );
                    if i == j {
                        diag += u
                    } else {
                        off += u
                    }
                }
            }
            let u = ksd_squared(x.view(), s.view(), base, true, &ctl).unwrap();
            let v = ksd_squared(x.view(), s.view(), base, false, &ctl).unwrap();
            assert!((u - off / (70.0 * 69.0)).abs() < 1e-12, "{base:?} U");
            assert!((v - (off + diag) / 4900.0).abs() < 1e-12, "{base:?} V");
            // A bootstrap with all signs +1 is the V-statistic itself.
            let ones = Array2::<f64>::ones((70, 2));
            let b = ksd_wild_bootstrap(x.view(), s.view(), base, ones.view(), &ctl).unwrap();
            assert!((b[0] - v).abs() < 1e-12 && (b[1] - v).abs() < 1e-12);
        }
    }

    #[test]
    fn shape_errors() {
        let ctl = Control::new();
        let x = random_points(10, 3, 1);
        let s = random_points(10, 2, 2);
        let base = SteinBase::Imq { bandwidth: 1.0 };
        assert!(ksd_squared(x.view(), s.view(), base, true, &ctl).is_err());
        assert!(SteinBase::from_name("laplace", 1.0).is_err());
        assert!(SteinBase::from_name("imq", 0.0).is_err());
    }
}
