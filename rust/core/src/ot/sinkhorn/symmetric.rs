//! The symmetric problem OT_eps(a, a), the debiasing terms of Sinkhorn divergences:
//! the averaged update f <- (f + T(f)) / 2, from scratch or after multiscale annealing.

use super::multiscale::{carry, OnPoints};
use super::{
    dual_value, exponents, log_weights, residual, stopping_tol, SinkhornConfig, SinkhornOutput,
};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::ot::softmin::{Side, Softmin};

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
        ctl.check()?; // the stored kernel's passes do not look at `ctl` themselves
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
        ctl.check()?;
        let lse = symmetric_lse(op, &la, &f, &sf, eps, ctl)?;
        symmetric_apply(&mut f, &mut sf, &lse, eps, cfg.damping(eps), k == 0);
    }
    symmetric_converge(op, (a, &la), cfg, f, sf, stages.len(), ctl)
}

/// [`sinkhorn_symmetric`] with the annealing on clusters, as in [`sinkhorn_multiscale`](super::sinkhorn_multiscale)
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
