//! Log-domain Sinkhorn iterations with epsilon-scaling, balanced or unbalanced.
//!
//! Entropic OT between measures a (n points) and b (m points) with cost C:
//!
//!   OT_eps = min_P <P, C> + eps KL(P | a x b) [+ rho KL(P 1 | a) + rho KL(P^T 1 | b)],
//!
//! the bracket for unbalanced OT (`rho` = reach^p). With potentials f, g the coupling is
//! P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps), and the updates are
//!
//!   f_i = -lambda eps ln sum_j b_j exp((g_j - C_ij) / eps),   lambda = rho / (rho + eps)
//!
//! (lambda = 1 when balanced), and the same for g with f. Each iteration updates f, then
//! g: the column marginal is then exact (balanced) and the row marginal carries the
//! error. Convergence is the L1 residual of the row marginal's optimality condition,
//!
//!   sum_i | a_i exp((f_i - f~_i) / eps) - a_i exp(-f_i / rho) |,   f~ = f's next soft-min,
//!
//! (the second term is a_i when balanced), which the next iteration's f-update gives
//! for free. Epsilon-scaling runs one iteration at each epsilon of a decreasing schedule
//! (Feydy et al. 2019; Schmitzer 2019), warm-starting the potentials, then iterates at
//! the final epsilon until converged, over-relaxed once the plain contraction rate is
//! known (see `Overrelaxation`). On point clouds the annealing can run between clusters
//! instead (`sinkhorn_multiscale`), at a small fraction of the pairs, and a coarse
//! problem then predicts the contraction rate at the final epsilon beforehand
//! (`predicted_rate`), so that relaxation starts at once with the right omega.
//!
//! The symmetric problem OT_eps(a, a) (the debiasing terms of Sinkhorn divergences) uses
//! the averaged update f <- (f + T(f)) / 2, which converges in a few iterations.

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::softmin::{CloudCost, Coarse, Side, Softmin};
use crate::sum::neumaier_sum;

/// Settings shared by the balanced, unbalanced and symmetric solvers.
#[derive(Debug, Clone)]
pub struct SinkhornConfig {
    /// Decreasing epsilons; the last one is the problem's epsilon.
    pub schedule: Vec<f64>,
    /// KL marginal penalty strength (reach^p); None for balanced OT.
    pub rho: Option<f64>,
    /// Most iterations, counting one per annealing stage.
    pub max_iter: usize,
    /// Stop when the marginal residual (L1) is below this.
    pub tol: f64,
}

/// Potentials and diagnostics of a run.
#[derive(Debug, Clone)]
pub struct SinkhornOutput {
    pub f: Vec<f64>,
    pub g: Vec<f64>,
    pub n_iter: usize,
    pub marginal_error: f64,
    pub converged: bool,
    /// The dual objective (see `dual_value`).
    pub value: f64,
    /// <P, C>, when requested (else NaN).
    pub cost: f64,
    /// <P, 1>.
    pub mass: f64,
}

impl SinkhornConfig {
    fn check(&self) -> Result<()> {
        let s = &self.schedule;
        if s.is_empty() || s.iter().any(|e| !(e.is_finite() && *e > 0.0)) {
            return invalid("every epsilon must be finite and > 0");
        }
        if s.windows(2).any(|w| w[1] > w[0]) {
            return invalid("the epsilon schedule must not increase");
        }
        if let Some(rho) = self.rho {
            if !(rho.is_finite() && rho > 0.0) {
                return invalid(format!(
                    "the marginal penalty must be finite and > 0, got {rho}"
                ));
            }
        }
        if self.max_iter < 1 {
            return invalid("max_iter must be >= 1");
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return invalid("tol must be finite and >= 0");
        }
        Ok(())
    }

    fn damping(&self, eps: f64) -> f64 {
        self.rho.map_or(1.0, |rho| rho / (rho + eps))
    }
}

/// The fraction of `tol` that truncation may take up (see `skip_allowance`).
const SKIP_PER_TOL: f64 = 1.0 / 64.0;

/// How much of each soft-min row's sum a truncated operator may skip
/// ([`CloudCost::with_skipped_fraction`]) when solving to an L1 marginal error `tol`
/// between weights `a` and `b`: tol / (64 max(sum a, sum b)). The marginals measured
/// on the truncated kernel are then within tol / 64 of the exact ones on each side,
/// and the stopping test takes the bound that the latest soft-mins report off `tol`
/// (`stopping_tol`); the potentials move by at most eps tol / 64, and the transport
/// cost, first-order insensitive to them at a fixed point, by far less (1e-11 relative
/// at n = 20,000, eps = 1e-3, tol = 1e-3).
pub fn skip_allowance(tol: f64, a: &[f64], b: &[f64]) -> f64 {
    let mass = neumaier_sum(a.iter().copied()).max(neumaier_sum(b.iter().copied()));
    if mass > 0.0 && mass.is_finite() {
        tol * SKIP_PER_TOL / mass
    } else {
        0.0
    }
}

/// The bound that a marginal error measured through `op` must meet for the exact one to
/// be within `tol`: each side's marginal is low by at most `op.skipped_fraction()` (of
/// the latest soft-mins) of the coupling's `mass`.
fn stopping_tol<S: Softmin>(op: &S, tol: f64, mass: f64) -> f64 {
    tol - 2.0 * op.skipped_fraction() * mass
}

fn log_weights(w: &[f64], name: &str) -> Result<Vec<f64>> {
    if w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
        return invalid(format!("{name} must be finite and >= 0"));
    }
    if w.iter().all(|v| *v == 0.0) {
        return invalid(format!("{name} must not all be zero"));
    }
    Ok(w.iter().map(|v| v.ln()).collect())
}

/// ln w_j + h_j / eps.
fn exponents(log_w: &[f64], h: &[f64], eps: f64) -> Vec<f64> {
    log_w.iter().zip(h).map(|(l, h)| l + h / eps).collect()
}

/// Row-marginal residual and the total mass <P, 1>, from f and its next soft-min lse.
fn residual(a: &[f64], f: &[f64], lse: &[f64], eps: f64, rho: Option<f64>) -> (f64, f64) {
    // Zero-mass points carry no row, whatever their potential.
    let rows: Vec<f64> = (0..a.len())
        .map(|i| {
            if a[i] > 0.0 {
                a[i] * (f[i] / eps + lse[i]).exp()
            } else {
                0.0
            }
        })
        .collect();
    let err = neumaier_sum((0..a.len()).map(|i| {
        let target = rho.map_or(a[i], |rho| a[i] * (-f[i] / rho).exp());
        (rows[i] - target).abs()
    }));
    (err, neumaier_sum(rows))
}

