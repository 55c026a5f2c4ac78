//! Sums over the pairs of the centred kernel matrices of two paired samples, streamed.
//!
//! With K_ij = k(x_i, x_j) and L_ij = l(y_i, y_j), the statistics are sums of
//! Kc_ij Lc_ij over centred matrices:
//!
//! - double centring, Kc = H K H with H = I - 11'/n (the diagonal kept):
//!   Kc_ij = K_ij - m_i - m_j + g with m the row means and g the grand mean; the
//!   V-statistics, HSIC_b = sum Kc Lc / n^2 and dCov_n^2 likewise;
//! - U-centring of the matrix with zero diagonal (Szekely & Rizzo 2014):
//!   Kc_ij = K_ij - r_i / (n - 2) - r_j / (n - 2) + r / ((n - 1)(n - 2)) for i != j,
//!   Kc_ii = 0; sum Kc Lc / (n (n - 3)) is the unbiased HSIC of Song et al. (2012) and
//!   the bias-corrected dCov^2.
//!
//! Expanding the product into raw sums (sum K L - 2/n sum r_i s_i + ...) cancels
//! catastrophically when the statistic is small against the kernel values, which is the
//! case under independence; so a first pass takes the row sums, and a second computes
//! the centred values themselves and sums their products. Each row's sums run over its
//! columns in order (plain sums within a tile segment folded into Neumaier
//! accumulators), and rows are added in order: the result does not depend on the
//! number of threads.

use std::ops::Range;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::sum::{neumaier_sum, Neumaier};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::kernel_product::{TileSource, COLS};
use crate::pairwise::kernels::Kernel;
use crate::pairwise::tiles::RadialTiles;

/// How the kernel matrices are centred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Centring {
    /// H K H of the matrix with its diagonal: the V-statistics.
    Double,
    /// U-centring of the matrix with zero diagonal: the unbiased statistics.
    U,
}

/// Sums over the pairs of the centred matrices Kc (of x) and Lc (of y).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CentredSums {
    /// sum_ij Kc_ij Lc_ij.
    pub kl: f64,
    /// sum_ij Kc_ij^2.
    pub kk: f64,
    /// sum_ij Lc_ij^2.
    pub ll: f64,
    /// sum_{i != j} (Kc_ij Lc_ij)^2, the variance term of the gamma approximation.
    pub kl_sq: f64,
    /// The mean of K off the diagonal.
    pub k_offdiag_mean: f64,
    /// The mean of L off the diagonal.
    pub l_offdiag_mean: f64,
}

/// The centring of one matrix: Kc_ij = K_ij - u_i - u_j + g off the diagonal.
pub(crate) struct Offsets {
    pub(crate) u: Vec<f64>,
    pub(crate) g: f64,
    /// Kc_ii - (K_ii - 2 u_i + g) is zero with double centring; U-centring sets
    /// Kc_ii = 0 instead (`None`).
    pub(crate) diagonal: Option<f64>,
}

impl Offsets {
    /// From the row sums off the diagonal `r` and the diagonal value `kd`.
    pub(crate) fn new(r: &[f64], kd: f64, centring: Centring) -> Self {
        let n = r.len() as f64;
        match centring {
            Centring::Double => {
                let u: Vec<f64> = r.iter().map(|&ri| (ri + kd) / n).collect();
                let g = neumaier_sum(u.iter().copied()) / n;
                Self {
                    u,
                    g,
                    diagonal: Some(kd),
                }
            }
            Centring::U => {
                let total = neumaier_sum(r.iter().copied());
                Self {
                    u: r.iter().map(|&ri| ri / (n - 2.0)).collect(),
                    g: total / ((n - 1.0) * (n - 2.0)),
                    diagonal: None,
                }
            }
        }
    }

    /// Kc_ii, or None where the centring sets the diagonal aside.
    #[inline]
    pub(crate) fn diagonal_value(&self, i: usize) -> Option<f64> {
        self.diagonal.map(|kd| kd - 2.0 * self.u[i] + self.g)
    }
}

