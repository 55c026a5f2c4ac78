//! Exact Wasserstein distances between 1-D samples, and sliced Wasserstein.
//!
//! In one dimension W_p^p(mu, nu) = int_0^1 |F^-1(t) - G^-1(t)|^p dt, and both quantile
//! functions are step functions of the sorted samples. After sorting (O(n log n)) the
//! integral is a merge of the two sets of cumulative weights (O(n + m)): on each interval
//! between consecutive breakpoints both quantiles are constant.

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::arith::sum::Neumaier;
use crate::control::Control;
use crate::error::{invalid, Result};

/// |d|^p, with the common orders special-cased.
#[inline]
fn cost(d: f64, p: f64) -> f64 {
    let a = d.abs();
    if p == 1.0 {
        a
    } else if p == 2.0 {
        a * a
    } else {
        a.powf(p)
    }
}

/// W_p^p as scale^p * sum: for orders other than 1 and 2, |d|^p leaves the float range
/// for data of ordinary size (10^p overflows at p = 309, 0.1^p underflows at p = 324),
/// so the sum is taken of (|d| / scale)^p with scale the largest |d| on an interval of
/// positive mass, which keeps every term in [0, 1] and the largest at 1. For p = 1 and
/// p = 2 the caller's power-of-two rescaling of the data already keeps |d|^p in range,
/// and scale is 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaledPow {
    pub scale: f64,
    pub sum: f64,
}

impl ScaledPow {
    /// scale^p * sum, which may overflow or underflow (the caller takes the p-th root of
    /// the parts instead).
    pub fn value(&self, p: f64) -> f64 {
        self.scale.powf(p) * self.sum
    }
}

/// Call `f(dt, d)` for each interval of positive mass dt between the breakpoints of the
/// two quantile functions, d the difference of the quantiles there. Sorted values with
/// cumulative weights (increasing; the last is taken as exactly 1, and round-off above 1
/// is clamped so the merge always ends).
fn merge_sorted<F: FnMut(f64, f64)>(u: &[f64], cu: &[f64], v: &[f64], cv: &[f64], mut f: F) {
    let (n, m) = (u.len(), v.len());
    let cum = |c: &[f64], i: usize, last: usize| if i == last { 1.0 } else { c[i].min(1.0) };
    let (mut i, mut j) = (0, 0);
    let (mut fu, mut fv) = (cum(cu, 0, n - 1), cum(cv, 0, m - 1));
    let mut t = 0.0;
    loop {
        let next = fu.min(fv);
        if next > t {
            f(next - t, u[i] - v[j]);
            t = next;
        }
        if i == n - 1 && j == m - 1 {
            break;
        }
        // Advance every side whose step ends here. At least one does: next is the
        // smaller cumulative weight, a side at its end has cumulative 1, and the clamp
        // keeps the other side's at most 1.
        let (adv_u, adv_v) = (fu <= next && i < n - 1, fv <= next && j < m - 1);
        debug_assert!(adv_u || adv_v);
        if adv_u {
            i += 1;
            fu = cum(cu, i, n - 1);
        }
        if adv_v {
            j += 1;
            fv = cum(cv, j, m - 1);
        }
    }
}

/// W_p^p of sorted samples, as `ScaledPow` (compensated sum, in merge order).
fn merged_pow(u: &[f64], cu: &[f64], v: &[f64], cv: &[f64], p: f64) -> ScaledPow {
    let mut acc = Neumaier::new();
    if p == 1.0 || p == 2.0 {
        merge_sorted(u, cu, v, cv, |dt, d| acc.add(dt * cost(d, p)));
        return ScaledPow {
            scale: 1.0,
            sum: acc.value(),
        };
    }
    let mut scale = 0.0f64;
    merge_sorted(u, cu, v, cv, |_, d| scale = scale.max(d.abs()));
    if scale == 0.0 {
        return ScaledPow {
            scale: 1.0,
            sum: 0.0,
        };
    }
    merge_sorted(u, cu, v, cv, |dt, d| acc.add(dt * cost(d / scale, p)));
    ScaledPow {
        scale,
        sum: acc.value(),
    }
}

