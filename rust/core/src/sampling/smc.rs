//! Adaptive tempered sequential Monte Carlo from a normalised Gaussian reference to a
//! target, with an estimate of the target's log-normalising constant.
//!
//! The particles move through the geometric path pi_b(x) ~ r(x)^(1-b) p(x)^b from the
//! reference r (b = 0, drawn exactly) to the target p (b = 1). At each stage:
//!
//! 1. Reweight: the next temperature b' is the largest in (b, 1] at which the weights
//!    w_i exp((b' - b)(log p - log r)(x_i)) keep an effective sample size of at least
//!    `ess_threshold` x N (bisection on b'); log Z grows by the log of the weighted mean
//!    of the incremental weights (Del Moral, Doucet & Jasra 2006).
//! 2. Resample (systematic) whenever the ESS is at the threshold, that is at every stage
//!    but possibly the last.
//! 3. Move: `n_mcmc_steps` of MALA targeting pi_b', preconditioned by the particles'
//!    variances (many particles make that estimate good at every stage), its step size
//!    adapted from one stage to the next towards an acceptance of 0.574; or of HMC
//!    (`Kernel::Hmc`) with those variances as the inverse mass matrix, its step size
//!    adapted after every move towards 0.65.
//!
//! Particle i draws its proposals and acceptance uniforms from streams of (seed, i), and
//! the resampling uniforms from the stream of index N, so the result does not depend on
//! the thread count.

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::sampling::chain_rng::{ChainRng, Stream};
use crate::sampling::langevin::{check_finite_state, MALA_TARGET_ACCEPT};
use crate::sampling::metric::cholesky;
use crate::sampling::targets::BatchTarget;

/// Particles per parallel task.
const PARTICLES_PER_TASK: usize = 16;
/// Temperatures before a run gives up (a threshold near 1 on a far target needs many).
pub const MAX_STAGES: usize = 10_000;
/// Progress is reported as the temperature times this (1e6 at the target).
pub const PROGRESS_UNITS: f64 = 1e6;

/// The MCMC move at each temperature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// MALA, preconditioned by the particles' variances, aiming at acceptance 0.574.
    Mala,
    /// HMC with `SMC_LEAPFROG` leapfrog steps and the particles' variances as the
    /// inverse mass matrix, aiming at acceptance `HMC_SMC_TARGET_ACCEPT`.
    Hmc,
}

/// The leapfrog steps of an HMC move.
pub const SMC_LEAPFROG: usize = 5;
/// The acceptance the HMC moves' step size aims at (Beskos et al. 2013's optimum).
pub const HMC_SMC_TARGET_ACCEPT: f64 = 0.65;

/// The normalised Gaussian reference N(mean, L L').
#[derive(Clone, Debug)]
pub struct Reference {
    pub mean: Vec<f64>,
    /// The covariance, d x d row-major; None for the identity.
    pub cov: Option<Vec<f64>>,
}

#[derive(Clone, Debug)]
pub struct SmcConfig {
    pub n_particles: usize,
    pub kernel: Kernel,
    pub n_mcmc_steps: usize,
    pub ess_threshold: f64,
    pub seed: u64,
}

/// What a run returns.
#[derive(Clone, Debug)]
pub struct SmcResult {
    pub n_particles: usize,
    pub dim: usize,
    /// (n_particles, dim), the particles at the target.
    pub samples: Vec<f64>,
    /// (n_particles,), normalised: logsumexp = 0.
    pub log_weights: Vec<f64>,
    pub log_evidence: f64,
    /// 0 = b_0 < b_1 < ... < b_T = 1.
    pub temperatures: Vec<f64>,
    /// Mean acceptance probability of the moves at each temperature after the first (T,).
    pub acceptance_rate: Vec<f64>,
    /// MALA step size used at each temperature after the first (T,).
    pub step_size: Vec<f64>,
}

/// The reference's log-density and gradient, with the factor L of its covariance.
struct RefDensity {
    d: usize,
    mean: Vec<f64>,
    /// Lower Cholesky factor of the covariance; empty for the identity.
    chol: Vec<f64>,
    log_norm: f64,
}

