//! Which pairs of two samples lie inside one point's k-NN ball: the counts behind
//! precision, recall, density and coverage (Kynkaanniemi et al. 2019; Naeem et al. 2020).
//!
//! For real points r_i with radii R_i and fake points f_j with radii F_j (each the
//! distance to the point's k-th neighbour in its own sample), one pass over the pairs
//! gives, with strict inequalities as the reference code uses,
//! - `inside_real[j]` = #{i : |r_i - f_j| < R_i} (density; precision is the fraction of
//!   fake points with a non-zero count),
//! - `covered[i]` = whether some j has |r_i - f_j| < R_i (coverage),
//! - `recalled[i]` = whether some j has |r_i - f_j| < F_j (recall),
//!
//! without the n x m distance matrix: tiles of squared distances from the Gram path
//! (`pairwise::gram`, in the input's precision, centred on the pooled mean), each pair
//! tested while its tile is in cache.
//!
//! Exactness. A computed squared distance is within E = 2 (d + 8) u (|r~|^2 + |f~|^2)
//! of the exact one (see `brute`). A pair whose computed value is within E (plus the
//! rounding of the squared radius) of a threshold is recomputed exactly by coordinate
//! differences in float64 and its distance compared with the radius, both as the k-NN
//! search computes them; every other pair is on the same side of the threshold as its
//! exact distance. So the counts are those of the exact float64 distances, for float32
//! input too.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::simd::{dispatch, Isa};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::knn::brute::{exact, packed_norms, RowTileJob};
use crate::knn::distance::finish;
use crate::pairwise::gram::{GramPoints, Originals, TileVisitor};
use crate::pairwise::{Real, LANES};

/// Most real points per parallel task, as for the k-NN search.
const ROW_TILE: usize = 256;

/// The counts of `module`-level docs, for real points (rows) against fake points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallCounts {
    pub inside_real: Vec<u64>,
    pub covered: Vec<bool>,
    pub recalled: Vec<bool>,
}

struct Tile<'a, T> {
    first: usize,
    len: usize,
    bound: f64,
    real: &'a ArrayView2<'a, T>,
    fake: &'a ArrayView2<'a, T>,
    real_radius: &'a [f64],
    fake_radius: &'a [f64],
    /// Squared radii, and the margin their rounding adds to the bound.
    real_r2: &'a [f64],
    fake_r2: &'a [f64],
    row_norms: Vec<f64>,
    col_norms: &'a [f64],
    inside_real: Vec<u64>,
    covered: Vec<bool>,
    recalled: Vec<bool>,
}

/// Relative rounding of a squared radius (r * r, one rounding, plus the sqrt's).
const R2_ROUNDING: f64 = 4.0 * f64::EPSILON;

/// Whether a pair with computed squared distance `a` (error at most `e`) is strictly
/// inside a ball of squared radius `r2`, where the computed value decides it.
#[inline(always)]
fn clear_side(a: f64, e: f64, r2: f64) -> Option<bool> {
    if a + e < r2 * (1.0 - R2_ROUNDING) {
        Some(true)
    } else if a - e > r2 * (1.0 + R2_ROUNDING) {
        Some(false)
    } else {
        None
    }
}

impl<T: Real, const G: usize> TileVisitor<G> for Tile<'_, T> {
    #[inline(always)]
    fn visit(&mut self, row0: usize, b: usize, d2: &[[f64; LANES]; G]) {
        let m = self.fake.nrows();
        let c0 = b * LANES;
        let width = LANES.min(m - c0);
        let end = self.first + self.len;
        for (r, d2r) in d2.iter().enumerate().take(end.saturating_sub(row0).min(G)) {
            let i = row0 + r;
            let li = i - self.first;
            let nx = self.row_norms[li];
            let ri2 = self.real_r2[i];
            for (j, &a) in d2r.iter().enumerate().take(width) {
                let col = c0 + j;
                let e = self.bound * (nx + self.col_norms[col]);
                let fj2 = self.fake_r2[col];
                // Decide each test from the computed value where it is clear, else
                // from the exact distance (computed at most once per pair).
                let (real, fake) = (self.real, self.fake);
                let mut exact_dist = None;
                let mut inside = |r2: f64, radius: f64| match clear_side(a, e, r2) {
                    Some(side) => side,
                    None => {
                        *exact_dist
                            .get_or_insert_with(|| finish::<false>(exact(real, i, fake, col)))
                            < radius
                    }
                };
                let in_real = inside(ri2, self.real_radius[i]);
                let in_fake = inside(fj2, self.fake_radius[col]);
                if in_real {
                    self.inside_real[col] += 1;
                    self.covered[li] = true;
                }
                self.recalled[li] |= in_fake;
            }
        }
    }
}

