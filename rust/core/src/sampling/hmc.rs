//! Hamiltonian Monte Carlo on many chains at once, with a metric and its adaptation.
//!
//! Every chain runs the same number of leapfrog steps in an iteration (drawn uniformly
//! from 1..=n_leapfrog with `jitter`, from a stream shared by all chains, as ChEES-HMC
//! does), so each leapfrog step is one batched evaluation of the target for all chains.
//! With inverse mass matrix M^-1 (the metric) and momentum p ~ N(0, M):
//!
//!   H(x, p) = -log p(x) + p' M^-1 p / 2;  p += h/2 g;  (x += h M^-1 p; p += h g)^L, the
//!   last kick a half one;
//!
//! accepted with probability min(1, exp(H0 - H1)). An energy error H1 - H0 above
//! `DIVERGENCE_THRESHOLD` (Stan's 1000), or a non-finite log-density or gradient along
//! the path, marks the transition divergent: it is rejected and recorded, and the run
//! goes on. With p = C^-T z, z ~ N(0, I), where C C' = M^-1 (Cholesky), p has covariance
//! M without M being formed.
//!
//! During burn-in the step size is adapted by dual averaging (Hoffman & Gelman 2014)
//! towards a mean acceptance probability over the chains, one step size for all of them;
//! a "diag" or "dense" metric is estimated from the pooled chains in windows that double
//! (Stan's warm-up schedule: a first buffer, the windows, a last buffer in which only
//! the step size moves), regularised towards the identity as Stan does, after which the
//! step size's averaging restarts. Chains draw from their own streams, so the samples do
//! not depend on the thread count.

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::sampling::chain_rng::{ChainRng, Stream};
use crate::sampling::langevin::{check_run, start};
use crate::sampling::targets::BatchTarget;

/// Energy error above which a transition is divergent (Stan's and ArviZ's convention).
pub const DIVERGENCE_THRESHOLD: f64 = 1000.0;
/// Chains per parallel task.
const CHAINS_PER_TASK: usize = 8;

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

#[derive(Clone, Debug)]
pub struct HmcConfig {
    /// Recorded iterations (after burn-in); every `thin`-th is kept.
    pub n_steps: usize,
    pub burn_in: usize,
    pub thin: usize,
    pub step_size: f64,
    /// The leapfrog steps of an iteration (their largest number with `jitter`).
    pub n_leapfrog: usize,
    pub jitter: bool,
    /// The metric used (the first one, where burn-in adapts it).
    pub metric: InverseMass,
    pub adapt_metric: Option<MetricAdaptation>,
    pub adapt_step_size: bool,
    /// The mean acceptance probability that the step-size adaptation aims at.
    pub target_accept: f64,
    pub seed: u64,
}

/// What a run returns; arrays are chain-major.
#[derive(Clone, Debug)]
pub struct HmcTrace {
    pub n_chains: usize,
    pub n_draws: usize,
    pub dim: usize,
    /// (n_chains, n_draws, dim)
    pub samples: Vec<f64>,
    /// (n_chains, n_draws): log p, the acceptance probability min(1, exp(H0 - H1)) (0
    /// where divergent), whether divergent, and the Hamiltonian of the kept state.
    pub logp: Vec<f64>,
    pub accept_prob: Vec<f64>,
    pub diverging: Vec<bool>,
    pub energy: Vec<f64>,
    /// (n_draws,): the leapfrog steps of each kept iteration (the same for every chain).
    pub n_leapfrog: Vec<usize>,
    /// The step size and metric after burn-in.
    pub step_size: f64,
    pub metric: InverseMass,
}

/// The metric with what its use needs: M^-1 and C with C C' = M^-1 (dense), or the
/// diagonal and its square root.
struct Mass {
    d: usize,
    metric: InverseMass,
    /// Diagonal: sqrt of M^-1; dense: the lower Cholesky factor C of M^-1.
    factor: Vec<f64>,
}

