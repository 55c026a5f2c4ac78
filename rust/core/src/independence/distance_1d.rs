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

/// Dense ranks of v: equal values share a rank, so "below" excludes the ties; and the
/// number of distinct values.
fn dense_ranks(v: &[f64]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut rank = vec![0usize; v.len()];
    let mut r = 0;
    for k in 0..order.len() {
        if k > 0 && v[order[k]] != v[order[k - 1]] {
            r += 1;
        }
        rank[order[k]] = r;
    }
    (rank, r + 1)
}

/// sum_ij |x_i - x_j| |y_i - y_j|, given the order of x and the dense ranks of y.
fn distance_product_sum(
    x: &[f64],
    by_x: &[usize],
    y: &[f64],
    y_rank: &[usize],
    n_ranks: usize,
) -> f64 {
    let mut tree = Fenwick::new(n_ranks);
    let mut inserted = [0.0f64; 4];
    let mut total = Neumaier::new();
    for &i in by_x {
        let (xi, yi) = (x[i], y[i]);
        let lo = tree.below(y_rank[i]);
        let upto = tree.below(y_rank[i] + 1);
        let hi: [f64; 4] = std::array::from_fn(|q| inserted[q] - upto[q]);
        // sum over a set S of (x_i - x_j)(y_i - y_j) = c x_i y_i - x_i Sy - y_i Sx + Sxy.
        let expand = |s: [f64; 4]| s[0] * xi * yi - xi * s[2] - yi * s[1] + s[3];
        total.add(expand(lo) - expand(hi));
        let v = [1.0, xi, yi, xi * yi];
        tree.add(y_rank[i], v);
        for (t, a) in inserted.iter_mut().zip(v) {
            *t += a;
        }
    }
    2.0 * total.value()
}

/// What the centred sums of 1-D x and y share with those of any permutation of y: the
/// centred samples, the order of x and the ranks of y, the distance row sums and their
/// totals, and the sums of squared distances.
struct Prepared {
    x: Vec<f64>,
    y: Vec<f64>,
    by_x: Vec<usize>,
    y_rank: Vec<usize>,
    n_ranks: usize,
    ra: Vec<f64>,
    rb: Vec<f64>,
    ta: f64,
    tb: f64,
    aa: f64,
    bb: f64,
}

impl Prepared {
    fn new(x: &[f64], y: &[f64], centring: Centring) -> Result<Self> {
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
        let mut by_x: Vec<usize> = (0..n).collect();
        by_x.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
        let (y_rank, n_ranks) = dense_ranks(&y);
        let (ra, rb) = (distance_row_sums(&x), distance_row_sums(&y));
        let squares = |v: &[f64]| {
            let s2 = neumaier_sum(v.iter().map(|a| a * a));
            let s1 = neumaier_sum(v.iter().copied());
            2.0 * n as f64 * s2 - 2.0 * s1 * s1
        };
        Ok(Self {
            ta: neumaier_sum(ra.iter().copied()),
            tb: neumaier_sum(rb.iter().copied()),
            aa: squares(&x),
            bb: squares(&y),
            x,
            y,
            by_x,
            y_rank,
            n_ranks,
            ra,
            rb,
        })
    }
}