/// Per-row sums over the paired tiles of K (x against itself) and L (y against itself):
/// `f(i, cols, k_row, l_row, partial)` adds row i's terms over `cols` into `partial`
/// (`A` values), which are folded into the row's Neumaier accumulators in column order.
fn row_sums_over<const A: usize, F>(
    kx: &RadialTiles,
    ly: &RadialTiles,
    ctl: &Control,
    f: F,
) -> Result<Vec<[Neumaier; A]>>
where
    F: Fn(usize, Range<usize>, &[f64], &[f64], &mut [f64; A]) + Sync,
{
    let n = kx.n_rows();
    let rt = kx.row_tile().max(ly.row_tile());
    let mut acc = vec![[Neumaier::new(); A]; n];
    acc.par_chunks_mut(rt)
        .enumerate()
        .for_each(|(t, acc_tile)| {
            if ctl.is_cancelled() {
                return;
            }
            let r0 = t * rt;
            let r1 = (r0 + rt).min(n);
            let rows = r1 - r0;
            let mut kt = vec![0.0f64; rows * COLS];
            let mut lt = vec![0.0f64; rows * COLS];
            let mut c0 = 0;
            while c0 < n {
                let c1 = (c0 + COLS).min(n);
                let w = c1 - c0;
                kx.fill(r0..r1, c0..c1, &mut kt[..rows * w]);
                ly.fill(r0..r1, c0..c1, &mut lt[..rows * w]);
                for (a, row_acc) in acc_tile.iter_mut().enumerate() {
                    let mut partial = [0.0f64; A];
                    f(
                        r0 + a,
                        c0..c1,
                        &kt[a * w..(a + 1) * w],
                        &lt[a * w..(a + 1) * w],
                        &mut partial,
                    );
                    for (s, p) in row_acc.iter_mut().zip(partial) {
                        s.add(p);
                    }
                }
                c0 = c1;
            }
        });
    ctl.check()?;
    Ok(acc)
}

/// Column j of a row segment over `cols`, the diagonal column i skipped.
#[inline]
fn off_diagonal(i: usize, cols: &Range<usize>) -> impl Iterator<Item = usize> {
    let c = cols.clone();
    c.filter(move |&j| j != i)
}

/// The number of paired rows of x and y, after checking the pairing and the kernels.
pub(crate) fn check_paired(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    kx: Kernel,
    ly: Kernel,
) -> Result<usize> {
    kx.validate()?;
    ly.validate()?;
    let n = x.nrows();
    if y.nrows() != n {
        return invalid(format!(
            "x and y must be paired row by row, got {n} and {} rows",
            y.nrows()
        ));
    }
    if x.ncols() == 0 || y.ncols() == 0 {
        return invalid("x and y need at least one feature each");
    }
    Ok(n)
}