/// The dual objective at (f, g): <a, f> + <b, g> when balanced; when unbalanced,
/// rho <a, 1 - e^(-f/rho)> + rho <b, 1 - e^(-g/rho)> - eps (<P, 1> - <a, 1><b, 1>).
fn dual_value(
    a: &[f64],
    f: &[f64],
    b: &[f64],
    g: &[f64],
    eps: f64,
    rho: Option<f64>,
    mass: f64,
) -> f64 {
    match rho {
        None => neumaier_sum(a.iter().zip(f).chain(b.iter().zip(g)).map(|(w, h)| w * h)),
        Some(rho) => {
            let term = |w: &[f64], h: &[f64]| {
                neumaier_sum(w.iter().zip(h).map(|(w, h)| -w * rho * (-h / rho).exp_m1()))
            };
            let (ma, mb) = (
                neumaier_sum(a.iter().copied()),
                neumaier_sum(b.iter().copied()),
            );
            term(a, f) + term(b, g) - eps * (mass - ma * mb)
        }
    }
}

/// (1 - omega) h + omega lambda s: the (over-relaxed, damped) potential update.
#[inline]
fn relaxed(h: f64, s: f64, lambda: f64, omega: f64) -> f64 {
    if omega == 1.0 {
        lambda * s
    } else {
        (1.0 - omega) * h + omega * (lambda * s)
    }
}

fn relax_into(h: &mut [f64], s: &[f64], lambda: f64, omega: f64) {
    for (h, s) in h.iter_mut().zip(s) {
        *h = relaxed(*h, *s, lambda, omega);
    }
}

/// Plain iterations before the contraction rate is estimated: the residual falls fast
/// at first, and the asymptotic rate shows only after a dozen or so iterations.
const RATE_AFTER: usize = 16;
/// The rate is measured over this many of those iterations.
const RATE_WINDOW: usize = 8;
/// Largest relaxation used (omega -> 2 loses the local convergence guarantee).
const OMEGA_MAX: f64 = 1.9;
/// Relaxation is abandoned if the residual grows this far above its value at the switch,
const GIVE_UP_GROWTH: f64 = 10.0;
/// or, from this many iterations after the switch on, stops falling over a RATE_WINDOW.
const GIVE_UP_AFTER: usize = 2 * RATE_WINDOW;
/// A rate of 1 - RATE_NOISE or more per iteration is no measured contraction: where
/// the residual plateaus, the rate measured over a window is 1 to within round-off
/// (0.17001397405820 +- 3e-14 for eight iterations at n = 2, eps = 1e-3 of the costs),
/// and a decision taken on its last digits would differ between implementations of the
/// same iteration (the NumPy reference's, this one's).
const RATE_NOISE: f64 = 1e-12;

/// A relaxed residual this many times above tol is worth a plain probe before the first
/// probe has measured the ratio (measured: 6 to 16 at eps = 1e-3 in the unit cube).
const PROBE_RATIO: f64 = 16.0;
/// Relaxed iterations between two probes.
const PROBE_GAP: usize = 4;
/// Plain iterations before relaxation starts when theta is known beforehand (the first
/// ones after annealing move the potentials by more than the linear regime allows).
const PRIOR_AFTER: usize = 2;
/// Nor before the residual is this small (it is at most 2 for a unit mass).
const PRIOR_MAX_ERROR: f64 = 0.5;

/// The relaxation factor that is optimal for a plain contraction rate theta, capped.
fn optimal_omega(theta: f64) -> f64 {
    (2.0 / (1.0 + (1.0 - theta).sqrt())).min(OMEGA_MAX)
}

/// Over-relaxation at the final epsilon (Thibault et al. 2021; Lehmann et al. 2022).
///
/// Plain Sinkhorn contracts the marginal residual by a rate theta per iteration, and
/// theta -> 1 as epsilon -> 0 (hundreds of iterations). The over-relaxed update
/// h <- (1 - omega) h + omega T(h) has the same fixed point, and with
/// omega = 2 / (1 + sqrt(1 - theta)) its local rate is about omega - 1, i.e. the
/// iteration count drops from O(1 / (1 - theta)) to O(1 / sqrt(1 - theta)). theta is
/// measured on the plain iterations RATE_AFTER - RATE_WINDOW .. RATE_AFTER. The residual
/// is not monotone under relaxation (it may rise for a few iterations after the switch);
/// should it grow GIVE_UP_GROWTH-fold, or, from GIVE_UP_AFTER iterations after the
/// switch on, not fall over a window of RATE_WINDOW iterations (a slow mode that
/// relaxation does not damp), the solver returns to plain iterations for good. At each
/// such window where it does fall, omega is re-estimated from the relaxed rate
/// (`retune`). The final iteration is always plain, so that the column
/// marginal is exact and the residual reported is the row marginal's, as without
/// relaxation.
///
/// Probes. A relaxed iterate is not where a plain iteration from it would land: its
/// residual overstates that of one plain step from it several-fold (6 to 16 times at
/// eps = 1e-3), so waiting for the relaxed residual to reach tol costs a quarter of the
/// iterations for nothing. Once the relaxed residual divided by the last measured ratio
/// (PROBE_RATIO before any) is within tol, one iteration is plain: if its residual
/// meets tol the solver stops there, else relaxation resumes at least PROBE_GAP
/// iterations before the next probe. A probe is a Sinkhorn step like any other; its
/// residual is kept out of the rate window.
///
/// Prior. The first plain iterations show faster modes than the slowest (a rate of 0.98
/// where the slowest mode's is 0.995 at eps = 1e-3), so the omega measured from them is
/// too small, and every re-tune costs a transient: at n = 20,000, 78 iterations at the
/// final epsilon went by, 16 of them plain. When [`predicted_rate`] has measured theta
/// on a coarse problem, relaxation starts with its optimal omega as soon as the residual
/// is in the linear regime (PRIOR_AFTER plain iterations, residual at most
/// PRIOR_MAX_ERROR), without re-tuning: 42 iterations. The residual then oscillates
/// (every mode decays at omega - 1, the faster ones turning), so stalling is judged on
/// its maxima over windows, and growth or a stall hands over to the measured path from
/// scratch rather than to plain iterations.
#[derive(Debug, Default)]
struct Overrelaxation {
    /// The plain contraction rate theta known before the first iteration, if any
    /// ([`predicted_rate`]): relaxation then starts after PRIOR_AFTER plain iterations
    /// with the omega optimal for it, and is not re-tuned.
    prior: Option<f64>,
    errors: Vec<f64>,
    omega: f64,
    at_switch: f64,
    relaxed: usize,
    gave_up: bool,
    /// The relaxation of the last iteration (omega, or 1 for a plain one).
    last: f64,
    /// The relaxed residual before the probe in flight, if one is.
    probing: Option<f64>,
    /// Relaxed residual over the plain one, as the last probe measured it.
    ratio: Option<f64>,
    since_probe: usize,
}

impl Overrelaxation {
    fn last_was_plain(&self) -> bool {
        self.last <= 1.0
    }

