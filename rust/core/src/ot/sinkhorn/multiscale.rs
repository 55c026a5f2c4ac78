//! Multiscale Sinkhorn on point clouds: epsilon-annealing between clusters (a small
//! fraction of the pairs), the coarse solution carried over to the points, and the
//! contraction rate at the final epsilon predicted on a coarse problem.

use super::overrelaxation::RATE_WINDOW;
use super::{
    anneal, check_lengths, converge, exponents, finish_iteration, log_weights, residual, sinkhorn,
    softmin_f, Potentials, SinkhornConfig, SinkhornOutput,
};
use crate::control::Control;
use crate::error::Result;
use crate::ot::softmin::{CloudCost, Coarse, Side, Softmin};

/// The soft-mins (in cost units) at `eps` of the fine points on `side` against the coarse
/// other side with log-weights and potential `(lw, h)`: a coarse solution carried over to
/// the fine points. Each point is hinted by its cluster's previous soft-min `s`.
pub(super) fn carry(
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

/// Clusters per side of the problem on which `predicted_rate` measures the rate.
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
pub(super) fn predicted_rate(
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
/// relaxation from the start when balanced (`predicted_rate`). Without annealing
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
