//! Kernel Stein discrepancy: the Stein kernel in tiles, KSD^2 and its wild bootstrap.
//!
//! For a radial base kernel k(x, x') = phi(t), t = |x - x'|^2, delta = x - x', and the
//! scores s = grad log p(x), s' = grad log p(x'), the Stein kernel is
//!
//!   u_p(x, x') = phi s.s' + 2 phi' (s' - s).delta - 2 d phi' - 4 t phi''
//!
//! (s' k + grad_x' k) . (s k + grad_x k) expanded; Liu, Lee & Jordan 2016, eq. 6;
//! Gorham & Mackey 2017). It is never stored: KSD^2 and the bootstrap use streamed
//! products U = H V (`kernel_product`).
//!
//! Two paths, as for the other kernels (`pairwise`): coordinate differences on SIMD
//! lanes below `GRAM_FROM_D` dimensions; from there every term from inner products
//! through the Gram microkernels. With x~ = x - c centred on the sample mean and
//! a_i = s_i . x~_i,
//!
//!   t = |x~|^2 + |x~'|^2 - 2 x~.x~',   s.s',
//!   (s' - s).delta = [x~, s] . [s', x~'] - a - a'
//!
//! (the last a product of 2d-vectors), and any pair whose t is within the expansion's
//! error bound is recomputed by differences, as for the squared distances.

use std::ops::Range;

use ndarray::{Array2, ArrayView2};

use crate::arith::exp::{exp, fma};
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::arith::sum::neumaier_sum;
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::differences::PackedPoints;
use crate::pairwise::gram::{chunk_dots, pooled_mean, GramPoints, GramRows};
use crate::pairwise::kernel_product::{
    blocks_of, kernel_times, store_block, zero_diagonal, TileSource, GRAM_ROWS, ROWS,
};
use crate::pairwise::LANES;
use crate::pairwise::{use_gram, with_group_rows};

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
    /// The packed operands of the Gram path, from d = `GRAM_FROM_D`.
    gram: Option<SteinGram>,
}

/// The Stein kernel's operands on the Gram path.
struct SteinGram {
    /// x centred on its mean, the scores, and [s | x~] as columns.
    x: GramPoints<f64>,
    s: GramPoints<f64>,
    sx: GramPoints<f64>,
    /// [x~ | s] (n, 2d), the rows against `sx`.
    xs: Array2<f64>,
    /// a_i = s_i . x~_i.
    a: Vec<f64>,
}

impl SteinGram {
    fn new(x: ArrayView2<'_, f64>, s: ArrayView2<'_, f64>) -> Self {
        let (n, d) = x.dim();
        let centre = pooled_mean(&[x.view()]);
        let mut xs = Array2::<f64>::zeros((n, 2 * d));
        let mut sx = Array2::<f64>::zeros((n, 2 * d));
        let mut a = vec![0.0f64; n];
        for i in 0..n {
            let mut ai = 0.0;
            for k in 0..d {
                let xc = x[[i, k]] - centre[k];
                xs[[i, k]] = xc;
                xs[[i, d + k]] = s[[i, k]];
                sx[[i, k]] = s[[i, k]];
                sx[[i, d + k]] = xc;
                ai += s[[i, k]] * xc;
            }
            a[i] = ai;
        }
        Self {
            x: GramPoints::pack_on(x, None, centre),
            s: GramPoints::pack_on(s, None, vec![0.0; d]),
            sx: GramPoints::pack_on(sx.view(), None, vec![0.0; 2 * d]),
            xs,
            a,
        }
    }
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
            gram: use_gram::<f64>(d).then(|| SteinGram::new(x, s)),
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

/// One tile of the Stein kernel on the Gram path as a job for [`dispatch`].
struct FillSteinGram<'a> {
    isa: Isa,
    src: &'a SteinTiles,
    gram: &'a SteinGram,
    rows: Range<usize>,
    cols: Range<usize>,
    out: &'a mut [f64],
}

impl IsaJob for FillSteinGram<'_> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        with_group_rows!(self.isa, f64, |G| fill_stein_gram::<G, FMA>(self))
    }
}