impl RefDensity {
    fn new(r: &Reference, d: usize) -> Result<Self> {
        if r.mean.len() != d || !r.mean.iter().all(|v| v.is_finite()) {
            return invalid(format!(
                "the reference's mean must hold {d} finite values (the target's dimension), got {}",
                r.mean.len()
            ));
        }
        let chol = match &r.cov {
            None => Vec::new(),
            Some(c) => {
                if c.len() != d * d || !c.iter().all(|v| v.is_finite()) {
                    return invalid(format!(
                        "the reference's covariance must be {d} x {d} and finite"
                    ));
                }
                match cholesky(c, d) {
                    Some(l) => l,
                    None => {
                        return invalid(
                            "the reference's covariance is not symmetric positive definite",
                        )
                    }
                }
            }
        };
        let log_det_half: f64 = if chol.is_empty() {
            0.0
        } else {
            (0..d).map(|i| chol[i * d + i].ln()).sum()
        };
        let log_norm = -log_det_half - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
        Ok(Self {
            d,
            mean: r.mean.clone(),
            chol,
            log_norm,
        })
    }

    /// x = mean + L z for z ~ N(0, I) from `rng`, in place: row i of the lower-triangular
    /// L reads z_0..z_i only, so the rows go from the last up.
    fn draw(&self, rng: &mut ChainRng, x: &mut [f64]) {
        let d = self.d;
        rng.fill_normal(x);
        for i in (0..d).rev() {
            let lz = if self.chol.is_empty() {
                x[i]
            } else {
                let row = &self.chol[i * d..i * d + i + 1];
                row.iter().zip(&x[..=i]).map(|(a, b)| a * b).sum::<f64>()
            };
            x[i] = self.mean[i] + lz;
        }
    }

    /// log r(x), and grad log r(x) = -Sigma^-1 (x - mean) in `g`.
    fn eval(&self, x: &[f64], g: &mut [f64]) -> f64 {
        let d = self.d;
        for k in 0..d {
            g[k] = x[k] - self.mean[k];
        }
        if self.chol.is_empty() {
            let q: f64 = g.iter().map(|v| v * v).sum();
            g.iter_mut().for_each(|v| *v = -*v);
            return self.log_norm - 0.5 * q;
        }
        let l = &self.chol;
        // z = L^-1 (x - mean) by forward substitution, in place.
        for i in 0..d {
            let mut s = g[i];
            for k in 0..i {
                s -= l[i * d + k] * g[k];
            }
            g[i] = s / l[i * d + i];
        }
        let q: f64 = g.iter().map(|v| v * v).sum();
        // grad = -L^-T z by back substitution, in place.
        for i in (0..d).rev() {
            let mut s = g[i];
            for k in i + 1..d {
                s -= l[k * d + i] * g[k];
            }
            g[i] = s / l[i * d + i];
        }
        g.iter_mut().for_each(|v| *v = -*v);
        self.log_norm - 0.5 * q
    }
}

/// The target's and the reference's log-densities at a particle.
#[derive(Clone)]
struct Particle {
    lt: f64,
    lr: f64,
}

/// log sum exp of `v` (-inf for an empty or all -inf slice).
fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + v.iter().map(|a| (a - m).exp()).sum::<f64>().ln()
}

/// Effective sample size (sum w)^2 / sum w^2 of the weights exp(`log_w`).
fn ess(log_w: &[f64]) -> f64 {
    let m = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return 0.0;
    }
    let (mut s, mut s2) = (0.0, 0.0);
    for a in log_w {
        let w = (a - m).exp();
        s += w;
        s2 += w * w;
    }
    s * s / s2
}

/// Log-weights after moving from temperature b by `db`: log_w + db (log p - log r); a
/// particle where the target is 0 gets weight 0 whatever the step.
fn reweighted(log_w: &[f64], parts: &[Particle], db: f64, out: &mut [f64]) {
    for ((o, w), p) in out.iter_mut().zip(log_w).zip(parts) {
        *o = if p.lt == f64::NEG_INFINITY {
            f64::NEG_INFINITY
        } else {
            w + db * (p.lt - p.lr)
        };
    }
}

