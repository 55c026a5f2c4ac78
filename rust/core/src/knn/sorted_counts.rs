//! Radius counts in one dimension, on sorted values.
//!
//! In 1-D the max-norm distance is |x_j - x_i| itself. The computed x_j - x_i is
//! monotone in x_j (rounding is monotone), so the values within r of x_i form one run of
//! the sorted values around x_i, and counting them equals the naive count exactly.
//!
//! The runs are short (a KSG marginal count is typically tens to a few hundred points), so
//! each end is found by a linear scan: steps of `STRIDE` values that test the last one,
//! then chunks of `CHUNK` values whose comparisons run in SIMD lanes (the number of
//! values inside a chunk is the count of its true comparisons). That costs about two
//! mispredicted branches per end, where a galloping search mispredicts about half of its
//! 2 log2(count) steps. Past `SCAN_MAX` values the scan switches to galloping, so long
//! runs stay O(log count).

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{invalid, Result};
// The max-norm predicate of the tree: in 1-D |x_j - x_i| is the distance itself.
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::knn::distance::{check_radii, within};

/// Values compared per step of the linear scan.
const CHUNK: usize = 8;
/// The scan first steps over this many values at a time, testing the last of them.
const STRIDE: usize = 32;
/// Values scanned from each end before galloping takes over.
const SCAN_MAX: usize = 2048;
/// Ranks per parallel task.
const TASK: usize = 2048;

/// For each value, the number of other values within `radii[i]` of it: |x_j - x_i| `<`
/// (strict) or `<=` r, as the naive double loop computes it.
pub fn count_within_1d(
    values: &[f64],
    radii: &[f64],
    strict: bool,
    ctl: &Control,
) -> Result<Vec<u64>> {
    let n = values.len();
    check_radii(radii, n)?;
    if values.iter().any(|v| !v.is_finite()) {
        return invalid("points contain NaN or infinity");
    }
    // Sorting (key, index) pairs directly: an indirect comparison through the values
    // would cost a cache miss per compare.
    let mut keyed: Vec<(u64, u32)> = values
        .par_iter()
        .with_min_len(TASK)
        .enumerate()
        .map(|(i, &v)| (order_key(v), i as u32))
        .collect();
    keyed.par_sort_unstable();
    let (sorted, radius): (Vec<f64>, Vec<f64>) = keyed
        .par_iter()
        .with_min_len(TASK)
        .map(|&(_, i)| (values[i as usize], radii[i as usize]))
        .unzip();
    ctl.check()?;
    let mut by_rank = vec![0u64; n];
    let isa = Isa::current();
    by_rank
        .par_chunks_mut(TASK)
        .enumerate()
        .try_for_each(|(c, out)| -> Result<()> {
            ctl.check()?;
            let (sorted, radius, first) = (&sorted[..], &radius[..], c * TASK);
            if strict {
                dispatch(
                    isa,
                    RankCounts::<true> {
                        sorted,
                        radius,
                        first,
                        out,
                    },
                );
            } else {
                dispatch(
                    isa,
                    RankCounts::<false> {
                        sorted,
                        radius,
                        first,
                        out,
                    },
                );
            }
            Ok(())
        })?;
    let mut out = vec![0u64; n];
    for (p, &(_, i)) in keyed.iter().enumerate() {
        out[i as usize] = by_rank[p];
    }
    Ok(out)
}

/// A u64 whose unsigned order is f64::total_cmp's order.
fn order_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// The counts of the sorted values at ranks `first..first + out.len()`, `dist < r` when
/// `STRICT`, else `dist <= r`.
struct RankCounts<'a, const STRICT: bool> {
    sorted: &'a [f64],
    radius: &'a [f64],
    first: usize,
    out: &'a mut [u64],
}

impl<const STRICT: bool> IsaJob for RankCounts<'_, STRICT> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let s = self.sorted;
        for (o, out) in self.out.iter_mut().enumerate() {
            let p = self.first + o;
            let (xi, r) = (s[p], self.radius[p]);
            *out = if within::<true, STRICT>(0.0, r) {
                (end_above::<STRICT>(s, p, xi, r) - end_below::<STRICT>(s, p, xi, r) - 1) as u64
            } else {
                0
            };
        }
    }
}

