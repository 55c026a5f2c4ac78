//! The dense cost matrix |x_i - y_j|^p of two point clouds, for the exact solver: row
//! tiles in parallel on the pair engine (coordinate differences, or from
//! d = `GRAM_FROM_D` the Gram path centred on the pooled mean with its exact re-check).

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::big_buffer;
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::kernel_product::COLS;
use crate::pairwise::kernels::Kernel;
use crate::pairwise::tiles::RadialTiles;

/// Rows per task.
const ROWS: usize = 64;

/// |x_i - y_j|^p, n x m row-major (p > 0).
pub fn point_costs(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    p: f64,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let ((n, d), m) = (x.dim(), y.nrows());
    if y.ncols() != d {
        return invalid(format!("x has {d} features and y {}", y.ncols()));
    }
    if !(p.is_finite() && p > 0.0) {
        return invalid(format!("p must be finite and positive, got {p}"));
    }
    let mut out = big_buffer::zeroed(
        n * m,
        "the n x m cost matrix",
        "the exact solver needs every cost; sinkhorn streams them",
    )?;
    if n == 0 || m == 0 {
        return Ok(out);
    }
    // The kernel is unused: only the squared distances are read.
    let tiles = RadialTiles::cross(x, y, Kernel::Energy);
    out.par_chunks_mut(ROWS * m)
        .enumerate()
        .for_each(|(t, rows_out)| {
            if ctl.is_cancelled() {
                return;
            }
            let (r0, r1) = (t * ROWS, ((t + 1) * ROWS).min(n));
            let rows = r1 - r0;
            let mut tile = vec![0.0f64; ROWS * COLS];
            for c0 in (0..m).step_by(COLS) {
                let c1 = (c0 + COLS).min(m);
                let cols = c1 - c0;
                tiles.fill_sqdist(r0..r1, c0..c1, &mut tile[..rows * cols]);
                for a in 0..rows {
                    let src = &tile[a * cols..(a + 1) * cols];
                    let dst = &mut rows_out[a * m + c0..a * m + c1];
                    for (o, &d2) in dst.iter_mut().zip(src) {
                        *o = if p == 2.0 {
                            d2
                        } else if p == 1.0 {
                            d2.sqrt()
                        } else {
                            d2.powf(p / 2.0)
                        };
                    }
                }
            }
        });
    ctl.check()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    #[test]
    fn matches_direct_distances_on_both_paths() {
        let ctl = Control::new();
        for (d, offset) in [(3, 0.0), (64, 1e3)] {
            let x = random_points(70, d, 1) + offset;
            let y = random_points(300, d, 2) + offset;
            for p in [1.0, 2.0, 1.5] {
                let c = point_costs(x.view(), y.view(), p, &ctl).unwrap();
                for i in 0..70 {
                    for j in 0..300 {
                        let d2: f64 = x
                            .row(i)
                            .iter()
                            .zip(y.row(j))
                            .map(|(a, b)| (a - b).powi(2))
                            .sum();
                        let want = d2.powf(p / 2.0);
                        assert!(
                            (c[i * 300 + j] - want).abs() <= 1e-12 * want.max(1.0),
                            "{d} {p}"
                        );
                    }
                }
            }
        }
    }
}
