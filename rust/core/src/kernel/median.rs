//! The median heuristic for kernel bandwidths.

use std::ops::Range;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::differences::PackedPoints;
use crate::pairwise::gram::{chunk_dots, finish_sqdist, GramPoints, GramRows, Originals};
use crate::pairwise::LANES;
use crate::pairwise::{use_gram, with_group_rows, Real};

/// Pairs sampled to bracket the median before the exact counting pass.
const SAMPLE_PAIRS: usize = 1 << 16;
/// Half-width of the bracket in rank fraction: ~5 standard deviations of the sample
/// median's rank (sqrt(0.25 / 2^16) = 0.002).
const BRACKET: f64 = 0.01;

/// Median of the Euclidean distances |z_i - z_j| over all pairs i < j.
///
/// Exact (the two middle values are averaged when the number of pairs is even, as
/// `numpy.median` does) and stores no array of pair distances: a deterministic sample
/// of pairs brackets the median in squared distance, one parallel pass counts the pairs
/// below the bracket and keeps those inside it (~2% of them), and the median is
/// selected among those. If the bracket misses (heavy ties), the pass is repeated with
/// the bracket widened to everything, which is still exact.
pub fn median_pairwise_distance<T: Real>(z: ArrayView2<'_, T>, ctl: &Control) -> Result<f64> {
    let pairs = pair_count(z, "the median heuristic")?;
    // Ranks (0-based) of the middle value(s).
    let hi_rank = pairs / 2;
    let lo_rank = if pairs % 2 == 1 { hi_rank } else { hi_rank - 1 };
    let (lower, upper) = ranked_distances(z, 0.5, (lo_rank, hi_rank), ctl)?;
    Ok(if lo_rank == hi_rank {
        upper
    } else {
        (lower + upper) / 2.0
    })
}

/// The `q`-quantile (0 <= q <= 1) of the Euclidean distances |z_i - z_j| over all pairs
/// i < j, interpolated linearly between ranks as `numpy.quantile` does by default;
/// q = 1 is the largest distance. Exact and without an array of pair distances, as
/// [`median_pairwise_distance`].
pub fn pairwise_distance_quantile<T: Real>(
    z: ArrayView2<'_, T>,
    q: f64,
    ctl: &Control,
) -> Result<f64> {
    if !(0.0..=1.0).contains(&q) {
        return invalid(format!("the quantile must lie in [0, 1], got {q}"));
    }
    let pairs = pair_count(z, "a distance quantile")?;
    let pos = q * (pairs - 1) as f64;
    let lo_rank = (pos.floor() as usize).min(pairs - 1);
    let hi_rank = (lo_rank + 1).min(pairs - 1);
    let (lower, upper) = ranked_distances(z, q, (lo_rank, hi_rank), ctl)?;
    let frac = pos - lo_rank as f64;
    Ok(if frac == 0.0 {
        lower
    } else {
        lower + (upper - lower) * frac
    })
}

/// The number of pairs i < j, for at least 2 points with at least one feature.
fn pair_count<T: Real>(z: ArrayView2<'_, T>, what: &str) -> Result<usize> {
    let (n, d) = z.dim();
    if n < 2 {
        return invalid(format!("{what} needs at least 2 points, got {n}"));
    }
    if d == 0 {
        return invalid("the points have zero features");
    }
    Ok(n * (n - 1) / 2)
}

