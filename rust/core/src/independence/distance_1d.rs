//! The distance covariance of two 1-D samples in O(n log n).
//!
//! With a_ij = |x_i - x_j| and b_ij = |y_i - y_j|, every centred sum of `centred` is a
//! combination of sum_ij a_ij b_ij, the row sums a_i. and b_i., and sum_ij a_ij^2
//! (Huo & Szekely 2016, "Fast computing for distance covariance", Technometrics 58):
//!
//! - row sums from the sorted values and their prefix sums;
//! - sum_ij a_ij^2 = 2 n sum x_i^2 - 2 (sum x_i)^2;
//! - sum_ij a_ij b_ij by visiting the points in increasing x: for each earlier point j
//!   (x_j <= x_i), (x_i - x_j) |y_i - y_j| expands into x_i y_i, x_i y_j, x_j y_i and
//!   x_j y_j, signed by whether y_j is below or above y_i, whose sums over the earlier
//!   points below y_i come from Fenwick trees indexed by the rank of y.
//!
//! The samples are centred first (distances do not change) so that the expanded terms
//! are of the size of the distances. Unlike the streamed sums, the centred sums here come
//! from expanding the products, which loses about log10(n) digits of the statistic
//! relative to the distances when x and y are independent.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::sum::{neumaier_sum, Neumaier};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::independence::centred::{CentredSums, Centring};
use crate::independence::permutation::{check_permutations, PermutedSums};

/// A Fenwick tree of the sums (count, x, y, x y) over the inserted points by y-rank.
struct Fenwick {
    tree: Vec<[f64; 4]>,
}

impl Fenwick {
    fn new(n: usize) -> Self {
        Self {
            tree: vec![[0.0; 4]; n + 1],
        }
    }

    fn add(&mut self, rank: usize, v: [f64; 4]) {
        let mut i = rank + 1;
        while i < self.tree.len() {
            for (t, a) in self.tree[i].iter_mut().zip(v) {
                *t += a;
            }
            i += i & i.wrapping_neg();
        }
    }

    /// The sums over the points of rank < `rank`.
    fn below(&self, rank: usize) -> [f64; 4] {
        let mut s = [0.0; 4];
        let mut i = rank;
        while i > 0 {
            for (a, t) in s.iter_mut().zip(self.tree[i]) {
                *a += t;
            }
            i &= i - 1;
        }
        s
    }
}

fn centred(v: &[f64]) -> Vec<f64> {
    let mean = neumaier_sum(v.iter().copied()) / v.len() as f64;
    v.iter().map(|&a| a - mean).collect()
}

/// sum_j |v_i - v_j| for each i.
fn distance_row_sums(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut prefix = Vec::with_capacity(n + 1);
    let mut acc = Neumaier::new();
    prefix.push(0.0);
    for &i in &order {
        acc.add(v[i]);
        prefix.push(acc.value());
    }
    let total = prefix[n];
    let mut rows = vec![0.0; n];
    for (k, &i) in order.iter().enumerate() {
        let (below, above) = (k as f64, (n - k - 1) as f64);
        rows[i] = (v[i] * below - prefix[k]) + ((total - prefix[k + 1]) - v[i] * above);
    }
    rows
}

/// sum_ij |x_i - x_j| |y_i - y_j|.
fn distance_product_sum(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    let mut by_y: Vec<usize> = (0..n).collect();
    by_y.sort_by(|&a, &b| y[a].total_cmp(&y[b]));
    // Dense ranks: equal y's share a rank, so "below" excludes the ties.
    let mut rank = vec![0usize; n];
    let mut r = 0;
    for k in 0..n {
        if k > 0 && y[by_y[k]] != y[by_y[k - 1]] {
            r += 1;
        }
        rank[by_y[k]] = r;
    }
    let mut by_x: Vec<usize> = (0..n).collect();
    by_x.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut tree = Fenwick::new(r + 1);
    let mut inserted = [0.0f64; 4];
    let mut total = Neumaier::new();
    for &i in &by_x {
        let (xi, yi) = (x[i], y[i]);
        let lo = tree.below(rank[i]);
        let upto = tree.below(rank[i] + 1);
        let hi: [f64; 4] = std::array::from_fn(|q| inserted[q] - upto[q]);
        // sum over a set S of (x_i - x_j)(y_i - y_j) = c x_i y_i - x_i Sy - y_i Sx + Sxy.
        let expand = |s: [f64; 4]| s[0] * xi * yi - xi * s[2] - yi * s[1] + s[3];
        total.add(expand(lo) - expand(hi));
        let v = [1.0, xi, yi, xi * yi];
        tree.add(rank[i], v);
        for (t, a) in inserted.iter_mut().zip(v) {
            *t += a;
        }
    }
    2.0 * total.value()
}

