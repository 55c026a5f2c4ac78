//! Bindings of optimal transport: the Sinkhorn solvers on point clouds (streamed cost or
//! stored kernel), symmetric self-transport and user cost matrices, and the exact 1-D
//! and sliced Wasserstein distances. Python validates and builds the epsilon schedule;
//! Sinkhorn results come back as a tuple
//! (f, g, n_iter, marginal_error, converged, value, cost, mass).

use divergent_core as core;
use divergent_core::{CloudCost, GibbsKernel, MatrixCost, SinkhornConfig, SinkhornOutput, Softmin};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::run::{detached, pair_work};

type Output<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    usize,
    f64,
    bool,
    f64,
    f64,
    f64,
);

fn to_py(py: Python<'_>, out: SinkhornOutput) -> Output<'_> {
    (
        out.f.into_pyarray(py),
        out.g.into_pyarray(py),
        out.n_iter,
        out.marginal_error,
        out.converged,
        out.value,
        out.cost,
        out.mass,
    )
}

/// Pairs times iterations, for the interrupt watcher (any long run is watched).
fn work(n: usize, m: usize, d: usize) -> f64 {
    n as f64 * m as f64 * d.max(1) as f64 * 100.0
}

/// Sinkhorn between point clouds x (n, d) with weights a and y (m, d) with weights b,
/// cost |x - y|^p, streamed (`dense = false`) or from a stored Gibbs kernel. With
/// `cluster_points > 0`, annealing runs on clusters of at most that many points
/// (multiscale).
#[pyfunction]
#[pyo3(signature = (x, y, a, b, p, schedule, rho, max_iter, tol, dense, want_cost, cluster_points=0))]
#[allow(clippy::too_many_arguments)]
pub fn sinkhorn_points<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    p: f64,
    schedule: Vec<f64>,
    rho: Option<f64>,
    max_iter: usize,
    tol: f64,
    dense: bool,
    want_cost: bool,
    cluster_points: usize,
) -> PyResult<Output<'py>> {
    let (x, y, a, b) = (x.as_array(), y.as_array(), a.as_array(), b.as_array());
    let (a, b) = (a.to_vec(), b.to_vec());
    let cfg = SinkhornConfig {
        schedule,
        rho,
        max_iter,
        tol,
    };
    let out = detached(py, work(x.nrows(), y.nrows(), x.ncols()), |ctl| {
        if dense && core::use_gram::<f64>(x.ncols()) {
            // High dimension: costs once through the Gram path; annealing on the points.
            let op = GibbsKernel::from_points(x, y, p, ctl)?;
            core::sinkhorn(&op, &a, &b, &cfg, want_cost, ctl)
        } else if dense {
            let op = GibbsKernel::new(x, y, p)?;
            core::sinkhorn_multiscale(&op, &a, &b, &cfg, cluster_points, want_cost, ctl)
        } else {
            let op = CloudCost::new(x, y, p)?
                .with_skipped_fraction(core::skip_allowance(tol, &a, &b))?;
            core::sinkhorn_multiscale(&op, &a, &b, &cfg, cluster_points, want_cost, ctl)
        }
    })?;
    Ok(to_py(py, out))
}

/// OT_eps(a, a) on the point cloud x by the symmetric (averaged) update; annealing on
/// clusters as in `sinkhorn_points` when `cluster_points > 0`.
#[pyfunction]
#[pyo3(signature = (x, a, p, schedule, rho, max_iter, tol, dense, cluster_points=0))]
#[allow(clippy::too_many_arguments)]
pub fn sinkhorn_points_symmetric<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    a: PyReadonlyArray1<'py, f64>,
    p: f64,
    schedule: Vec<f64>,
    rho: Option<f64>,
    max_iter: usize,
    tol: f64,
    dense: bool,
    cluster_points: usize,
) -> PyResult<Output<'py>> {
    let x = x.as_array();
    let a = a.as_array().to_vec();
    let cfg = SinkhornConfig {
        schedule,
        rho,
        max_iter,
        tol,
    };
    let out = detached(py, work(x.nrows(), x.nrows(), x.ncols()), |ctl| {
        if dense && core::use_gram::<f64>(x.ncols()) {
            let op = GibbsKernel::from_points(x, x, p, ctl)?;
            core::sinkhorn_symmetric(&op, &a, &cfg, ctl)
        } else if dense {
            let op = GibbsKernel::new(x, x, p)?;
            core::sinkhorn_symmetric_multiscale(&op, &a, &cfg, cluster_points, ctl)
        } else {
            let op = CloudCost::new(x, x, p)?
                .with_skipped_fraction(core::skip_allowance(tol, &a, &a))?;
            core::sinkhorn_symmetric_multiscale(&op, &a, &cfg, cluster_points, ctl)
        }
    })?;
    Ok(to_py(py, out))
}

/// Sinkhorn on a cost matrix (n, m) between histograms a and b, exponentials per pair
/// (`dense = false`) or from a stored Gibbs kernel.
#[pyfunction]
#[pyo3(signature = (cost, a, b, schedule, rho, max_iter, tol, want_cost, dense=false))]
#[allow(clippy::too_many_arguments)]
pub fn sinkhorn_matrix<'py>(
    py: Python<'py>,
    cost: PyReadonlyArray2<'py, f64>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    schedule: Vec<f64>,
    rho: Option<f64>,
    max_iter: usize,
    tol: f64,
    want_cost: bool,
    dense: bool,
) -> PyResult<Output<'py>> {
    let c = cost.as_array();
    let (a, b) = (a.as_array().to_vec(), b.as_array().to_vec());
    let cfg = SinkhornConfig {
        schedule,
        rho,
        max_iter,
        tol,
    };
    let out = detached(py, work(c.nrows(), c.ncols(), 1), |ctl| {
        if dense {
            let op = GibbsKernel::from_matrix(c)?;
            core::sinkhorn(&op, &a, &b, &cfg, want_cost, ctl)
        } else {
            let op = MatrixCost::new(c)?;
            core::sinkhorn(&op, &a, &b, &cfg, want_cost, ctl)
        }
    })?;
    Ok(to_py(py, out))
}

