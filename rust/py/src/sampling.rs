//! Bindings of the samplers: built-in targets from their parameter tuples, Python
//! callables as batch targets, Langevin, HMC and SMC runs and the SVGD direction.

use divergent_core as core;
use divergent_core::{BatchTarget, Builtin, GaussianComponent, LangevinConfig, Method};
use ndarray::{Array2, Array3, ArrayView2};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyReadonlyArray3, PyUntypedArrayMethods, ToPyArray,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::run::{detached, detached_reporting};

/// A built-in target as Python describes it: (kind, means (K, d), precisions (K, d, d),
/// log constants (K,), scalar parameters). A logistic regression ("logistic") carries its
/// features X (n, d) in the means' place, its labels (n,) in the constants' and no
/// precision (0, d, d).
type Spec<'py> = (
    String,
    PyReadonlyArray2<'py, f64>,
    PyReadonlyArray3<'py, f64>,
    PyReadonlyArray1<'py, f64>,
    Vec<f64>,
);

fn builtin_from(spec: &Spec<'_>) -> PyResult<Builtin> {
    let (kind, means, precisions, consts, params) = spec;
    let (means, precisions, consts) = (means.as_array(), precisions.as_array(), consts.as_array());
    let dim = means.ncols();
    let target = match kind.as_str() {
        "mixture" => {
            if precisions.dim() != (means.nrows(), dim, dim) || consts.len() != means.nrows() {
                return Err(PyValueError::new_err(
                    "inconsistent Gaussian component shapes",
                ));
            }
            Builtin::Mixture {
                dim,
                components: (0..means.nrows())
                    .map(|k| GaussianComponent {
                        mean: means.row(k).to_vec(),
                        precision: precisions
                            .index_axis(ndarray::Axis(0), k)
                            .iter()
                            .copied()
                            .collect(),
                        log_const: consts[k],
                    })
                    .collect(),
            }
        }
        "banana" if params.len() == 2 => Builtin::Banana {
            dim,
            b: params[0],
            sigma: params[1],
        },
        "funnel" if params.len() == 1 => Builtin::Funnel {
            dim,
            scale: params[0],
        },
        "logistic" if params.len() == 1 => Builtin::Logistic {
            dim,
            x: means.iter().copied().collect(),
            y: consts.to_vec(),
            prior_scale: params[0],
        },
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown target specification {kind:?}"
            )))
        }
    };
    target
        .validate()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(target)
}

type Vector<'py> = Bound<'py, PyArray1<f64>>;
type Matrix<'py> = Bound<'py, PyArray2<f64>>;

/// log p and grad log p of a built-in target at the rows of x (n, d).
#[pyfunction]
pub fn target_logp_grad<'py>(
    py: Python<'py>,
    spec: Spec<'py>,
    x: PyReadonlyArray2<'py, f64>,
) -> PyResult<(Vector<'py>, Matrix<'py>)> {
    let target = builtin_from(&spec)?;
    let xa = x.as_array();
    let (n, d) = xa.dim();
    if d != target.dim() {
        return Err(PyValueError::new_err(format!(
            "x has {d} features but the target has dimension {}",
            target.dim()
        )));
    }
    let work = (n * d * d) as f64;
    let (lp, g) = detached(py, work, |_ctl| {
        let rows: Vec<f64> = xa.iter().copied().collect();
        let (mut lp, mut g) = (vec![0.0; n], vec![0.0; n * d]);
        target.eval_all(&rows, &mut lp, &mut g);
        Ok((lp, g))
    })?;
    let g = Array2::from_shape_vec((n, d), g).expect("n x d values");
    Ok((lp.into_pyarray(py), g.into_pyarray(py)))
}

/// A Python callable (n, d) -> (logp (n,), grad (n, d)) as a batch target. The Python
/// side wraps the user's function so that it returns float64 arrays of the right shapes.
struct PyTarget<'a> {
    func: &'a Py<PyAny>,
    dim: usize,
    error: Option<PyErr>,
    /// The array the points were passed in last time; reused while nothing else holds it.
    points: Option<Py<PyArray2<f64>>>,
}

