//! The metric (inverse mass matrix) of HMC and of preconditioned Langevin proposals, and
//! its estimation during burn-in from the pooled chains.
//!
//! A "diag" or "dense" metric is estimated in windows that double (Stan's warm-up
//! schedule: a first buffer, the windows, a last buffer in which only the step size
//! moves), from every chain's state at every iteration of a window, and regularised
//! towards the identity as Stan does. Many chains make the pooled estimate good after a
//! few iterations: 64 chains over a window of 25 give 1,600 states.

use rayon::prelude::*;

use crate::error::{invalid, Result};

/// The inverse mass matrix.
#[derive(Clone, Debug, PartialEq)]
pub enum InverseMass {
    Identity,
    /// Its diagonal (d), positive.
    Diag(Vec<f64>),
    /// The matrix (d x d, row-major), symmetric positive definite.
    Dense(Vec<f64>),
}

/// Which metric burn-in estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricAdaptation {
    Diag,
    Dense,
}

/// The metric with what its use needs: M^-1 and C with C C' = M^-1 (dense), or the
/// diagonal and its square root.
pub(crate) struct Mass {
    d: usize,
    pub(crate) metric: InverseMass,
    /// Diagonal: sqrt of M^-1; dense: the lower Cholesky factor C of M^-1.
    factor: Vec<f64>,
}

impl Mass {
    pub(crate) fn new(metric: InverseMass, d: usize) -> Result<Self> {
        let factor = match &metric {
            InverseMass::Identity => Vec::new(),
            InverseMass::Diag(m) => {
                if m.len() != d || !m.iter().all(|v| v.is_finite() && *v > 0.0) {
                    return invalid(format!(
                        "a diagonal metric needs {d} positive finite values"
                    ));
                }
                m.iter().map(|v| v.sqrt()).collect()
            }
            InverseMass::Dense(m) => {
                if m.len() != d * d || !m.iter().all(|v| v.is_finite()) {
                    return invalid(format!("a dense metric needs {d} x {d} finite values"));
                }
                match cholesky(m, d) {
                    Some(c) => c,
                    None => return invalid("the dense metric is not symmetric positive definite"),
                }
            }
        };
        Ok(Self { d, metric, factor })
    }

    /// p = C^-T z (p ~ N(0, M) for z ~ N(0, I)), in place.
    pub(crate) fn momentum(&self, z: &mut [f64]) {
        match &self.metric {
            InverseMass::Identity => {}
            InverseMass::Diag(_) => z.iter_mut().zip(&self.factor).for_each(|(p, s)| *p /= s),
            InverseMass::Dense(_) => {
                // Back substitution with the upper-triangular C'.
                let (c, d) = (&self.factor, self.d);
                for i in (0..d).rev() {
                    let mut s = z[i];
                    for k in i + 1..d {
                        s -= c[k * d + i] * z[k];
                    }
                    z[i] = s / c[i * d + i];
                }
            }
        }
    }

    /// z = C z (C z ~ N(0, M^-1) for z ~ N(0, I)), in place.
    pub(crate) fn scale(&self, z: &mut [f64]) {
        match &self.metric {
            InverseMass::Identity => {}
            InverseMass::Diag(_) => z.iter_mut().zip(&self.factor).for_each(|(v, s)| *v *= s),
            InverseMass::Dense(_) => {
                // Row i of the lower-triangular C reads z[..=i] only: from the last row up,
                // each is overwritten after its last use.
                let (c, d) = (&self.factor, self.d);
                for i in (0..d).rev() {
                    z[i] = c[i * d..i * d + i + 1]
                        .iter()
                        .zip(&z[..=i])
                        .map(|(a, b)| a * b)
                        .sum();
                }
            }
        }
    }

    pub(crate) fn is_identity(&self) -> bool {
        self.metric == InverseMass::Identity
    }

    /// v = M^-1 p.
    pub(crate) fn velocity(&self, p: &[f64], v: &mut [f64]) {
        match &self.metric {
            InverseMass::Identity => v.copy_from_slice(p),
            InverseMass::Diag(m) => v
                .iter_mut()
                .zip(p.iter().zip(m))
                .for_each(|(o, (a, b))| *o = a * b),
            InverseMass::Dense(m) => {
                for (o, row) in v.iter_mut().zip(m.chunks_exact(self.d)) {
                    *o = row.iter().zip(p).map(|(a, b)| a * b).sum();
                }
            }
        }
    }