    /// The relaxation for the next iteration, given the current residual: `step`, or a
    /// plain probe.
    fn next(&mut self, err: f64, tol: f64) -> f64 {
        if let Some(before) = self.probing.take() {
            // err is the probe's (plain) residual; it failed tol, or the solver stopped.
            self.ratio = Some(before / err);
            self.since_probe = 0;
            self.last = self.omega.max(1.0);
            return self.last;
        }
        let omega = self.step(err, tol);
        self.last = omega;
        if omega > 1.0 {
            self.since_probe += 1;
            let ratio = self.ratio.unwrap_or(PROBE_RATIO);
            let due = self.ratio.is_none() || self.since_probe >= PROBE_GAP;
            if due && err.is_finite() && err <= ratio * tol {
                self.probing = Some(err);
                self.last = 1.0;
            }
        }
        self.last
    }

    /// Whether the residual has stopped falling: it is not below its value RATE_WINDOW
    /// iterations ago; with a prior, its largest value over the last GIVE_UP_AFTER
    /// iterations is not below that over the GIVE_UP_AFTER before. With omega at its
    /// optimum from the start the residual oscillates (a period of about 14 iterations
    /// at eps = 1e-3), and two single values, a trough and a crest, may compare either
    /// way; maxima over longer windows do not.
    fn stalled(&self) -> bool {
        let e = &self.errors;
        if self.prior.is_none() {
            return e[e.len() - 1] >= e[e.len() - 1 - RATE_WINDOW] * (1.0 - RATE_NOISE);
        }
        let w = GIVE_UP_AFTER;
        let top = |r: &[f64]| r.iter().copied().fold(0.0, f64::max);
        e.len() >= 2 * w && top(&e[e.len() - w..]) >= top(&e[e.len() - 2 * w..e.len() - w])
    }

    /// The mean contraction of the residual per iteration over the last RATE_WINDOW.
    fn window_rate(&self) -> f64 {
        let e = &self.errors;
        (e[e.len() - 1] / e[e.len() - 1 - RATE_WINDOW]).powf(1.0 / RATE_WINDOW as f64)
    }

    /// A larger omega if the relaxed iterations show that theta was underestimated.
    ///
    /// Below the optimal omega, the relaxed rate r is the square of the larger root q of
    /// q^2 - q omega rho + omega - 1 = 0, with rho^2 = theta (Young's SOR theory, which
    /// alternating Sinkhorn follows near its fixed point), so theta = rho^2 follows from
    /// r. The first plain iterations understate theta (the rate still rises there), so
    /// the first omega is often too small. Measured over the last RATE_WINDOW relaxed
    /// iterations, never within GIVE_UP_AFTER of a switch (those carry its transient).
    fn retune(&mut self, err: f64) {
        let r = self.window_rate();
        if !(r.is_finite() && r > self.omega - 1.0 && r < 1.0 - RATE_NOISE) {
            return;
        }
        let q = r.sqrt();
        let rho = (r + self.omega - 1.0) / (q * self.omega);
        let theta = rho * rho;
        if theta < 1.0 - RATE_NOISE {
            let omega = optimal_omega(theta);
            if omega > self.omega + 0.01 {
                self.omega = omega;
                self.at_switch = err;
                self.relaxed = 0;
            }
        }
    }

    /// The relaxation for the next iteration, given the current (relaxed or, before
    /// the switch, plain) residual.
    fn step(&mut self, err: f64, tol: f64) -> f64 {
        self.errors.push(err);
        if self.gave_up || !err.is_finite() {
            self.omega = 1.0;
        } else if self.omega > 1.0 {
            self.relaxed += 1;
            let checkpoint = self.relaxed >= GIVE_UP_AFTER && self.relaxed % RATE_WINDOW == 0;
            let stalled = checkpoint && self.stalled();
            let grows = err > GIVE_UP_GROWTH * self.at_switch;
            if (stalled || grows) && self.prior.is_some() {
                // The prior misled (far from the linear regime, or a rate that the
                // coarse problem got wrong): start over as without one.
                *self = Overrelaxation::default();
                self.errors.push(err);
            } else if stalled || grows {
                self.gave_up = true;
                self.omega = 1.0;
            } else if err <= tol {
                self.omega = 1.0; // converged: finish with a plain iteration
            } else if checkpoint && self.prior.is_none() {
                self.retune(err);
            }
        } else if let (Some(theta), true) = (self.prior, self.errors.len() <= RATE_AFTER) {
            // Relaxation from far off the fixed point can blow up (the residual first
            // rises several fold even from 0.3: 6x at eps = 1e-3): wait for the linear
            // regime, and measure theta as without a prior if it takes too long.
            if self.errors.len() >= PRIOR_AFTER && err <= PRIOR_MAX_ERROR && err > tol {
                self.omega = optimal_omega(theta);
                self.at_switch = err;
            }
        } else if self.errors.len() == RATE_AFTER + 1 && err > tol {
            self.prior = None;
            let theta = self.window_rate();
            if theta.is_finite() && theta > 0.0 && theta < 1.0 - RATE_NOISE {
                self.omega = optimal_omega(theta);
                self.at_switch = err;
            }
        }
        self.omega = self.omega.max(1.0);
        self.omega
    }
}

/// Potentials and each side's previous soft-min (in cost units), the hints of the next.
struct Potentials {
    f: Vec<f64>,
    g: Vec<f64>,
    sf: Vec<f64>,
    sg: Vec<f64>,
}

impl Potentials {
    fn zero(n: usize, m: usize) -> Potentials {
        Potentials {
            f: vec![0.0; n],
            g: vec![0.0; m],
            sf: vec![f64::NAN; n],
            sg: vec![f64::NAN; m],
        }
    }
}

fn check_lengths<S: Softmin>(op: &S, a: &[f64], b: &[f64]) -> Result<()> {
    let (n, m) = (op.len(Side::X), op.len(Side::Y));
    if a.len() != n || b.len() != m {
        return invalid(format!(
            "{} and {} weights for {n} and {m} points",
            a.len(),
            b.len()
        ));
    }
    Ok(())
}

/// f's lse at `eps` from g, hinted by f's previous soft-min.
fn softmin_f<S: Softmin>(
    op: &S,
    lb: &[f64],
    pot: &Potentials,
    eps: f64,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let hint: Vec<f64> = pot.sf.iter().map(|s| -s / eps).collect();
    Ok(op
        .lse(Side::X, &exponents(lb, &pot.g, eps), eps, &hint, false, ctl)?
        .0)
}

