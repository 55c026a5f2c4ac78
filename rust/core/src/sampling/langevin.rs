//! Langevin samplers on many chains at once: ULA, MALA and underdamped (BAOAB).
//!
//! Each step runs in three phases: every chain moves or proposes (parallel over chains,
//! each drawing from its own `ChainRng`), the target is evaluated on all new points in
//! one batch (a GEMM for Gaussians, one Python call for user targets), and every chain
//! finishes its step (accept/reject, velocity half-kick). Chains never read each other,
//! and the target's batch evaluation is deterministic per row, so the samples depend
//! only on (seed, chain index).
//!
//! Conventions (step h, gradient g = grad log p):
//! - ULA: x' = x + h g(x) + sqrt(2h) xi.
//! - MALA: propose y as ULA, accept with probability
//!   min(1, p(y) q(x | y) / (p(x) q(y | x))), q(y | x) ~ exp(-|y - x - h g(x)|^2 / (4h)).
//! - Underdamped, unit mass, friction gamma, BAOAB splitting (Leimkuhler & Matthews 2013):
//!   v += h/2 g; x += h/2 v; v = e^{-gamma h} v + sqrt(1 - e^{-2 gamma h}) xi;
//!   x += h/2 v; v += h/2 g(x).
//!
//! With a metric M^-1 (C C' = M^-1), the proposal of ULA and MALA is preconditioned,
//! y = x + h M^-1 g + sqrt(2h) C xi, and MALA's log ratio becomes
//! log p(y) - log p(x) - a's / 2 - h s' M^-1 s / 4 with a = y - x - h M^-1 g(x) and
//! s = g(x) + g(y), which needs M^-1 but never M; underdamped Langevin runs with mass M:
//! v is the momentum, the drifts are x += h/2 M^-1 v and the refreshment draws C^-T xi.
//! "diag" and "dense" metrics are estimated during burn-in from the pooled chains
//! (`metric::MetricWarmup`); each estimate restarts the step sizes' Robbins-Monro gains.

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::sampling::chain_rng::{ChainRng, Stream};
use crate::sampling::metric::{InverseMass, Mass, MetricAdaptation, MetricWarmup};
use crate::sampling::targets::BatchTarget;

/// Acceptance rate the MALA step-size adaptation aims at (Roberts & Rosenthal 1998).
pub const MALA_TARGET_ACCEPT: f64 = 0.574;
/// Chains per parallel task.
const CHAINS_PER_TASK: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    Ula,
    Mala,
    Underdamped { friction: f64 },
}

#[derive(Clone, Debug)]
pub struct LangevinConfig {
    pub method: Method,
    /// Recorded steps (after burn-in); every `thin`-th is kept.
    pub n_steps: usize,
    pub burn_in: usize,
    pub thin: usize,
    pub step_size: f64,
    /// Adapt each chain's MALA step size toward `MALA_TARGET_ACCEPT` during burn-in.
    pub adapt: bool,
    /// The metric used (the first one, where burn-in adapts it).
    pub metric: InverseMass,
    pub adapt_metric: Option<MetricAdaptation>,
    pub seed: u64,
}

/// What a run returns; arrays are chain-major.
#[derive(Clone, Debug)]
pub struct LangevinTrace {
    pub n_chains: usize,
    pub n_draws: usize,
    pub dim: usize,
    /// (n_chains, n_draws, dim)
    pub samples: Vec<f64>,
    /// (n_chains, n_draws)
    pub logp: Vec<f64>,
    /// Accepted proposals per chain over the recorded steps (every step for ULA and
    /// underdamped).
    pub accepted: Vec<u64>,
    /// Final step size per chain (differs from the initial one only with adaptation).
    pub step_size: Vec<f64>,
    /// The metric after burn-in.
    pub metric: InverseMass,
}

/// Per-chain state that is not part of the batched matrices.
struct Chain {
    rng: ChainRng,
    unif: ChainRng,
    h: f64,
    logp: f64,
    log_u: f64,
    accepted: u64,
    /// Robbins-Monro state: log step size.
    log_h: f64,
}