/// ln sum_j exp(w_j - C_ij / eps) for each x_i (`side` "x") or y_j (`side` "y"), C the
/// streamed point-cloud cost; exposed for tests of the operator.
#[pyfunction]
#[pyo3(signature = (x, y, w, p, eps, side))]
pub fn softmin_lse<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    w: PyReadonlyArray1<'py, f64>,
    p: f64,
    eps: f64,
    side: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let side = match side {
        "x" => core::Side::X,
        "y" => core::Side::Y,
        _ => {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "side must be 'x' or 'y'",
            ))
        }
    };
    let (x, y, w) = (x.as_array(), y.as_array(), w.as_array().to_vec());
    let out = detached(py, work(x.nrows(), y.nrows(), x.ncols()) / 100.0, |ctl| {
        let op = CloudCost::new(x, y, p)?;
        let hint = vec![f64::NAN; op.len(side)];
        Ok(op.lse(side, &w, eps, &hint, false, ctl)?.0)
    })?;
    Ok(out.into_pyarray(py))
}

/// W_p^p between 1-D samples u and v (optionally weighted), as (scale, sum) with
/// W_p^p = scale^p * sum.
#[pyfunction]
#[pyo3(signature = (u, v, p, u_weights=None, v_weights=None))]
pub fn wasserstein_1d_pow(
    py: Python<'_>,
    u: PyReadonlyArray1<'_, f64>,
    v: PyReadonlyArray1<'_, f64>,
    p: f64,
    u_weights: Option<PyReadonlyArray1<'_, f64>>,
    v_weights: Option<PyReadonlyArray1<'_, f64>>,
) -> PyResult<(f64, f64)> {
    let (ua, va) = (u.as_array(), v.as_array());
    let (uw, vw) = (
        u_weights.as_ref().map(|w| w.as_array()),
        v_weights.as_ref().map(|w| w.as_array()),
    );
    let out = detached(py, 0.0, |_| core::wasserstein_1d_pow(ua, uw, va, vw, p))?;
    Ok((out.scale, out.sum))
}

/// Per-direction (scales, sums) of W_p^p = scale^p * sum.
type ScalesAndSums<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// W_p^p between the projections of x and y on each row of `directions`, as (scales,
/// sums) with W_p^p = scale^p * sum per direction.
#[pyfunction]
pub fn sliced_wasserstein_pow<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    directions: PyReadonlyArray2<'py, f64>,
    p: f64,
) -> PyResult<ScalesAndSums<'py>> {
    let (xa, ya, da) = (x.as_array(), y.as_array(), directions.as_array());
    let work = pair_work(da.nrows(), xa.nrows() + ya.nrows(), 20);
    let out = detached(py, work, |ctl| {
        core::sliced_wasserstein_pow(xa, ya, da, p, ctl)
    })?;
    let scales: Vec<f64> = out.iter().map(|s| s.scale).collect();
    let sums: Vec<f64> = out.iter().map(|s| s.sum).collect();
    Ok((scales.into_pyarray(py), sums.into_pyarray(py)))
}

/// The exact plan's (cost, rows, cols, values, f, g, n_iter, optimal).
type EmdOutput<'py> = (
    f64,
    Bound<'py, PyArray1<usize>>,
    Bound<'py, PyArray1<usize>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    u64,
    bool,
);

fn emd_to_py(py: Python<'_>, s: core::EmdSolution) -> EmdOutput<'_> {
    (
        s.cost,
        s.rows.into_pyarray(py),
        s.cols.into_pyarray(py),
        s.values.into_pyarray(py),
        s.f.into_pyarray(py),
        s.g.into_pyarray(py),
        s.n_iter,
        s.status == core::EmdStatus::Optimal,
    )
}

/// Exact OT between histograms `a` and `b` (equal totals) with the cost matrix `cost`.
#[pyfunction]
pub fn emd<'py>(
    py: Python<'py>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    cost: PyReadonlyArray2<'py, f64>,
    max_iter: u64,
) -> PyResult<EmdOutput<'py>> {
    let (a, b) = (a.as_array().to_vec(), b.as_array().to_vec());
    // Row-major costs are read in place (Python passes a contiguous matrix).
    let c = cost.as_array();
    let c = c.as_standard_layout();
    let flat = c.as_slice().expect("standard layout");
    let work = pair_work(a.len(), b.len(), 100);
    let sol = detached(py, work, |ctl| {
        core::network_simplex(&a, &b, flat, max_iter, ctl)
    })?;
    Ok(emd_to_py(py, sol))
}

/// Exact OT between the point clouds `x` and `y` with weights `a`, `b` and the cost
/// |x_i - y_j|^p.
#[pyfunction]
pub fn emd_points<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    p: f64,
    max_iter: u64,
) -> PyResult<EmdOutput<'py>> {
    let (xa, ya) = (x.as_array(), y.as_array());
    let (a, b) = (a.as_array().to_vec(), b.as_array().to_vec());
    let work = pair_work(xa.nrows(), ya.nrows(), xa.ncols() + 100);
    let sol = detached(py, work, |ctl| {
        let cost = core::point_costs(xa, ya, p, ctl)?;
        core::network_simplex(&a, &b, &cost, max_iter, ctl)
    })?;
    Ok(emd_to_py(py, sol))
}