/// One past the highest position above p inside the run of x_i = s[p] (values >= x_i,
/// inside while within(v - x_i)).
#[inline(always)]
fn end_above<const STRICT: bool>(s: &[f64], p: usize, xi: f64, r: f64) -> usize {
    let n = s.len();
    let mut hi = p + 1;
    // Coarse steps, one predictable branch each, to the stride holding the end ...
    while hi + STRIDE <= n && within::<true, STRICT>(s[hi + STRIDE - 1] - xi, r) {
        hi += STRIDE;
        if hi - p > SCAN_MAX {
            return gallop_up(s, hi, |v| within::<true, STRICT>(v - xi, r));
        }
    }
    // ... then SIMD chunks inside it. Not `hi += inside` per chunk: with a constant step
    // the next chunk's address does not wait for this chunk's comparisons.
    while hi + CHUNK <= n {
        let chunk: &[f64; CHUNK] = s[hi..hi + CHUNK].try_into().unwrap();
        let mut inside = 0;
        for &v in chunk {
            inside += within::<true, STRICT>(v - xi, r) as usize;
        }
        if inside < CHUNK {
            return hi + inside;
        }
        hi += CHUNK;
    }
    while hi < n && within::<true, STRICT>(s[hi] - xi, r) {
        hi += 1;
    }
    hi
}

/// The lowest position inside the run of x_i = s[p] below p (p when none is; values
/// <= x_i, inside while within(x_i - v)).
#[inline(always)]
fn end_below<const STRICT: bool>(s: &[f64], p: usize, xi: f64, r: f64) -> usize {
    let mut lo = p;
    while lo >= STRIDE && within::<true, STRICT>(xi - s[lo - STRIDE], r) {
        lo -= STRIDE;
        if p - lo > SCAN_MAX {
            return gallop_down(s, lo, |v| within::<true, STRICT>(xi - v, r));
        }
    }
    while lo >= CHUNK {
        let chunk: &[f64; CHUNK] = s[lo - CHUNK..lo].try_into().unwrap();
        let mut inside = 0;
        for &v in chunk {
            inside += within::<true, STRICT>(xi - v, r) as usize;
        }
        if inside < CHUNK {
            return lo - inside;
        }
        lo -= CHUNK;
    }
    while lo > 0 && within::<true, STRICT>(xi - s[lo - 1], r) {
        lo -= 1;
    }
    lo
}

/// The first position >= `from` where `inside` fails (or the length), given that it
/// holds before `from` and, once false, stays false.
fn gallop_up(s: &[f64], from: usize, inside: impl Fn(f64) -> bool) -> usize {
    let n = s.len();
    let mut step = 1;
    // inside holds at from + step / 2 - 1 (or before from).
    while from + step - 1 < n && inside(s[from + step - 1]) {
        step *= 2;
    }
    let (a, b) = (from + step / 2, (from + step - 1).min(n));
    a + s[a..b].partition_point(|&v| inside(v))
}

/// The lowest position `lo` <= `from` such that `inside` holds on `lo..from`, given
/// that, going down, once false it stays false.
fn gallop_down(s: &[f64], from: usize, inside: impl Fn(f64) -> bool) -> usize {
    let mut step = 1;
    while step <= from && inside(s[from - step]) {
        step *= 2;
    }
    // inside holds at from - step / 2 and fails at from - step (or that is before 0).
    let a = if step > from { 0 } else { from - step + 1 };
    let b = from - step / 2;
    a + s[a..b].partition_point(|&v| !inside(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    fn naive(v: &[f64], radii: &[f64], strict: bool) -> Vec<u64> {
        (0..v.len())
            .map(|i| {
                (0..v.len())
                    .filter(|&j| j != i)
                    .filter(|&j| {
                        let d = (v[i] - v[j]).abs();
                        if strict {
                            d < radii[i]
                        } else {
                            d <= radii[i]
                        }
                    })
                    .count() as u64
            })
            .collect()
    }

    #[test]
    fn counts_equal_the_naive_ones_for_short_and_long_runs_and_ties() {
        let ctl = Control::new();
        for (n, grid, seed) in [(5, 0.0, 1), (3000, 0.0, 2), (3000, 64.0, 3), (2500, 4.0, 4)] {
            let v: Vec<f64> = random_points(n, 1, seed)
                .iter()
                .map(|&u| {
                    let x = u / 2.0; // in (-1, 1)
                    if grid > 0.0 {
                        (x * grid).round() / grid
                    } else {
                        x
                    }
                })
                .collect();
            // Radii from 0 (only ties count, and only when not strict) to the whole
            // range, so runs go past SCAN_MAX and hit both ends of the array.
            let radii: Vec<f64> = (0..n)
                .map(|i| [0.0, 1.0 / 64.0, 0.3, 2.5, 1e-9, 0.05][i % 6])
                .collect();
            for strict in [true, false] {
                let got = count_within_1d(&v, &radii, strict, &ctl).unwrap();
                assert_eq!(
                    got,
                    naive(&v, &radii, strict),
                    "n={n} grid={grid} strict={strict}"
                );
            }
        }
    }

    #[test]
    fn order_key_sorts_like_total_cmp() {
        let mut v = vec![
            3.0,
            -0.0,
            0.0,
            -1e-300,
            1e-300,
            -5.0,
            f64::MIN,
            f64::MAX,
            2.0,
        ];
        v.sort_by(|a, b| a.total_cmp(b));
        for w in v.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]));
        }
    }
}