/// The pair distances of ranks `lo_rank <= hi_rank` (0-based, ascending), with the
/// bracket of the counting pass centred on the rank fraction `q`.
fn ranked_distances<T: Real>(
    z: ArrayView2<'_, T>,
    q: f64,
    ranks: (usize, usize),
    ctl: &Control,
) -> Result<(f64, f64)> {
    let n = z.nrows();
    let pairs = n * (n - 1) / 2;
    let sqdist = |i: usize, j: usize| -> f64 {
        z.row(i)
            .iter()
            .zip(z.row(j).iter())
            .map(|(p, q)| (p.to_f64() - q.to_f64()) * (p.to_f64() - q.to_f64()))
            .sum()
    };
    let bracket = if pairs <= SAMPLE_PAIRS {
        (f64::NEG_INFINITY, f64::INFINITY)
    } else {
        let mut sample = sample_pairs(n, SAMPLE_PAIRS)
            .into_iter()
            .map(|(i, j)| sqdist(i, j))
            .collect::<Vec<_>>();
        sample.sort_unstable_by(f64::total_cmp);
        let at = |q: f64| sample[((q * SAMPLE_PAIRS as f64) as usize).min(SAMPLE_PAIRS - 1)];
        // Open-ended at the extremes: the sample's extremes need not bracket the pairs'.
        let lo = if q - BRACKET <= 0.0 {
            f64::NEG_INFINITY
        } else {
            at(q - BRACKET)
        };
        let hi = if q + BRACKET >= 1.0 {
            f64::INFINITY
        } else {
            at(q + BRACKET)
        };
        (lo, hi)
    };
    if use_gram::<T>(z.ncols()) {
        let gram = GramCounts::new(z);
        select_ranks(
            |lo2, hi2| gram.count_and_keep(lo2, hi2, ctl),
            bracket,
            ranks,
        )
    } else {
        let rows: Vec<f64> = z.rows().into_iter().flatten().map(|v| v.to_f64()).collect();
        let packed = PackedPoints::pack(z, None);
        select_ranks(
            |lo2, hi2| count_and_keep(&rows, &packed, lo2, hi2, ctl),
            bracket,
            ranks,
        )
    }
}

/// The distances of ranks `lo_rank <= hi_rank` from one counting pass with the
/// squared-distance bracket `lo2..=hi2` (a second pass over everything if the bracket
/// misses the ranks).
fn select_ranks(
    count_and_keep: impl Fn(f64, f64) -> Result<(usize, Vec<f64>)>,
    (lo2, hi2): (f64, f64),
    (lo_rank, hi_rank): (usize, usize),
) -> Result<(f64, f64)> {
    let mut found = count_and_keep(lo2, hi2)?;
    if !(found.0 <= lo_rank && hi_rank < found.0 + found.1.len()) {
        found = count_and_keep(f64::NEG_INFINITY, f64::INFINITY)?;
    }
    let (below, mut kept) = found;
    let (lower, upper, _) = kept.select_nth_unstable_by(hi_rank - below, f64::total_cmp);
    let upper = *upper;
    if lo_rank == hi_rank {
        Ok((upper.sqrt(), upper.sqrt()))
    } else {
        let lower = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok((lower.sqrt(), upper.sqrt()))
    }
}

/// Deterministic pseudo-random pairs i < j (SplitMix64 from a fixed seed).
fn sample_pairs(n: usize, count: usize) -> Vec<(usize, usize)> {
    let mut state: u64 = 0x5EED_0FD1_5C00;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut v = state;
        v = (v ^ (v >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        v = (v ^ (v >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        v ^ (v >> 31)
    };
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let i = (next() % n as u64) as usize;
        let j = (next() % n as u64) as usize;
        if i != j {
            out.push((i.min(j), i.max(j)));
        }
    }
    out
}

/// Over all pairs i < j: how many squared distances are < lo2, and those in [lo2, hi2].
///
/// The distances come from the pair engine's packed blocks (16 lanes at a time); the
/// sequential `sqdist` of the sampling step computes the same sums in the same order.
/// Pairs (i, j > i) of one row, counted and filtered, as a job for [`dispatch`].
struct CountRow<'a> {
    rows: &'a [f64],
    packed: &'a PackedPoints,
    i: usize,
    lo2: f64,
    hi2: f64,
}

impl IsaJob for CountRow<'_> {
    type Output = (usize, Vec<f64>);
    #[inline(always)]
    fn run<const FMA: bool>(self) -> (usize, Vec<f64>) {
        let CountRow {
            rows,
            packed,
            i,
            lo2,
            hi2,
        } = self;
        let d = packed.dim();
        let n = rows.len() / d;
        let xrow = &rows[i * d..(i + 1) * d];
        let (mut below, mut kept) = (0, Vec::new());
        for b in (i + 1) / LANES..packed.n_blocks() {
            let d2 = packed.block_sqdist::<FMA>(xrow, b);
            let first = (i + 1).saturating_sub(b * LANES);
            let last = LANES.min(n - b * LANES);
            // Branch-free over all lanes so it vectorises; the few in-bracket lanes are
            // then picked from a bit mask.
            let mut mask = 0u32;
            for (j, &v) in d2.iter().enumerate() {
                let valid = (j >= first) & (j < last);
                below += usize::from(valid & (v < lo2));
                mask |= u32::from(valid & (v >= lo2) & (v <= hi2)) << j;
            }
            while mask != 0 {
                kept.push(d2[mask.trailing_zeros() as usize]);
                mask &= mask - 1;
            }
        }
        (below, kept)
    }
}