    /// p' M^-1 p / 2, with `v` = M^-1 p as scratch.
    pub(crate) fn kinetic(&self, p: &[f64], v: &mut [f64]) -> f64 {
        self.velocity(p, v);
        0.5 * p.iter().zip(v.iter()).map(|(a, b)| a * b).sum::<f64>()
    }
}

/// The lower Cholesky factor of a symmetric positive definite d x d matrix, or None.
pub(crate) fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut c = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            if (a[i * d + j] - a[j * d + i]).abs() > 1e-10 * (a[i * d + i] * a[j * d + j]).sqrt() {
                return None;
            }
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= c[i * d + k] * c[j * d + k];
            }
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return None;
                }
                c[i * d + i] = s.sqrt();
            } else {
                c[i * d + j] = s / c[j * d + j];
            }
        }
    }
    Some(c)
}

/// The ends (exclusive, as iteration counts) of Stan's metric windows within `burn_in`
/// iterations: a first buffer of 75, windows of 25, 50, 100, ... (the last one stretched
/// to the final buffer of 50), scaled down to 15% / 75% / 10% of a shorter burn-in.
fn window_ends(burn_in: usize) -> Vec<usize> {
    let (first, last, base) = if burn_in >= 150 {
        (75, 50, 25)
    } else {
        let first = (0.15 * burn_in as f64) as usize;
        let last = (0.1 * burn_in as f64) as usize;
        (first, last, burn_in - first - last)
    };
    let stop = burn_in - last;
    let (mut ends, mut start, mut size) = (Vec::new(), first, base.max(1));
    while start < stop {
        let mut end = start + size;
        if end + 2 * size > stop {
            end = stop;
        }
        ends.push(end);
        start = end;
        size *= 2;
    }
    ends
}

/// Pooled sums of the chains' states over a window: their count, a shift (the first
/// state's mean, so that the sums of squares do not cancel), and the shifted sums.
struct WindowMoments {
    n: f64,
    shift: Vec<f64>,
    sum: Vec<f64>,
    /// Diagonal (d) or full (d x d) sums of shifted products.
    squares: Vec<f64>,
    dense: bool,
}

impl WindowMoments {
    fn new(d: usize, dense: bool) -> Self {
        Self {
            n: 0.0,
            shift: Vec::new(),
            sum: vec![0.0; d],
            squares: vec![0.0; if dense { d * d } else { d }],
            dense,
        }
    }

    /// Add every chain's state (rows of `x`), in chain order.
    fn add(&mut self, x: &[f64], d: usize) {
        let n_chains = x.len() / d;
        if self.shift.is_empty() {
            self.shift = (0..d)
                .map(|k| x.iter().skip(k).step_by(d).sum::<f64>() / n_chains as f64)
                .collect();
        }
        let shift = &self.shift;
        for row in x.chunks_exact(d) {
            for k in 0..d {
                self.sum[k] += row[k] - shift[k];
            }
        }
        if self.dense {
            // Row k of the sums of products, over the chains in order: parallel over k.
            self.squares
                .par_chunks_mut(d)
                .enumerate()
                .for_each(|(k, out)| {
                    for row in x.chunks_exact(d) {
                        let a = row[k] - shift[k];
                        for (o, (v, s)) in out.iter_mut().zip(row.iter().zip(shift)) {
                            *o += a * (v - s);
                        }
                    }
                });
        } else {
            for row in x.chunks_exact(d) {
                for k in 0..d {
                    let a = row[k] - shift[k];
                    self.squares[k] += a * a;
                }
            }
        }
        self.n += n_chains as f64;
    }

