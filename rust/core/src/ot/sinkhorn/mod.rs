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
//!
//! Files: this one holds the settings, the residual and dual value, and the balanced or
//! unbalanced solver (`sinkhorn`: annealing, then convergence at the final epsilon);
//! `overrelaxation.rs` the over-relaxed updates and their rate estimates;
//! `multiscale.rs` annealing between clusters and the coarse rate prediction;
//! `symmetric.rs` the debiasing problem OT_eps(a, a).

mod multiscale;
mod overrelaxation;
mod symmetric;
#[cfg(test)]
mod tests;

pub use multiscale::{sinkhorn_multiscale, OnPoints};
pub use symmetric::{sinkhorn_symmetric, sinkhorn_symmetric_multiscale};

use overrelaxation::Overrelaxation;

use crate::arith::sum::neumaier_sum;
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::ot::softmin::{Side, Softmin};

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
/// ([`CloudCost::with_skipped_fraction`](crate::ot::softmin::CloudCost::with_skipped_fraction)) when solving to an L1 marginal error `tol`
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
        ctl.check()?;
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
        // Not every operator looks at `ctl` in its passes (the stored kernel's products
        // do not): one check per iteration answers Ctrl-C within an iteration.
        ctl.check()?;
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