/// The Robbins-Monro update of log h after a MALA proposal accepted with probability
/// exp(log_alpha), at the t-th iteration of adaptation (gain t^-0.6).
#[inline]
fn robbins_monro(log_h: f64, log_alpha: f64, t: usize) -> f64 {
    let alpha = if log_alpha >= 0.0 {
        1.0
    } else {
        log_alpha.exp()
    };
    (log_h + (t as f64).powf(-0.6) * (alpha - MALA_TARGET_ACCEPT)).clamp(-60.0, 20.0)
}

pub(crate) fn check_finite_state(
    step: usize,
    what: &str,
    logp: &[f64],
    grad: &[f64],
    d: usize,
    allow_neg_inf: bool,
) -> Result<()> {
    for (c, lp) in logp.iter().enumerate() {
        let g = &grad[c * d..(c + 1) * d];
        let bad_lp =
            lp.is_nan() || *lp == f64::INFINITY || (!allow_neg_inf && *lp == f64::NEG_INFINITY);
        let bad_g = lp.is_finite() && g.iter().any(|v| !v.is_finite());
        if bad_lp || bad_g {
            let which = if bad_lp {
                format!("log-density {lp}")
            } else {
                "a non-finite gradient".into()
            };
            return invalid(format!(
                "the target returned {which} for chain {c} at step {step} ({what}); \
                 if the chains diverged, reduce step_size"
            ));
        }
    }
    Ok(())
}

/// The checks every sampler's run makes of its shape: chains and dimension, the starting
/// points' size, the step size, and the kept steps.
pub(crate) fn check_run(
    d: usize,
    n_chains: usize,
    x0: Option<&[f64]>,
    step_size: f64,
    thin: usize,
    n_steps: usize,
) -> Result<()> {
    if n_chains == 0 || d == 0 {
        return invalid(format!(
            "need n_chains >= 1 and d >= 1, got {n_chains} and {d}"
        ));
    }
    if let Some(x0) = x0 {
        if x0.len() != n_chains * d {
            return invalid(format!(
                "x0 must hold n_chains x d = {n_chains} x {d} values, got {}",
                x0.len()
            ));
        }
    }
    if !(step_size.is_finite() && step_size > 0.0) {
        return invalid(format!(
            "step_size must be positive and finite, got {step_size}"
        ));
    }
    if thin == 0 || n_steps < thin {
        return invalid("need thin >= 1 and n_steps >= thin");
    }
    Ok(())
}

/// The chains' starting points in `x` (`x0`, or d normal draws from each chain's
/// stream), and the target there, which must be finite.
pub(crate) fn start<T: BatchTarget + ?Sized>(
    target: &mut T,
    x0: Option<&[f64]>,
    rngs: &mut [&mut ChainRng],
    x: &mut [f64],
    lp: &mut [f64],
    g: &mut [f64],
) -> Result<()> {
    let d = target.dim();
    match x0 {
        Some(x0) => x.copy_from_slice(x0),
        None => x
            .par_chunks_mut(d)
            .zip(rngs.par_iter_mut())
            .with_min_len(CHAINS_PER_TASK)
            .for_each(|(xc, rng)| rng.fill_normal(xc)),
    }
    target.eval(0, x, lp, g)?;
    check_finite_state(0, "the initial points x0", lp, g, d, false)
}