#[inline(always)]
fn fill_stein_gram<const G: usize, const FMA: bool>(job: FillSteinGram<'_>) {
    let FillSteinGram {
        isa,
        src,
        gram,
        rows,
        cols,
        out,
    } = job;
    let (n, d) = (src.n, src.d);
    let df = d as f64;
    let x = ArrayView2::from_shape((n, d), &src.x[..]).expect("n x d rows");
    let s = ArrayView2::from_shape((n, d), &src.s[..]).expect("n x d scores");
    let px = GramRows::pack(&x, rows.clone(), G, &gram.x);
    let ps = GramRows::pack(&s, rows.clone(), G, &gram.s);
    let pxs = GramRows::pack(&gram.xs.view(), rows.clone(), G, &gram.sx);
    let blocks = blocks_of(&cols);
    let nb = blocks.len();
    let n_groups = px.n_groups();
    let zero = vec![[[0.0f64; LANES]; G]; n_groups * nb];
    let (mut dx, mut ds, mut dc) = (zero.clone(), zero.clone(), zero);
    chunk_dots::<f64, G, FMA>(isa, &px, &gram.x, blocks.clone(), &mut dx);
    chunk_dots::<f64, G, FMA>(isa, &ps, &gram.s, blocks.clone(), &mut ds);
    chunk_dots::<f64, G, FMA>(isa, &pxs, &gram.sx, blocks.clone(), &mut dc);
    let factor = gram.x.factor();
    let width = cols.len();
    for q in 0..n_groups {
        let (_, gn) = px.group(q);
        let row0 = rows.start + q * G;
        for b in blocks.clone() {
            let at = q * nb + b - blocks.start;
            let (_, ny, _) = gram.x.block(b);
            let aj: &[f64; LANES] = &gram.a_block(b);
            for r in 0..G.min(rows.end.saturating_sub(row0)) {
                let i = row0 + r;
                let a = i - rows.start;
                let mut vals = [0.0f64; LANES];
                let mut suspect = false;
                let mut t = [0.0f64; LANES];
                let mut sd = [0.0f64; LANES];
                for j in 0..LANES {
                    let s2 = gn[r] + ny[j];
                    let tj = s2 - 2.0 * dx[at][r][j];
                    suspect |= tj < factor * s2;
                    t[j] = tj.max(0.0);
                    sd[j] = dc[at][r][j] - gram.a[i] - aj[j];
                }
                if suspect {
                    // Near pairs: t and (s' - s).delta by differences, exactly.
                    for j in 0..LANES {
                        let c = b * LANES + j;
                        if c < n && t[j] < factor * (gn[r] + ny[j]) {
                            let (mut tt, mut dd) = (0.0, 0.0);
                            for k in 0..d {
                                let dk = x[[i, k]] - x[[c, k]];
                                tt += dk * dk;
                                dd += (s[[c, k]] - s[[i, k]]) * dk;
                            }
                            t[j] = tt;
                            sd[j] = dd;
                        }
                    }
                }
                for j in 0..LANES {
                    let (phi, dphi, ddphi) = src.base.derivatives::<FMA>(t[j]);
                    let v = phi * ds[at][r][j] + 2.0 * dphi * sd[j];
                    vals[j] = v - 2.0 * df * dphi - 4.0 * t[j] * ddphi;
                }
                let out_row = &mut out[a * width..(a + 1) * width];
                store_block(out_row, &cols, b, &vals);
            }
        }
    }
    if !src.include_diagonal {
        for (a, i) in rows.enumerate() {
            zero_diagonal(&mut out[a * width..(a + 1) * width], &cols, i);
        }
    }
}

impl SteinGram {
    /// a_j for the points of block `b`, zero on padding lanes.
    #[inline(always)]
    fn a_block(&self, b: usize) -> [f64; LANES] {
        let mut out = [0.0f64; LANES];
        let j0 = b * LANES;
        let w = LANES.min(self.a.len().saturating_sub(j0));
        out[..w].copy_from_slice(&self.a[j0..j0 + w]);
        out
    }
}

impl TileSource for SteinTiles {
    fn row_tile(&self) -> usize {
        if self.gram.is_some() {
            GRAM_ROWS
        } else {
            ROWS
        }
    }
    fn n_rows(&self) -> usize {
        self.n
    }
    fn n_cols(&self) -> usize {
        self.n
    }
    fn fill(&self, rows: Range<usize>, cols: Range<usize>, out: &mut [f64]) {
        let isa = Isa::current();
        if let Some(gram) = &self.gram {
            return dispatch(
                isa,
                FillSteinGram {
                    isa,
                    src: self,
                    gram,
                    rows,
                    cols,
                    out,
                },
            );
        }
        dispatch(
            isa,
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
    fn gram_path_matches_pairwise_formula_far_from_origin() {
        let ctl = Control::new();
        for d in [16usize, 40, 100] {
            let n = 90;
            let mut x = random_points(n, d, 3);
            let mut s = random_points(n, d, 4);
            for k in 0..d {
                x[[5, k]] = x[[9, k]] + 1e-7; // a near-duplicate pair
                s[[5, k]] = s[[9, k]] * 0.5;
            }
            x.mapv_inplace(|v| v + 1e3);
            s.mapv_inplace(|v| 3.0 * v);
            for base in [
                SteinBase::Imq { bandwidth: 2.0 },
                SteinBase::Gaussian {
                    bandwidth: (d as f64).sqrt(),
                },
            ] {
                let (mut off, mut diag, mut scale) = (0.0, 0.0, 0.0);
                for i in 0..n {
                    for j in 0..n {
                        let u = stein_pair(
                            base,
                            x.row(i).as_slice().unwrap(),
                            x.row(j).as_slice().unwrap(),
                            s.row(i).as_slice().unwrap(),
                            s.row(j).as_slice().unwrap(),
                        );
                        scale += u.abs();
                        if i == j {
                            diag += u
                        } else {
                            off += u
                        }
                    }
                }
                let nf = n as f64;
                let u = ksd_squared(x.view(), s.view(), base, true, &ctl).unwrap();
                let v = ksd_squared(x.view(), s.view(), base, false, &ctl).unwrap();
                let tol = 1e-11 * scale / (nf * (nf - 1.0));
                assert!(
                    (u - off / (nf * (nf - 1.0))).abs() < tol,
                    "d={d} {base:?} U"
                );
                assert!(
                    (v - (off + diag) / (nf * nf)).abs() < tol,
                    "d={d} {base:?} V"
                );
            }
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