/// The next temperature: 1 when the weights keep `threshold` x N effective samples there,
/// else the point in (b, 1) where they keep exactly that many, by bisection.
fn next_temperature(
    log_w: &[f64],
    parts: &[Particle],
    b: f64,
    threshold: f64,
    buf: &mut [f64],
) -> f64 {
    let target = threshold * log_w.len() as f64;
    reweighted(log_w, parts, 1.0 - b, buf);
    if ess(buf) >= target {
        return 1.0;
    }
    let (mut lo, mut hi) = (b, 1.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        reweighted(log_w, parts, mid - b, buf);
        if ess(buf) >= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // The ESS falls continuously from N at b: lo > b unless b and its successor in
    // floating point already cross the threshold, where the smallest step is taken.
    if lo > b {
        lo
    } else {
        hi
    }
}

/// Systematic resampling: the ancestors of N new particles from the normalised
/// log-weights, with one uniform u: particle i takes the ancestor whose cumulative weight
/// interval holds (u + i) / N.
fn systematic(log_w: &[f64], u: f64) -> Vec<usize> {
    let n = log_w.len();
    let mut out = Vec::with_capacity(n);
    let mut j = 0;
    let mut cum = log_w[0].exp();
    for i in 0..n {
        let pos = (u + i as f64) / n as f64;
        while pos >= cum && j + 1 < n {
            j += 1;
            cum += log_w[j].exp();
        }
        out.push(j);
    }
    out
}

/// Run adaptive tempered SMC from `reference` to `target`.
pub fn smc<T: BatchTarget + ?Sized>(
    target: &mut T,
    reference: &Reference,
    cfg: &SmcConfig,
    ctl: &Control,
) -> Result<SmcResult> {
    let d = target.dim();
    let n = cfg.n_particles;
    if n < 2 || d == 0 {
        return invalid(format!("need n_particles >= 2 and d >= 1, got {n} and {d}"));
    }
    if !(cfg.ess_threshold > 0.0 && cfg.ess_threshold <= 1.0) {
        return invalid(format!(
            "ess_threshold must be in (0, 1], got {}",
            cfg.ess_threshold
        ));
    }
    let rdens = RefDensity::new(reference, d)?;
    let state = |what: &str| {
        crate::big_buffer::zeroed(
            n.saturating_mul(d),
            what,
            "use fewer particles (each needs 6 x d values of state)",
        )
    };
    let mut x = state("the particles (n_particles x d)")?;
    let mut gt = state("the target's gradients (n_particles x d)")?;
    let mut gr = state("the reference's gradients (n_particles x d)")?;
    let mut y = state("the proposals (n_particles x d)")?;
    let mut gty = state("the proposals' target gradients (n_particles x d)")?;
    let mut gry = state("the proposals' reference gradients (n_particles x d)")?;
    let mut lt_new = vec![0.0; n];
    // HMC moves: the momenta, and per particle the starting energy, the proposal's
    // reference log-density and whether its path left the target's domain.
    let mut p = if cfg.kernel == Kernel::Hmc {
        state("the momenta (n_particles x d)")?
    } else {
        Vec::new()
    };
    let (mut h0, mut lr_new, mut dead) = (vec![0.0; n], vec![0.0; n], vec![false; n]);
    let mut alpha = vec![0.0; n];

    let mut normals: Vec<ChainRng> = (0..n)
        .map(|i| ChainRng::new(cfg.seed, i as u64, Stream::Normal))
        .collect();
    let mut uniforms: Vec<ChainRng> = (0..n)
        .map(|i| ChainRng::new(cfg.seed, i as u64, Stream::Uniform))
        .collect();
    let mut resampling = ChainRng::new(cfg.seed, n as u64, Stream::Uniform);

    // Draws from the reference, and both densities there.
    x.par_chunks_mut(d)
        .zip(normals.par_iter_mut())
        .with_min_len(PARTICLES_PER_TASK)
        .for_each(|(xc, rng)| rdens.draw(rng, xc));
    let mut parts = vec![Particle { lt: 0.0, lr: 0.0 }; n];
    target.eval(0, &x, &mut lt_new, &mut gt)?;
    check_finite_state(0, "the draws from the reference", &lt_new, &gt, d, true)?;
    if lt_new.iter().all(|v| *v == f64::NEG_INFINITY) {
        return invalid(
            "the target's log-density is -inf at every draw from the reference; \
             give a reference that covers the target's support",
        );
    }
    (
        parts.par_iter_mut(),
        x.par_chunks(d),
        gr.par_chunks_mut(d),
        lt_new.par_iter(),
    )
        .into_par_iter()
        .with_min_len(PARTICLES_PER_TASK)
        .for_each(|(p, xc, gc, &lt)| {
            p.lt = lt;
            p.lr = rdens.eval(xc, gc);
        });

    let log_n = (n as f64).ln();
    let mut log_w = vec![-log_n; n];
    let mut buf = vec![0.0; n];
    let mut b = 0.0;
    let mut log_z = 0.0;
    let mut temperatures = vec![0.0];
    // Batch evaluations of the target so far (the draws from the reference are the 0th),
    // to name the one that fails.
    let mut evaluations = 0;
    let mut acceptance = Vec::new();
    let mut steps = Vec::new();
    let mut h = (d as f64).powf(-1.0 / 3.0);
    let mut scale = vec![1.0; d];

    while b < 1.0 {
        ctl.check()?;
        if temperatures.len() > MAX_STAGES {
            return invalid(format!(
                "the tempering did not reach the target in {MAX_STAGES} temperatures \
                 (at {b:.3e}); lower ess_threshold"
            ));
        }
        // 1. Reweight.
        let b_next = next_temperature(&log_w, &parts, b, cfg.ess_threshold, &mut buf);
        reweighted(&log_w, &parts, b_next - b, &mut buf);
        let inc = log_sum_exp(&buf);
        if !inc.is_finite() {
            return invalid(format!(
                "the incremental weights at temperature {b_next:.3e} are not finite; \
                 the target's log-density is -inf on every particle"
            ));
        }
        log_z += inc;
        log_w.iter_mut().zip(&buf).for_each(|(w, v)| *w = v - inc);
        b = b_next;
        temperatures.push(b);
        ctl.report((b * PROGRESS_UNITS) as u64);

        // 2. Resample.
        if b < 1.0 || ess(&log_w) < cfg.ess_threshold * n as f64 {
            let anc = systematic(&log_w, resampling.uniform());
            // Gathered into the proposals' buffers (free between moves), then swapped in.
            (
                y.par_chunks_mut(d),
                gty.par_chunks_mut(d),
                gry.par_chunks_mut(d),
                anc.par_iter(),
            )
                .into_par_iter()
                .with_min_len(PARTICLES_PER_TASK)
                .for_each(|(xc, gtc, grc, &a)| {
                    xc.copy_from_slice(&x[a * d..(a + 1) * d]);
                    gtc.copy_from_slice(&gt[a * d..(a + 1) * d]);
                    grc.copy_from_slice(&gr[a * d..(a + 1) * d]);
                });
            std::mem::swap(&mut x, &mut y);
            std::mem::swap(&mut gt, &mut gty);
            std::mem::swap(&mut gr, &mut gry);
            parts = anc.iter().map(|&a| parts[a].clone()).collect();
            log_w.iter_mut().for_each(|w| *w = -log_n);
        }

        // 3. Move, preconditioned by the particles' (weighted) standard deviations.
        weighted_scale(&x, &log_w, d, &mut scale);
        steps.push(h);
        let mut acc_sum = 0.0;
        for _ in 0..cfg.n_mcmc_steps {
            ctl.check()?;
            if cfg.kernel == Kernel::Hmc {
                let mut m = HmcMove {
                    rdens: &rdens,
                    b,
                    h,
                    scale: &scale,
                    p: &mut p,
                    h0: &mut h0,
                    lr_new: &mut lr_new,
                    dead: &mut dead,
                };
                m.run(
                    target,
                    (&mut x, &mut gt, &mut gr),
                    (&mut y, &mut gty, &mut gry),
                    (&mut parts, &mut normals, &mut uniforms),
                    &mut lt_new,
                    &mut alpha,
                    &mut evaluations,
                )?;
                let a = alpha.iter().sum::<f64>() / n as f64;
                acc_sum += a;
                // HMC's acceptance falls off a cliff as h passes its stability limit,
                // which moves with the temperature: its step adapts after every move.
                h = (h * (2.0 * (a - HMC_SMC_TARGET_ACCEPT)).exp()).clamp(1e-12, 1e3);
                continue;
            }
            evaluations += 1;
            let s = (2.0 * h).sqrt();
            (
                y.par_chunks_mut(d),
                x.par_chunks(d),
                gt.par_chunks(d),
                gr.par_chunks(d),
                normals.par_iter_mut(),
            )
                .into_par_iter()
                .with_min_len(PARTICLES_PER_TASK)
                .for_each(|(yc, xc, gtc, grc, rng)| {
                    for k in 0..d {
                        let g = (1.0 - b) * grc[k] + b * gtc[k];
                        let m = scale[k] * scale[k];
                        yc[k] = xc[k] + h * m * g + s * scale[k] * rng.normal();
                    }
                });
            target.eval(evaluations, &y, &mut lt_new, &mut gty)?;
            check_finite_state(evaluations, "at the proposals", &lt_new, &gty, d, true)?;
            (
                x.par_chunks_mut(d),
                gt.par_chunks_mut(d),
                gr.par_chunks_mut(d),
                (y.par_chunks(d), gty.par_chunks(d), gry.par_chunks_mut(d)),
                parts.par_iter_mut(),
                uniforms.par_iter_mut(),
                lt_new.par_iter(),
            )
                .into_par_iter()
                .with_min_len(PARTICLES_PER_TASK)
                .zip(alpha.par_iter_mut())
                .for_each(|((xc, gtc, grc, (yc, gtyc, gryc), p, unif, &lty), al)| {
                    let log_u = unif.uniform().ln();
                    if lty == f64::NEG_INFINITY {
                        *al = 0.0;
                        return;
                    }
                    let lry = rdens.eval(yc, gryc);
                    let lx = (1.0 - b) * p.lr + b * p.lt;
                    let ly = (1.0 - b) * lry + b * lty;
                    let (mut fwd, mut bwd) = (0.0, 0.0);
                    for k in 0..d {
                        let m = scale[k] * scale[k];
                        let gx = (1.0 - b) * grc[k] + b * gtc[k];
                        let gy = (1.0 - b) * gryc[k] + b * gtyc[k];
                        let a = yc[k] - xc[k] - h * m * gx;
                        let c = xc[k] - yc[k] - h * m * gy;
                        fwd += a * a / m;
                        bwd += c * c / m;
                    }
                    let log_alpha = ly - lx + (fwd - bwd) / (4.0 * h);
                    if log_u < log_alpha {
                        xc.copy_from_slice(yc);
                        gtc.copy_from_slice(gtyc);
                        grc.copy_from_slice(gryc);
                        p.lt = lty;
                        p.lr = lry;
                    }
                    *al = if log_alpha >= 0.0 {
                        1.0
                    } else {
                        log_alpha.exp()
                    };
                });
            // Summed in particle order: the step size it sets must not depend on threads.
            acc_sum += alpha.iter().sum::<f64>() / n as f64;
        }
        let acc = if cfg.n_mcmc_steps > 0 {
            acc_sum / cfg.n_mcmc_steps as f64
        } else {
            f64::NAN
        };
        acceptance.push(acc);
        if cfg.n_mcmc_steps > 0 && cfg.kernel == Kernel::Mala {
            // A multiplicative step towards the optimal acceptance; the particles'
            // spread already carries the change of scale between temperatures.
            h = (h * (2.0 * (acc - MALA_TARGET_ACCEPT)).exp()).clamp(1e-12, 1e3);
        }
    }

    Ok(SmcResult {
        n_particles: n,
        dim: d,
        samples: x,
        log_weights: log_w,
        log_evidence: log_z,
        temperatures,
        acceptance_rate: acceptance,
        step_size: steps,
    })
}

/// One HMC move of every particle targeting pi_b, with inverse mass diag(scale^2): the
/// momentum p = z / scale from the particle's normal stream, `SMC_LEAPFROG` leapfrog
/// steps of size h (one batched target evaluation each), acceptance with one uniform
/// from its uniform stream. A path that leaves the target's domain is rejected.
struct HmcMove<'a> {
    rdens: &'a RefDensity,
    b: f64,
    h: f64,
    scale: &'a [f64],
    p: &'a mut [f64],
    h0: &'a mut [f64],
    lr_new: &'a mut [f64],
    dead: &'a mut [bool],
}

