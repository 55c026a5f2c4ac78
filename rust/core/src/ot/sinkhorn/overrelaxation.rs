//! Over-relaxed Sinkhorn updates at the final epsilon: the plain contraction rate
//! measured (or predicted on a coarse problem), the optimal relaxation factor, probes,
//! and the fall-back to plain iterations where relaxation stalls.

/// Plain iterations before the contraction rate is estimated: the residual falls fast
/// at first, and the asymptotic rate shows only after a dozen or so iterations.
pub(super) const RATE_AFTER: usize = 16;
/// The rate is measured over this many of those iterations.
pub(super) const RATE_WINDOW: usize = 8;
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
pub(super) const PROBE_GAP: usize = 4;
/// Plain iterations before relaxation starts when theta is known beforehand (the first
/// ones after annealing move the potentials by more than the linear regime allows).
const PRIOR_AFTER: usize = 2;
/// Nor before the residual is this small (it is at most 2 for a unit mass).
const PRIOR_MAX_ERROR: f64 = 0.5;

/// The relaxation factor that is optimal for a plain contraction rate theta, capped.
pub(super) fn optimal_omega(theta: f64) -> f64 {
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
pub(super) struct Overrelaxation {
    /// The plain contraction rate theta known before the first iteration, if any
    /// ([`predicted_rate`]): relaxation then starts after PRIOR_AFTER plain iterations
    /// with the omega optimal for it, and is not re-tuned.
    pub(super) prior: Option<f64>,
    pub(super) errors: Vec<f64>,
    pub(super) omega: f64,
    pub(super) at_switch: f64,
    pub(super) relaxed: usize,
    pub(super) gave_up: bool,
    /// The relaxation of the last iteration (omega, or 1 for a plain one).
    pub(super) last: f64,
    /// The relaxed residual before the probe in flight, if one is.
    pub(super) probing: Option<f64>,
    /// Relaxed residual over the plain one, as the last probe measured it.
    pub(super) ratio: Option<f64>,
    pub(super) since_probe: usize,
}

impl Overrelaxation {
    pub(super) fn last_was_plain(&self) -> bool {
        self.last <= 1.0
    }

    /// The relaxation for the next iteration, given the current residual: `step`, or a
    /// plain probe.
    pub(super) fn next(&mut self, err: f64, tol: f64) -> f64 {
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
    pub(super) fn stalled(&self) -> bool {
        let e = &self.errors;
        if self.prior.is_none() {
            return e[e.len() - 1] >= e[e.len() - 1 - RATE_WINDOW] * (1.0 - RATE_NOISE);
        }
        let w = GIVE_UP_AFTER;
        let top = |r: &[f64]| r.iter().copied().fold(0.0, f64::max);
        e.len() >= 2 * w && top(&e[e.len() - w..]) >= top(&e[e.len() - 2 * w..e.len() - w])
    }

    /// The mean contraction of the residual per iteration over the last RATE_WINDOW.
    pub(super) fn window_rate(&self) -> f64 {
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
    pub(super) fn retune(&mut self, err: f64) {
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
    pub(super) fn step(&mut self, err: f64, tol: f64) -> f64 {
        self.errors.push(err);
        if self.gave_up || !err.is_finite() {
            self.omega = 1.0;
        } else if self.omega > 1.0 {
            self.relaxed += 1;
            let checkpoint =
                self.relaxed >= GIVE_UP_AFTER && self.relaxed.is_multiple_of(RATE_WINDOW);
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