impl PyTarget<'_> {
    /// The points as a NumPy array. The previous step's array is refilled rather than a
    /// new one allocated (800 KB at 1,000 chains in d = 100; with a NumPy target, whose
    /// temporaries of that size come and go between the calls, fresh arrays showed up in
    /// profiles as page faults; ~3% of a Custom run), unless the callable kept a
    /// reference to it or to a view of it, whose contents must then not change.
    fn points_array<'py>(&mut self, py: Python<'py>, x: &[f64]) -> Bound<'py, PyArray2<f64>> {
        let n = x.len() / self.dim;
        if let Some(arr) = self.points.take().map(|a| a.into_bound(py)) {
            // SAFETY: `arr` is a live object; reading its reference count has no effect.
            let sole_owner = unsafe { pyo3::ffi::Py_REFCNT(arr.as_ptr()) } == 1;
            if sole_owner && arr.shape() == [n, self.dim] {
                if let Ok(mut w) = arr.try_readwrite() {
                    if let Ok(dst) = w.as_slice_mut() {
                        dst.copy_from_slice(x);
                        drop(w);
                        self.points = Some(arr.clone().unbind());
                        return arr;
                    }
                }
            }
        }
        let view = ArrayView2::from_shape((n, self.dim), x).expect("n x d values");
        let arr = view.to_pyarray(py);
        self.points = Some(arr.clone().unbind());
        arr
    }
}

/// `src` into `dst`: one memcpy for the contiguous arrays the Python wrapper returns.
fn copy_into<D: ndarray::Dimension>(dst: &mut [f64], src: ndarray::ArrayView<'_, f64, D>) {
    match src.as_slice() {
        Some(s) => dst.copy_from_slice(s),
        None => dst.iter_mut().zip(src.iter()).for_each(|(o, v)| *o = *v),
    }
}

impl BatchTarget for PyTarget<'_> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(
        &mut self,
        _step: usize,
        x: &[f64],
        logp: &mut [f64],
        grad: &mut [f64],
    ) -> core::Result<()> {
        let n = logp.len();
        let res = Python::attach(|py| -> PyResult<()> {
            let points = self.points_array(py, x);
            let out = self.func.call1(py, (points,))?;
            let (lp, g): (PyReadonlyArray1<'_, f64>, PyReadonlyArray2<'_, f64>) =
                out.extract(py)?;
            let (lp, g) = (lp.as_array(), g.as_array());
            if lp.len() != n || g.dim() != (n, self.dim) {
                return Err(PyValueError::new_err(
                    "the custom target returned arrays of the wrong shape",
                ));
            }
            copy_into(logp, lp);
            copy_into(grad, g);
            Ok(())
        });
        res.map_err(|e| {
            self.error = Some(e);
            core::CoreError::Cancelled
        })
    }
}

fn method_from(name: &str, friction: f64) -> PyResult<Method> {
    match name {
        "ula" => Ok(Method::Ula),
        "mala" => Ok(Method::Mala),
        "underdamped" => Ok(Method::Underdamped { friction }),
        _ => Err(PyValueError::new_err(format!("unknown method {name:?}"))),
    }
}

/// `run` on a sampler's target with the GIL released: the built-in target of `spec`, or
/// the callable `custom` of dimension `dim`, whose error (if it raised) is the one
/// returned. `evaluations` (points at which the target is evaluated) sizes the work of a
/// built-in target; a callable's cost is unknown, so its runs are always watched for
/// Ctrl-C. `progress`, when given, is called with the iterations done while it runs.
fn on_target<'py, R: Send>(
    py: Python<'py>,
    spec: Option<Spec<'py>>,
    custom: Option<Py<PyAny>>,
    dim: usize,
    evaluations: f64,
    progress: Option<&Py<PyAny>>,
    run: impl FnOnce(&mut dyn BatchTarget, &core::Control) -> core::Result<R> + Send,
) -> PyResult<R> {
    match (spec, custom) {
        (Some(spec), None) => {
            let target = builtin_from(&spec)?;
            let work = evaluations * (target.dim() * target.dim()) as f64;
            detached_reporting(py, work, progress, |ctl| run(&mut &target, ctl))
        }
        (None, Some(func)) => {
            let mut target = PyTarget {
                func: &func,
                dim,
                error: None,
                points: None,
            };
            // The sampler's own per-chain work runs on one thread: a NumPy callable's
            // OpenBLAS worker keeps spinning on another core for a while after each call,
            // and a second sampler thread sharing that core made every phase wait for it
            // (measured on 2 cores: 2.0-2.1 s against 1.6-1.7 s for 1,000 chains x 1,000
            // Langevin steps, d = 100).
            let out = detached_reporting(py, f64::INFINITY, progress, |ctl| {
                let solo = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .map_err(|e| {
                        core::CoreError::InvalidInput(format!("cannot start a thread: {e}"))
                    })?;
                solo.install(|| run(&mut target, ctl))
            });
            if let Some(e) = target.error.take() {
                return Err(e);
            }
            out
        }
        _ => Err(PyValueError::new_err(
            "give exactly one of a built-in spec and a callable",
        )),
    }
}

