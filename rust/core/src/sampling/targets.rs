//! Log-densities and their gradients for the samplers, evaluated for many points at once.
//!
//! A `BatchTarget` maps the current points of all chains (rows of a row-major n x d
//! matrix) to log p and grad log p. The built-in targets evaluate in fixed blocks of
//! `BLOCK` rows in parallel, so each row's result depends only on that row and the
//! block size, never on the number of threads. Gaussian components use one GEMM per
//! block (the precision matrix times the block's residuals), which is what makes
//! thousands of chains in d = 100 cheap.

use rayon::prelude::*;

use crate::error::{invalid, Result};

/// Rows per parallel task; fixed so results do not depend on the thread count.
const BLOCK: usize = 64;

/// A log-density with gradient, evaluated on a batch of points.
pub trait BatchTarget {
    fn dim(&self) -> usize;
    /// For each row i of `x` (rows x d, row-major): `logp[i]` = log p(x_i) and
    /// `grad[i*d..(i+1)*d]` = grad log p(x_i). `step` only labels error messages.
    fn eval(&mut self, step: usize, x: &[f64], logp: &mut [f64], grad: &mut [f64]) -> Result<()>;
}

/// A normal component N(mean, P^{-1}) with log weight folded into `log_const`:
/// log w + log N(x) = log_const - (x - mean)' P (x - mean) / 2.
#[derive(Clone, Debug)]
pub struct GaussianComponent {
    pub mean: Vec<f64>,
    /// The precision matrix, d x d row-major (symmetric).
    pub precision: Vec<f64>,
    pub log_const: f64,
}

/// The targets evaluated in Rust.
#[derive(Clone, Debug)]
pub enum Builtin {
    /// A Gaussian (one component) or a Gaussian mixture.
    Mixture {
        dim: usize,
        components: Vec<GaussianComponent>,
    },
    /// Haario et al.'s twisted Gaussian: y = (x1, x2 + b x1^2 - b s^2, x3, ...) with
    /// x ~ N(0, diag(s^2, 1, ..., 1)).
    Banana { dim: usize, b: f64, sigma: f64 },
    /// Neal's funnel: v ~ N(0, scale^2), x_i | v ~ N(0, e^v), i = 1..dim-1.
    Funnel { dim: usize, scale: f64 },
    /// Bayesian logistic regression: labels y_j in {0, 1} with P(y_j = 1) = sigma(x_j' b)
    /// for the rows x_j of `x` (n x dim, row-major), and the prior b ~ N(0, prior_scale^2 I).
    Logistic {
        dim: usize,
        x: Vec<f64>,
        y: Vec<f64>,
        prior_scale: f64,
    },
}

const LN_2PI: f64 = 1.837_877_066_409_345_5;

impl Builtin {
    /// Check the parameters (finite, matching dimensions, positive scales).
    pub fn validate(&self) -> Result<()> {
        match self {
            Builtin::Mixture { dim, components } => {
                if *dim == 0 || components.is_empty() {
                    return invalid("a Gaussian target needs d >= 1 and at least one component");
                }
                for c in components {
                    if c.mean.len() != *dim || c.precision.len() != dim * dim {
                        return invalid(
                            "component mean/precision sizes do not match the dimension",
                        );
                    }
                    if !c.log_const.is_finite()
                        || c.mean.iter().chain(&c.precision).any(|v| !v.is_finite())
                    {
                        return invalid("component parameters must be finite");
                    }
                }
            }
            Builtin::Banana { dim, b, sigma } => {
                if *dim < 2 || !b.is_finite() || !(sigma.is_finite() && *sigma > 0.0) {
                    return invalid("Banana needs dim >= 2, finite b and sigma > 0");
                }
            }
            Builtin::Funnel { dim, scale } => {
                if *dim < 2 || !(scale.is_finite() && *scale > 0.0) {
                    return invalid("Funnel needs dim >= 2 and scale > 0");
                }
            }
            Builtin::Logistic {
                dim,
                x,
                y,
                prior_scale,
            } => {
                if *dim == 0 || y.is_empty() || x.len() != y.len() * dim {
                    return invalid(
                        "a logistic regression needs n x d features and n labels, d >= 1",
                    );
                }
                if !x.iter().all(|v| v.is_finite()) || !y.iter().all(|v| *v == 0.0 || *v == 1.0) {
                    return invalid(
                        "logistic regression features must be finite and labels 0 or 1",
                    );
                }
                if !(prior_scale.is_finite() && *prior_scale > 0.0) {
                    return invalid("prior_scale must be positive and finite");
                }
            }
        }
        Ok(())
    }

