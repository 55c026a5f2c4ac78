//! The permutation null distribution of the unbiased MMD^2.
//!
//! For a permutation whose first n pooled points form the "x" group, with v its 0/1
//! membership vector and K the pooled kernel matrix with zero diagonal,
//!
//!   S_xx = v' K v,  S_xy = v' (r - K v),  S_yy = (1 - v)' (r - K v),  r = K 1,
//!
//! and MMD_u^2 = S_xx / (n (n - 1)) + S_yy / (m (m - 1)) - 2 S_xy / (n m). All
//! permutations of a batch need only U = K [1, v_1, ..., v_P], one streamed
//! kernel-matrix product (see `kernel_product`).

use ndarray::{Array2, ArrayView2};

use crate::arith::sum::Neumaier;
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::kernel_product::{kernel_times, TileSource};
use crate::pairwise::kernels::Kernel;
use crate::pairwise::tiles::RadialTiles;

/// Bytes of the dense factor and product per batch of permutations.
const BATCH_BYTES: usize = 256 << 20;

/// V = [1, v_1, ..., v_P] (N, P + 1): a column of ones, then each row of `groups`
/// (P, N) as a 0/1 column.
fn ones_and_groups(groups: ArrayView2<'_, bool>) -> Array2<f64> {
    let mut v = Array2::<f64>::zeros((groups.ncols(), groups.nrows() + 1));
    v.column_mut(0).fill(1.0);
    for (q, mask) in groups.rows().into_iter().enumerate() {
        for (i, &inx) in mask.iter().enumerate() {
            if inx {
                v[[i, q + 1]] = 1.0;
            }
        }
    }
    v
}

/// Unbiased MMD^2 for each row of `in_x` (P x N): `in_x[p, i]` says whether pooled point
/// i belongs to the x group under permutation p. Every row must have the same count n,
/// with n >= 2 and N - n >= 2.
pub fn mmd_permutation_null(
    z: ArrayView2<'_, f64>,
    in_x: ArrayView2<'_, bool>,
    kernel: Kernel,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let (big_n, d) = z.dim();
    kernel.validate()?;
    if d == 0 {
        return invalid("the pooled sample has zero features");
    }
    if in_x.ncols() != big_n {
        return invalid(format!(
            "group masks have {} columns but there are {big_n} pooled points",
            in_x.ncols()
        ));
    }
    let counts: Vec<usize> = in_x
        .rows()
        .into_iter()
        .map(|r| r.iter().filter(|&&b| b).count())
        .collect();
    let n = counts.first().copied().unwrap_or(0);
    if counts.iter().any(|&c| c != n) {
        return invalid("every permutation must put the same number of points in the x group");
    }
    let m = big_n - n;
    if n < 2 || m < 2 {
        return invalid(format!(
            "each group needs at least 2 points, got {n} and {m}"
        ));
    }
    let tiles = RadialTiles::new(z, kernel);
    let per_batch = (BATCH_BYTES / (16 * big_n)).clamp(1, in_x.nrows().max(1));
    let (nf, mf) = (n as f64, m as f64);
    let mut null = Vec::with_capacity(in_x.nrows());
    for first in (0..in_x.nrows()).step_by(per_batch) {
        let batch = in_x.slice(ndarray::s![
            first..(first + per_batch).min(in_x.nrows()),
            ..
        ]);
        let u = kernel_times(&tiles, ones_and_groups(batch).view(), ctl)?;
        for (q, mask) in batch.rows().into_iter().enumerate() {
            let (mut sxx, mut sxy, mut syy) = (Neumaier::new(), Neumaier::new(), Neumaier::new());
            for (i, &inx) in mask.iter().enumerate() {
                let (ui, ri) = (u[[i, q + 1]], u[[i, 0]]);
                if inx {
                    sxx.add(ui);
                    sxy.add(ri - ui);
                } else {
                    syy.add(ri - ui);
                }
            }
            null.push(
                sxx.value() / (nf * (nf - 1.0)) + syy.value() / (mf * (mf - 1.0))
                    - 2.0 * sxy.value() / (nf * mf),
            );
        }
    }
    Ok(null)
}