/// The centred sums of K (kernel `kx` on x) and L (kernel `ly` on y), paired by row.
pub fn centred_sums(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    kx: Kernel,
    ly: Kernel,
    centring: Centring,
    ctl: &Control,
) -> Result<CentredSums> {
    let n = check_paired(x, y, kx, ly)?;
    let min_n = if centring == Centring::U { 4 } else { 2 };
    if n < min_n {
        return invalid(format!("need at least {min_n} paired rows, got {n}"));
    }
    let kt = RadialTiles::new(x, kx);
    let lt = RadialTiles::new(y, ly);
    // The tiles hold a zero diagonal: these are the row sums off the diagonal.
    let firsts = row_sums_over::<2, _>(&kt, &lt, ctl, |_, _, k, l, p| {
        p[0] = k.iter().sum();
        p[1] = l.iter().sum();
    })?;
    let rk: Vec<f64> = firsts.iter().map(|s| s[0].value()).collect();
    let rl: Vec<f64> = firsts.iter().map(|s| s[1].value()).collect();
    let nf = n as f64;
    let pairs = nf * (nf - 1.0);
    let k_offdiag_mean = neumaier_sum(rk.iter().copied()) / pairs;
    let l_offdiag_mean = neumaier_sum(rl.iter().copied()) / pairs;
    let ok = Offsets::new(&rk, kx.at_zero(), centring);
    let ol = Offsets::new(&rl, ly.at_zero(), centring);
    let seconds = row_sums_over::<4, _>(&kt, &lt, ctl, |i, cols, k, l, p| {
        let (ui, vi) = (ok.u[i] - ok.g, ol.u[i] - ol.g);
        let mut s = [0.0f64; 4];
        for j in off_diagonal(i, &cols) {
            let kc = k[j - cols.start] - ui - ok.u[j];
            let lc = l[j - cols.start] - vi - ol.u[j];
            let kl = kc * lc;
            s[0] += kl;
            s[1] += kc * kc;
            s[2] += lc * lc;
            s[3] += kl * kl;
        }
        if cols.contains(&i) {
            if let (Some(kc), Some(lc)) = (ok.diagonal_value(i), ol.diagonal_value(i)) {
                s[0] += kc * lc;
                s[1] += kc * kc;
                s[2] += lc * lc;
            }
        }
        *p = s;
    })?;
    let total = |q: usize| neumaier_sum(seconds.iter().map(|s| s[q].value()));
    Ok(CentredSums {
        kl: total(0),
        kk: total(1),
        ll: total(2),
        kl_sq: total(3),
        k_offdiag_mean,
        l_offdiag_mean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    /// The centred sums from dense matrices, written out index by index.
    #[allow(clippy::needless_range_loop)]
    fn dense(
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        k: Kernel,
        centring: Centring,
    ) -> [f64; 4] {
        let n = x.nrows();
        let gram = |z: ArrayView2<'_, f64>| {
            let mut g = vec![vec![0.0; n]; n];
            for i in 0..n {
                for j in 0..n {
                    let d2: f64 = z
                        .row(i)
                        .iter()
                        .zip(z.row(j))
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum();
                    g[i][j] = if i == j { k.at_zero() } else { k.eval_sq(d2) };
                }
            }
            g
        };
        let centre = |g: Vec<Vec<f64>>| {
            let nf = n as f64;
            let mut c = g.clone();
            match centring {
                Centring::Double => {
                    let m: Vec<f64> = g.iter().map(|r| r.iter().sum::<f64>() / nf).collect();
                    let gm = m.iter().sum::<f64>() / nf;
                    for i in 0..n {
                        for j in 0..n {
                            c[i][j] = g[i][j] - m[i] - m[j] + gm;
                        }
                    }
                }
                Centring::U => {
                    let r: Vec<f64> = (0..n)
                        .map(|i| (0..n).filter(|&j| j != i).map(|j| g[i][j]).sum())
                        .collect();
                    let t: f64 = r.iter().sum();
                    for i in 0..n {
                        for j in 0..n {
                            c[i][j] = if i == j {
                                0.0
                            } else {
                                g[i][j] - r[i] / (nf - 2.0) - r[j] / (nf - 2.0)
                                    + t / ((nf - 1.0) * (nf - 2.0))
                            };
                        }
                    }
                }
            }
            c
        };
        let (kc, lc) = (centre(gram(x)), centre(gram(y)));
        let mut s = [0.0; 4];
        for i in 0..n {
            for j in 0..n {
                s[0] += kc[i][j] * lc[i][j];
                s[1] += kc[i][j] * kc[i][j];
                s[2] += lc[i][j] * lc[i][j];
                if i != j {
                    s[3] += (kc[i][j] * lc[i][j]).powi(2);
                }
            }
        }
        s
    }

    #[test]
    fn streamed_sums_match_dense_matrices() {
        let ctl = Control::new();
        for (n, dx, dy) in [(7, 1, 3), (300, 2, 20), (333, 40, 5)] {
            let x = random_points(n, dx, 1);
            let y = random_points(n, dy, 2);
            for k in [Kernel::Gaussian { bandwidth: 1.3 }, Kernel::Energy] {
                for c in [Centring::Double, Centring::U] {
                    let got = centred_sums(x.view(), y.view(), k, k, c, &ctl).unwrap();
                    let want = dense(x.view(), y.view(), k, c);
                    for (g, w) in [got.kl, got.kk, got.ll].iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-9 * w.abs().max(1e-3),
                            "{g} vs {w} ({n}, {c:?})"
                        );
                    }
                    if c == Centring::Double {
                        assert!((got.kl_sq - want[3]).abs() <= 1e-9 * want[3]);
                    }
                }
            }
        }
    }

    #[test]
    fn the_same_bits_on_any_thread_count() {
        let x = random_points(700, 3, 3);
        let y = random_points(700, 30, 4);
        let k = Kernel::Laplace { bandwidth: 2.0 };
        let run = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| {
                    centred_sums(
                        x.view(),
                        y.view(),
                        k,
                        Kernel::Energy,
                        Centring::U,
                        &Control::new(),
                    )
                    .unwrap()
                })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}