fn count_and_keep(
    rows: &[f64],
    packed: &PackedPoints,
    lo2: f64,
    hi2: f64,
    ctl: &Control,
) -> Result<(usize, Vec<f64>)> {
    let d = packed.dim();
    let n = rows.len() / d;
    let parts: Vec<(usize, Vec<f64>)> = (0..n - 1)
        .into_par_iter()
        .map(|i| {
            if ctl.is_cancelled() {
                return (0, Vec::new());
            }
            dispatch(
                Isa::current(),
                CountRow {
                    rows,
                    packed,
                    i,
                    lo2,
                    hi2,
                },
            )
        })
        .collect();
    ctl.check()?;
    let below = parts.iter().map(|p| p.0).sum();
    let kept = parts.into_iter().flat_map(|p| p.1).collect();
    Ok((below, kept))
}

/// Rows per parallel task of the Gram path's counting pass, and column blocks per chunk
/// (as for the kernel sums in `kernel::pairsum`).
const GRAM_ROW_TILE: usize = 256;
const GRAM_CHUNK_BLOCKS: usize = 8;

/// The counting pass on the Gram path (high dimension): the points centred and packed
/// once, squared distances from their inner products, exact to the recheck's bound.
struct GramCounts<'a, T> {
    z: ArrayView2<'a, T>,
    cols: GramPoints<T>,
}

impl<'a, T: Real> GramCounts<'a, T> {
    fn new(z: ArrayView2<'a, T>) -> Self {
        let cols = GramPoints::pack(z.view(), None, None);
        GramCounts { z, cols }
    }

    /// As [`count_and_keep`], over tiles of rows in parallel, combined in tile order.
    fn count_and_keep(&self, lo2: f64, hi2: f64, ctl: &Control) -> Result<(usize, Vec<f64>)> {
        let n = self.z.nrows();
        let isa = Isa::current();
        let src = Originals {
            x: &self.z,
            y: &self.z,
        };
        let parts: Vec<(usize, Vec<f64>)> = (0..n.div_ceil(GRAM_ROW_TILE))
            .into_par_iter()
            .map(|t| {
                if ctl.is_cancelled() {
                    return (0, Vec::new());
                }
                let r0 = t * GRAM_ROW_TILE;
                let job = GramCountJob {
                    isa,
                    counts: self,
                    src: &src,
                    rows: r0..(r0 + GRAM_ROW_TILE).min(n),
                    lo2,
                    hi2,
                };
                dispatch(isa, job)
            })
            .collect();
        ctl.check()?;
        let below = parts.iter().map(|p| p.0).sum();
        let kept = parts.into_iter().flat_map(|p| p.1).collect();
        Ok((below, kept))
    }
}

/// One row tile of the Gram path's counting pass as a job for [`dispatch`].
struct GramCountJob<'a, 'z, T> {
    isa: Isa,
    counts: &'a GramCounts<'z, T>,
    src: &'a Originals<'a, 'z, T>,
    rows: Range<usize>,
    lo2: f64,
    hi2: f64,
}