    pub fn dim(&self) -> usize {
        match self {
            Builtin::Mixture { dim, .. }
            | Builtin::Banana { dim, .. }
            | Builtin::Funnel { dim, .. }
            | Builtin::Logistic { dim, .. } => *dim,
        }
    }

    /// Evaluate all rows of `x`, in parallel over fixed blocks of rows.
    pub fn eval_all(&self, x: &[f64], logp: &mut [f64], grad: &mut [f64]) {
        let d = self.dim();
        x.par_chunks(BLOCK * d)
            .zip(logp.par_chunks_mut(BLOCK))
            .zip(grad.par_chunks_mut(BLOCK * d))
            .for_each(|((xb, lb), gb)| self.eval_block(xb, lb, gb));
    }

    /// Evaluate one block of rows sequentially.
    pub fn eval_block(&self, x: &[f64], logp: &mut [f64], grad: &mut [f64]) {
        let d = self.dim();
        match self {
            Builtin::Mixture { components, .. } if components.len() == 1 => {
                gaussian_block(&components[0], d, x, logp, grad);
            }
            Builtin::Mixture { components, .. } => mixture_block(components, d, x, logp, grad),
            Builtin::Banana { b, sigma, .. } => {
                let s2 = sigma * sigma;
                let c = -0.5 * (d as f64 * LN_2PI) - sigma.ln();
                for ((xi, lp), gi) in x.chunks(d).zip(logp.iter_mut()).zip(grad.chunks_mut(d)) {
                    let (x1, x2) = (xi[0], xi[1]);
                    let t = x2 + b * x1 * x1 - b * s2;
                    let mut ss = x1 * x1 / s2 + t * t;
                    gi[0] = -x1 / s2 - 2.0 * b * x1 * t;
                    gi[1] = -t;
                    for k in 2..d {
                        ss += xi[k] * xi[k];
                        gi[k] = -xi[k];
                    }
                    *lp = c - 0.5 * ss;
                }
            }
            Builtin::Funnel { scale, .. } => {
                let s2 = scale * scale;
                let m = (d - 1) as f64;
                let c = -0.5 * (d as f64 * LN_2PI) - scale.ln();
                for ((xi, lp), gi) in x.chunks(d).zip(logp.iter_mut()).zip(grad.chunks_mut(d)) {
                    let v = xi[0];
                    let prec = (-v).exp();
                    let mut ss = 0.0;
                    for k in 1..d {
                        ss += xi[k] * xi[k];
                        gi[k] = -xi[k] * prec;
                    }
                    gi[0] = -v / s2 - 0.5 * m + 0.5 * ss * prec;
                    *lp = c - 0.5 * v * v / s2 - 0.5 * m * v - 0.5 * ss * prec;
                }
            }
            Builtin::Logistic {
                x: features,
                y,
                prior_scale,
                ..
            } => logistic_block(features, y, *prior_scale, d, x, logp, grad),
        }
    }
}

