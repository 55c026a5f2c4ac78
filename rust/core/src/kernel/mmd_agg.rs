//! The permutation statistics of the aggregated MMD test (MMDAgg, Schrab et al. 2023):
//! the unbiased MMD^2 of every kernel of a collection under every permutation of the
//! pooled sample, in one pass over the pooled pairs.
//!
//! With v the +-1 label vector of a permutation (+1: the x group), K a pooled kernel
//! matrix with zero diagonal, r = K 1 and t = 1' K 1,
//!
//!   q = v' K v = S_xx + S_yy - 2 S_xy,  s = r' v = S_xx - S_yy,  t = S_xx + S_yy + 2 S_xy,
//!
//! so each permutation needs the one quadratic form q. K is symmetric: the pass visits
//! each unordered pair of tiles once (twice the off-diagonal tiles' share), so the
//! quadratic forms cost N^2 P flops per kernel instead of 2 N^2 P. Each tile's squared
//! distances are computed once and shared by every kernel of the collection (only the
//! kernel function changes), and its product with the label vectors is a blocked GEMM
//! (`matrixmultiply`).
//!
//! Each Rayon task owns a row tile and visits the column tiles from the diagonal on in
//! order; the tasks' partial sums are added in tile order, so the result does not
//! depend on the number of threads.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::kernels::Kernel;
use crate::pairwise::tiles::RadialTiles;

/// Rows and columns of a tile (a multiple of the pair engine's lanes).
const TILE: usize = 256;
/// Bytes of the label vectors per batch of permutations.
const BATCH_BYTES: usize = 256 << 20;

/// The unbiased MMD^2 of each kernel (rows of the result) under each permutation
/// (columns): `in_x[p, i]` says whether pooled point i is in the x group under
/// permutation p. Every row of `in_x` must mark the same number n of points, with
/// n >= 2 and N - n >= 2.
pub fn mmd_agg_statistics(
    z: ArrayView2<'_, f64>,
    in_x: ArrayView2<'_, bool>,
    kernels: &[Kernel],
    ctl: &Control,
) -> Result<Array2<f64>> {
    let (big_n, d) = z.dim();
    if kernels.is_empty() {
        return invalid("the kernel collection is empty");
    }
    for k in kernels {
        k.validate()?;
    }
    if d == 0 {
        return invalid("the pooled sample has zero features");
    }
    if in_x.ncols() != big_n {
        return invalid(format!(
            "group masks have {} columns but there are {big_n} pooled points",
            in_x.ncols()
        ));
    }
    let n = in_x.row(0).iter().filter(|&&b| b).count();
    if in_x
        .rows()
        .into_iter()
        .any(|r| r.iter().filter(|&&b| b).count() != n)
    {
        return invalid("every permutation must put the same number of points in the x group");
    }
    let m = big_n - n;
    if n < 2 || m < 2 {
        return invalid(format!(
            "each group needs at least 2 points, got {n} and {m}"
        ));
    }
    let n_perm = in_x.nrows();
    let tiles = RadialTiles::new(z, kernels[0]);
    let per_batch = (BATCH_BYTES / (8 * big_n)).clamp(1, n_perm.max(1));
    let (nf, mf) = (n as f64, m as f64);
    let mut out = Array2::<f64>::zeros((kernels.len(), n_perm));
    for first in (0..n_perm).step_by(per_batch) {
        let last = (first + per_batch).min(n_perm);
        let labels = signs(in_x.slice(ndarray::s![first..last, ..]));
        let (q, r) = quadratic_forms(&tiles, kernels, &labels, big_n, last - first, ctl)?;
        let pb = last - first;
        // s = r' v for every kernel and permutation: one (L x N) (N x P) product.
        let mut s = vec![0.0f64; kernels.len() * pb];
        // SAFETY: r is L x N, labels N x pb and s L x pb, all row-major and in bounds.
        unsafe {
            matrixmultiply::dgemm(
                kernels.len(),
                big_n,
                pb,
                1.0,
                r.as_ptr(),
                big_n as isize,
                1,
                labels.as_ptr(),
                pb as isize,
                1,
                0.0,
                s.as_mut_ptr(),
                pb as isize,
                1,
            );
        }
        for l in 0..kernels.len() {
            let t: f64 = r[l * big_n..(l + 1) * big_n].iter().sum();
            for p in 0..pb {
                let (q, s) = (q[l * pb + p], s[l * pb + p]);
                let (within, sxy) = ((q + t) / 2.0, (t - q) / 4.0);
                let (sxx, syy) = ((within + s) / 2.0, (within - s) / 2.0);
                out[[l, first + p]] =
                    sxx / (nf * (nf - 1.0)) + syy / (mf * (mf - 1.0)) - 2.0 * sxy / (nf * mf);
            }
        }
    }
    Ok(out)
}

/// The labels as an N x P row-major matrix of +-1 (+1: the x group).
fn signs(in_x: ArrayView2<'_, bool>) -> Vec<f64> {
    let (pb, big_n) = in_x.dim();
    let mut v = vec![-1.0f64; big_n * pb];
    for (p, mask) in in_x.rows().into_iter().enumerate() {
        for (i, &inx) in mask.iter().enumerate() {
            if inx {
                v[i * pb + p] = 1.0;
            }
        }
    }
    v
}