/// Run `cfg.burn_in + cfg.n_steps` Langevin steps from `x0` (n_chains x d, row-major).
///
/// Each chain's normal stream is consumed in this order: its starting point when `x0` is
/// None (d draws), its initial velocity (underdamped, d draws), then d draws per step.
/// MALA's acceptance uniforms come from the chain's uniform stream, one per step.
pub fn langevin<T: BatchTarget + ?Sized>(
    target: &mut T,
    x0: Option<&[f64]>,
    n_chains: usize,
    cfg: &LangevinConfig,
    ctl: &Control,
) -> Result<LangevinTrace> {
    let d = target.dim();
    check_run(d, n_chains, x0, cfg.step_size, cfg.thin, cfg.n_steps)?;
    let friction = match cfg.method {
        Method::Underdamped { friction } => {
            if !(friction.is_finite() && friction > 0.0) {
                return invalid(format!(
                    "friction must be positive and finite, got {friction}"
                ));
            }
            friction
        }
        _ => 0.0,
    };
    let mut mass = Mass::new(cfg.metric.clone(), d)?;
    let mut warmup = MetricWarmup::new(cfg.adapt_metric, cfg.burn_in, d);
    let preconditioned = !mass.is_identity() || warmup.is_some();
    let n_draws = cfg.n_steps / cfg.thin;
    let total = cfg.burn_in + cfg.n_steps;

    let state = |what: &str| {
        crate::big_buffer::zeroed(
            n_chains.saturating_mul(d),
            what,
            "run fewer chains (each needs 5 x d values of state, 7 x d with a metric)",
        )
    };
    let mut x = state("the chains' states (n_chains x d)")?;
    let mut g = state("the chains' gradients (n_chains x d)")?;
    let mut y = state("the chains' proposals (n_chains x d)")?;
    let mut gy = state("the proposals' gradients (n_chains x d)")?;
    // Underdamped: the momenta; ULA and MALA with a metric: the scaled noise C xi.
    let mut v = state("the chains' velocities (n_chains x d)")?;
    // With a metric: M^-1 g at the states and at the proposals (zeroed pages that are
    // never touched without one).
    let mut pg = state("the chains' preconditioned gradients (n_chains x d)")?;
    let mut pgy = state("the proposals' preconditioned gradients (n_chains x d)")?;
    let mut lp = vec![0.0; n_chains];
    let mut lp_new = vec![0.0; n_chains];

    let mut chains: Vec<Chain> = (0..n_chains)
        .map(|c| Chain {
            rng: ChainRng::new(cfg.seed, c as u64, Stream::Normal),
            unif: ChainRng::new(cfg.seed, c as u64, Stream::Uniform),
            h: cfg.step_size,
            logp: 0.0,
            log_u: 0.0,
            accepted: 0,
            log_h: cfg.step_size.ln(),
        })
        .collect();

    let mut rngs: Vec<&mut ChainRng> = chains.iter_mut().map(|c| &mut c.rng).collect();
    start(target, x0, &mut rngs, &mut x, &mut lp, &mut g)?;
    for (ch, l) in chains.iter_mut().zip(&lp) {
        ch.logp = *l;
    }
    if let Method::Underdamped { .. } = cfg.method {
        // Initial momenta from the stationary N(0, M).
        v.par_chunks_mut(d)
            .zip(chains.par_iter_mut())
            .with_min_len(CHAINS_PER_TASK)
            .for_each(|(vc, ch)| {
                ch.rng.fill_normal(vc);
                mass.momentum(vc);
            });
    } else if preconditioned {
        precondition(&mass, &g, &mut pg, d);
    }

    let mut samples = crate::big_buffer::zeroed(
        n_chains.saturating_mul(n_draws).saturating_mul(d),
        "the recorded states (n_chains x recorded draws x d)",
        "record fewer draws with thin=, or run fewer chains or steps",
    )?;
    let mut logp_out = vec![0.0; n_chains * n_draws];
    let mut draw = 0;

    // The step at which the Robbins-Monro gains last restarted (a new metric).
    let mut rm_start = 0;
    for step in 1..=total {
        ctl.check()?;
        ctl.report(step as u64 - 1);
        let burning = step <= cfg.burn_in;
        match cfg.method {
            Method::Ula | Method::Mala => {
                let mala = cfg.method == Method::Mala;
                // Phase 1: propose y = x + h M^-1 g + sqrt(2h) C xi.
                (
                    y.par_chunks_mut(d),
                    v.par_chunks_mut(d),
                    x.par_chunks(d),
                    g.par_chunks(d),
                    pg.par_chunks(d),
                    chains.par_iter_mut(),
                )
                    .into_par_iter()
                    .with_min_len(CHAINS_PER_TASK)
                    .for_each(|(yc, zc, xc, gc, pgc, ch)| {
                        if mala {
                            ch.log_u = ch.unif.uniform().ln();
                        }
                        let s = (2.0 * ch.h).sqrt();
                        if preconditioned {
                            ch.rng.fill_normal(zc);
                            mass.scale(zc);
                            for k in 0..d {
                                yc[k] = xc[k] + ch.h * pgc[k] + s * zc[k];
                            }
                        } else {
                            for k in 0..d {
                                yc[k] = xc[k] + ch.h * gc[k] + s * ch.rng.normal();
                            }
                        }
                    });
                // Phase 2: the target at the proposals.
                target.eval(step, &y, &mut lp_new, &mut gy)?;
                check_finite_state(step, "at the new points", &lp_new, &gy, d, mala)?;
                if preconditioned {
                    precondition(&mass, &gy, &mut pgy, d);
                }
                // Phase 3: accept (MALA) or move (ULA).
                let adapt = mala && cfg.adapt && burning;
                (
                    (
                        x.par_chunks_mut(d),
                        g.par_chunks_mut(d),
                        pg.par_chunks_mut(d),
                    ),
                    (y.par_chunks(d), gy.par_chunks(d), pgy.par_chunks(d)),
                    chains.par_iter_mut(),
                    lp_new.par_iter(),
                )
                    .into_par_iter()
                    .with_min_len(CHAINS_PER_TASK)
                    .for_each(|((xc, gc, pgc), (yc, gyc, pgyc), ch, &lpn)| {
                        let accept = if mala {
                            let log_alpha = if preconditioned {
                                mala_log_ratio_metric(
                                    (xc, gc, pgc, ch.logp),
                                    (yc, gyc, pgyc, lpn),
                                    ch.h,
                                )
                            } else {
                                mala_log_ratio(xc, gc, ch.logp, yc, gyc, lpn, ch.h)
                            };
                            if adapt {
                                ch.log_h = robbins_monro(ch.log_h, log_alpha, step - rm_start);
                            }
                            ch.log_u < log_alpha
                        } else {
                            true
                        };
                        if accept {
                            xc.copy_from_slice(yc);
                            gc.copy_from_slice(gyc);
                            if preconditioned {
                                pgc.copy_from_slice(pgyc);
                            }
                            ch.logp = lpn;
                            if !burning {
                                ch.accepted += 1;
                            }
                        }
                        if adapt {
                            ch.h = ch.log_h.exp();
                        }
                    });
            }
            Method::Underdamped { .. } => {
                // B A O A, then the target at the new positions, then the final B.
                (
                    x.par_chunks_mut(d),
                    v.par_chunks_mut(d),
                    (y.par_chunks_mut(d), pg.par_chunks_mut(d)),
                    g.par_chunks(d),
                    chains.par_iter_mut(),
                )
                    .into_par_iter()
                    .with_min_len(CHAINS_PER_TASK)
                    .for_each(|(xc, vc, (zc, uc), gc, ch)| {
                        let h = ch.h;
                        let c1 = (-friction * h).exp();
                        let c2 = (-(-2.0 * friction * h).exp_m1()).sqrt();
                        if preconditioned {
                            for k in 0..d {
                                vc[k] += 0.5 * h * gc[k];
                            }
                            mass.velocity(vc, uc);
                            ch.rng.fill_normal(zc);
                            mass.momentum(zc);
                            for k in 0..d {
                                xc[k] += 0.5 * h * uc[k];
                                vc[k] = c1 * vc[k] + c2 * zc[k];
                            }
                            mass.velocity(vc, uc);
                            for k in 0..d {
                                xc[k] += 0.5 * h * uc[k];
                            }
                        } else {
                            for k in 0..d {
                                let mut vk = vc[k] + 0.5 * h * gc[k];
                                let mut xk = xc[k] + 0.5 * h * vk;
                                vk = c1 * vk + c2 * ch.rng.normal();
                                xk += 0.5 * h * vk;
                                vc[k] = vk;
                                xc[k] = xk;
                            }
                        }
                    });
                target.eval(step, &x, &mut lp, &mut g)?;
                check_finite_state(step, "at the new points", &lp, &g, d, false)?;
                (
                    v.par_chunks_mut(d),
                    g.par_chunks(d),
                    chains.par_iter_mut(),
                    lp.par_iter(),
                )
                    .into_par_iter()
                    .with_min_len(CHAINS_PER_TASK)
                    .for_each(|(vc, gc, ch, &l)| {
                        for k in 0..d {
                            vc[k] += 0.5 * ch.h * gc[k];
                        }
                        ch.logp = l;
                        if !burning {
                            ch.accepted += 1;
                        }
                    });
            }
        }
        if burning {
            if let Some(metric) = warmup.as_mut().and_then(|w| w.observe(step, &x, d)) {
                mass = Mass::new(metric, d)?;
                rm_start = step;
                precondition(&mass, &g, &mut pg, d);
            }
        }
        if !burning && (step - cfg.burn_in).is_multiple_of(cfg.thin) && draw < n_draws {
            // In parallel: the first write to each page of the output faults it in.
            (
                samples.par_chunks_mut(n_draws * d),
                logp_out.par_chunks_mut(n_draws),
                x.par_chunks(d),
                chains.par_iter(),
            )
                .into_par_iter()
                .with_min_len(CHAINS_PER_TASK)
                .for_each(|(sc, lc, xc, ch)| {
                    sc[draw * d..(draw + 1) * d].copy_from_slice(xc);
                    lc[draw] = ch.logp;
                });
            draw += 1;
        }
    }
    Ok(LangevinTrace {
        n_chains,
        n_draws,
        dim: d,
        samples,
        logp: logp_out,
        accepted: chains.iter().map(|c| c.accepted).collect(),
        step_size: chains.iter().map(|c| c.h).collect(),
        metric: mass.metric,
    })
}