/// row-major C (m x n) = alpha A (m x k) B (k x n), B read with strides (`b_row`, `b_col`).
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: &[f64],
    b: &[f64],
    b_row: isize,
    b_col: isize,
    c: &mut [f64],
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: a is m x k row-major, b holds k x n values at the given strides (the
    // callers pass a row-major k x n matrix with strides (n, 1), or the transpose of a
    // row-major n x k one with strides (1, k)), and c is m x n row-major: every index
    // matrixmultiply forms lies within the slices.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            b_row,
            b_col,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// The logistic regression's log posterior (unnormalised in the likelihood, the prior
/// normalised) and its gradient at a block of coefficient vectors (rows of `b`): the
/// linear predictors Z = B X' (one GEMM), then
/// log p = sum_j [y_j z_j - softplus(z_j)] - |b|^2 / (2 s^2) - d ln(s sqrt(2 pi)) and
/// grad = (Y - sigma(Z)) X - b / s^2 (a second GEMM).
fn logistic_block(
    features: &[f64],
    y: &[f64],
    scale: f64,
    d: usize,
    b: &[f64],
    logp: &mut [f64],
    grad: &mut [f64],
) {
    let (rows, n) = (logp.len(), y.len());
    let mut z = vec![0.0; rows * n];
    gemm(rows, d, n, 1.0, b, features, 1, d as isize, &mut z);
    let prior_const = -(d as f64) * (scale.ln() + 0.5 * LN_2PI);
    let inv_s2 = 1.0 / (scale * scale);
    for ((zi, lp), bi) in z.chunks_mut(n).zip(logp.iter_mut()).zip(b.chunks(d)) {
        let mut ll = 0.0;
        for (zj, yj) in zi.iter_mut().zip(y) {
            let t = *zj;
            // softplus(t) = max(t, 0) + ln(1 + e^-|t|); sigma(t) from the same exponent.
            let e = (-t.abs()).exp();
            ll += yj * t - (t.max(0.0) + e.ln_1p());
            let sigma = if t >= 0.0 {
                1.0 / (1.0 + e)
            } else {
                e / (1.0 + e)
            };
            *zj = yj - sigma;
        }
        let norm2: f64 = bi.iter().map(|v| v * v).sum();
        *lp = ll - 0.5 * norm2 * inv_s2 + prior_const;
    }
    gemm(rows, n, d, 1.0, &z, features, d as isize, 1, grad);
    for (gi, bi) in grad.chunks_mut(d).zip(b.chunks(d)) {
        for (g, v) in gi.iter_mut().zip(bi) {
            *g -= v * inv_s2;
        }
    }
}

/// Residuals r = x - mean of a block (rows x d) and g = -r P by one GEMM.
fn residual_gradient(c: &GaussianComponent, d: usize, x: &[f64], r: &mut [f64], g: &mut [f64]) {
    let rows = x.len() / d;
    for (ri, xi) in r.chunks_mut(d).zip(x.chunks(d)) {
        for k in 0..d {
            ri[k] = xi[k] - c.mean[k];
        }
    }
    gemm(rows, d, d, -1.0, r, &c.precision, d as isize, 1, g);
}

/// log N and gradient for one component: log p = c + r.g / 2 with g = -P r.
fn gaussian_block(c: &GaussianComponent, d: usize, x: &[f64], logp: &mut [f64], grad: &mut [f64]) {
    let mut r = vec![0.0; x.len()];
    residual_gradient(c, d, x, &mut r, grad);
    for ((lp, ri), gi) in logp.iter_mut().zip(r.chunks(d)).zip(grad.chunks(d)) {
        let q: f64 = ri.iter().zip(gi).map(|(a, b)| a * b).sum();
        *lp = c.log_const + 0.5 * q;
    }
}

/// log sum_k w_k N_k(x) by log-sum-exp, and its gradient sum_k resp_k g_k.
fn mixture_block(
    comps: &[GaussianComponent],
    d: usize,
    x: &[f64],
    logp: &mut [f64],
    grad: &mut [f64],
) {
    let rows = logp.len();
    let k = comps.len();
    let mut lk = vec![0.0; rows * k];
    let mut gk = vec![0.0; k * x.len()];
    let mut r = vec![0.0; x.len()];
    for (j, c) in comps.iter().enumerate() {
        let g = &mut gk[j * x.len()..(j + 1) * x.len()];
        residual_gradient(c, d, x, &mut r, g);
        for i in 0..rows {
            let q: f64 = r[i * d..(i + 1) * d]
                .iter()
                .zip(&g[i * d..(i + 1) * d])
                .map(|(a, b)| a * b)
                .sum();
            lk[i * k + j] = c.log_const + 0.5 * q;
        }
    }
    for i in 0..rows {
        let l = &lk[i * k..(i + 1) * k];
        let top = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = l.iter().map(|v| (v - top).exp()).sum();
        let lse = top + total.ln();
        logp[i] = lse;
        let gi = &mut grad[i * d..(i + 1) * d];
        gi.fill(0.0);
        for (j, lj) in l.iter().enumerate() {
            let w = (lj - lse).exp();
            let gj = &gk[j * x.len() + i * d..j * x.len() + (i + 1) * d];
            for (a, b) in gi.iter_mut().zip(gj) {
                *a += w * b;
            }
        }
    }
}

impl BatchTarget for &Builtin {
    fn dim(&self) -> usize {
        Builtin::dim(self)
    }
    fn eval(&mut self, _step: usize, x: &[f64], logp: &mut [f64], grad: &mut [f64]) -> Result<()> {
        self.eval_all(x, logp, grad);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_grad(t: &Builtin, x: &[f64]) -> Vec<f64> {
        let d = x.len();
        let f = |y: &[f64]| {
            let mut lp = [0.0];
            let mut g = vec![0.0; d];
            t.eval_block(y, &mut lp, &mut g);
            lp[0]
        };
        (0..d)
            .map(|k| {
                let h = 1e-6 * (1.0 + x[k].abs());
                let (mut a, mut b) = (x.to_vec(), x.to_vec());
                a[k] += h;
                b[k] -= h;
                (f(&a) - f(&b)) / (2.0 * h)
            })
            .collect()
    }

    fn targets() -> Vec<Builtin> {
        let comp = |m: [f64; 2], p: [f64; 4], c: f64| GaussianComponent {
            mean: m.to_vec(),
            precision: p.to_vec(),
            log_const: c,
        };
        vec![
            Builtin::Mixture {
                dim: 2,
                components: vec![comp([0.5, -1.0], [2.0, 0.3, 0.3, 1.0], -1.0)],
            },
            Builtin::Mixture {
                dim: 2,
                components: vec![
                    comp([0.5, -1.0], [2.0, 0.3, 0.3, 1.0], -1.5),
                    comp([-1.0, 1.0], [1.0, 0.0, 0.0, 4.0], -2.0),
                ],
            },
            Builtin::Banana {
                dim: 3,
                b: 0.1,
                sigma: 2.0,
            },
            Builtin::Funnel { dim: 4, scale: 3.0 },
            Builtin::Logistic {
                dim: 3,
                x: vec![
                    1.0, 0.5, -1.2, 1.0, -0.3, 0.8, 1.0, 2.0, 0.1, 1.0, -1.5, -0.4, 1.0, 0.2, 3.0,
                ],
                y: vec![1.0, 0.0, 1.0, 0.0, 1.0],
                prior_scale: 2.0,
            },
        ]
    }

    #[test]
    fn gradients_match_finite_differences() {
        let pts = [
            [0.3, -0.7, 0.2, 1.1],
            [1.5, 0.4, -0.9, 0.0],
            [-0.2, 0.1, 0.5, -0.5],
        ];
        for t in targets() {
            t.validate().unwrap();
            let d = t.dim();
            for p in &pts {
                let x = &p[..d];
                let mut lp = [0.0];
                let mut g = vec![0.0; d];
                t.eval_block(x, &mut lp, &mut g);
                let num = numeric_grad(&t, x);
                for k in 0..d {
                    assert!(
                        (g[k] - num[k]).abs() < 1e-6 * (1.0 + num[k].abs()),
                        "{t:?} {k}: {} vs {}",
                        g[k],
                        num[k]
                    );
                }
            }
        }
    }

    #[test]
    fn batch_equals_single_rows() {
        for t in targets() {
            let d = t.dim();
            let n = 150;
            let x: Vec<f64> = (0..n * d)
                .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
                .collect();
            let (mut lp, mut g) = (vec![0.0; n], vec![0.0; n * d]);
            t.eval_all(&x, &mut lp, &mut g);
            for i in 0..n {
                let (mut l1, mut g1) = ([0.0], vec![0.0; d]);
                t.eval_block(&x[i * d..(i + 1) * d], &mut l1, &mut g1);
                assert!((l1[0] - lp[i]).abs() <= 1e-12 * (1.0 + l1[0].abs()));
                for k in 0..d {
                    assert!((g1[k] - g[i * d + k]).abs() <= 1e-12 * (1.0 + g1[k].abs()));
                }
            }
        }
    }

    #[test]
    fn normalising_constants_integrate_to_one_in_1d_slices() {
        // Banana and Funnel are proper densities: check the 2-D ones integrate to 1 on a grid.
        for t in [
            Builtin::Banana {
                dim: 2,
                b: 0.1,
                sigma: 2.0,
            },
            Builtin::Funnel { dim: 2, scale: 1.0 },
        ] {
            let (lo, hi, m) = (-30.0, 30.0, 1200);
            let h = (hi - lo) / m as f64;
            let mut total = 0.0;
            for i in 0..m {
                for j in 0..m {
                    let x = [lo + (i as f64 + 0.5) * h, lo + (j as f64 + 0.5) * h];
                    let (mut lp, mut g) = ([0.0], [0.0; 2]);
                    t.eval_block(&x, &mut lp, &mut g);
                    total += lp[0].exp() * h * h;
                }
            }
            assert!((total - 1.0).abs() < 1e-3, "{t:?}: {total}");
        }
    }
}