    /// The regularised covariance estimate (Stan's: n / (n + 5) S + 1e-3 5 / (n + 5) I).
    fn metric(&self, d: usize) -> InverseMass {
        let n = self.n;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let (w, ridge) = (n / (n + 5.0), 1e-3 * 5.0 / (n + 5.0));
        if self.dense {
            let mut m = vec![0.0; d * d];
            for i in 0..d {
                for j in 0..d {
                    let cov = (self.squares[i * d + j] - n * mean[i] * mean[j]) / (n - 1.0);
                    m[i * d + j] = w * cov + if i == j { ridge } else { 0.0 };
                }
            }
            // Exactly symmetric.
            for i in 0..d {
                for j in 0..i {
                    let s = 0.5 * (m[i * d + j] + m[j * d + i]);
                    m[i * d + j] = s;
                    m[j * d + i] = s;
                }
            }
            InverseMass::Dense(m)
        } else {
            InverseMass::Diag(
                (0..d)
                    .map(|k| w * (self.squares[k] - n * mean[k] * mean[k]) / (n - 1.0) + ridge)
                    .collect(),
            )
        }
    }
}

/// The metric's estimation during burn-in: which iterations feed the pooled moments and
/// where each window ends.
pub(crate) struct MetricWarmup {
    /// Iterations up to this one are the first buffer, not used.
    first: usize,
    ends: Vec<usize>,
    moments: WindowMoments,
}

impl MetricWarmup {
    /// The schedule of a `burn_in` of this length, or None without adaptation.
    pub(crate) fn new(adapt: Option<MetricAdaptation>, burn_in: usize, d: usize) -> Option<Self> {
        let adapt = adapt?;
        let ends = window_ends(burn_in);
        if ends.is_empty() {
            return None;
        }
        let first = if burn_in >= 150 {
            75
        } else {
            (0.15 * burn_in as f64) as usize
        };
        Some(Self {
            first,
            ends,
            moments: WindowMoments::new(d, adapt == MetricAdaptation::Dense),
        })
    }

    /// Record the chains' states `x` after burn-in iteration `step`; at the end of a
    /// window, the metric estimated from it (and a fresh window).
    pub(crate) fn observe(&mut self, step: usize, x: &[f64], d: usize) -> Option<InverseMass> {
        if step > self.first {
            self.moments.add(x, d);
        }
        if !self.ends.contains(&step) {
            return None;
        }
        // One state (one chain over a one-iteration window) has no spread: the metric
        // stays as it was.
        let metric = (self.moments.n >= 2.0).then(|| self.moments.metric(d));
        self.moments = WindowMoments::new(d, self.moments.dense);
        metric
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_and_end_before_the_last_buffer() {
        assert_eq!(window_ends(1000), vec![100, 150, 250, 450, 950]);
        assert_eq!(*window_ends(150).last().unwrap(), 100);
        let short = window_ends(40);
        assert_eq!(*short.last().unwrap(), 36);
        assert!(short.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn bad_metrics_are_errors() {
        assert!(Mass::new(InverseMass::Diag(vec![1.0, -1.0]), 2).is_err());
        assert!(Mass::new(InverseMass::Dense(vec![1.0, 2.0, 2.0, 1.0]), 2).is_err());
        assert!(Mass::new(InverseMass::Dense(vec![1.0, 0.5, 0.4, 1.0]), 2).is_err());
        // The momentum's covariance is M = (M^-1)^-1: C^-T z with C C' = M^-1.
        let m = Mass::new(InverseMass::Dense(vec![4.0, 1.9, 1.9, 1.0]), 2).unwrap();
        let mut z = [1.0, 0.0];
        m.momentum(&mut z);
        let mut v = [0.0; 2];
        m.velocity(&z, &mut v);
        // p = C^-T z has p' M^-1 p = |z|^2: a kinetic energy of 1/2.
        assert!((m.kinetic(&z, &mut v) - 0.5).abs() < 1e-14);
        // C z has covariance C C' = M^-1: C e_1 and C e_2 give its columns' factors.
        let (mut a, mut b) = ([1.0, 0.0], [0.0, 1.0]);
        m.scale(&mut a);
        m.scale(&mut b);
        let cov = |i: usize, j: usize| a[i] * a[j] + b[i] * b[j];
        assert!((cov(0, 0) - 4.0).abs() < 1e-14 && (cov(0, 1) - 1.9).abs() < 1e-14);
        assert!((cov(1, 1) - 1.0).abs() < 1e-14);
    }
}
