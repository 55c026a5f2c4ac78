//! Binding of the row-wise divergences between batches of logits.

use divergent_core as core;
use ndarray::ArrayView2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::run::{detached, pair_work};

/// float32 or float64 logits, or the bits of float16 / bfloat16 logits (a uint16 view),
/// read without conversion.
#[derive(FromPyObject)]
pub enum Logits<'py> {
    F64(PyReadonlyArray2<'py, f64>),
    F32(PyReadonlyArray2<'py, f32>),
    Bits(PyReadonlyArray2<'py, u16>),
}

/// The divergence of every row of two (B, V) views of one element type.
fn rows<T: core::Logit>(
    py: Python<'_>,
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    which: core::LogitDivergence,
    scale: f64,
    allow_neg_inf: bool,
) -> PyResult<Vec<f64>> {
    let work = pair_work(a.nrows(), a.ncols(), 4);
    detached(py, work, |ctl| {
        core::rowwise_from_logits(a, b, which, scale, allow_neg_inf, ctl)
    })
}

/// Row-wise "kl", "reverse_kl" or "js" between softmax(scale a) and softmax(scale b),
/// both (B, V) of the same float dtype, or both uint16 views of float16 or bfloat16
/// logits with `half` naming which; -inf logits are banned tokens with
/// `allow_neg_inf`, else an error.
#[pyfunction]
#[pyo3(signature = (a, b, which, *, scale = 1.0, allow_neg_inf = false, half = None))]
pub fn rowwise_logits_divergence<'py>(
    py: Python<'py>,
    a: Logits<'py>,
    b: Logits<'py>,
    which: &str,
    scale: f64,
    allow_neg_inf: bool,
    half: Option<&str>,
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
    let out = match (&a, &b, half) {
        (Logits::F64(a), Logits::F64(b), None) => {
            rows(py, a.as_array(), b.as_array(), which, scale, allow_neg_inf)?
        }
        (Logits::F32(a), Logits::F32(b), None) => {
            rows(py, a.as_array(), b.as_array(), which, scale, allow_neg_inf)?
        }
        (Logits::Bits(a), Logits::Bits(b), Some("float16")) => {
            let (a, b) = (a.as_array(), b.as_array());
            let (a, b) = (core::half_view::<core::F16>(a), core::half_view(b));
            rows(py, a, b, which, scale, allow_neg_inf)?
        }
        (Logits::Bits(a), Logits::Bits(b), Some("bfloat16")) => {
            let (a, b) = (a.as_array(), b.as_array());
            let (a, b) = (core::half_view::<core::Bf16>(a), core::half_view(b));
            rows(py, a, b, which, scale, allow_neg_inf)?
        }
        _ => {
            return Err(PyTypeError::new_err(
                "logits must both be float32, both float64, or both uint16 views of \
                 float16 or bfloat16 logits with half='float16' or 'bfloat16'",
            ))
        }
    };
    Ok(out.into_pyarray(py))
}