/// The centred sums of the distance matrices of 1-D samples x and y (as
/// `centred_sums` with the energy kernel on both), in O(n log n).
pub fn distance_centred_sums_1d(x: &[f64], y: &[f64], centring: Centring) -> Result<CentredSums> {
    let n = x.len();
    if y.len() != n {
        return invalid(format!(
            "x and y must be paired, got {n} and {} values",
            y.len()
        ));
    }
    let min_n = if centring == Centring::U { 4 } else { 2 };
    if n < min_n {
        return invalid(format!("need at least {min_n} paired values, got {n}"));
    }
    let (x, y) = (centred(x), centred(y));
    let (ra, rb) = (distance_row_sums(&x), distance_row_sums(&y));
    let squares = |v: &[f64]| {
        let s2 = neumaier_sum(v.iter().map(|a| a * a));
        let s1 = neumaier_sum(v.iter().copied());
        2.0 * n as f64 * s2 - 2.0 * s1 * s1
    };
    let nf = n as f64;
    // sum_ij Kc Lc from sum_ij K L, the row sums r, s and their totals.
    let combine = |kl: f64, r: &[f64], s: &[f64]| {
        let rs = neumaier_sum(r.iter().zip(s).map(|(a, b)| a * b));
        let (tr, ts) = (
            neumaier_sum(r.iter().copied()),
            neumaier_sum(s.iter().copied()),
        );
        match centring {
            Centring::Double => kl - 2.0 / nf * rs + tr * ts / (nf * nf),
            Centring::U => kl + tr * ts / ((nf - 1.0) * (nf - 2.0)) - 2.0 / (nf - 2.0) * rs,
        }
    };
    let ab = distance_product_sum(&x, &y);
    let pairs = nf * (nf - 1.0);
    Ok(CentredSums {
        kl: combine(ab, &ra, &rb),
        kk: combine(squares(&x), &ra, &ra),
        ll: combine(squares(&y), &rb, &rb),
        kl_sq: f64::NAN,
        // Distances enter as the energy kernel -|x - y|.
        k_offdiag_mean: -neumaier_sum(ra.iter().copied()) / pairs,
        l_offdiag_mean: -neumaier_sum(rb.iter().copied()) / pairs,
    })
}

/// The permutation null of the double-centred distance sums of 1-D x and y (as
/// `permuted_centred_sums` with the energy kernel), O(n log n) per permutation and no
/// n x n matrix.
pub fn distance_permuted_sums_1d(
    x: &[f64],
    y: &[f64],
    perms: ArrayView2<'_, u32>,
    ctl: &Control,
) -> Result<PermutedSums> {
    let n = x.len();
    let base = distance_centred_sums_1d(x, y, Centring::Double)?;
    check_permutations(perms, n)?;
    let values: Result<Vec<f64>> = (0..perms.nrows())
        .into_par_iter()
        .map(|p| {
            ctl.check()?;
            let yp: Vec<f64> = perms.row(p).iter().map(|&j| y[j as usize]).collect();
            Ok(distance_centred_sums_1d(x, &yp, Centring::Double)?.kl)
        })
        .collect();
    Ok(PermutedSums {
        values: values?,
        kk: base.kk,
        ll: base.ll,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;
    use crate::independence::centred::centred_sums;
    use crate::pairwise::kernels::Kernel;
    use crate::test_util::random_points;

    #[test]
    fn matches_the_pair_loop_with_ties() {
        for (n, seed) in [(4, 1), (9, 2), (257, 3), (1000, 4)] {
            let mut p = random_points(n, 2, seed);
            // Ties in both coordinates.
            for i in (0..n).step_by(3) {
                p[[i, 0]] = (p[[i, 0]] * 4.0).round();
                p[[i, 1]] = (p[[i, 1]] * 2.0).round();
            }
            let (x, y) = (p.column(0).to_vec(), p.column(1).to_vec());
            for c in [Centring::Double, Centring::U] {
                if n < 4 && c == Centring::U {
                    continue;
                }
                let fast = distance_centred_sums_1d(&x, &y, c).unwrap();
                let xs = p.slice(ndarray::s![.., 0..1]);
                let ys = p.slice(ndarray::s![.., 1..2]);
                let slow = centred_sums(xs, ys, Kernel::Energy, Kernel::Energy, c, &Control::new())
                    .unwrap();
                for (f, s) in [(fast.kl, slow.kl), (fast.kk, slow.kk), (fast.ll, slow.ll)] {
                    assert!(
                        (f - s).abs() <= 1e-10 * slow.kk.sqrt() * slow.ll.sqrt(),
                        "{f} vs {s}"
                    );
                }
                assert!((fast.k_offdiag_mean - slow.k_offdiag_mean).abs() <= 1e-12);
            }
        }
    }
}