/// out = M^-1 g for every chain's row.
fn precondition(mass: &Mass, g: &[f64], out: &mut [f64], d: usize) {
    out.par_chunks_mut(d)
        .zip(g.par_chunks(d))
        .with_min_len(CHAINS_PER_TASK)
        .for_each(|(o, gc)| mass.velocity(gc, o));
}

/// MALA's log ratio for the preconditioned proposal, from (state, gradient, M^-1
/// gradient, log p) at x and at y: log p(y) - log p(x) - a's / 2 - h s' M^-1 s / 4 with
/// a = y - x - h M^-1 g(x) and s = g(x) + g(y) (the module's notes derive it).
#[inline]
fn mala_log_ratio_metric(
    (x, gx, pgx, lpx): (&[f64], &[f64], &[f64], f64),
    (y, gy, pgy, lpy): (&[f64], &[f64], &[f64], f64),
    h: f64,
) -> f64 {
    if lpy == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    let (mut a_s, mut s_ms) = (0.0, 0.0);
    for k in 0..x.len() {
        let a = y[k] - x[k] - h * pgx[k];
        let s = gx[k] + gy[k];
        a_s += a * s;
        s_ms += s * (pgx[k] + pgy[k]);
    }
    lpy - lpx - 0.5 * a_s - 0.25 * h * s_ms
}