/// The rest of an iteration once f's soft-min `lse_f` is known: f's (relaxed) update,
/// then g's soft-min (unless given: `lse_g`) and update.
#[allow(clippy::too_many_arguments)]
fn finish_iteration<S: Softmin>(
    op: &S,
    la: &[f64],
    pot: &mut Potentials,
    lse_f: &[f64],
    lse_g: Option<Vec<f64>>,
    eps: f64,
    lambda: f64,
    omega: f64,
    ctl: &Control,
) -> Result<()> {
    pot.sf = lse_f.iter().map(|l| -eps * l).collect();
    relax_into(&mut pot.f, &pot.sf, lambda, omega);
    let lse_g = match lse_g {
        Some(lse_g) => lse_g,
        None => {
            let hint: Vec<f64> = pot.sg.iter().map(|s| -s / eps).collect();
            op.lse(Side::Y, &exponents(la, &pot.f, eps), eps, &hint, false, ctl)?
                .0
        }
    };
    pot.sg = lse_g.iter().map(|l| -eps * l).collect();
    relax_into(&mut pot.g, &pot.sg, lambda, omega);
    Ok(())
}

/// One plain iteration at each epsilon of `stages` (the annealing of epsilon-scaling).
fn anneal<S: Softmin>(
    op: &S,
    la: &[f64],
    lb: &[f64],
    cfg: &SinkhornConfig,
    stages: &[f64],
    pot: &mut Potentials,
    ctl: &Control,
) -> Result<()> {
    for &eps in stages {
        let lambda = cfg.damping(eps);
        let lse_f = softmin_f(op, lb, pot, eps, ctl)?;
        finish_iteration(op, la, pot, &lse_f, None, eps, lambda, 1.0, ctl)?;
    }
    Ok(())
}

/// Iterations at the final epsilon until converged or max_iter (counting the
/// `n_iter` already spent), then the result.
#[allow(clippy::too_many_arguments)]
fn converge<S: Softmin>(
    op: &S,
    (a, la): (&[f64], &[f64]),
    (b, lb): (&[f64], &[f64]),
    cfg: &SinkhornConfig,
    mut pot: Potentials,
    mut n_iter: usize,
    prior: Option<f64>,
    want_cost: bool,
    ctl: &Control,
) -> Result<SinkhornOutput> {
    let eps = *cfg.schedule.last().unwrap();
    let lambda = cfg.damping(eps);
    let mut relax = Overrelaxation {
        prior,
        ..Overrelaxation::default()
    };
    let mut first = true;
    // The omega the coming iteration will use is known only once f's soft-min has given
    // the residual; g's soft-min is computed in the same pass for the omega of the
    // previous iteration (the usual case: it changes at a handful of iterations of a
    // run) and redone if that guess was wrong (see `Softmin::lse_then_next`).
    let mut guess = 1.0;
    let (lse_f, err, mass, tol) = loop {
        let hint: Vec<f64> = pot.sf.iter().map(|s| -s / eps).collect();
        let next_exponent =
            |i: usize, l: f64| la[i] + relaxed(pot.f[i], -eps * l, lambda, guess) / eps;
        let (lse_f, lse_g) =
            op.lse_then_next(&exponents(lb, &pot.g, eps), eps, &hint, &next_exponent, ctl)?;
        let mut omega = 1.0;
        if !first {
            let (err, mass) = residual(a, &pot.f, &lse_f, eps, cfg.rho);
            let tol = stopping_tol(op, cfg.tol, mass);
            if n_iter >= cfg.max_iter || (err <= tol && relax.last_was_plain()) {
                break (lse_f, err, mass, tol);
            }
            omega = relax.next(err, tol);
            if n_iter + 1 >= cfg.max_iter {
                omega = 1.0; // the last iteration is plain: exact column marginal
            }
        }
        first = false;
        let lse_g = lse_g.filter(|_| omega == guess);
        finish_iteration(op, la, &mut pot, &lse_f, lse_g, eps, lambda, omega, ctl)?;
        guess = omega;
        n_iter += 1;
    };
    let Potentials { f, g, .. } = pot;
    let cost = if want_cost {
        // Row i of P is a_i exp(f_i / eps + lse_i) times a distribution over j whose
        // mean cost the weighted soft-min returns.
        let (lse, mean) = op.lse(Side::X, &exponents(lb, &g, eps), eps, &lse_f, true, ctl)?;
        neumaier_sum(
            (0..a.len())
                .filter(|&i| a[i] > 0.0)
                .map(|i| a[i] * (f[i] / eps + lse[i]).exp() * mean[i]),
        )
    } else {
        f64::NAN
    };
    let value = dual_value(a, &f, b, &g, eps, cfg.rho, mass);
    Ok(SinkhornOutput {
        f,
        g,
        n_iter,
        marginal_error: err,
        converged: err <= tol,
        value,
        cost,
        mass,
    })
}

/// Sinkhorn between a (the op's X side) and b (its Y side).
pub fn sinkhorn<S: Softmin>(
    op: &S,
    a: &[f64],
    b: &[f64],
    cfg: &SinkhornConfig,
    want_cost: bool,
    ctl: &Control,
) -> Result<SinkhornOutput> {
    cfg.check()?;
    check_lengths(op, a, b)?;
    let (la, lb) = (log_weights(a, "a")?, log_weights(b, "b")?);
    let stages = &cfg.schedule[..cfg.schedule.len() - 1];
    let mut pot = Potentials::zero(a.len(), b.len());
    anneal(op, &la, &lb, cfg, stages, &mut pot, ctl)?;
    converge(
        op,
        (a, &la),
        (b, &lb),
        cfg,
        pot,
        stages.len(),
        None,
        want_cost,
        ctl,
    )
}

/// The soft-mins (in cost units) at `eps` of the fine points on `side` against the coarse
/// other side with log-weights and potential `(lw, h)`: a coarse solution carried over to
/// the fine points. Each point is hinted by its cluster's previous soft-min `s`.
fn carry(
    op: &CloudCost,
    coarse: &Coarse,
    side: Side,
    (lw, h): (&[f64], &[f64]),
    s: &[f64],
    eps: f64,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let hint: Vec<f64> = coarse.spread(side, s).iter().map(|s| -s / eps).collect();
    let lse = op.lse_against(side, coarse, &exponents(lw, h, eps), eps, &hint, ctl)?;
    Ok(lse.iter().map(|l| -eps * l).collect())
}

/// A soft-min between point clouds, whose points multiscale annealing clusters: the
/// streamed cloud itself, or a stored kernel over one (annealed on clusters, the kernel
/// is built once, at the final epsilon, instead of at every stage).
pub trait OnPoints: Softmin {
    /// The streamed cost between the same points.
    fn cloud(&self) -> &CloudCost;
}

impl OnPoints for CloudCost {
    fn cloud(&self) -> &CloudCost {
        self
    }
}

/// Clusters per side of the problem on which [`predicted_rate`] measures the rate.
const RATE_CLUSTERS: usize = 1024;
/// The coarse problem's epsilon is at least this many times its clusters' mean squared
/// radius, where it resolves the slow modes (at 4 times, the rate came out 20% off).
const RATE_RESOLUTION: f64 = 8.0;
/// ... and at least the squared diameter over this, where the slowest mode's rate shows
/// within ~100 iterations and still follows the law (2% off at diameter^2 / 94 in the
/// unit cube).
const RATE_DOMAIN: f64 = 256.0;
/// Fewer clusters than this on either side do not resolve a slowest mode.
const RATE_MIN_CLUSTERS: usize = 64;
/// Most plain iterations spent measuring the coarse problem's rate.
const RATE_MAX_ITER: usize = 400;