/// One block pair's share of the permutation statistics, for a pooled sample held in
/// row blocks (the distributed test): with K the kernel matrix of the row block against
/// the column block (zero diagonal when they are the same block) and, for permutation
/// p, u_p and w_p the 0/1 group vectors of the row and column points,
///
///   `within[p] = u_p' K w_p`,  `rows_all[p] = u_p' K 1`,  `cols_all[p] = 1' K w_p`,  `total = 1' K 1`.
///
/// Summed over all block pairs (each unordered pair of distinct blocks once in each
/// orientation), these give S_xx = sum within, S_xy = sum (rows_all - within) and
/// S_yy = sum (total - rows_all - cols_all + within) of `mmd_permutation_null`.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSums {
    pub within: Vec<f64>,
    pub rows_all: Vec<f64>,
    pub cols_all: Vec<f64>,
    pub total: f64,
}

/// The [`BlockSums`] of the row points `x` against the column points `y` (`None`: `x`
/// against itself, diagonal excluded), with `x_groups` (P, n_x) and `y_groups` (P, n_y)
/// marking, per permutation, the points of the x group. One streamed product
/// U = K [1, w_1, ..., w_P] per batch of permutations, as in `mmd_permutation_null`.
pub fn mmd_permutation_block_sums(
    x: ArrayView2<'_, f64>,
    y: Option<ArrayView2<'_, f64>>,
    x_groups: ArrayView2<'_, bool>,
    y_groups: ArrayView2<'_, bool>,
    kernel: Kernel,
    ctl: &Control,
) -> Result<BlockSums> {
    kernel.validate()?;
    let (nx, d) = x.dim();
    if d == 0 {
        return invalid("the points have zero features");
    }
    let tiles = match y {
        Some(y) if y.ncols() != d => {
            return invalid(format!(
                "the row block has {d} features and the column block {}",
                y.ncols()
            ))
        }
        Some(y) => RadialTiles::cross(x, y, kernel),
        None => RadialTiles::new(x, kernel),
    };
    let ny = tiles.n_cols();
    if x_groups.ncols() != nx || y_groups.ncols() != ny || x_groups.nrows() != y_groups.nrows() {
        return invalid(format!(
            "group masks of shapes {:?} and {:?} do not match blocks of {nx} and {ny} points",
            x_groups.dim(),
            y_groups.dim()
        ));
    }
    let n_perm = x_groups.nrows();
    let per_batch = (BATCH_BYTES / (16 * nx.max(ny).max(1))).clamp(1, n_perm.max(1));
    let mut out = BlockSums {
        within: Vec::with_capacity(n_perm),
        rows_all: Vec::with_capacity(n_perm),
        cols_all: Vec::with_capacity(n_perm),
        total: 0.0,
    };
    // At least one batch, even of no permutations: the first gives the total.
    for first in (0..n_perm.max(1)).step_by(per_batch) {
        let last = (first + per_batch).min(n_perm);
        let batch = y_groups.slice(ndarray::s![first..last, ..]);
        let u = kernel_times(&tiles, ones_and_groups(batch).view(), ctl)?;
        if first == 0 {
            let mut total = Neumaier::new();
            u.column(0).iter().for_each(|&r| total.add(r));
            out.total = total.value();
        }
        for (q, mask) in x_groups
            .slice(ndarray::s![first..last, ..])
            .rows()
            .into_iter()
            .enumerate()
        {
            let (mut within, mut rows_all, mut cols_all) =
                (Neumaier::new(), Neumaier::new(), Neumaier::new());
            for (i, &inx) in mask.iter().enumerate() {
                let (ui, ri) = (u[[i, q + 1]], u[[i, 0]]);
                cols_all.add(ui);
                if inx {
                    within.add(ui);
                    rows_all.add(ri);
                }
            }
            out.within.push(within.value());
            out.rows_all.push(rows_all.value());
            out.cols_all.push(cols_all.value());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::mmd::{mmd_squared, MmdEstimator};
    use crate::test_util::{random_points, split_masks};

    #[test]
    fn each_permutation_equals_the_direct_statistic() {
        let ctl = Control::new();
        // d = 3: tiles by differences; d = 40, far from the origin: the Gram path.
        for (d, offset, h) in [(3, 0.0, 0.9), (40, 1e3, 6.0)] {
            let z = random_points(300, d, 1) + offset;
            check_permutations(&z, h, &ctl);
        }
    }

    fn check_permutations(z: &ndarray::Array2<f64>, h: f64, ctl: &Control) {
        let (n, big_n) = (130, 300);
        for kernel in [
            Kernel::Gaussian { bandwidth: h },
            Kernel::Energy,
            Kernel::Imq { bandwidth: 2.0 * h },
        ] {
            // Identity split, a reversed split, and an interleaved one.
            let masks = split_masks(3, big_n, n);
            let null = mmd_permutation_null(z.view(), masks.view(), kernel, ctl).unwrap();
            for (p, mask) in masks.rows().into_iter().enumerate() {
                let xi: Vec<usize> = (0..big_n).filter(|&i| mask[i]).collect();
                let yi: Vec<usize> = (0..big_n).filter(|&i| !mask[i]).collect();
                let x = z.select(ndarray::Axis(0), &xi);
                let y = z.select(ndarray::Axis(0), &yi);
                let want =
                    mmd_squared(x.view(), y.view(), kernel, MmdEstimator::Unbiased, ctl).unwrap();
                let scale = if kernel == Kernel::Energy {
                    10.0 * h
                } else {
                    1.0
                };
                assert!(
                    (null[p] - want).abs() < 1e-12 * scale,
                    "{kernel:?} perm {p}: {} vs {want}",
                    null[p]
                );
            }
        }
    }

    #[test]
    fn block_sums_over_a_split_sample_give_the_null() {
        let ctl = Control::new();
        for (d, offset, kernel) in [
            (3, 0.0, Kernel::Gaussian { bandwidth: 0.9 }),
            (3, 0.0, Kernel::Energy),
            (40, 1e3, Kernel::Imq { bandwidth: 6.0 }),
        ] {
            let z = random_points(300, d, 2) + offset;
            let (n, big_n, cut) = (130, 300, 170);
            let masks = split_masks(4, big_n, n);
            let want = mmd_permutation_null(z.view(), masks.view(), kernel, &ctl).unwrap();
            let blocks = [0..cut, cut..big_n];
            let (mut sxx, mut sxy, mut syy) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]);
            for (bi, ri) in blocks.iter().enumerate() {
                for (bj, rj) in blocks.iter().enumerate() {
                    let xb = z.slice(ndarray::s![ri.clone(), ..]);
                    let yb = z.slice(ndarray::s![rj.clone(), ..]);
                    let gx = masks.slice(ndarray::s![.., ri.clone()]);
                    let gy = masks.slice(ndarray::s![.., rj.clone()]);
                    let other = (bi != bj).then_some(yb);
                    let s = mmd_permutation_block_sums(xb, other, gx, gy, kernel, &ctl).unwrap();
                    for p in 0..4 {
                        sxx[p] += s.within[p];
                        sxy[p] += s.rows_all[p] - s.within[p];
                        syy[p] += s.total - s.rows_all[p] - s.cols_all[p] + s.within[p];
                    }
                }
            }
            let (nf, mf) = (n as f64, (big_n - n) as f64);
            for p in 0..4 {
                let got = sxx[p] / (nf * (nf - 1.0)) + syy[p] / (mf * (mf - 1.0))
                    - 2.0 * sxy[p] / (nf * mf);
                let scale = if kernel == Kernel::Energy { 10.0 } else { 1.0 };
                assert!(
                    (got - want[p]).abs() < 1e-12 * scale,
                    "{kernel:?} {p}: {got} vs {}",
                    want[p]
                );
            }
        }
    }

    #[test]
    fn rejects_unequal_groups() {
        let ctl = Control::new();
        let z = random_points(10, 2, 1);
        let masks = ndarray::Array2::from_shape_fn((2, 10), |(p, i)| i < 4 + p);
        assert!(mmd_permutation_null(z.view(), masks.view(), Kernel::Energy, &ctl).is_err());
        let one = ndarray::Array2::from_shape_fn((1, 10), |(_, i)| i < 1);
        assert!(mmd_permutation_null(z.view(), one.view(), Kernel::Energy, &ctl).is_err());
    }
}