type TraceArrays<'py> = (
    Bound<'py, PyArray3<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<f64>>,
    Option<Bound<'py, PyAny>>,
);

/// Run a Langevin sampler; `spec` (built-in) or `custom` (callable of dimension `dim`),
/// preconditioned by the identity, `metric_diag` (d,) or `metric_dense` (d, d), adapted
/// during burn-in as `adapt_metric` ("diag", "dense") says. Returns (samples (C, D, d),
/// logp (C, D), accepted (C,), final step sizes (C,), the metric after burn-in (None for
/// the identity)); `progress` is called with the iterations done.
#[pyfunction]
#[pyo3(signature = (spec, custom, dim, x0, n_chains, method, n_steps, burn_in, thin, step_size, friction, adapt, seed, *, metric_diag=None, metric_dense=None, adapt_metric=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn langevin<'py>(
    py: Python<'py>,
    spec: Option<Spec<'py>>,
    custom: Option<Py<PyAny>>,
    dim: usize,
    x0: Option<PyReadonlyArray2<'py, f64>>,
    n_chains: usize,
    method: &str,
    n_steps: usize,
    burn_in: usize,
    thin: usize,
    step_size: f64,
    friction: f64,
    adapt: bool,
    seed: u64,
    metric_diag: Option<PyReadonlyArray1<'py, f64>>,
    metric_dense: Option<PyReadonlyArray2<'py, f64>>,
    adapt_metric: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<TraceArrays<'py>> {
    let cfg = LangevinConfig {
        method: method_from(method, friction)?,
        n_steps,
        burn_in,
        thin,
        step_size,
        adapt,
        metric: metric_from(metric_diag, metric_dense)?,
        adapt_metric: adaptation_from(adapt_metric)?,
        seed,
    };
    let x0: Option<Vec<f64>> = x0.map(|a| a.as_array().iter().copied().collect());
    let evaluations = ((n_steps + burn_in) * n_chains) as f64;
    let trace = on_target(
        py,
        spec,
        custom,
        dim,
        evaluations,
        progress.as_ref(),
        |target, ctl| core::langevin(target, x0.as_deref(), n_chains, &cfg, ctl),
    )?;
    let (c, k, d) = (trace.n_chains, trace.n_draws, trace.dim);
    let samples = Array3::from_shape_vec((c, k, d), trace.samples).expect("C x D x d values");
    let logp = Array2::from_shape_vec((c, k), trace.logp).expect("C x D values");
    Ok((
        samples.into_pyarray(py),
        logp.into_pyarray(py),
        trace.accepted.into_pyarray(py),
        trace.step_size.into_pyarray(py),
        metric_to_py(py, trace.metric, d),
    ))
}

/// The identity, or the diagonal (d,) or dense (d, d) inverse mass matrix given.
fn metric_from(
    diag: Option<PyReadonlyArray1<'_, f64>>,
    dense: Option<PyReadonlyArray2<'_, f64>>,
) -> PyResult<core::InverseMass> {
    match (diag, dense) {
        (None, None) => Ok(core::InverseMass::Identity),
        (Some(m), None) => Ok(core::InverseMass::Diag(m.as_array().to_vec())),
        (None, Some(m)) => Ok(core::InverseMass::Dense(
            m.as_array().iter().copied().collect(),
        )),
        _ => Err(PyValueError::new_err("give at most one metric")),
    }
}