impl<T: Real> IsaJob for GramCountJob<'_, '_, T> {
    type Output = (usize, Vec<f64>);
    #[inline(always)]
    fn run<const FMA: bool>(self) -> (usize, Vec<f64>) {
        with_group_rows!(self.isa, T, |G| count_tile::<T, G, FMA>(self))
    }
}

#[inline(always)]
fn count_tile<T: Real, const G: usize, const FMA: bool>(
    job: GramCountJob<'_, '_, T>,
) -> (usize, Vec<f64>) {
    let GramCountJob {
        isa,
        counts,
        src,
        rows,
        lo2,
        hi2,
    } = job;
    let (z, cols) = (&counts.z, &counts.cols);
    let n = z.nrows();
    let packed = GramRows::pack(z, rows.clone(), G, cols);
    let n_groups = packed.n_groups();
    let nb = cols.n_blocks();
    let mut dots = vec![[[T::default(); LANES]; G]; n_groups * GRAM_CHUNK_BLOCKS];
    let mut d2 = [[0.0f64; LANES]; G];
    let (mut below, mut kept) = (0, Vec::new());
    let mut b0 = rows.start / LANES;
    while b0 < nb {
        let b1 = (b0 + GRAM_CHUNK_BLOCKS).min(nb);
        let width = b1 - b0;
        chunk_dots::<T, G, FMA>(isa, &packed, cols, b0..b1, &mut dots);
        for q in 0..n_groups {
            let (_, gn) = packed.group(q);
            let row0 = rows.start + q * G;
            for b in b0..b1 {
                let c0 = b * LANES;
                if c0 + LANES <= row0 + 1 {
                    continue; // every column of the block is at or before every row
                }
                let live = |r: usize, j: usize| c0 + j > row0 + r;
                finish_sqdist(
                    &dots[q * width + b - b0],
                    gn,
                    cols,
                    b,
                    row0,
                    src,
                    live,
                    &mut d2,
                );
                for (r, d2r) in d2
                    .iter()
                    .enumerate()
                    .take(rows.end.saturating_sub(row0).min(G))
                {
                    let i = row0 + r;
                    let mut mask = 0u32;
                    for (j, &v) in d2r.iter().enumerate() {
                        let col = c0 + j;
                        let valid = (col > i) & (col < n);
                        below += usize::from(valid & (v < lo2));
                        mask |= u32::from(valid & (v >= lo2) & (v <= hi2)) << j;
                    }
                    while mask != 0 {
                        kept.push(d2r[mask.trailing_zeros() as usize]);
                        mask &= mask - 1;
                    }
                }
            }
        }
        b0 = b1;
    }
    (below, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    fn brute(z: &ndarray::Array2<f64>) -> f64 {
        let n = z.nrows();
        let mut v = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                v.push(
                    z.row(i)
                        .iter()
                        .zip(z.row(j))
                        .map(|(a, b)| (a - b).powi(2))
                        .sum::<f64>()
                        .sqrt(),
                );
            }
        }
        v.sort_by(f64::total_cmp);
        let m = v.len();
        if m % 2 == 1 {
            v[m / 2]
        } else {
            (v[m / 2 - 1] + v[m / 2]) / 2.0
        }
    }

    /// Equal up to the rounding of the squared-distance sums (FMA or not).
    fn same(a: f64, b: f64) -> bool {
        (a - b).abs() <= 4.0 * f64::EPSILON * b.abs()
    }

    #[test]
    fn quantiles_match_numpy_linear_interpolation() {
        let ctl = Control::new();
        // 400 points: the bracketed path; 30: everything kept.
        for (n, d) in [(30, 3), (400, 2), (400, 40)] {
            let z = random_points(n, d, 9);
            let mut v = Vec::new();
            for i in 0..n {
                for j in i + 1..n {
                    let s: f64 = z
                        .row(i)
                        .iter()
                        .zip(z.row(j))
                        .map(|(a, b)| (a - b).powi(2))
                        .sum();
                    v.push(s.sqrt());
                }
            }
            v.sort_by(f64::total_cmp);
            for q in [0.0, 0.05, 0.5, 0.93, 1.0] {
                let pos = q * (v.len() - 1) as f64;
                let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
                let want = if frac == 0.0 {
                    v[lo]
                } else {
                    v[lo] + (v[lo + 1] - v[lo]) * frac
                };
                let got = pairwise_distance_quantile(z.view(), q, &ctl).unwrap();
                assert!(
                    (got - want).abs() <= 1e-13 * want,
                    "n {n} q {q}: {got} vs {want}"
                );
            }
        }
        assert!(pairwise_distance_quantile(random_points(5, 2, 1).view(), 1.5, &ctl).is_err());
    }

    #[test]
    fn matches_sorting() {
        let ctl = Control::new();
        for n in [2, 3, 4, 5, 37, 100] {
            let z = random_points(n, 3, n as u64);
            assert!(same(
                median_pairwise_distance(z.view(), &ctl).unwrap(),
                brute(&z)
            ));
            let zt = z.t().to_owned();
            assert!(same(
                median_pairwise_distance(zt.t(), &ctl).unwrap(),
                brute(&z)
            ));
        }
    }

    #[test]
    fn bracketed_path_is_exact_and_ties_fall_back() {
        // Above SAMPLE_PAIRS pairs the bracketed selection runs; ties at integer
        // coordinates make many equal distances.
        let ctl = Control::new();
        for n in [400, 401] {
            let z = random_points(n, 2, 3).mapv(|v| (3.0 * v).round());
            assert!(same(
                median_pairwise_distance(z.view(), &ctl).unwrap(),
                brute(&z)
            ));
            let z = random_points(n, 5, 4);
            assert!(same(
                median_pairwise_distance(z.view(), &ctl).unwrap(),
                brute(&z)
            ));
        }
        // All points equal but one: nearly every distance is 0.
        let mut z = ndarray::Array2::<f64>::zeros((500, 3));
        z[[7, 1]] = 1.0;
        assert_eq!(median_pairwise_distance(z.view(), &ctl).unwrap(), 0.0);
    }

    #[test]
    fn a_bracket_that_misses_falls_back_to_exact() {
        let ctl = Control::new();
        let z = random_points(60, 3, 9);
        let rows: Vec<f64> = z.iter().copied().collect();
        let packed = PackedPoints::pack(z.view(), None);
        let pairs = 60 * 59 / 2;
        let ranks = (pairs / 2 - 1, pairs / 2);
        for bracket in [(1e6, 2e6), (0.0, 0.0), (-1.0, -0.5)] {
            let (lower, upper) = select_ranks(
                |lo2, hi2| count_and_keep(&rows, &packed, lo2, hi2, &ctl),
                bracket,
                ranks,
            )
            .unwrap();
            assert!(same((lower + upper) / 2.0, brute(&z)));
        }
    }

    #[test]
    fn too_few_points() {
        let z = random_points(1, 3, 0);
        assert!(median_pairwise_distance(z.view(), &Control::new()).is_err());
    }

    #[test]
    fn gram_path_is_exact_far_from_the_origin_and_in_float32() {
        // d >= GRAM_FROM_D: distances from the Gram expansion, rechecked; n = 5 to 700
        // (above SAMPLE_PAIRS pairs the bracketed selection runs), near-duplicates.
        let ctl = Control::new();
        for (n, d) in [(5, 16), (40, 33), (700, 64)] {
            let mut z = random_points(n, d, 7) + 1e3;
            for i in (1..n).step_by(3) {
                let moved = z.row(i - 1).mapv(|v| v + 1e-6);
                z.row_mut(i).assign(&moved);
            }
            let got = median_pairwise_distance(z.view(), &ctl).unwrap();
            let want = brute(&z);
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "n={n} d={d}: {got} vs {want}"
            );
            let z32 = z.mapv(|v| v as f32);
            let got = median_pairwise_distance(z32.view(), &ctl).unwrap();
            let want = brute(&z32.mapv(f64::from));
            assert!(
                (got - want).abs() <= 1e-6 * want,
                "f32 n={n} d={d}: {got} vs {want}"
            );
        }
    }
}
