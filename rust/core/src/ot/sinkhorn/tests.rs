use super::multiscale::predicted_rate;
use super::overrelaxation::{optimal_omega, PROBE_GAP, RATE_AFTER};
use super::*;
use crate::ot::gibbs_kernel::GibbsKernel;
use crate::ot::softmin::{CloudCost, MatrixCost};
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
