//! Binding of the row-wise divergences between batches of logits.

use divergent_core as core;
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

/// `$body` with `$a`, `$b` bound to (B, V) views of one element type (f64, f32, or F16 /
/// Bf16 from uint16 bits as `$half` names), or a TypeError for any other pairing: one
/// generic body for every element type.
macro_rules! with_logits {
    ($a:expr, $b:expr, $half:expr, |$x:ident, $y:ident| $body:expr) => {
        match (&$a, &$b, $half) {
            (Logits::F64(a), Logits::F64(b), None) => {
                let ($x, $y) = (a.as_array(), b.as_array());
                $body
            }
            (Logits::F32(a), Logits::F32(b), None) => {
                let ($x, $y) = (a.as_array(), b.as_array());
                $body
            }
            (Logits::Bits(a), Logits::Bits(b), Some("float16")) => {
                let ($x, $y) = (
                    core::half_view::<core::F16>(a.as_array()),
                    core::half_view::<core::F16>(b.as_array()),
                );
                $body
            }
            (Logits::Bits(a), Logits::Bits(b), Some("bfloat16")) => {
                let ($x, $y) = (
                    core::half_view::<core::Bf16>(a.as_array()),
                    core::half_view::<core::Bf16>(b.as_array()),
                );
                $body
            }
            _ => {
                return Err(PyTypeError::new_err(
                    "logits must both be float32, both float64, or both uint16 views of \
                     float16 or bfloat16 logits with half='float16' or 'bfloat16'",
                ))
            }
        }
    };
}

/// Row-wise "kl", "reverse_kl", "js", "generalized_js" (with `beta`), "tv", "hellinger",
/// "cross_entropy" or "renyi" (with `alpha`) between softmax(scale a) and
/// softmax(scale b), both (B, V) of the same float dtype, or both uint16 views of float16
/// or bfloat16 logits with `half` naming which; -inf logits are banned tokens with
/// `allow_neg_inf`, else an error.
#[pyfunction]
#[pyo3(signature = (a, b, which, *, scale = 1.0, allow_neg_inf = false, half = None, beta = None, alpha = None))]
#[allow(clippy::too_many_arguments)]
pub fn rowwise_logits_divergence<'py>(
    py: Python<'py>,
    a: Logits<'py>,
    b: Logits<'py>,
    which: &str,
    scale: f64,
    allow_neg_inf: bool,
    half: Option<&str>,
    beta: Option<f64>,
    alpha: Option<f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let needs = |name: &str, value: Option<f64>| {
        value.ok_or_else(|| PyValueError::new_err(format!("{which:?} needs {name}")))
    };
    let which = match which {
        "kl" => core::LogitDivergence::Kl,
        "reverse_kl" => core::LogitDivergence::ReverseKl,
        "js" => core::LogitDivergence::Js,
        "generalized_js" => core::LogitDivergence::GeneralizedJs {
            beta: needs("beta", beta)?,
        },
        "tv" => core::LogitDivergence::Tv,
        "hellinger" => core::LogitDivergence::Hellinger,
        "cross_entropy" => core::LogitDivergence::CrossEntropy,
        "renyi" => core::LogitDivergence::Renyi {
            alpha: needs("alpha", alpha)?,
        },
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown divergence {which:?}"
            )))
        }
    };
    let out = with_logits!(a, b, half, |x, y| {
        let work = pair_work(x.nrows(), x.ncols(), 4);
        detached(py, work, |ctl| {
            core::rowwise_from_logits(x, y, which, scale, allow_neg_inf, ctl)
        })?
    });
    Ok(out.into_pyarray(py))
}

/// KL(softmax(scale a) || softmax(scale b)) of every row with the rows' top tokens, as
/// arrays (kl, p_index, q_index, p_top, q_at_p_top); the inputs as
/// `rowwise_logits_divergence` takes them.
#[pyfunction]
#[pyo3(signature = (a, b, *, scale = 1.0, allow_neg_inf = false, half = None))]
#[allow(clippy::type_complexity)]
pub fn rowwise_kl_and_top_tokens<'py>(
    py: Python<'py>,
    a: Logits<'py>,
    b: Logits<'py>,
    scale: f64,
    allow_neg_inf: bool,
    half: Option<&str>,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
)> {
    let out = with_logits!(a, b, half, |x, y| {
        let work = pair_work(x.nrows(), x.ncols(), 4);
        detached(py, work, |ctl| {
            core::rowwise_kl_and_top_tokens(x, y, scale, allow_neg_inf, ctl)
        })?
    });
    let kl: Vec<f64> = out.iter().map(|r| r.0).collect();
    let p_index: Vec<i64> = out.iter().map(|r| r.1.p_index as i64).collect();
    let q_index: Vec<i64> = out.iter().map(|r| r.1.q_index as i64).collect();
    let p_top: Vec<f64> = out.iter().map(|r| r.1.p_top).collect();
    let q_at: Vec<f64> = out.iter().map(|r| r.1.q_at_p_top).collect();
    Ok((
        kl.into_pyarray(py),
        p_index.into_pyarray(py),
        q_index.into_pyarray(py),
        p_top.into_pyarray(py),
        q_at.into_pyarray(py),
    ))
}