/// Plain Sinkhorn's contraction rate theta at the final epsilon of a balanced point-cloud
/// problem, predicted from a coarse one, or None where it cannot be measured.
///
/// Near its fixed point an iteration is, to first order, g -> J g with
/// J = diag(b)^-1 P^T diag(a)^-1 P: a transition operator that blurs twice at the scale
/// of the coupling P, self-adjoint for the b-weighted product, so theta is its second
/// eigenvalue, that of the slowest (smoothest) mode. For p = 2 and smooth measures,
/// -ln theta ~ eps lambda_1 / 2 with lambda_1 the spectral gap of the measure
/// (pi^2 for the unit cube: measured 0.99509 at eps = 1e-3, n = 20,000, against
/// exp(-pi^2 eps / 2) = 0.99507), i.e. -ln theta is proportional to eps^(2/p) (the
/// coupling's variance). The slowest mode shows in plain iterations only after
/// hundreds of them (its rate emerges after ~450 at n = 20,000), too late to choose the
/// relaxation from: the first ones contract at ~0.98 and make omega too small. So
/// theta is measured instead on about RATE_CLUSTERS clusters per side, at an epsilon
/// that these resolve (RATE_RESOLUTION times their mean squared radius) and large
/// enough for the rate to show within ~100 iterations (diameter^2 / RATE_DOMAIN), where
/// it is cheap (~0.15 s at n = 10^5) and within 1% of the fine problem's (n = 20,000
/// to 10^5, unit cube), and scaled to the final epsilon by the law above. Measured
/// means: the windowed rate of the residual has not moved by more than 0.5% over
/// 2 / (1 - rate) iterations (an early plateau of faster modes passes shorter tests).
/// The law is that of a connected, smooth measure: on two far-apart clusters the
/// slowest mode (mass between them) is slower than it predicts; the solver then
/// stalls or grows, and falls back to measuring theta on its own iterations.
fn predicted_rate(
    pts: &CloudCost,
    a: &[f64],
    b: &[f64],
    cfg: &SinkhornConfig,
    cluster_points: usize,
    ctl: &Control,
) -> Result<Option<f64>> {
    if cfg.rho.is_some() {
        return Ok(None); // damping changes the rate's law
    }
    let n = a.len().max(b.len());
    let coarse = pts.coarsen(a, b, (n / RATE_CLUSTERS).max(cluster_points))?;
    if coarse.a.len().min(coarse.b.len()) < RATE_MIN_CLUSTERS {
        return Ok(None);
    }
    let (lca, lcb) = (log_weights(&coarse.a, "a")?, log_weights(&coarse.b, "b")?);
    let eps = *cfg.schedule.last().unwrap();
    let p = coarse.cost.exponent();
    let scale2 = (RATE_RESOLUTION * coarse.spread).max(pts.diameter2() / RATE_DOMAIN);
    let eps_c = eps.max(scale2.powf(0.5 * p));
    let stages: Vec<f64> = cfg
        .schedule
        .iter()
        .copied()
        .filter(|&e| e > eps_c)
        .collect();
    let mut pot = Potentials::zero(coarse.a.len(), coarse.b.len());
    anneal(&coarse.cost, &lca, &lcb, cfg, &stages, &mut pot, ctl)?;
    let (mut errors, mut rates) = (Vec::new(), Vec::new());
    for k in 0..RATE_MAX_ITER {
        let lse_f = softmin_f(&coarse.cost, &lcb, &pot, eps_c, ctl)?;
        let err = residual(&coarse.a, &pot.f, &lse_f, eps_c, None).0;
        errors.push(err);
        if err.is_nan() || err <= 1e-12 {
            break; // converged (or broken) before the rate settled
        }
        if k >= RATE_WINDOW {
            let rate = (err / errors[k - RATE_WINDOW]).powf(1.0 / RATE_WINDOW as f64);
            rates.push(rate);
            if !(rate > 0.0 && rate < 1.0) {
                continue;
            }
            let lag = (2.0 / (1.0 - rate)).ceil() as usize;
            if rates.len() > lag {
                let before: f64 = rates[rates.len() - 1 - lag];
                if (rate.ln() / before.ln() - 1.0).abs() < 0.005 {
                    return Ok(Some((rate.ln() * (eps / eps_c).powf(2.0 / p)).exp()));
                }
            }
        }
        finish_iteration(
            &coarse.cost,
            &lca,
            &mut pot,
            &lse_f,
            None,
            eps_c,
            1.0,
            1.0,
            ctl,
        )?;
    }
    Ok(None)
}

/// Sinkhorn between point clouds with the annealing on clusters (multiscale).
///
/// The annealing stages of epsilon-scaling run on the coarse problem between clusters
/// of at most `cluster_points` points ([`CloudCost::coarsen`]), where every iteration
/// costs (n / cluster_points)^2 pairs instead of n m; at the epsilons of annealing, down
/// to about the clusters' diameter^p, the coarse potentials are those of the fine
/// problem to within the clusters' size, and annealing only prepares a warm start. The
/// fine potentials are then the soft-mins of the coarse ones against each fine point
/// (the extrapolation of Schmitzer 2019 and GeomLoss), and the iterations at the final
/// epsilon run on the fine points as in [`sinkhorn`], to the same tolerance, with
/// relaxation from the start when balanced ([`predicted_rate`]). Without annealing
/// stages (one epsilon), or with `cluster_points = 0`, this is [`sinkhorn`].
pub fn sinkhorn_multiscale<S: OnPoints>(
    op: &S,
    a: &[f64],
    b: &[f64],
    cfg: &SinkhornConfig,
    cluster_points: usize,
    want_cost: bool,
    ctl: &Control,
) -> Result<SinkhornOutput> {
    cfg.check()?;
    check_lengths(op, a, b)?;
    let stages = &cfg.schedule[..cfg.schedule.len() - 1];
    let (Some(&last), true) = (stages.last(), cluster_points > 0) else {
        return sinkhorn(op, a, b, cfg, want_cost, ctl);
    };
    let (la, lb) = (log_weights(a, "a")?, log_weights(b, "b")?);
    let pts = op.cloud();
    let coarse = pts.coarsen(a, b, cluster_points)?;
    let (lca, lcb) = (log_weights(&coarse.a, "a")?, log_weights(&coarse.b, "b")?);
    let mut cpot = Potentials::zero(coarse.a.len(), coarse.b.len());
    anneal(&coarse.cost, &lca, &lcb, cfg, stages, &mut cpot, ctl)?;
    let prior = predicted_rate(pts, a, b, cfg, cluster_points, ctl)?;
    let sf = carry(pts, &coarse, Side::X, (&lcb, &cpot.g), &cpot.sf, last, ctl)?;
    let sg = carry(pts, &coarse, Side::Y, (&lca, &cpot.f), &cpot.sg, last, ctl)?;
    let lambda = cfg.damping(last);
    let pot = Potentials {
        f: sf.iter().map(|s| lambda * s).collect(),
        g: sg.iter().map(|s| lambda * s).collect(),
        sf,
        sg,
    };
    converge(
        op,
        (a, &la),
        (b, &lb),
        cfg,
        pot,
        stages.len(),
        prior,
        want_cost,
        ctl,
    )
}