/// The metric that burn-in estimates: None, "diag" or "dense".
fn adaptation_from(name: Option<&str>) -> PyResult<Option<core::MetricAdaptation>> {
    match name {
        None => Ok(None),
        Some("diag") => Ok(Some(core::MetricAdaptation::Diag)),
        Some("dense") => Ok(Some(core::MetricAdaptation::Dense)),
        Some(other) => Err(PyValueError::new_err(format!(
            "unknown metric adaptation {other:?}"
        ))),
    }
}

/// A metric as Python sees it: None for the identity, an array (d,) or (d, d).
fn metric_to_py(py: Python<'_>, metric: core::InverseMass, d: usize) -> Option<Bound<'_, PyAny>> {
    match metric {
        core::InverseMass::Identity => None,
        core::InverseMass::Diag(m) => Some(m.into_pyarray(py).into_any()),
        core::InverseMass::Dense(m) => Some(
            Array2::from_shape_vec((d, d), m)
                .expect("d x d values")
                .into_pyarray(py)
                .into_any(),
        ),
    }
}

/// The arrays of an HMC run: samples (C, D, d), logp, acceptance probabilities,
/// divergences and energies (C, D), leapfrog steps per draw (D,), the step size, the
/// inverse mass matrix (None for the identity, (d,) or (d, d)) and the trajectory length
/// after burn-in.
type HmcArrays<'py> = (
    Bound<'py, PyArray3<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<bool>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<u64>>,
    f64,
    Option<Bound<'py, PyAny>>,
    f64,
);

/// Run HMC; `spec` (built-in) or `custom` (callable of dimension `dim`); the metric is
/// the identity, `metric_diag` (d,) or `metric_dense` (d, d), adapted during burn-in as
/// `adapt_metric` ("diag", "dense") says.
#[pyfunction]
#[pyo3(signature = (spec, custom, dim, x0, n_chains, *, n_steps, burn_in, thin, step_size, n_leapfrog, jitter, metric_diag, metric_dense, adapt_metric, adapt_step_size, target_accept, seed, adapt_trajectory=false, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn hmc<'py>(
    py: Python<'py>,
    spec: Option<Spec<'py>>,
    custom: Option<Py<PyAny>>,
    dim: usize,
    x0: Option<PyReadonlyArray2<'py, f64>>,
    n_chains: usize,
    n_steps: usize,
    burn_in: usize,
    thin: usize,
    step_size: f64,
    n_leapfrog: usize,
    jitter: bool,
    metric_diag: Option<PyReadonlyArray1<'py, f64>>,
    metric_dense: Option<PyReadonlyArray2<'py, f64>>,
    adapt_metric: Option<&str>,
    adapt_step_size: bool,
    target_accept: f64,
    seed: u64,
    adapt_trajectory: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<HmcArrays<'py>> {
    let metric = metric_from(metric_diag, metric_dense)?;
    let adapt_metric = adaptation_from(adapt_metric)?;
    let cfg = core::HmcConfig {
        n_steps,
        burn_in,
        thin,
        step_size,
        n_leapfrog,
        jitter,
        metric,
        adapt_metric,
        adapt_step_size,
        adapt_trajectory,
        target_accept,
        seed,
    };
    let x0: Option<Vec<f64>> = x0.map(|a| a.as_array().iter().copied().collect());
    let evaluations = ((n_steps + burn_in) * n_leapfrog * n_chains) as f64;
    let trace = on_target(
        py,
        spec,
        custom,
        dim,
        evaluations,
        progress.as_ref(),
        |target, ctl| core::hmc(target, x0.as_deref(), n_chains, &cfg, ctl),
    )?;
    let (c, k, d) = (trace.n_chains, trace.n_draws, trace.dim);
    let grid = |v: Vec<f64>| Array2::from_shape_vec((c, k), v).expect("C x D values");
    let samples = Array3::from_shape_vec((c, k, d), trace.samples).expect("C x D x d values");
    let diverging = Array2::from_shape_vec((c, k), trace.diverging).expect("C x D values");
    let metric = metric_to_py(py, trace.metric, d);
    let n_leapfrog: Vec<u64> = trace.n_leapfrog.iter().map(|&n| n as u64).collect();
    Ok((
        samples.into_pyarray(py),
        grid(trace.logp).into_pyarray(py),
        grid(trace.accept_prob).into_pyarray(py),
        diverging.into_pyarray(py),
        grid(trace.energy).into_pyarray(py),
        n_leapfrog.into_pyarray(py),
        trace.step_size,
        metric,
        trace.trajectory_length,
    ))
}

