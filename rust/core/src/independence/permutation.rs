//! The permutation null of the V-statistic sum_ij Kc_ij Lc_ij.
//!
//! Permuting the y's (y_i -> y_pi(i)) permutes the rows and columns of L, and double
//! centring commutes with that: the statistic under pi is sum_ij Kc_ij Lc_pi(i)pi(j).
//! Unlike the two-sample null (`kernel::mmd_null`), these are not quadratic forms in a
//! shared matrix, so both centred matrices are stored (2 n^2 values) and each
//! permutation is one pass over Kc gathering from the rows of Lc it permutes. Each
//! permutation is summed by one task in a fixed order: the same bits on any number of
//! threads.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::sum::{neumaier_sum, Neumaier};
use crate::big_buffer;
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::independence::centred::check_paired;
use crate::pairwise::kernel_product::TileSource;
use crate::pairwise::kernels::Kernel;
use crate::pairwise::tiles::RadialTiles;

/// H K H of the kernel matrix of z (n x n, row-major), its diagonal included.
fn double_centred(z: ArrayView2<'_, f64>, kernel: Kernel, ctl: &Control) -> Result<Vec<f64>> {
    let n = z.nrows();
    let mut k = big_buffer::zeroed(
        n * n,
        "a centred kernel matrix of the permutation test",
        "the test stores two n x n matrices; test a random subsample of the rows",
    )?;
    let tiles = RadialTiles::new(z, kernel);
    let rt = tiles.row_tile();
    let kd = kernel.at_zero();
    k.par_chunks_mut(rt * n).enumerate().for_each(|(t, chunk)| {
        if ctl.is_cancelled() {
            return;
        }
        let r0 = t * rt;
        let rows = chunk.len() / n;
        tiles.fill(r0..r0 + rows, 0..n, chunk);
        for a in 0..rows {
            chunk[a * n + r0 + a] = kd;
        }
    });
    ctl.check()?;
    let means: Vec<f64> = k
        .par_chunks(n)
        .map(|row| neumaier_sum(row.iter().copied()) / n as f64)
        .collect();
    let g = neumaier_sum(means.iter().copied()) / n as f64;
    k.par_chunks_mut(n).zip(&means).for_each(|(row, &mi)| {
        let ui = mi - g;
        for (v, &mj) in row.iter_mut().zip(&means) {
            *v = *v - ui - mj;
        }
    });
    Ok(k)
}