/// The symmetric soft-min of f at `eps`: lse_i = ln sum_j a_j exp((f_j - C_ij) / eps).
fn symmetric_lse<S: Softmin>(
    op: &S,
    la: &[f64],
    f: &[f64],
    sf: &[f64],
    eps: f64,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let hint: Vec<f64> = sf.iter().map(|s| -s / eps).collect();
    Ok(op
        .lse(Side::X, &exponents(la, f, eps), eps, &hint, false, ctl)?
        .0)
}

/// f <- (f + lambda T(f)) / 2, or f <- lambda T(f) at the very first iteration.
fn symmetric_apply(
    f: &mut [f64],
    sf: &mut Vec<f64>,
    lse: &[f64],
    eps: f64,
    lambda: f64,
    first: bool,
) {
    *sf = lse.iter().map(|l| -eps * l).collect();
    for (fi, s) in f.iter_mut().zip(sf.iter()) {
        *fi = if first {
            lambda * s
        } else {
            0.5 * (*fi + lambda * s)
        };
    }
}

fn check_symmetric<S: Softmin>(op: &S, a: &[f64]) -> Result<()> {
    let n = op.len(Side::X);
    if op.len(Side::Y) != n || a.len() != n {
        return invalid(format!(
            "{} weights for a symmetric problem of {n} points",
            a.len()
        ));
    }
    Ok(())
}

/// Symmetric iterations at the final epsilon from (f, sf), `n_iter` already spent.
#[allow(clippy::too_many_arguments)]
fn symmetric_converge<S: Softmin>(
    op: &S,
    (a, la): (&[f64], &[f64]),
    cfg: &SinkhornConfig,
    mut f: Vec<f64>,
    mut sf: Vec<f64>,
    mut n_iter: usize,
    ctl: &Control,
) -> Result<SinkhornOutput> {
    let eps = *cfg.schedule.last().unwrap();
    let lambda = cfg.damping(eps);
    let mut first = true;
    let (err, mass, tol) = loop {
        let lse = symmetric_lse(op, la, &f, &sf, eps, ctl)?;
        if !first {
            let (err, mass) = residual(a, &f, &lse, eps, cfg.rho);
            let tol = stopping_tol(op, cfg.tol, mass);
            if err <= tol || n_iter >= cfg.max_iter {
                break (err, mass, tol);
            }
        }
        first = false;
        symmetric_apply(&mut f, &mut sf, &lse, eps, lambda, n_iter == 0);
        n_iter += 1;
    };
    let value = dual_value(a, &f, a, &f, eps, cfg.rho, mass);
    Ok(SinkhornOutput {
        g: f.clone(),
        f,
        n_iter,
        marginal_error: err,
        converged: err <= tol,
        value,
        cost: f64::NAN,
        mass,
    })
}

/// OT_eps(a, a) for the op's X side (the op must be a cloud or matrix with x = y), by
/// the averaged symmetric update. `g` of the output equals `f`.
pub fn sinkhorn_symmetric<S: Softmin>(
    op: &S,
    a: &[f64],
    cfg: &SinkhornConfig,
    ctl: &Control,
) -> Result<SinkhornOutput> {
    cfg.check()?;
    check_symmetric(op, a)?;
    let la = log_weights(a, "a")?;
    let stages = &cfg.schedule[..cfg.schedule.len() - 1];
    let (mut f, mut sf) = (vec![0.0; a.len()], vec![f64::NAN; a.len()]);
    for (k, &eps) in stages.iter().enumerate() {
        let lse = symmetric_lse(op, &la, &f, &sf, eps, ctl)?;
        symmetric_apply(&mut f, &mut sf, &lse, eps, cfg.damping(eps), k == 0);
    }
    symmetric_converge(op, (a, &la), cfg, f, sf, stages.len(), ctl)
}

