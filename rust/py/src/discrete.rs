//! Binding of the row-wise divergences between batches of logits.

use divergent_core as core;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::run::{detached, pair_work};

/// float32 or float64 logits, read without conversion.
#[derive(FromPyObject)]
pub enum Logits<'py> {
    F64(PyReadonlyArray2<'py, f64>),
    F32(PyReadonlyArray2<'py, f32>),
}

/// Row-wise "kl", "reverse_kl" or "js" between softmax(scale a) and softmax(scale b),
/// both (B, V) of the same float dtype; -inf logits are banned tokens with
/// `allow_neg_inf`, else an error.
#[pyfunction]
#[pyo3(signature = (a, b, which, *, scale = 1.0, allow_neg_inf = false))]
pub fn rowwise_logits_divergence<'py>(
    py: Python<'py>,
    a: Logits<'py>,
    b: Logits<'py>,
    which: &str,
    scale: f64,
    allow_neg_inf: bool,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let which = match which {
        "kl" => core::LogitDivergence::Kl,
        "reverse_kl" => core::LogitDivergence::ReverseKl,
        "js" => core::LogitDivergence::Js,
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown divergence {which:?}"
            )))
        }
    };
    let out = match (&a, &b) {
        (Logits::F64(a), Logits::F64(b)) => {
            let (a, b) = (a.as_array(), b.as_array());
            let work = pair_work(a.nrows(), a.ncols(), 4);
            detached(py, work, |ctl| {
                core::rowwise_from_logits(a, b, which, scale, allow_neg_inf, ctl)
            })?
        }
        (Logits::F32(a), Logits::F32(b)) => {
            let (a, b) = (a.as_array(), b.as_array());
            let work = pair_work(a.nrows(), a.ncols(), 4);
            detached(py, work, |ctl| {
                core::rowwise_from_logits(a, b, which, scale, allow_neg_inf, ctl)
            })?
        }
        _ => {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "logits must both be float32 or both float64",
            ))
        }
    };
    Ok(out.into_pyarray(py))
}