type Rows<'a> = (&'a mut Vec<f64>, &'a mut Vec<f64>, &'a mut Vec<f64>);

impl HmcMove<'_> {
    #[allow(clippy::too_many_arguments)]
    fn run<T: BatchTarget + ?Sized>(
        &mut self,
        target: &mut T,
        (x, gt, gr): Rows<'_>,
        (y, gty, gry): Rows<'_>,
        (parts, normals, uniforms): (&mut [Particle], &mut [ChainRng], &mut [ChainRng]),
        lt_new: &mut [f64],
        alpha: &mut [f64],
        evaluations: &mut usize,
    ) -> Result<()> {
        let d = self.rdens.d;
        let (b, h, scale) = (self.b, self.h, self.scale);
        // Momenta, the starting energies, a half kick from the start.
        (
            (self.p.par_chunks_mut(d), y.par_chunks_mut(d)),
            (x.par_chunks(d), gt.par_chunks(d), gr.par_chunks(d)),
            normals.par_iter_mut(),
            (self.h0.par_iter_mut(), self.dead.par_iter_mut()),
            parts.par_iter(),
        )
            .into_par_iter()
            .with_min_len(PARTICLES_PER_TASK)
            .for_each(|((pc, yc), (xc, gtc, grc), rng, (e0, dd), part)| {
                let mut kinetic = 0.0;
                for k in 0..d {
                    pc[k] = rng.normal() / scale[k];
                    kinetic += pc[k] * pc[k] * scale[k] * scale[k];
                }
                *e0 = -((1.0 - b) * part.lr + b * part.lt) + 0.5 * kinetic;
                *dd = part.lt == f64::NEG_INFINITY;
                yc.copy_from_slice(xc);
                for k in 0..d {
                    pc[k] += 0.5 * h * ((1.0 - b) * grc[k] + b * gtc[k]);
                }
            });
        for l in 0..SMC_LEAPFROG {
            (
                self.p.par_chunks(d),
                y.par_chunks_mut(d),
                self.dead.par_iter(),
            )
                .into_par_iter()
                .with_min_len(PARTICLES_PER_TASK)
                .for_each(|(pc, yc, &dd)| {
                    if !dd {
                        for k in 0..d {
                            yc[k] += h * scale[k] * scale[k] * pc[k];
                        }
                    }
                });
            *evaluations += 1;
            target.eval(*evaluations, y, lt_new, gty)?;
            let kick = if l + 1 == SMC_LEAPFROG { 0.5 * h } else { h };
            let rdens = self.rdens;
            (
                (self.p.par_chunks_mut(d), y.par_chunks(d)),
                (gty.par_chunks(d), gry.par_chunks_mut(d)),
                (self.lr_new.par_iter_mut(), self.dead.par_iter_mut()),
                lt_new.par_iter(),
            )
                .into_par_iter()
                .with_min_len(PARTICLES_PER_TASK)
                .for_each(|((pc, yc), (gtyc, gryc), (lry, dd), &lty)| {
                    if *dd {
                        return;
                    }
                    if !(lty.is_finite() && gtyc.iter().all(|v| v.is_finite())) {
                        *dd = true;
                        return;
                    }
                    *lry = rdens.eval(yc, gryc);
                    for k in 0..d {
                        pc[k] += kick * ((1.0 - b) * gryc[k] + b * gtyc[k]);
                    }
                });
        }
        // Accept or reject.
        (
            (
                x.par_chunks_mut(d),
                gt.par_chunks_mut(d),
                gr.par_chunks_mut(d),
            ),
            (y.par_chunks(d), gty.par_chunks(d), gry.par_chunks(d)),
            (
                self.p.par_chunks(d),
                self.h0.par_iter(),
                self.dead.par_iter(),
            ),
            (parts.par_iter_mut(), uniforms.par_iter_mut()),
            (
                lt_new.par_iter(),
                self.lr_new.par_iter(),
                alpha.par_iter_mut(),
            ),
        )
            .into_par_iter()
            .with_min_len(PARTICLES_PER_TASK)
            .for_each(
                |(
                    (xc, gtc, grc),
                    (yc, gtyc, gryc),
                    (pc, &e0, &dd),
                    (part, unif),
                    (&lty, &lry, al),
                )| {
                    let log_u = unif.uniform().ln();
                    if dd {
                        *al = 0.0;
                        return;
                    }
                    let kinetic: f64 = (0..d).map(|k| pc[k] * pc[k] * scale[k] * scale[k]).sum();
                    let e1 = -((1.0 - b) * lry + b * lty) + 0.5 * kinetic;
                    let log_alpha = e0 - e1;
                    if log_u < log_alpha {
                        xc.copy_from_slice(yc);
                        gtc.copy_from_slice(gtyc);
                        grc.copy_from_slice(gryc);
                        part.lt = lty;
                        part.lr = lry;
                    }
                    *al = if log_alpha >= 0.0 {
                        1.0
                    } else if log_alpha.is_nan() {
                        0.0
                    } else {
                        log_alpha.exp()
                    };
                },
            );
        Ok(())
    }
}