/// log of p(y) q(x | y) / (p(x) q(y | x)) for the MALA proposal with step h.
#[inline]
fn mala_log_ratio(x: &[f64], gx: &[f64], lpx: f64, y: &[f64], gy: &[f64], lpy: f64, h: f64) -> f64 {
    if lpy == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    let (mut fwd, mut bwd) = (0.0, 0.0);
    for k in 0..x.len() {
        let a = y[k] - x[k] - h * gx[k];
        let b = x[k] - y[k] - h * gy[k];
        fwd += a * a;
        bwd += b * b;
    }
    lpy - lpx + (fwd - bwd) / (4.0 * h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::targets::{Builtin, GaussianComponent};

    fn gaussian_1d(s: f64) -> Builtin {
        Builtin::Mixture {
            dim: 1,
            components: vec![GaussianComponent {
                mean: vec![0.0],
                precision: vec![1.0 / (s * s)],
                log_const: -0.5 * (2.0 * std::f64::consts::PI * s * s).ln(),
            }],
        }
    }

    fn run(method: Method, threads: usize, adapt: bool, step_size: f64) -> LangevinTrace {
        run_with(method, threads, adapt, step_size, None)
    }

    fn run_with(
        method: Method,
        threads: usize,
        adapt: bool,
        step_size: f64,
        adapt_metric: Option<MetricAdaptation>,
    ) -> LangevinTrace {
        let t = gaussian_1d(2.0);
        let cfg = LangevinConfig {
            method,
            n_steps: 400,
            burn_in: 100,
            thin: 2,
            step_size,
            adapt,
            metric: InverseMass::Identity,
            adapt_metric,
            seed: 11,
        };
        let x0 = vec![1.0; 37];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| langevin(&mut &t, Some(&x0), 37, &cfg, &Control::new()))
            .unwrap()
    }

    #[test]
    fn samples_do_not_depend_on_the_thread_count() {
        for m in [
            Method::Ula,
            Method::Mala,
            Method::Underdamped { friction: 1.0 },
        ] {
            let (a, b) = (run(m, 1, true, 0.5), run(m, 3, true, 0.5));
            assert_eq!(a.samples, b.samples);
            assert_eq!(a.logp, b.logp);
            assert_eq!(a.accepted, b.accepted);
            assert_eq!(a.n_draws, 200);
            let adapt = Some(MetricAdaptation::Dense);
            let (a, b) = (
                run_with(m, 1, true, 0.5, adapt),
                run_with(m, 3, true, 0.5, adapt),
            );
            assert_eq!(a.samples, b.samples);
            assert_eq!(a.metric, b.metric);
            // The estimate of the variance 4 from 37 chains over a window of 75 steps.
            match a.metric {
                InverseMass::Dense(m) => assert!((m[0] - 4.0).abs() < 2.0, "{m:?}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn logp_is_recorded_with_its_sample_and_ula_always_moves() {
        let t = gaussian_1d(2.0);
        let tr = run(Method::Ula, 2, false, 0.5);
        assert!(tr.accepted.iter().all(|&a| a == 400));
        for (x, lp) in tr.samples.iter().zip(&tr.logp) {
            let (mut l, mut g) = ([0.0], [0.0]);
            t.eval_block(&[*x], &mut l, &mut g);
            assert_eq!(l[0], *lp);
        }
        // At h = 2 s^2 the proposal overshoots: some but not all moves are rejected.
        let mala = run(Method::Mala, 2, false, 8.0);
        assert!(
            mala.accepted.iter().all(|&a| a > 20 && a < 380),
            "{:?}",
            mala.accepted
        );
    }

    #[test]
    fn bad_configurations_are_errors() {
        let t = gaussian_1d(1.0);
        let base = LangevinConfig {
            method: Method::Mala,
            n_steps: 10,
            burn_in: 0,
            thin: 1,
            step_size: 0.1,
            adapt: false,
            metric: InverseMass::Identity,
            adapt_metric: None,
            seed: 0,
        };
        let ctl = Control::new();
        let x0 = [0.0; 2];
        for cfg in [
            LangevinConfig {
                step_size: 0.0,
                ..base.clone()
            },
            LangevinConfig {
                thin: 0,
                ..base.clone()
            },
            LangevinConfig {
                thin: 11,
                ..base.clone()
            },
            LangevinConfig {
                method: Method::Underdamped { friction: -1.0 },
                ..base.clone()
            },
        ] {
            assert!(langevin(&mut &t, Some(&x0), 2, &cfg, &ctl).is_err());
        }
        assert!(langevin(&mut &t, Some(&x0[..1]), 2, &base, &ctl).is_err());
        // A diverging ULA run stops with an error naming the chain and step.
        let cfg = LangevinConfig {
            method: Method::Ula,
            step_size: 5.0,
            n_steps: 2000,
            ..base
        };
        let err = langevin(&mut &t, None, 2, &cfg, &ctl).unwrap_err();
        assert!(format!("{err}").contains("chain"), "{err}");
    }
}