/// [`sinkhorn_symmetric`] with the annealing on clusters, as in [`sinkhorn_multiscale`]
/// (which it is without annealing stages or with `cluster_points = 0`).
pub fn sinkhorn_symmetric_multiscale<S: OnPoints>(
    op: &S,
    a: &[f64],
    cfg: &SinkhornConfig,
    cluster_points: usize,
    ctl: &Control,
) -> Result<SinkhornOutput> {
    cfg.check()?;
    check_symmetric(op, a)?;
    let stages = &cfg.schedule[..cfg.schedule.len() - 1];
    let (Some(&last), true) = (stages.last(), cluster_points > 0) else {
        return sinkhorn_symmetric(op, a, cfg, ctl);
    };
    let la = log_weights(a, "a")?;
    let pts = op.cloud();
    let coarse = pts.coarsen(a, a, cluster_points)?;
    let lca = log_weights(&coarse.a, "a")?;
    let k = coarse.a.len();
    let (mut cf, mut csf) = (vec![0.0; k], vec![f64::NAN; k]);
    for (i, &eps) in stages.iter().enumerate() {
        let lse = symmetric_lse(&coarse.cost, &lca, &cf, &csf, eps, ctl)?;
        symmetric_apply(&mut cf, &mut csf, &lse, eps, cfg.damping(eps), i == 0);
    }
    let sf = carry(pts, &coarse, Side::X, (&lca, &cf), &csf, last, ctl)?;
    let lambda = cfg.damping(last);
    let f = sf.iter().map(|s| lambda * s).collect();
    symmetric_converge(op, (a, &la), cfg, f, sf, stages.len(), ctl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gibbs_kernel::GibbsKernel;
    use crate::softmin::{CloudCost, MatrixCost};
    use crate::test_util::{cost_matrix, random_points};

    fn uniform(n: usize) -> Vec<f64> {
        vec![1.0 / n as f64; n]
    }

    fn cfg(eps: f64, rho: Option<f64>) -> SinkhornConfig {
        SinkhornConfig {
            schedule: vec![eps],
            rho,
            max_iter: 5000,
            tol: 1e-12,
        }
    }

    #[test]
    fn a_truncated_solve_meets_tol_on_the_exact_marginals() {
        // The skip allowance for tol = 1e-3 prunes well beyond round-off at eps = 0.01 in
        // [-2, 2)^3; the marginals of the returned potentials, summed over every pair,
        // must still be within tol on each side.
        let ctl = Control::new();
        let (n, m, eps, tol) = (1500, 1200, 0.01, 1e-3);
        let x = random_points(n, 3, 31);
        let y = random_points(m, 3, 32);
        let (a, b) = (uniform(n), uniform(m));
        let mut c = cfg(eps, None);
        c.tol = tol;
        c.schedule = (0..20)
            .map(|k| 48.0 * 0.25f64.powi(k))
            .filter(|&e| e > eps)
            .chain([eps])
            .collect();
        let op = CloudCost::new(x.view(), y.view(), 2.0)
            .unwrap()
            .with_skipped_fraction(skip_allowance(tol, &a, &b))
            .unwrap();
        let out = sinkhorn(&op, &a, &b, &c, true, &ctl).unwrap();
        assert!(out.converged);
        assert!(op.skipped_fraction() > 1e-10, "{}", op.skipped_fraction());
        let exact = MatrixCost::new(cost_matrix(&x, &y, 2.0).view()).unwrap();
        // Each side's marginal error, its soft-min summed over every pair.
        let exact_error = |side: Side, w: &[f64], h: &[f64], other: &[f64], oh: &[f64]| {
            let e = exponents(&log_weights(other, "w").unwrap(), oh, eps);
            let lse = exact.lse(side, &e, eps, &vec![f64::NAN; w.len()], false, &ctl);
            residual(w, h, &lse.unwrap().0, eps, None).0
        };
        let rows = exact_error(Side::X, &a, &out.f, &b, &out.g);
        let cols = exact_error(Side::Y, &b, &out.g, &a, &out.f);
        assert!(rows <= tol && cols <= tol, "{rows} {cols}");
        // Measured on the truncated kernel, the row error is within the bound of the
        // exact one.
        let skip = skip_allowance(tol, &a, &b);
        assert_eq!(skip, tol / 64.0);
        assert!(
            (rows - out.marginal_error).abs() <= skip,
            "{rows} {}",
            out.marginal_error
        );
    }

    #[test]
    fn predicted_rate_is_the_slowest_modes_of_the_square() {
        // Uniform on [-2, 2]^2: the slowest mode is cos(pi x / 4) along an axis, with
        // -ln theta = eps pi^2 / (2 L^2), L = 4 (the Neumann Laplacian's spectral gap
        // pi^2 / L^2 times the coupling's variance eps / 2). The coarse problem's
        // clusters make it about 1% off in 3-D (checked there against the fine
        // problem's measured rate); 5% allows for the square's coarser clusters.
        let ctl = Control::new();
        let n = 16384;
        let x = random_points(n, 2, 11);
        let y = random_points(n, 2, 12);
        let op = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
        let w = uniform(n);
        for eps in [0.064, 0.016] {
            let mut c = cfg(eps, None);
            c.schedule = (0..12)
                .map(|k| 16.0 * 0.5f64.powi(k))
                .filter(|&e| e > eps)
                .chain([eps])
                .collect();
            let theta = predicted_rate(&op, &w, &w, &c, 16, &ctl).unwrap().unwrap();
            let want = eps * std::f64::consts::PI.powi(2) / 32.0;
            assert!((-theta.ln() / want - 1.0).abs() < 0.05, "{eps}: {theta}");
        }
        // Unbalanced: no prior (damping changes the law); too few clusters: none either.
        let op_small = CloudCost::new(
            x.slice(ndarray::s![..500, ..]),
            y.slice(ndarray::s![..500, ..]),
            2.0,
        )
        .unwrap();
        let w_small = uniform(500);
        let mut c = cfg(0.016, None);
        c.schedule = vec![1.0, 0.25, 0.064, 0.016];
        assert!(predicted_rate(&op_small, &w_small, &w_small, &c, 16, &ctl)
            .unwrap()
            .is_none());
        c.rho = Some(1.0);
        assert!(predicted_rate(&op, &w, &w, &c, 16, &ctl).unwrap().is_none());
    }

    #[test]
    fn relaxation_with_a_prior_starts_in_the_linear_regime_and_falls_back() {
        let tol = 1e-6;
        let theta = 0.995;
        let with_prior = || Overrelaxation {
            prior: Some(theta),
            ..Overrelaxation::default()
        };
        // Switches at the PRIOR_AFTER-th residual once it is within PRIOR_MAX_ERROR.
        let mut relax = with_prior();
        assert_eq!(relax.next(0.9, tol), 1.0);
        assert_eq!(relax.next(0.6, tol), 1.0);
        assert_eq!(relax.next(0.4, tol), optimal_omega(theta));
        // A residual GIVE_UP_GROWTH times that at the switch: back to plain iterations,
        // and theta measured from them as without a prior.
        assert_eq!(relax.next(4.1, tol), 1.0);
        assert!(relax.prior.is_none() && !relax.gave_up);
        let mut err = 0.3;
        let mut omega = 1.0;
        for _ in 0..RATE_AFTER {
            err *= 0.98;
            omega = relax.next(err, tol);
        }
        assert_eq!(omega, optimal_omega(0.98));
        // Never within PRIOR_MAX_ERROR before RATE_AFTER: theta is measured instead.
        let mut relax = with_prior();
        let mut err = 1.9;
        for _ in 0..RATE_AFTER {
            assert_eq!(relax.next(err, tol), 1.0);
            err *= 0.97;
        }
        assert_eq!(relax.next(err, tol), optimal_omega(0.97));
        assert!(relax.prior.is_none());
    }

    #[test]
    fn relaxation_probes_with_a_plain_step_near_tol() {
        let tol = 1e-3;
        let mut relax = Overrelaxation::default();
        // Plain iterations contracting by 0.98 switch relaxation on.
        let mut err = 1.0;
        let mut omega = 1.0;
        for _ in 0..=RATE_AFTER {
            omega = relax.next(err, tol);
            err *= 0.98;
        }
        assert!(omega > 1.5, "{omega}");
        // Relaxed residuals: no probe until PROBE_RATIO tol, then one plain step.
        assert_eq!(relax.next(17.0 * tol, tol), omega);
        assert!(!relax.last_was_plain());
        assert_eq!(relax.next(15.0 * tol, tol), 1.0);
        assert!(relax.last_was_plain());
        // The probe's residual (5x below) fails tol: relaxation resumes, and the next
        // probe waits PROBE_GAP relaxed iterations and a relaxed residual within 5 tol.
        assert_eq!(relax.next(3.0 * tol, tol), omega);
        for _ in 0..PROBE_GAP {
            assert_eq!(relax.next(6.0 * tol, tol), omega);
        }
        assert_eq!(relax.next(4.9 * tol, tol), 1.0);
    }

    #[test]
    fn balanced_marginals_and_cost_match_a_dense_plan() {
        let ctl = Control::new();
        let x = random_points(40, 2, 1);
        let y = random_points(30, 2, 2);
        let (a, b) = (uniform(40), uniform(30));
        let op = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
        let out = sinkhorn(&op, &a, &b, &cfg(0.5, None), true, &ctl).unwrap();
        assert!(out.converged, "{}", out.marginal_error);
        let mut cost = 0.0;
        let mut cols = vec![0.0; 30];
        let mut rows = vec![0.0; 40];
        for i in 0..40 {
            for j in 0..30 {
                let c: f64 = (0..2).map(|k| (x[[i, k]] - y[[j, k]]).powi(2)).sum();
                let p = a[i] * b[j] * ((out.f[i] + out.g[j] - c) / 0.5).exp();
                cost += p * c;
                rows[i] += p;
                cols[j] += p;
            }
        }
        assert!((cost - out.cost).abs() < 1e-12);
        assert!(rows.iter().zip(&a).all(|(r, a)| (r - a).abs() < 1e-12));
        assert!(cols.iter().zip(&b).all(|(c, b)| (c - b).abs() < 1e-14));
        // The matrix backend runs the same iterations.
        let mat = MatrixCost::new(cost_matrix(&x, &y, 2.0).view()).unwrap();
        let out2 = sinkhorn(&mat, &a, &b, &cfg(0.5, None), true, &ctl).unwrap();
        assert_eq!(out.n_iter, out2.n_iter);
        assert!((out.value - out2.value).abs() < 1e-12);
    }

    #[test]
    fn symmetric_solver_matches_the_alternating_one() {
        let ctl = Control::new();
        let x = random_points(35, 3, 3);
        let a: Vec<f64> = (1..=35).map(|i| i as f64 / 630.0).collect();
        let op = CloudCost::new(x.view(), x.view(), 2.0).unwrap();
        for rho in [None, Some(2.0)] {
            let alt = sinkhorn(&op, &a, &a, &cfg(1.0, rho), false, &ctl).unwrap();
            let sym = sinkhorn_symmetric(&op, &a, &cfg(1.0, rho), &ctl).unwrap();
            assert!(
                alt.converged && sym.converged,
                "{rho:?} {} {} {} {}",
                alt.marginal_error,
                alt.n_iter,
                sym.marginal_error,
                sym.n_iter
            );
            assert!((alt.value - sym.value).abs() < 1e-10, "{rho:?}");
        }
    }

    #[test]
    fn epsilon_scaling_reaches_the_same_optimum() {
        let ctl = Control::new();
        let x = random_points(60, 2, 4);
        let y = random_points(50, 2, 5);
        let op = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
        let (a, b) = (uniform(60), uniform(50));
        let plain = sinkhorn(&op, &a, &b, &cfg(0.01, None), false, &ctl).unwrap();
        let mut c = cfg(0.01, None);
        c.schedule = vec![32.0, 8.0, 2.0, 0.5, 0.125, 0.03, 0.01];
        let scaled = sinkhorn(&op, &a, &b, &c, false, &ctl).unwrap();
        assert!(plain.converged && scaled.converged);
        assert!((plain.value - scaled.value).abs() < 1e-9);
    }

    #[test]
    fn multiscale_annealing_reaches_the_same_optimum() {
        let ctl = Control::new();
        let x = random_points(400, 2, 8);
        let y = random_points(300, 2, 9);
        let op = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
        let a: Vec<f64> = (1..=400).map(|i| i as f64 / 80200.0).collect();
        let b = uniform(300);
        for rho in [None, Some(1.0)] {
            let mut c = cfg(0.01, rho);
            c.tol = 1e-11;
            let plain = sinkhorn(&op, &a, &b, &c, true, &ctl).unwrap();
            c.schedule = vec![32.0, 8.0, 2.0, 0.5, 0.125, 0.03, 0.01];
            let multi = sinkhorn_multiscale(&op, &a, &b, &c, 32, true, &ctl).unwrap();
            assert!(plain.converged && multi.converged, "{rho:?}");
            assert!((plain.value - multi.value).abs() < 1e-9, "{rho:?}");
            assert!((plain.cost - multi.cost).abs() < 1e-8, "{rho:?}");
            // The annealing really ran on clusters: not the points' iterations.
            let fine = sinkhorn(&op, &a, &b, &c, true, &ctl).unwrap();
            assert!((fine.value - multi.value).abs() < 1e-9, "{rho:?}");
            assert_ne!(fine.f, multi.f);
            // The stored kernel over the same points: the same iterates, to round-off.
            let kernel = GibbsKernel::new(x.view(), y.view(), 2.0).unwrap();
            let stored = sinkhorn_multiscale(&kernel, &a, &b, &c, 32, true, &ctl).unwrap();
            assert_eq!(stored.n_iter, multi.n_iter, "{rho:?}");
            assert!((stored.value - multi.value).abs() < 1e-12, "{rho:?}");
            // Symmetric: the same with the averaged update.
            let sym = sinkhorn_symmetric(&op_self(&x), &a, &cfg(0.01, rho), &ctl).unwrap();
            let sym_multi = sinkhorn_symmetric_multiscale(&op_self(&x), &a, &c, 32, &ctl).unwrap();
            assert!(sym.converged && sym_multi.converged, "{rho:?}");
            assert!((sym.value - sym_multi.value).abs() < 1e-9, "{rho:?}");
        }
        // One epsilon: no annealing, the plain solver's very iterations.
        let c = cfg(0.05, None);
        let one = sinkhorn_multiscale(&op, &a, &b, &c, 32, false, &ctl).unwrap();
        let plain = sinkhorn(&op, &a, &b, &c, false, &ctl).unwrap();
        assert_eq!((one.n_iter, one.f), (plain.n_iter, plain.f));
        // No clusters: annealing on the points, the plain solver's very iterations.
        let mut c = cfg(0.01, None);
        c.schedule = vec![2.0, 0.5, 0.125, 0.03, 0.01];
        let on_points = sinkhorn_multiscale(&op, &a, &b, &c, 0, false, &ctl).unwrap();
        let plain = sinkhorn(&op, &a, &b, &c, false, &ctl).unwrap();
        assert_eq!((on_points.n_iter, on_points.f), (plain.n_iter, plain.f));
    }

    fn op_self(x: &ndarray::Array2<f64>) -> CloudCost {
        CloudCost::new(x.view(), x.view(), 2.0).unwrap()
    }

    #[test]
    fn max_iter_reports_not_converged() {
        let ctl = Control::new();
        let x = random_points(30, 2, 6);
        let op = CloudCost::new(x.view(), random_points(30, 2, 7).view(), 2.0).unwrap();
        let mut c = cfg(1e-3, None);
        c.max_iter = 3;
        let out = sinkhorn(&op, &uniform(30), &uniform(30), &c, false, &ctl).unwrap();
        assert_eq!(out.n_iter, 3);
        assert!(!out.converged && out.marginal_error > 1e-12);
        c.schedule = vec![];
        assert!(sinkhorn(&op, &uniform(30), &uniform(30), &c, false, &ctl).is_err());
    }
}