/// sum_j k[j] l[idx[j]], in eight interleaved partial sums (independent gathers in
/// flight at once).
///
/// # Safety
/// Every entry of `idx` is below `l.len()` (`check_permutations` guarantees it for the
/// rows of a permutation of 0..n and a row of an n x n matrix).
#[inline]
unsafe fn gathered_dot(k: &[f64], l: &[f64], idx: &[u32]) -> f64 {
    debug_assert!(k.len() == idx.len() && idx.iter().all(|&j| (j as usize) < l.len()));
    let mut s = [0.0f64; 8];
    let mut kq = k.chunks_exact(8);
    let mut iq = idx.chunks_exact(8);
    for (kb, ib) in (&mut kq).zip(&mut iq) {
        for q in 0..8 {
            // SAFETY: the caller guarantees ib[q] < l.len().
            s[q] += kb[q] * unsafe { *l.get_unchecked(ib[q] as usize) };
        }
    }
    for (kv, &j) in kq.remainder().iter().zip(iq.remainder()) {
        s[0] += kv * l[j as usize];
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// The permutation null of the centred sums.
#[derive(Debug, Clone, PartialEq)]
pub struct PermutedSums {
    /// sum_ij Kc_ij Lc_pi(i)pi(j), one per permutation.
    pub values: Vec<f64>,
    /// sum_ij Kc_ij^2 and sum_ij Lc_ij^2 (permutation invariant): sqrt(kk ll) bounds
    /// every value, and the round-off of each is relative to it.
    pub kk: f64,
    pub ll: f64,
}

/// Every row of `perms` must be a permutation of 0..n.
pub(crate) fn check_permutations(perms: ArrayView2<'_, u32>, n: usize) -> Result<()> {
    if perms.ncols() != n {
        return invalid(format!(
            "permutations have {} entries but there are {n} rows",
            perms.ncols()
        ));
    }
    let mut seen = vec![0u32; n];
    for (p, row) in perms.rows().into_iter().enumerate() {
        for &v in row {
            let v = v as usize;
            if v >= n || seen[v] == p as u32 + 1 {
                return invalid(format!(
                    "row {p} of the permutations is not a permutation of 0..{n}"
                ));
            }
            seen[v] = p as u32 + 1;
        }
    }
    Ok(())
}

/// sum_ij Kc_ij Lc_pi(i)pi(j) for each permutation pi, a row of `perms` (P x n; row p
/// gives y's new order). Kc and Lc double-centre the kernel matrices of x and y.
pub fn permuted_centred_sums(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    kx: Kernel,
    ly: Kernel,
    perms: ArrayView2<'_, u32>,
    ctl: &Control,
) -> Result<PermutedSums> {
    let n = check_paired(x, y, kx, ly)?;
    check_permutations(perms, n)?;
    let kc = double_centred(x, kx, ctl)?;
    let lc = double_centred(y, ly, ctl)?;
    let perms = perms.as_standard_layout();
    let values: Vec<f64> = perms
        .as_slice()
        .expect("standard layout")
        .par_chunks(n.max(1))
        .map(|pi| {
            if ctl.is_cancelled() {
                return 0.0;
            }
            // Kc and Lc are symmetric: twice the sum over j > i, plus the diagonal.
            let (mut upper, mut diagonal) = (Neumaier::new(), Neumaier::new());
            for (i, &pi_i) in pi.iter().enumerate() {
                let krow = &kc[i * n + i + 1..(i + 1) * n];
                let lrow = &lc[pi_i as usize * n..(pi_i as usize + 1) * n];
                diagonal.add(kc[i * n + i] * lrow[pi_i as usize]);
                // SAFETY: pi is a checked permutation of 0..n and lrow has n entries.
                upper.add(unsafe { gathered_dot(krow, lrow, &pi[i + 1..]) });
            }
            2.0 * upper.value() + diagonal.value()
        })
        .collect();
    ctl.check()?;
    let squares = |m: &[f64]| neumaier_sum(m.iter().map(|v| v * v));
    Ok(PermutedSums {
        values,
        kk: squares(&kc),
        ll: squares(&lc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::independence::centred::{centred_sums, Centring};
    use crate::test_util::random_points;
    use ndarray::Array2;

    #[test]
    fn the_identity_gives_the_streamed_statistic_and_permutations_match_permuted_data() {
        let (n, ctl) = (150, Control::new());
        let x = random_points(n, 3, 5);
        let y = random_points(n, 20, 6);
        let k = Kernel::Gaussian { bandwidth: 1.5 };
        let mut perms = Array2::<u32>::zeros((3, n));
        for i in 0..n {
            perms[[0, i]] = i as u32;
            perms[[1, i]] = ((i * 7 + 3) % n) as u32;
            perms[[2, i]] = (n - 1 - i) as u32;
        }
        let got = permuted_centred_sums(x.view(), y.view(), k, Kernel::Energy, perms.view(), &ctl)
            .unwrap();
        for (p, &g) in got.values.iter().enumerate() {
            let yp = y.select(
                ndarray::Axis(0),
                &perms.row(p).iter().map(|&v| v as usize).collect::<Vec<_>>(),
            );
            let want = centred_sums(
                x.view(),
                yp.view(),
                k,
                Kernel::Energy,
                Centring::Double,
                &ctl,
            )
            .unwrap()
            .kl;
            assert!(
                (g - want).abs() <= 1e-10 * want.abs().max(1.0),
                "{g} vs {want}"
            );
        }
    }

    #[test]
    fn a_row_that_is_not_a_permutation_is_refused() {
        let x = random_points(5, 2, 1);
        let perms = Array2::<u32>::from_shape_vec((1, 5), vec![0, 1, 1, 3, 4]).unwrap();
        let k = Kernel::Energy;
        assert!(
            permuted_centred_sums(x.view(), x.view(), k, k, perms.view(), &Control::new()).is_err()
        );
    }
}