impl Mass {
    fn new(metric: InverseMass, d: usize) -> Result<Self> {
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
    fn momentum(&self, z: &mut [f64]) {
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

    /// v = M^-1 p.
    fn velocity(&self, p: &[f64], v: &mut [f64]) {
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
    fn kinetic(&self, p: &[f64], v: &mut [f64]) -> f64 {
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

/// Dual averaging of log h (Hoffman & Gelman 2014, Algorithm 5, their constants).
struct DualAveraging {
    mu: f64,
    t: f64,
    h_bar: f64,
    log_h: f64,
    log_h_bar: f64,
}

impl DualAveraging {
    fn new(h: f64) -> Self {
        Self {
            mu: (10.0 * h).ln(),
            t: 0.0,
            h_bar: 0.0,
            log_h: h.ln(),
            log_h_bar: h.ln(),
        }
    }

    /// The step size for the next iteration, after one with mean acceptance `accept`.
    fn update(&mut self, accept: f64, target: f64) -> f64 {
        const GAMMA: f64 = 0.05;
        const T0: f64 = 10.0;
        const KAPPA: f64 = 0.75;
        self.t += 1.0;
        let eta = 1.0 / (self.t + T0);
        self.h_bar = (1.0 - eta) * self.h_bar + eta * (target - accept);
        self.log_h = (self.mu - self.t.sqrt() / GAMMA * self.h_bar).clamp(-60.0, 20.0);
        let w = self.t.powf(-KAPPA);
        self.log_h_bar = w * self.log_h + (1.0 - w) * self.log_h_bar;
        self.log_h.exp()
    }
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

/// Per-chain state besides the batched matrices.
struct Chain {
    rng: ChainRng,
    unif: ChainRng,
    logp: f64,
    /// The trajectory's start: log p and H.
    logp0: f64,
    h0: f64,
    /// Whether the trajectory left the target's domain (non-finite log p or gradient).
    dead: bool,
}

/// Run `cfg.burn_in + cfg.n_steps` HMC iterations from `x0` (n_chains x d, row-major).
///
/// Chain c's normal stream gives its starting point when `x0` is None (d draws), then d
/// momentum draws per iteration; its uniform stream one acceptance uniform per
/// iteration. The path lengths come from the uniform stream of chain index 2^63 - 1.
pub fn hmc<T: BatchTarget + ?Sized>(
    target: &mut T,
    x0: Option<&[f64]>,
    n_chains: usize,
    cfg: &HmcConfig,
    ctl: &Control,
) -> Result<HmcTrace> {
    let d = target.dim();
    check_run(d, n_chains, x0, cfg.step_size, cfg.thin, cfg.n_steps)?;
    if cfg.n_leapfrog == 0 {
        return invalid("need n_leapfrog >= 1");
    }
    if !(cfg.target_accept > 0.0 && cfg.target_accept < 1.0) {
        return invalid("target_accept must be in (0, 1)");
    }
    let mut mass = Mass::new(cfg.metric.clone(), d)?;
    let n_draws = cfg.n_steps / cfg.thin;
    let total = cfg.burn_in + cfg.n_steps;

    let state = |what: &str| {
        crate::big_buffer::zeroed(
            n_chains.saturating_mul(d),
            what,
            "run fewer chains (each needs 6 x d values of state)",
        )
    };
    let mut x = state("the chains' states (n_chains x d)")?;
    let mut g = state("the chains' gradients (n_chains x d)")?;
    let mut p = state("the chains' momenta (n_chains x d)")?;
    let mut v = state("the chains' velocities (n_chains x d)")?;
    let mut xs = state("the trajectories' starts (n_chains x d)")?;
    let mut gs = state("the trajectories' start gradients (n_chains x d)")?;
    let mut lp = vec![0.0; n_chains];

    let mut chains: Vec<Chain> = (0..n_chains)
        .map(|c| Chain {
            rng: ChainRng::new(cfg.seed, c as u64, Stream::Normal),
            unif: ChainRng::new(cfg.seed, c as u64, Stream::Uniform),
            logp: 0.0,
            logp0: 0.0,
            h0: 0.0,
            dead: false,
        })
        .collect();
    let mut lengths = ChainRng::new(cfg.seed, u64::MAX >> 1, Stream::Uniform);

    let mut rngs: Vec<&mut ChainRng> = chains.iter_mut().map(|c| &mut c.rng).collect();
    start(target, x0, &mut rngs, &mut x, &mut lp, &mut g)?;
    for (ch, l) in chains.iter_mut().zip(&lp) {
        ch.logp = *l;
    }

    let mut h = cfg.step_size;
    let mut averaging = DualAveraging::new(h);
    let ends = match cfg.adapt_metric {
        Some(_) => window_ends(cfg.burn_in),
        None => Vec::new(),
    };
    let first_window = if ends.is_empty() {
        usize::MAX
    } else if cfg.burn_in >= 150 {
        75
    } else {
        (0.15 * cfg.burn_in as f64) as usize
    };
    let mut window = cfg
        .adapt_metric
        .map(|a| WindowMoments::new(d, a == MetricAdaptation::Dense));

    let big = |what: &str, n: usize| {
        crate::big_buffer::zeroed(
            n,
            what,
            "record fewer draws with thin=, or run fewer chains or steps",
        )
    };
    let mut samples = big(
        "the recorded states (n_chains x recorded draws x d)",
        n_chains.saturating_mul(n_draws).saturating_mul(d),
    )?;
    let cells = n_chains * n_draws;
    let (mut logp_out, mut accept_out, mut energy_out) =
        (vec![0.0; cells], vec![0.0; cells], vec![0.0; cells]);
    let mut diverging_out = vec![false; cells];
    let mut leapfrog_out = Vec::with_capacity(n_draws);
    let mut accept = vec![0.0; n_chains];
    let mut energy = vec![0.0; n_chains];
    let mut diverged = vec![false; n_chains];
    let mut draw = 0;

    for step in 1..=total {
        ctl.check()?;
        let burning = step <= cfg.burn_in;
        let n_l = if cfg.jitter {
            1 + ((lengths.uniform() * cfg.n_leapfrog as f64) as usize).min(cfg.n_leapfrog - 1)
        } else {
            cfg.n_leapfrog
        };
        // Momenta, the starting energies, a half kick.
        (
            p.par_chunks_mut(d),
            v.par_chunks_mut(d),
            x.par_chunks(d),
            g.par_chunks(d),
            xs.par_chunks_mut(d),
            gs.par_chunks_mut(d),
            chains.par_iter_mut(),
        )
            .into_par_iter()
            .with_min_len(CHAINS_PER_TASK)
            .for_each(|(pc, vc, xc, gc, xsc, gsc, ch)| {
                ch.rng.fill_normal(pc);
                mass.momentum(pc);
                ch.h0 = -ch.logp + mass.kinetic(pc, vc);
                ch.logp0 = ch.logp;
                ch.dead = false;
                xsc.copy_from_slice(xc);
                gsc.copy_from_slice(gc);
                for k in 0..d {
                    pc[k] += 0.5 * h * gc[k];
                }
            });
        for l in 0..n_l {
            // Drift, then the target at every chain's new point, then a kick.
            (
                x.par_chunks_mut(d),
                v.par_chunks_mut(d),
                p.par_chunks(d),
                chains.par_iter(),
            )
                .into_par_iter()
                .with_min_len(CHAINS_PER_TASK)
                .for_each(|(xc, vc, pc, ch)| {
                    if !ch.dead {
                        mass.velocity(pc, vc);
                        for k in 0..d {
                            xc[k] += h * vc[k];
                        }
                    }
                });
            target.eval(step, &x, &mut lp, &mut g)?;
            let kick = if l + 1 == n_l { 0.5 * h } else { h };
            (
                x.par_chunks_mut(d),
                p.par_chunks_mut(d),
                g.par_chunks(d),
                xs.par_chunks(d),
                chains.par_iter_mut(),
                lp.par_iter(),
            )
                .into_par_iter()
                .with_min_len(CHAINS_PER_TASK)
                .for_each(|(xc, pc, gc, xsc, ch, &l)| {
                    if ch.dead {
                        return;
                    }
                    if !(l.is_finite() && gc.iter().all(|v| v.is_finite())) {
                        // Out of the target's domain: the transition is divergent; the
                        // chain waits at its start, a valid point, for the others.
                        ch.dead = true;
                        xc.copy_from_slice(xsc);
                        return;
                    }
                    ch.logp = l;
                    for k in 0..d {
                        pc[k] += kick * gc[k];
                    }
                });
        }
        // Accept or reject.
        (
            x.par_chunks_mut(d),
            g.par_chunks_mut(d),
            p.par_chunks(d),
            v.par_chunks_mut(d),
            xs.par_chunks(d),
            gs.par_chunks(d),
            chains.par_iter_mut(),
            accept.par_iter_mut(),
            energy.par_iter_mut(),
            diverged.par_iter_mut(),
        )
            .into_par_iter()
            .with_min_len(CHAINS_PER_TASK)
            .for_each(|(xc, gc, pc, vc, xsc, gsc, ch, acc, en, div)| {
                let u = ch.unif.uniform();
                let h1 = if ch.dead {
                    f64::INFINITY
                } else {
                    -ch.logp + mass.kinetic(pc, vc)
                };
                let error = h1 - ch.h0;
                *div = ch.dead || error.is_nan() || error > DIVERGENCE_THRESHOLD;
                *acc = if *div { 0.0 } else { (-error).exp().min(1.0) };
                if !*div && u < *acc {
                    *en = h1;
                } else {
                    xc.copy_from_slice(xsc);
                    gc.copy_from_slice(gsc);
                    ch.logp = ch.logp0;
                    *en = ch.h0;
                }
            });
        if burning {
            if let Some(w) = window.as_mut() {
                if step > first_window {
                    w.add(&x, d);
                }
                if ends.contains(&step) {
                    mass = Mass::new(w.metric(d), d)?;
                    *w = WindowMoments::new(d, w.dense);
                    averaging = DualAveraging::new(h);
                }
            }
            if cfg.adapt_step_size {
                let mean = accept.iter().sum::<f64>() / n_chains as f64;
                h = averaging.update(mean, cfg.target_accept);
                if step == cfg.burn_in {
                    h = averaging.log_h_bar.exp();
                }
            }
        }
        if !burning && (step - cfg.burn_in).is_multiple_of(cfg.thin) && draw < n_draws {
            (
                samples.par_chunks_mut(n_draws * d),
                logp_out.par_chunks_mut(n_draws),
                accept_out.par_chunks_mut(n_draws),
                energy_out.par_chunks_mut(n_draws),
                diverging_out.par_chunks_mut(n_draws),
                x.par_chunks(d),
                chains.par_iter(),
            )
                .into_par_iter()
                .with_min_len(CHAINS_PER_TASK)
                .enumerate()
                .for_each(|(c, (sc, lc, ac, ec, dc, xc, ch))| {
                    sc[draw * d..(draw + 1) * d].copy_from_slice(xc);
                    lc[draw] = ch.logp;
                    ac[draw] = accept[c];
                    ec[draw] = energy[c];
                    dc[draw] = diverged[c];
                });
            leapfrog_out.push(n_l);
            draw += 1;
        }
    }
    Ok(HmcTrace {
        n_chains,
        n_draws,
        dim: d,
        samples,
        logp: logp_out,
        accept_prob: accept_out,
        diverging: diverging_out,
        energy: energy_out,
        n_leapfrog: leapfrog_out,
        step_size: h,
        metric: mass.metric,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::targets::{Builtin, GaussianComponent};

    /// N(0, S) for S = [[4, 1.9], [1.9, 1]] (correlation 0.95).
    fn correlated() -> (Builtin, [f64; 4]) {
        let cov: [f64; 4] = [4.0, 1.9, 1.9, 1.0];
        let det = cov[0] * cov[3] - cov[1] * cov[2];
        let precision = vec![cov[3] / det, -cov[1] / det, -cov[2] / det, cov[0] / det];
        let log_const = -(2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln();
        let t = Builtin::Mixture {
            dim: 2,
            components: vec![GaussianComponent {
                mean: vec![0.0, 0.0],
                precision,
                log_const,
            }],
        };
        (t, cov)
    }

    fn config(metric: InverseMass, adapt_metric: Option<MetricAdaptation>) -> HmcConfig {
        HmcConfig {
            n_steps: 400,
            burn_in: 300,
            thin: 1,
            step_size: 0.3,
            n_leapfrog: 8,
            jitter: true,
            metric,
            adapt_metric,
            adapt_step_size: true,
            target_accept: 0.8,
            seed: 5,
        }
    }

    fn run(t: &Builtin, cfg: &HmcConfig, threads: usize) -> HmcTrace {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| hmc(&mut &*t, None, 64, cfg, &Control::new()))
            .unwrap()
    }

    #[test]
    fn samples_do_not_depend_on_the_thread_count() {
        let (t, _) = correlated();
        let cfg = config(InverseMass::Identity, Some(MetricAdaptation::Dense));
        let one = run(&t, &cfg, 1);
        let three = run(&t, &cfg, 3);
        assert_eq!(one.samples, three.samples);
        assert_eq!(one.energy, three.energy);
        assert_eq!(one.step_size, three.step_size);
        assert_eq!(one.metric, three.metric);
    }

    #[test]
    fn adapted_metrics_approach_the_covariance_and_moments_are_right() {
        let (t, cov) = correlated();
        for adapt in [MetricAdaptation::Diag, MetricAdaptation::Dense] {
            let tr = run(&t, &config(InverseMass::Identity, Some(adapt)), 2);
            match (&tr.metric, adapt) {
                (InverseMass::Dense(m), MetricAdaptation::Dense) => {
                    for (got, want) in m.iter().zip(cov) {
                        assert!((got - want).abs() < 0.35, "{m:?}");
                    }
                }
                (InverseMass::Diag(m), MetricAdaptation::Diag) => {
                    assert!(
                        (m[0] - 4.0).abs() < 0.6 && (m[1] - 1.0).abs() < 0.15,
                        "{m:?}"
                    );
                }
                other => panic!("{other:?}"),
            }
            // 64 chains x 400 draws: the variance of x1 (4) to well within 10%.
            let n = (tr.n_chains * tr.n_draws) as f64;
            let x1: Vec<f64> = tr.samples.iter().step_by(2).copied().collect();
            let mean = x1.iter().sum::<f64>() / n;
            let var = x1.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            assert!(
                mean.abs() < 0.2 && (var - 4.0).abs() < 0.4,
                "{adapt:?}: {mean} {var}"
            );
            let rate = tr.accept_prob.iter().sum::<f64>() / n;
            // Dual averaging ends on its averaged step, smaller than the last iterate: the
            // acceptance lands at or above the target (Stan's runs show the same).
            assert!((0.75..0.97).contains(&rate), "{adapt:?}: acceptance {rate}");
            assert!(!tr.diverging.iter().any(|&d| d));
        }
    }

    #[test]
    fn a_step_too_large_is_divergent_not_an_error() {
        let (t, _) = correlated();
        let mut cfg = config(InverseMass::Identity, None);
        cfg.adapt_step_size = false;
        cfg.step_size = 50.0;
        cfg.burn_in = 0;
        let tr = run(&t, &cfg, 2);
        assert!(tr.diverging.iter().all(|&d| d));
        assert!(tr.accept_prob.iter().all(|&a| a == 0.0));
    }

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
    }
}