/// The arrays of an SMC run: particles (N, d), normalised log-weights (N,), the
/// log-evidence, the temperatures (T + 1,), and per stage the mean acceptance
/// probability and the MALA step size (T,).
type SmcArrays<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    f64,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
);

/// Run adaptive tempered SMC from N(ref_mean, ref_cov) (the identity when `ref_cov` is
/// None) to a built-in `spec` or a callable `custom` of dimension `dim`.
#[pyfunction]
#[pyo3(signature = (spec, custom, dim, *, ref_mean, ref_cov, n_particles, n_mcmc_steps, ess_threshold, seed, kernel="mala", progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn smc<'py>(
    py: Python<'py>,
    spec: Option<Spec<'py>>,
    custom: Option<Py<PyAny>>,
    dim: usize,
    ref_mean: PyReadonlyArray1<'py, f64>,
    ref_cov: Option<PyReadonlyArray2<'py, f64>>,
    n_particles: usize,
    n_mcmc_steps: usize,
    ess_threshold: f64,
    seed: u64,
    kernel: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<SmcArrays<'py>> {
    let kernel = match kernel {
        "mala" => core::SmcKernel::Mala,
        "hmc" => core::SmcKernel::Hmc,
        other => return Err(PyValueError::new_err(format!("unknown kernel {other:?}"))),
    };
    let reference = core::Reference {
        mean: ref_mean.as_array().to_vec(),
        cov: ref_cov.map(|c| c.as_array().iter().copied().collect()),
    };
    let cfg = core::SmcConfig {
        n_particles,
        kernel,
        n_mcmc_steps,
        ess_threshold,
        seed,
    };
    // The number of temperatures is not known ahead; a few tens is typical.
    let evaluations = (30 * (n_mcmc_steps + 1) * n_particles) as f64;
    let r = on_target(
        py,
        spec,
        custom,
        dim,
        evaluations,
        progress.as_ref(),
        |target, ctl| core::smc(target, &reference, &cfg, ctl),
    )?;
    let samples = Array2::from_shape_vec((r.n_particles, r.dim), r.samples).expect("N x d values");
    Ok((
        samples.into_pyarray(py),
        r.log_weights.into_pyarray(py),
        r.log_evidence,
        r.temperatures.into_pyarray(py),
        r.acceptance_rate.into_pyarray(py),
        r.step_size.into_pyarray(py),
    ))
}

/// The SVGD direction phi (n, d) for particles x with scores s and Gaussian bandwidth h.
#[pyfunction]
pub fn svgd_direction<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    s: PyReadonlyArray2<'py, f64>,
    h: f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (xa, sa) = (x.as_array(), s.as_array());
    let work = (xa.nrows() as f64).powi(2) * (3 * xa.ncols() + 1) as f64;
    let phi = detached(py, work, |ctl| core::svgd_direction(xa, sa, h, ctl))?;
    Ok(phi.into_pyarray(py))
}

/// The first `count` draws of the `kind` ("normal" or "uniform") stream of each chain
/// `first..first + n_chains`, as the samplers consume them; for reference
/// implementations that replay a run.
#[pyfunction]
#[pyo3(signature = (seed, n_chains, count, kind, first=0))]
pub fn chain_draws<'py>(
    py: Python<'py>,
    seed: u64,
    n_chains: usize,
    count: usize,
    kind: &str,
    first: u64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let stream = match kind {
        "normal" => core::Stream::Normal,
        "uniform" => core::Stream::Uniform,
        _ => return Err(PyValueError::new_err(format!("unknown stream {kind:?}"))),
    };
    let draws = py.detach(|| core::chain_draws(seed, first, n_chains, count, stream));
    let out = Array2::from_shape_vec((n_chains, count), draws).expect("chains x count values");
    Ok(out.into_pyarray(py))
}