/// The ball counts of real (n, d) against fake (m, d), with the radii of each real
/// and each fake point (finite, >= 0). Counts are integers, so they do not depend on
/// the number of threads.
pub fn ball_counts<T: Real>(
    real: ArrayView2<'_, T>,
    fake: ArrayView2<'_, T>,
    real_radius: &[f64],
    fake_radius: &[f64],
    ctl: &Control,
) -> Result<BallCounts> {
    let (n, d) = real.dim();
    let m = fake.nrows();
    if fake.ncols() != d {
        return invalid(format!(
            "real and fake must have the same number of features, got {d} and {}",
            fake.ncols()
        ));
    }
    if real_radius.len() != n || fake_radius.len() != m {
        return invalid("one radius per point is needed");
    }
    if real_radius
        .iter()
        .chain(fake_radius)
        .any(|r| !(r.is_finite() && *r >= 0.0))
    {
        return invalid("the radii must be finite and non-negative");
    }
    if real
        .iter()
        .chain(fake.iter())
        .any(|v| !v.to_f64().is_finite())
    {
        return invalid("the points contain NaN or infinity");
    }
    let isa = Isa::current();
    let cols = GramPoints::pack(fake.view(), None, Some(real.view()));
    let col_norms: Vec<f64> = (0..cols.n_blocks())
        .flat_map(|b| *cols.block(b).1)
        .collect();
    let real_r2: Vec<f64> = real_radius.iter().map(|r| r * r).collect();
    let fake_r2: Vec<f64> = fake_radius.iter().map(|r| r * r).collect();
    let bound = 2.0 * (d as f64 + 8.0) * T::UNIT_ROUNDOFF;
    let (real_v, fake_v) = (real.view(), fake.view());
    let src = Originals {
        x: &real_v,
        y: &fake_v,
    };
    let tile = n
        .div_ceil(4 * rayon::current_num_threads())
        .clamp(16, ROW_TILE);
    let parts: Vec<Tile<'_, T>> = (0..n.div_ceil(tile))
        .into_par_iter()
        .map(|t| -> Result<Tile<'_, T>> {
            ctl.check()?;
            let first = t * tile;
            let len = tile.min(n - first);
            let state = Tile {
                first,
                len,
                bound,
                real: &real_v,
                fake: &fake_v,
                real_radius,
                fake_radius,
                real_r2: &real_r2,
                fake_r2: &fake_r2,
                row_norms: packed_norms(&real_v, first..first + len, cols.centre()),
                col_norms: &col_norms,
                inside_real: vec![0; m],
                covered: vec![false; len],
                recalled: vec![false; len],
            };
            Ok(dispatch(
                isa,
                RowTileJob {
                    isa,
                    src: &src,
                    cols: &cols,
                    rows: first..first + len,
                    state,
                },
            ))
        })
        .collect::<Result<_>>()?;
    let mut out = BallCounts {
        inside_real: vec![0; m],
        covered: Vec::with_capacity(n),
        recalled: Vec::with_capacity(n),
    };
    for p in parts {
        out.inside_real
            .iter_mut()
            .zip(&p.inside_real)
            .for_each(|(o, c)| *o += c);
        out.covered.extend_from_slice(&p.covered);
        out.recalled.extend_from_slice(&p.recalled);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    // i and j index the points, their radii and the outputs alike: index loops read
    // as the definition.
    #[allow(clippy::needless_range_loop)]
    fn dense(
        real: &ndarray::Array2<f64>,
        fake: &ndarray::Array2<f64>,
        rr: &[f64],
        fr: &[f64],
    ) -> BallCounts {
        let (n, m) = (real.nrows(), fake.nrows());
        let mut out = BallCounts {
            inside_real: vec![0; m],
            covered: vec![false; n],
            recalled: vec![false; n],
        };
        for i in 0..n {
            for j in 0..m {
                let dist = finish::<false>(exact(&real.view(), i, &fake.view(), j));
                if dist < rr[i] {
                    out.inside_real[j] += 1;
                    out.covered[i] = true;
                }
                out.recalled[i] |= dist < fr[j];
            }
        }
        out
    }

    #[test]
    fn counts_equal_the_dense_definition_even_offset_and_on_ties() {
        for (n, m, d) in [(37, 53, 3), (300, 170, 64)] {
            let real = random_points(n, d, 1) + 1e3;
            let fake = random_points(m, d, 2) * 1.2 + 1e3;
            let mut rr: Vec<f64> = (0..n)
                .map(|i| 0.5 * (d as f64).sqrt() * (1.0 + (i % 5) as f64 / 5.0))
                .collect();
            let fr: Vec<f64> = (0..m)
                .map(|j| 0.6 * (d as f64).sqrt() * (1.0 + (j % 3) as f64 / 3.0))
                .collect();
            // A radius exactly equal to a pair's distance: strict, so not inside.
            rr[0] = finish::<false>(exact(&real.view(), 0, &fake.view(), 0));
            let want = dense(&real, &fake, &rr, &fr);
            let got = ball_counts(real.view(), fake.view(), &rr, &fr, &Control::new()).unwrap();
            assert_eq!(got, want, "n={n} m={m} d={d}");
            let (r32, f32_) = (real.mapv(|v| v as f32), fake.mapv(|v| v as f32));
            let want32 = dense(&r32.mapv(f64::from), &f32_.mapv(f64::from), &rr, &fr);
            let got32 = ball_counts(r32.view(), f32_.view(), &rr, &fr, &Control::new()).unwrap();
            assert_eq!(got32, want32, "float32 n={n} m={m} d={d}");
        }
    }
}