/// sum_ij Kc Lc from sum_ij K L, sum_i r_i s_i and the row sums' totals.
fn combine(centring: Centring, n: usize, kl: f64, rs: f64, tr: f64, ts: f64) -> f64 {
    let nf = n as f64;
    match centring {
        Centring::Double => kl - 2.0 / nf * rs + tr * ts / (nf * nf),
        Centring::U => kl + tr * ts / ((nf - 1.0) * (nf - 2.0)) - 2.0 / (nf - 2.0) * rs,
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    neumaier_sum(a.iter().zip(b).map(|(u, v)| u * v))
}

/// The centred sums of the distance matrices of 1-D samples x and y (as
/// `centred_sums` with the energy kernel on both), in O(n log n).
pub fn distance_centred_sums_1d(x: &[f64], y: &[f64], centring: Centring) -> Result<CentredSums> {
    let p = Prepared::new(x, y, centring)?;
    let n = p.x.len();
    let ab = distance_product_sum(&p.x, &p.by_x, &p.y, &p.y_rank, p.n_ranks);
    let pairs = n as f64 * (n as f64 - 1.0);
    let (ta, tb) = (p.ta, p.tb);
    Ok(CentredSums {
        kl: combine(centring, n, ab, dot(&p.ra, &p.rb), ta, tb),
        kk: combine(centring, n, p.aa, dot(&p.ra, &p.ra), ta, ta),
        ll: combine(centring, n, p.bb, dot(&p.rb, &p.rb), tb, tb),
        kl_sq: f64::NAN,
        // Distances enter as the energy kernel -|x - y|.
        k_offdiag_mean: -ta / pairs,
        l_offdiag_mean: -tb / pairs,
    })
}

/// The permutation null of the double-centred distance sums of 1-D x and y (as
/// `permuted_centred_sums` with the energy kernel), O(n log n) per permutation and no
/// n x n matrix. Permuting y permutes its values, ranks and distance row sums, so each
/// permutation costs one Fenwick pass and one dot product.
pub fn distance_permuted_sums_1d(
    x: &[f64],
    y: &[f64],
    perms: ArrayView2<'_, u32>,
    ctl: &Control,
) -> Result<PermutedSums> {
    let p = Prepared::new(x, y, Centring::Double)?;
    let n = p.x.len();
    check_permutations(perms, n)?;
    let values: Result<Vec<f64>> = (0..perms.nrows())
        .into_par_iter()
        .map(|q| {
            ctl.check()?;
            let pi = perms.row(q);
            let yp: Vec<f64> = pi.iter().map(|&j| p.y[j as usize]).collect();
            let rank: Vec<usize> = pi.iter().map(|&j| p.y_rank[j as usize]).collect();
            let rb: Vec<f64> = pi.iter().map(|&j| p.rb[j as usize]).collect();
            let ab = distance_product_sum(&p.x, &p.by_x, &yp, &rank, p.n_ranks);
            Ok(combine(
                Centring::Double,
                n,
                ab,
                dot(&p.ra, &rb),
                p.ta,
                p.tb,
            ))
        })
        .collect();
    let (ra, rb) = (dot(&p.ra, &p.ra), dot(&p.rb, &p.rb));
    Ok(PermutedSums {
        values: values?,
        kk: combine(Centring::Double, n, p.aa, ra, p.ta, p.ta),
        ll: combine(Centring::Double, n, p.bb, rb, p.tb, p.tb),
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

    #[test]
    fn each_permutation_matches_the_statistic_on_permuted_data() {
        let n = 301;
        let p = random_points(n, 2, 9);
        let (x, mut y) = (p.column(0).to_vec(), p.column(1).to_vec());
        y[7] = y[3]; // a tie
        let mut perms = ndarray::Array2::<u32>::zeros((3, n));
        for i in 0..n {
            perms[[0, i]] = i as u32;
            perms[[1, i]] = ((i * 11 + 5) % n) as u32;
            perms[[2, i]] = (n - 1 - i) as u32;
        }
        let got = distance_permuted_sums_1d(&x, &y, perms.view(), &Control::new()).unwrap();
        let base = distance_centred_sums_1d(&x, &y, Centring::Double).unwrap();
        assert_eq!(got.values[0], base.kl);
        assert_eq!((got.kk, got.ll), (base.kk, base.ll));
        for q in 1..3 {
            let yp: Vec<f64> = perms.row(q).iter().map(|&j| y[j as usize]).collect();
            let want = distance_centred_sums_1d(&x, &yp, Centring::Double)
                .unwrap()
                .kl;
            assert!((got.values[q] - want).abs() <= 1e-12 * base.kk.sqrt() * base.ll.sqrt());
        }
    }
}