/// Sorted values with cumulative weights (weights normalised; uniform when `None`).
///
/// `parallel` sorts with Rayon. Pairs are ordered by (value, weight), a total order, so
/// ties between equal values sort the same way for any number of threads.
fn sorted_with_cdf(
    x: ArrayView1<'_, f64>,
    w: Option<ArrayView1<'_, f64>>,
    parallel: bool,
) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    match w {
        None => {
            let mut v: Vec<f64> = x.to_vec();
            if parallel {
                v.par_sort_unstable_by(f64::total_cmp);
            } else {
                v.sort_unstable_by(f64::total_cmp);
            }
            let c = (1..=n).map(|k| k as f64 / n as f64).collect();
            (v, c)
        }
        Some(w) => {
            let mut pairs: Vec<(f64, f64)> = x.iter().copied().zip(w.iter().copied()).collect();
            let order =
                |a: &(f64, f64), b: &(f64, f64)| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1));
            if parallel {
                pairs.par_sort_unstable_by(order);
            } else {
                pairs.sort_unstable_by(order);
            }
            let total: f64 = w.sum();
            let mut acc = Neumaier::new();
            let c = pairs
                .iter()
                .map(|&(_, wk)| {
                    acc.add(wk / total);
                    acc.value()
                })
                .collect();
            (pairs.into_iter().map(|pr| pr.0).collect(), c)
        }
    }
}

fn check_weights(
    name: &str,
    x: &ArrayView1<'_, f64>,
    w: Option<ArrayView1<'_, f64>>,
) -> Result<()> {
    if let Some(w) = w {
        if w.len() != x.len() {
            return invalid(format!(
                "{name} weights have length {}, expected {}",
                w.len(),
                x.len()
            ));
        }
        // All finite and >= 0 once the first test fails, so the sum is not NaN.
        if w.iter().any(|&v| !(v.is_finite() && v >= 0.0)) || w.sum() <= 0.0 {
            return invalid(format!(
                "{name} weights must be finite, non-negative and not all zero"
            ));
        }
    }
    Ok(())
}

/// W_p^p between the 1-D samples u and v (optionally weighted), p >= 1.
pub fn wasserstein_1d_pow(
    u: ArrayView1<'_, f64>,
    u_weights: Option<ArrayView1<'_, f64>>,
    v: ArrayView1<'_, f64>,
    v_weights: Option<ArrayView1<'_, f64>>,
    p: f64,
) -> Result<ScaledPow> {
    if u.is_empty() || v.is_empty() {
        return invalid("both samples need at least one point");
    }
    if !(p.is_finite() && p >= 1.0) {
        return invalid(format!("p must be a finite number >= 1, got {p}"));
    }
    check_weights("u", &u, u_weights)?;
    check_weights("v", &v, v_weights)?;
    let (su, cu) = sorted_with_cdf(u, u_weights, true);
    let (sv, cv) = sorted_with_cdf(v, v_weights, true);
    Ok(merged_pow(&su, &cu, &sv, &cv, p))
}

