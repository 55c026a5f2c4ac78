//! The Stein variational gradient descent direction (Liu & Wang 2016), streamed.
//!
//! With the Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 h^2)),
//!
//!   phi(x_i) = (1/n) sum_j [ k(x_j, x_i) s(x_j) + grad_{x_j} k(x_j, x_i) ]
//!            = (1/n) [ (K S)_i + (x_i (K 1)_i - (K X)_i) / h^2 ],
//!
//! so one streamed product U = K [S | X | 1] (see `kernel_product`) gives the whole
//! direction without storing K. The points are centred first so that x_i (K 1)_i and
//! (K X)_i are of the size of the spread, not of the location, before they cancel.

use ndarray::{Array2, ArrayView2};

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::kernel_product::kernel_times;
use crate::pairwise::kernels::Kernel;
use crate::pairwise::tiles::RadialTiles;

/// phi (n x d) for particles `x` (n x d) with scores `score` (n x d) and bandwidth `h`.
pub fn svgd_direction(
    x: ArrayView2<'_, f64>,
    score: ArrayView2<'_, f64>,
    h: f64,
    ctl: &Control,
) -> Result<Array2<f64>> {
    let (n, d) = x.dim();
    if score.dim() != (n, d) {
        return invalid(format!(
            "score has shape {:?}, expected the particles' shape ({n}, {d})",
            score.dim()
        ));
    }
    if n == 0 || d == 0 {
        return invalid("SVGD needs at least one particle with at least one feature");
    }
    if !(h.is_finite() && h > 0.0) {
        return invalid(format!("bandwidth must be positive and finite, got {h}"));
    }
    let kernel = Kernel::Gaussian { bandwidth: h };
    let mean: Vec<f64> = (0..d).map(|k| x.column(k).sum() / n as f64).collect();
    let mut xc = x.to_owned();
    for mut row in xc.rows_mut() {
        for (v, m) in row.iter_mut().zip(&mean) {
            *v -= m;
        }
    }
    let mut v = Array2::<f64>::zeros((n, 2 * d + 1));
    v.slice_mut(ndarray::s![.., ..d]).assign(&score);
    v.slice_mut(ndarray::s![.., d..2 * d]).assign(&xc);
    v.column_mut(2 * d).fill(1.0);
    // RadialTiles has a zero diagonal; k(x_i, x_i) = 1 adds V itself.
    let tiles = RadialTiles::new(xc.view(), kernel);
    let mut u = kernel_times(&tiles, v.view(), ctl)?;
    u += &v;
    let (inv_h2, inv_n) = (1.0 / (h * h), 1.0 / n as f64);
    let mut phi = Array2::<f64>::zeros((n, d));
    for i in 0..n {
        let k1 = u[[i, 2 * d]];
        for k in 0..d {
            phi[[i, k]] = (u[[i, k]] + (xc[[i, k]] * k1 - u[[i, d + k]]) * inv_h2) * inv_n;
        }
    }
    Ok(phi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    #[test]
    fn matches_the_dense_formula() {
        let ctl = Control::new();
        for (n, d) in [(1, 2), (5, 1), (70, 3), (300, 2)] {
            let x = random_points(n, d, 3);
            let s = random_points(n, d, 4);
            let h = 0.7;
            let phi = svgd_direction(x.view(), s.view(), h, &ctl).unwrap();
            for i in 0..n {
                for k in 0..d {
                    let mut acc = 0.0;
                    for j in 0..n {
                        let r2: f64 = (0..d).map(|c| (x[[i, c]] - x[[j, c]]).powi(2)).sum();
                        let kij = (-r2 / (2.0 * h * h)).exp();
                        acc += kij * s[[j, k]] + kij * (x[[i, k]] - x[[j, k]]) / (h * h);
                    }
                    let want = acc / n as f64;
                    assert!(
                        (phi[[i, k]] - want).abs() < 1e-12 * (1.0 + want.abs()),
                        "{n} {d}"
                    );
                }
            }
        }
        assert!(svgd_direction(
            random_points(3, 2, 1).view(),
            random_points(3, 1, 1).view(),
            1.0,
            &ctl
        )
        .is_err());
    }
}