/// q[l * P + p] = v_p' K_l v_p and r[l * N + i] = (K_l 1)_i, K_l with zero diagonal.
fn quadratic_forms(
    tiles: &RadialTiles,
    kernels: &[Kernel],
    labels: &[f64],
    big_n: usize,
    pb: usize,
    ctl: &Control,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let n_tiles = big_n.div_ceil(TILE);
    let n_kernels = kernels.len();
    let parts: Vec<(Vec<f64>, Vec<f64>)> = (0..n_tiles)
        .into_par_iter()
        .map(|ti| {
            let mut q = vec![0.0f64; n_kernels * pb];
            let mut r = vec![0.0f64; n_kernels * big_n];
            let (r0, r1) = (ti * TILE, ((ti + 1) * TILE).min(big_n));
            let rows = r1 - r0;
            let mut d2 = vec![0.0f64; TILE * TILE];
            let mut kt = vec![0.0f64; TILE * TILE];
            let mut w = vec![0.0f64; TILE * pb];
            for tj in ti..n_tiles {
                if ctl.is_cancelled() {
                    break;
                }
                let (c0, c1) = (tj * TILE, ((tj + 1) * TILE).min(big_n));
                let cols = c1 - c0;
                tiles.fill_sqdist(r0..r1, c0..c1, &mut d2[..rows * cols]);
                for (l, kernel) in kernels.iter().enumerate() {
                    let rl = &mut r[l * big_n..(l + 1) * big_n];
                    for a in 0..rows {
                        let (src, dst) = (
                            &d2[a * cols..(a + 1) * cols],
                            &mut kt[a * cols..(a + 1) * cols],
                        );
                        let mut row_sum = 0.0;
                        for (b, (&dd, kv)) in src.iter().zip(dst.iter_mut()).enumerate() {
                            let v = if ti == tj && a == b {
                                0.0
                            } else {
                                kernel.eval_sq(dd)
                            };
                            *kv = v;
                            row_sum += v;
                        }
                        rl[r0 + a] += row_sum;
                    }
                    if tj > ti {
                        for a in 0..rows {
                            let ka = &kt[a * cols..(a + 1) * cols];
                            for (rc, &v) in rl[c0..c1].iter_mut().zip(ka) {
                                *rc += v;
                            }
                        }
                    }
                    let alpha = if tj > ti { 2.0 } else { 1.0 };
                    // SAFETY: kt is rows x cols, the label rows c0..c1 are cols x pb and
                    // w is rows x pb, all row-major and in bounds.
                    unsafe {
                        matrixmultiply::dgemm(
                            rows,
                            cols,
                            pb,
                            alpha,
                            kt.as_ptr(),
                            cols as isize,
                            1,
                            labels.as_ptr().add(c0 * pb),
                            pb as isize,
                            1,
                            0.0,
                            w.as_mut_ptr(),
                            pb as isize,
                            1,
                        );
                    }
                    let ql = &mut q[l * pb..(l + 1) * pb];
                    for a in 0..rows {
                        let va = &labels[(r0 + a) * pb..(r0 + a + 1) * pb];
                        let wa = &w[a * pb..(a + 1) * pb];
                        for ((qp, &vp), &wp) in ql.iter_mut().zip(va).zip(wa) {
                            *qp += vp * wp;
                        }
                    }
                }
            }
            (q, r)
        })
        .collect();
    ctl.check()?;
    let mut q = vec![0.0f64; n_kernels * pb];
    let mut r = vec![0.0f64; n_kernels * big_n];
    for (pq, pr) in parts {
        q.iter_mut().zip(&pq).for_each(|(a, b)| *a += b);
        r.iter_mut().zip(&pr).for_each(|(a, b)| *a += b);
    }
    Ok((q, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::mmd_null::mmd_permutation_null;
    use crate::test_util::{random_points, split_masks};

    #[test]
    fn every_kernel_and_permutation_equals_the_single_kernel_null() {
        let ctl = Control::new();
        // d = 3: tiles by differences; d = 40, far from the origin: the Gram path;
        // 300 points: a full tile and a partial one.
        for (d, offset, h) in [(3, 0.0, 0.9), (40, 1e3, 6.0)] {
            let z = random_points(300, d, 3) + offset;
            let (n, big_n) = (130, 300);
            let masks = split_masks(6, big_n, n);
            let kernels = [
                Kernel::Gaussian { bandwidth: h },
                Kernel::Laplace { bandwidth: 0.5 * h },
                Kernel::Imq { bandwidth: 2.0 * h },
                Kernel::Gaussian { bandwidth: 4.0 * h },
            ];
            let all = mmd_agg_statistics(z.view(), masks.view(), &kernels, &ctl).unwrap();
            for (l, &k) in kernels.iter().enumerate() {
                let want = mmd_permutation_null(z.view(), masks.view(), k, &ctl).unwrap();
                for (p, w) in want.iter().enumerate() {
                    assert!(
                        (all[[l, p]] - w).abs() < 1e-12,
                        "{k:?} perm {p}: {} vs {w}",
                        all[[l, p]]
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_unequal_groups_and_no_kernels() {
        let ctl = Control::new();
        let z = random_points(10, 2, 1);
        let k = [Kernel::Gaussian { bandwidth: 1.0 }];
        let masks = Array2::from_shape_fn((2, 10), |(p, i)| i < 4 + p);
        assert!(mmd_agg_statistics(z.view(), masks.view(), &k, &ctl).is_err());
        let one = Array2::from_shape_fn((1, 10), |(_, i)| i < 1);
        assert!(mmd_agg_statistics(z.view(), one.view(), &k, &ctl).is_err());
        let fine = Array2::from_shape_fn((1, 10), |(_, i)| i < 5);
        assert!(mmd_agg_statistics(z.view(), fine.view(), &[], &ctl).is_err());
    }
}