/// W_p^p between the projections of x (n, d) and y (m, d) on each row of `directions`
/// (P, d), in order; parallel over directions.
pub fn sliced_wasserstein_pow(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    directions: ArrayView2<'_, f64>,
    p: f64,
    ctl: &Control,
) -> Result<Vec<ScaledPow>> {
    if x.ncols() != y.ncols() || directions.ncols() != x.ncols() {
        return invalid(format!(
            "x, y and the directions must have the same number of features, got {}, {} and {}",
            x.ncols(),
            y.ncols(),
            directions.ncols()
        ));
    }
    if x.nrows() == 0 || y.nrows() == 0 {
        return invalid("both samples need at least one point");
    }
    if !(p.is_finite() && p >= 1.0) {
        return invalid(format!("p must be a finite number >= 1, got {p}"));
    }
    let out: Vec<ScaledPow> = directions
        .rows()
        .into_iter()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|theta| {
            if ctl.is_cancelled() {
                return ScaledPow {
                    scale: 1.0,
                    sum: 0.0,
                };
            }
            let px = x.dot(&theta);
            let py = y.dot(&theta);
            // Sequential sorts: the directions are already spread over the threads.
            let (su, cu) = sorted_with_cdf(px.view(), None, false);
            let (sv, cv) = sorted_with_cdf(py.view(), None, false);
            merged_pow(&su, &cu, &sv, &cv, p)
        })
        .collect();
    ctl.check()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    #[test]
    fn equal_sizes_pair_sorted_values() {
        let u = random_points(50, 1, 1).column(0).to_owned();
        let v = random_points(50, 1, 2).column(0).to_owned();
        let (mut a, mut b) = (u.to_vec(), v.to_vec());
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        for p in [1.0, 2.0, 3.5] {
            let want: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs().powf(p))
                .sum::<f64>()
                / 50.0;
            let got = wasserstein_1d_pow(u.view(), None, v.view(), None, p)
                .unwrap()
                .value(p);
            assert!((got - want).abs() < 1e-13 * want, "p={p}: {got} vs {want}");
        }
    }

    #[test]
    fn weights_equal_repetition() {
        // Weight 2 on a point is the same as repeating it.
        let u = ndarray::array![0.0, 1.0, 3.0];
        let w = ndarray::array![1.0, 2.0, 1.0];
        let rep = ndarray::array![0.0, 1.0, 1.0, 3.0];
        let v = ndarray::array![0.5, 2.5, -1.0];
        for p in [1.0, 2.0] {
            let a = wasserstein_1d_pow(u.view(), Some(w.view()), v.view(), None, p)
                .unwrap()
                .value(p);
            let b = wasserstein_1d_pow(rep.view(), None, v.view(), None, p)
                .unwrap()
                .value(p);
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
    }

    #[test]
    fn high_orders_stay_in_range() {
        // A shift by 10 at p = 400: |d|^p = 1e400 overflows, the scaled form does not.
        let u = random_points(30, 1, 3).column(0).to_owned();
        let v = &u + 10.0;
        let got = wasserstein_1d_pow(u.view(), None, v.view(), None, 400.0).unwrap();
        assert!(
            (got.scale - 10.0).abs() < 1e-12 && (got.sum - 1.0).abs() < 1e-12,
            "{got:?}"
        );
        // And a shift by 0.4 (0.4^400 = 1e-159 underflows nothing, 0.4^1000 would).
        let v = &u - 0.4;
        let got = wasserstein_1d_pow(u.view(), None, v.view(), None, 1000.0).unwrap();
        assert!(
            (got.scale - 0.4).abs() < 1e-12 && (got.sum - 1.0).abs() < 1e-12,
            "{got:?}"
        );
    }

    #[test]
    fn translation_and_errors() {
        let x = random_points(40, 3, 5);
        let y = &x + &ndarray::array![[0.5, -1.0, 2.0]];
        let dirs = ndarray::array![[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]];
        let got =
            sliced_wasserstein_pow(x.view(), y.view(), dirs.view(), 2.0, &Control::new()).unwrap();
        let got: Vec<f64> = got.iter().map(|s| s.value(2.0)).collect();
        assert!(
            (got[0] - 0.25).abs() < 1e-14 && (got[1] - (-0.6f64 + 1.6).powi(2)).abs() < 1e-14,
            "{got:?}"
        );
        let e = ndarray::Array1::<f64>::zeros(0);
        assert!(wasserstein_1d_pow(e.view(), None, x.column(0), None, 1.0).is_err());
        assert!(wasserstein_1d_pow(x.column(0), None, x.column(1), None, 0.5).is_err());
        let bad = ndarray::Array1::from_elem(40, -1.0);
        assert!(wasserstein_1d_pow(x.column(0), Some(bad.view()), x.column(1), None, 1.0).is_err());
    }
}