/// The weighted standard deviation of each coordinate of the particles (1 where it is 0
/// or not finite, so that a collapsed coordinate still moves).
fn weighted_scale(x: &[f64], log_w: &[f64], d: usize, out: &mut [f64]) {
    let mut mean = vec![0.0; d];
    let mut sq = vec![0.0; d];
    let mut total = 0.0;
    for (xc, lw) in x.chunks_exact(d).zip(log_w) {
        let w = lw.exp();
        total += w;
        for k in 0..d {
            mean[k] += w * xc[k];
        }
    }
    mean.iter_mut().for_each(|m| *m /= total);
    for (xc, lw) in x.chunks_exact(d).zip(log_w) {
        let w = lw.exp();
        for k in 0..d {
            let c = xc[k] - mean[k];
            sq[k] += w * c * c;
        }
    }
    for k in 0..d {
        let s = (sq[k] / total).sqrt();
        out[k] = if s.is_finite() && s > 0.0 { s } else { 1.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::targets::{Builtin, GaussianComponent};

    /// N(mu, s^2 I) in d dimensions, scaled by exp(log_c): log Z = log_c.
    fn gaussian(d: usize, mu: f64, s: f64, log_c: f64) -> Builtin {
        let mut precision = vec![0.0; d * d];
        for i in 0..d {
            precision[i * d + i] = 1.0 / (s * s);
        }
        Builtin::Mixture {
            dim: d,
            components: vec![GaussianComponent {
                mean: vec![mu; d],
                precision,
                log_const: log_c - 0.5 * d as f64 * (2.0 * std::f64::consts::PI * s * s).ln(),
            }],
        }
    }

    fn cfg(n: usize, seed: u64) -> SmcConfig {
        SmcConfig {
            n_particles: n,
            kernel: Kernel::Mala,
            n_mcmc_steps: 5,
            ess_threshold: 0.5,
            seed,
        }
    }

    fn run(t: &Builtin, reference: &Reference, c: &SmcConfig, threads: usize) -> SmcResult {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| smc(&mut &*t, reference, c, &Control::new()))
            .unwrap()
    }

    fn standard(d: usize) -> Reference {
        Reference {
            mean: vec![0.0; d],
            cov: None,
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let t = gaussian(3, 2.0, 0.5, 1.5);
        let (a, b) = (
            run(&t, &standard(3), &cfg(300, 4), 1),
            run(&t, &standard(3), &cfg(300, 4), 3),
        );
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.log_evidence, b.log_evidence);
        assert_eq!(a.temperatures, b.temperatures);
        let hmc = SmcConfig {
            kernel: Kernel::Hmc,
            ..cfg(300, 4)
        };
        let (a, b) = (
            run(&t, &standard(3), &hmc, 1),
            run(&t, &standard(3), &hmc, 3),
        );
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.step_size, b.step_size);
    }

    #[test]
    fn the_evidence_and_the_moments_of_a_gaussian_are_recovered() {
        let t = gaussian(4, 1.5, 0.5, -2.0);
        let r = run(&t, &standard(4), &cfg(4000, 1), 2);
        assert!((r.log_evidence + 2.0).abs() < 0.1, "{}", r.log_evidence);
        assert_eq!(*r.temperatures.last().unwrap(), 1.0);
        assert!(r.temperatures.windows(2).all(|w| w[0] < w[1]));
        let m: f64 = r.samples.iter().sum::<f64>() / r.samples.len() as f64;
        assert!((m - 1.5).abs() < 0.05, "{m}");
        assert!((log_sum_exp(&r.log_weights)).abs() < 1e-12);
    }

    #[test]
    fn the_reference_itself_is_reached_in_one_stage() {
        let cov = vec![2.0, 0.5, 0.5, 1.0];
        let reference = Reference {
            mean: vec![1.0, -1.0],
            cov: Some(cov.clone()),
        };
        let prec = {
            let det = 2.0 * 1.0 - 0.25;
            vec![1.0 / det, -0.5 / det, -0.5 / det, 2.0 / det]
        };
        let t = Builtin::Mixture {
            dim: 2,
            components: vec![GaussianComponent {
                mean: vec![1.0, -1.0],
                precision: prec,
                log_const: 0.7
                    - (2.0 * std::f64::consts::PI).ln()
                    - 0.5 * (2.0f64 * 1.0 - 0.25).ln(),
            }],
        };
        let r = run(&t, &reference, &cfg(200, 0), 2);
        assert_eq!(r.temperatures, vec![0.0, 1.0]);
        assert!((r.log_evidence - 0.7).abs() < 1e-10, "{}", r.log_evidence);
    }

    #[test]
    fn systematic_resampling_follows_the_weights() {
        let lw: Vec<f64> = [0.5, 0.25, 0.125, 0.125]
            .iter()
            .map(|w: &f64| w.ln())
            .collect();
        assert_eq!(systematic(&lw, 0.1), vec![0, 0, 1, 2]);
        assert_eq!(systematic(&lw, 0.9), vec![0, 0, 1, 3]);
        assert_eq!(systematic(&lw, 0.0), vec![0, 0, 1, 2]);
    }

    #[test]
    fn bad_configurations_are_errors() {
        let t = gaussian(2, 0.0, 1.0, 0.0);
        let ctl = Control::new();
        for c in [
            SmcConfig {
                n_particles: 1,
                ..cfg(10, 0)
            },
            SmcConfig {
                ess_threshold: 0.0,
                ..cfg(10, 0)
            },
            SmcConfig {
                ess_threshold: 1.5,
                ..cfg(10, 0)
            },
        ] {
            assert!(smc(&mut &t, &standard(2), &c, &ctl).is_err());
        }
        assert!(smc(&mut &t, &standard(3), &cfg(10, 0), &ctl).is_err());
        let bad = Reference {
            mean: vec![0.0; 2],
            cov: Some(vec![1.0, 2.0, 2.0, 1.0]),
        };
        assert!(smc(&mut &t, &bad, &cfg(10, 0), &ctl).is_err());
    }
}
