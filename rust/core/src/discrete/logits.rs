//! Row-wise divergences between two batches of logits, fused with the log-softmax.
//!
//! For rows a, b of length V with p = softmax(a), q = softmax(b), M_a = max a and
//! S_a = sum exp(a - M_a) (likewise for b):
//!
//! * KL(p || q) = sum p (log p - log q) = T_a / S_a - (M_a - M_b) - ln S_a + ln S_b with
//!   T_a = sum exp(a - M_a) (a - b): one pass for the maxima, one for the sums.
//! * reverse KL(q || p): the same with a and b exchanged, from the same two passes.
//! * every other divergence (Jensen-Shannon and its generalisation, total variation,
//!   Hellinger, cross-entropy, Renyi): a third pass over the tokens (`row_terms`).
//!
//! Every logit is multiplied by `scale` (the inverse of a temperature) as it is read.
//! Nothing of size B x V is allocated; rows run in parallel; float32 and bfloat16 logits
//! are widened to float64 as they are read, float16 rows once into a per-thread f32 row
//! buffer (its conversion costs more than a pass over a row in cache). Any finite logits
//! are valid, and -inf too where the caller allows it (a banned token: probability
//! exactly 0, 0 log 0 = 0, and a token of positive probability under p that q bans gives
//! KL(p || q) = +inf); a token whose exponent underflows has weight exactly 0 (not exp's
//! clamp of ~2e-308, which a difference of logits of 1e300 would turn into a visible
//! term), and a row with logits above f64::MAX / 4 in magnitude is computed in half units,
//! so that no difference of two logits overflows. A divergence beyond float64's range
//! comes out as inf.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::exp::{exp, fma};
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::arith::sum::neumaier_sum;
use crate::control::Control;
use crate::error::{invalid, Result};

use super::half::stage;
use super::row_terms::{self, lane_sum, RowScale};
use super::top_tokens::{first_index_of, TopTokens};

pub(super) const W: usize = 16;

/// Which divergence of the softmaxes p = softmax(a), q = softmax(b) (natural logs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LogitDivergence {
    /// KL(p || q)
    Kl,
    /// KL(q || p)
    ReverseKl,
    /// Jensen-Shannon divergence
    Js,
    /// beta KL(p || m) + (1 - beta) KL(q || m), m = beta p + (1 - beta) q, 0 < beta < 1
    GeneralizedJs {
        /// The weight of p.
        beta: f64,
    },
    /// Total variation, sum |p - q| / 2
    Tv,
    /// Hellinger distance, sqrt(sum (sqrt p - sqrt q)^2 / 2)
    Hellinger,
    /// Cross-entropy -sum p ln q (the entropy of p where a and b are the same rows)
    CrossEntropy,
    /// Renyi divergence ln(sum p^alpha q^(1 - alpha)) / (alpha - 1), alpha >= 0 (inf: the
    /// max-divergence ln max p / q; 1: KL(p || q))
    Renyi {
        /// The order.
        alpha: f64,
    },
}

/// A float element of the logits.
pub trait Logit: Copy + Send + Sync {
    /// The exact value.
    fn widen(self) -> f64;
    /// Whether a row is widened once into an f32 buffer before the kernel's passes
    /// rather than at each read: float16, whose conversion costs more than a pass over
    /// a row of f32 in cache.
    const STAGE: bool = false;
    /// The exact value as f32 (used only where `STAGE`, by types that f32 holds).
    #[inline(always)]
    fn narrow(self) -> f32 {
        self.widen() as f32
    }
}
impl Logit for f64 {
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
}
impl Logit for f32 {
    #[inline(always)]
    fn widen(self) -> f64 {
        self as f64
    }
}

struct RowJob<'a, T> {
    a: &'a [T],
    b: &'a [T],
    which: LogitDivergence,
    scale: f64,
    allow_neg_inf: bool,
    /// Also find the top tokens (see [`TopTokens`]).
    top: bool,
}

/// What the passes over a row leave: the divergence, the sums S_a, S_b of the exponents,
/// and how a logit y of b maps to its exponent, (h y - hmb) inv_h.
struct RowSums {
    value: f64,
    sa: f64,
    sb: f64,
    h: f64,
    inv_h: f64,
    hmb: f64,
}

/// The divergence of a row pair, and its top tokens where asked.
struct RowOut {
    value: f64,
    top: Option<TopTokens>,
}

/// Why a row has no divergence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowError {
    /// A logit is NaN or +inf (or -inf where that is not allowed).
    NonFinite,
    /// Every logit of the first (`true`) or second row is -inf: no probability at all.
    NoMass(bool),
    /// A logit times `scale` is beyond float64's range.
    ScaleOverflow,
}

/// Below -UNDERFLOW the shared `exp` clamps to ~2e-308 instead of underflowing.
const UNDERFLOW: f64 = 708.0;

/// e^x, with `ZERO` exactly 0 below the normal range (the shared `exp` clamps there to
/// ~2e-308, which a difference of logits of 1e308 would turn into a term of order 1).
#[inline(always)]
pub(super) fn exp_or_zero<const FMA: bool, const ZERO: bool>(x: f64) -> f64 {
    let e = exp::<FMA>(x);
    if ZERO && x < -UNDERFLOW {
        0.0
    } else {
        e
    }
}

/// Largest and smallest finite value of a row, and whether it holds NaN, +inf or -inf.
fn finite_extremes<T: Logit>(row: &[T]) -> (f64, f64, bool, bool) {
    let (mut hi, mut lo, mut bad, mut neg_inf) = (f64::NEG_INFINITY, f64::INFINITY, false, false);
    for v in row {
        let v = v.widen();
        if v.is_finite() {
            hi = hi.max(v);
            lo = lo.min(v);
        } else if v == f64::NEG_INFINITY {
            neg_inf = true;
        } else {
            bad = true;
        }
    }
    (hi, lo, bad, neg_inf)
}

impl<T: Logit> IsaJob for RowJob<'_, T> {
    type Output = std::result::Result<RowOut, RowError>;

    #[inline(always)]
    fn run<const FMA: bool>(self) -> Self::Output {
        let RowJob {
            a,
            b,
            which,
            scale,
            allow_neg_inf,
            top,
        } = self;

        // Fixed-size lane arrays from chunks_exact: no bounds checks, so each pass
        // vectorises.
        let (ca, cb) = (a.chunks_exact(W), b.chunks_exact(W));
        let (ra, rb) = (ca.remainder(), cb.remainder());

        // Pass 1: maxima, minima and whether a logit is NaN.
        let (mut ma, mut mb) = ([f64::NEG_INFINITY; W], [f64::NEG_INFINITY; W]);
        let (mut la, mut lb) = ([f64::INFINITY; W], [f64::INFINITY; W]);
        let mut nan = [false; W];
        for (xa, xb) in ca.clone().zip(cb.clone()) {
            let (xa, xb): (&[T; W], &[T; W]) = (xa.try_into().unwrap(), xb.try_into().unwrap());
            for j in 0..W {
                let (x, y) = (xa[j].widen(), xb[j].widen());
                nan[j] |= x.is_nan() | y.is_nan();
                ma[j] = if x > ma[j] { x } else { ma[j] };
                mb[j] = if y > mb[j] { y } else { mb[j] };
                la[j] = if x < la[j] { x } else { la[j] };
                lb[j] = if y < lb[j] { y } else { lb[j] };
            }
        }
        for (x, y) in ra.iter().zip(rb) {
            let (x, y) = (x.widen(), y.widen());
            nan[0] |= x.is_nan() | y.is_nan();
            ma[0] = ma[0].max(x);
            mb[0] = mb[0].max(y);
            la[0] = la[0].min(x);
            lb[0] = lb[0].min(y);
        }
        let max = |v: [f64; W]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = |v: [f64; W]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let (ma, mb, la, lb) = (max(ma), max(mb), min(la), min(lb));
        // The extremes scaled (scale > 0 keeps their order).
        let (sma, smb, sla, slb) = (ma * scale, mb * scale, la * scale, lb * scale);
        let limit = f64::MAX / 4.0;
        if nan.iter().any(|&n| n)
            || !(sla >= -limit && slb >= -limit && sma <= limit && smb <= limit)
        {
            // The rare rows: -inf (banned tokens), NaN, +inf, or logits beyond
            // f64::MAX / 4 once scaled. One more pass finds which.
            let (ma, la, bad_a, inf_a) = finite_extremes(a);
            let (mb, lb, bad_b, inf_b) = finite_extremes(b);
            if bad_a || bad_b || ((inf_a || inf_b) && !allow_neg_inf) {
                return Err(RowError::NonFinite);
            }
            if ma == f64::NEG_INFINITY || mb == f64::NEG_INFINITY {
                return Err(RowError::NoMass(ma == f64::NEG_INFINITY));
            }
            // In half units every scaled logit must be within f64::MAX / 2, so that no
            // difference of two overflows (the extremes are finite: a product overflows to
            // inf, never NaN).
            let half_scale = 0.5 * scale;
            let extremes = [ma, la, mb, lb];
            if extremes
                .iter()
                .any(|v| (v * half_scale).abs() > f64::MAX / 2.0)
            {
                return Err(RowError::ScaleOverflow);
            }
            let half = !extremes.iter().all(|v| (v * scale).abs() <= limit);
            let neg_inf = inf_a || inf_b;
            // Finite logits beyond f64::MAX / 4 in magnitude: half units (h = 1/2,
            // exact), so that no difference of two logits overflows.
            let sums = match (half, neg_inf) {
                (true, true) => sums_and_divergence::<T, FMA, true, true, true, false>(
                    a, b, which, scale, ma, mb,
                ),
                (true, false) => sums_and_divergence::<T, FMA, true, true, false, false>(
                    a, b, which, scale, ma, mb,
                ),
                (false, true) => sums_and_divergence::<T, FMA, false, true, true, false>(
                    a, b, which, scale, ma, mb,
                ),
                (false, false) => sums_and_divergence::<T, FMA, false, true, false, false>(
                    a, b, which, scale, ma, mb,
                ),
            };
            return Ok(finish(a, b, top, sums, ma, mb));
        }
        // Rows whose exponents all stay above exp's normal range (real logits: a range
        // of tens) need no select for underflowed tokens.
        // A temperature of 1 (the common case) multiplies by nothing.
        let unit = scale == 1.0;
        let sums = match (sma - sla < UNDERFLOW && smb - slb < UNDERFLOW, unit) {
            (true, true) => {
                sums_and_divergence::<T, FMA, false, false, false, true>(a, b, which, scale, ma, mb)
            }
            (true, false) => sums_and_divergence::<T, FMA, false, false, false, false>(
                a, b, which, scale, ma, mb,
            ),
            (false, true) => {
                sums_and_divergence::<T, FMA, false, true, false, true>(a, b, which, scale, ma, mb)
            }
            (false, false) => {
                sums_and_divergence::<T, FMA, false, true, false, false>(a, b, which, scale, ma, mb)
            }
        };
        Ok(finish(a, b, top, sums, ma, mb))
    }
}

/// Passes 2 and 3 of a row with (finite, unscaled) maxima `ma`, `mb`: every logit times
/// `scale`, and in half units with `HALF` (times h = 1/2 as well; the exponents
/// 2 (x h - M h), -inf, weight 0, where that overflows). Either way no difference of two
/// finite (scaled) logits overflows, so a zero weight times a difference is 0. `ZERO`
/// (implied by `HALF`) where an exponent may fall below exp's normal range; `NEG_INF`
/// (with `ZERO`) where a logit is -inf, whose weight 0 times its infinite difference is
/// taken as 0 by a select. `UNIT` where `scale` is 1 and not applied (not `HALF`).
#[inline(always)]
fn sums_and_divergence<
    T: Logit,
    const FMA: bool,
    const HALF: bool,
    const ZERO: bool,
    const NEG_INF: bool,
    const UNIT: bool,
>(
    a: &[T],
    b: &[T],
    which: LogitDivergence,
    scale: f64,
    ma: f64,
    mb: f64,
) -> RowSums {
    let (h, inv_h) = if HALF {
        (0.5 * scale, 2.0)
    } else if UNIT {
        (1.0, 1.0)
    } else {
        (scale, 1.0)
    };
    let (hma, hmb) = (h * ma, h * mb);
    let (ca, cb) = (a.chunks_exact(W), b.chunks_exact(W));
    let (ra, rb) = (ca.remainder(), cb.remainder());

    // Pass 2: S_a, S_b, T_a = sum e_a (a - b) h, T_b = sum e_b (b - a) h.
    let (mut sa, mut sb, mut ta, mut tb) = ([0.0; W], [0.0; W], [0.0; W], [0.0; W]);
    for (xa, xb) in ca.clone().zip(cb.clone()) {
        let (xa, xb): (&[T; W], &[T; W]) = (xa.try_into().unwrap(), xb.try_into().unwrap());
        for j in 0..W {
            let (x, y) = (h * xa[j].widen(), h * xb[j].widen());
            let ea = exp_or_zero::<FMA, ZERO>((x - hma) * inv_h);
            let eb = exp_or_zero::<FMA, ZERO>((y - hmb) * inv_h);
            sa[j] += ea;
            sb[j] += eb;
            ta[j] = weighted::<FMA, NEG_INF>(ea, x - y, ta[j]);
            tb[j] = weighted::<FMA, NEG_INF>(eb, y - x, tb[j]);
        }
    }
    for (x, y) in ra.iter().zip(rb) {
        let (x, y) = (h * x.widen(), h * y.widen());
        let ea = exp_or_zero::<FMA, ZERO>((x - hma) * inv_h);
        let eb = exp_or_zero::<FMA, ZERO>((y - hmb) * inv_h);
        sa[0] += ea;
        sb[0] += eb;
        ta[0] = weighted::<FMA, NEG_INF>(ea, x - y, ta[0]);
        tb[0] = weighted::<FMA, NEG_INF>(eb, y - x, tb[0]);
    }
    let (sa, sb) = (neumaier_sum(sa), neumaier_sum(sb));
    let (lsa, lsb) = (sa.ln(), sb.ln());
    // E_p[a - b] - (M_a - M_b) = E_p[(a - M_a) - (b - M_b)] >= -ln V: its two terms
    // overflow (in half units) only where the divergence itself is beyond float64.
    let sums = |value| RowSums {
        value,
        sa,
        sb,
        h,
        inv_h,
        hmb,
    };
    match which {
        LogitDivergence::Kl => sums((lane_sum(ta) / sa - (hma - hmb)) * inv_h - lsa + lsb),
        LogitDivergence::ReverseKl => sums((lane_sum(tb) / sb - (hmb - hma)) * inv_h - lsb + lsa),
        _ => {
            let scale = RowScale {
                h,
                inv_h,
                hma,
                hmb,
                sa,
                sb,
            };
            sums(row_terms::divergence::<T, FMA, ZERO>(a, b, which, &scale))
        }
    }
}

/// The row's result, with its top tokens where `top`: the first index of each row's
/// maximum (`ma`, `mb`, unscaled), p's probability there, exp(0) / S_a = 1 / S_a, and q's
/// probability of that token (0 where q bans it: exp(-inf) = 0).
#[inline(always)]
fn finish<T: Logit>(a: &[T], b: &[T], top: bool, s: RowSums, ma: f64, mb: f64) -> RowOut {
    if !top {
        return RowOut {
            value: s.value,
            top: None,
        };
    }
    let (p_index, q_index) = (first_index_of(a, ma), first_index_of(b, mb));
    let exponent = (s.h * b[p_index].widen() - s.hmb) * s.inv_h;
    RowOut {
        value: s.value,
        top: Some(TopTokens {
            p_index,
            q_index,
            p_top: 1.0 / s.sa,
            q_at_p_top: exponent.exp() / s.sb,
        }),
    }
}

/// acc + w d, with a weight 0 contributing 0 under `NEG_INF` even where d is infinite or
/// NaN (a difference with a -inf logit); a positive weight times +inf is +inf.
#[inline(always)]
fn weighted<const FMA: bool, const NEG_INF: bool>(w: f64, d: f64, acc: f64) -> f64 {
    let t = fma::<FMA>(w, d, acc);
    if NEG_INF && w == 0.0 {
        acc
    } else {
        t
    }
}

/// The divergence for every row of `a` and `b` (both (B, V), rows of length V >= 1), of
/// the softmaxes of the logits times `scale` (> 0, finite: the inverse of a temperature).
/// `allow_neg_inf`: -inf logits are banned tokens (probability 0); else an error, as NaN
/// and +inf always are, naming the first row that holds one.
pub fn rowwise_from_logits<T: Logit>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    which: LogitDivergence,
    scale: f64,
    allow_neg_inf: bool,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let out = rows(a, b, which, scale, allow_neg_inf, false, ctl)?;
    Ok(out.into_iter().map(|r| r.value).collect())
}

/// KL(p || q) of every row as [`rowwise_from_logits`] computes it, with the rows' top
/// tokens ([`TopTokens`]), from the same passes: what a report of a quantised model
/// against its original needs (top-1 agreement, the change in the top token's
/// probability).
pub fn rowwise_kl_and_top_tokens<T: Logit>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    scale: f64,
    allow_neg_inf: bool,
    ctl: &Control,
) -> Result<Vec<(f64, TopTokens)>> {
    let out = rows(a, b, LogitDivergence::Kl, scale, allow_neg_inf, true, ctl)?;
    Ok(out
        .into_iter()
        .map(|r| (r.value, r.top.expect("asked for the top tokens")))
        .collect())
}

/// The rows of [`rowwise_from_logits`], with their top tokens where `top`.
fn rows<T: Logit>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    which: LogitDivergence,
    scale: f64,
    allow_neg_inf: bool,
    top: bool,
    ctl: &Control,
) -> Result<Vec<RowOut>> {
    if !(scale > 0.0 && scale.is_finite()) {
        return invalid(format!("scale must be positive and finite, got {scale}"));
    }
    let which = match which {
        LogitDivergence::GeneralizedJs { beta } if !(beta > 0.0 && beta < 1.0) => {
            return invalid(format!("beta must be in (0, 1), got {beta}"));
        }
        LogitDivergence::Renyi { alpha } if alpha.is_nan() || alpha < 0.0 => {
            return invalid(format!("alpha must be >= 0 (or inf), got {alpha}"));
        }
        LogitDivergence::Renyi { alpha: 1.0 } => LogitDivergence::Kl,
        other => other,
    };
    if a.dim() != b.dim() {
        return invalid(format!(
            "logits have shapes {:?} and {:?}; they must match",
            a.dim(),
            b.dim()
        ));
    }
    if a.ncols() == 0 {
        return invalid("logits have an empty class axis");
    }
    let out: Vec<std::result::Result<RowOut, RowError>> = (0..a.nrows())
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(sa, sb): &mut (Vec<f32>, Vec<f32>), r| {
                if ctl.is_cancelled() {
                    return Ok(RowOut {
                        value: 0.0,
                        top: None,
                    });
                }
                let (ra, rb) = (a.row(r), b.row(r));
                if T::STAGE {
                    stage(ra, sa);
                    stage(rb, sb);
                    let job = RowJob {
                        a: &sa[..],
                        b: &sb[..],
                        which,
                        scale,
                        allow_neg_inf,
                        top,
                    };
                    return dispatch(Isa::current(), job);
                }
                let job = |x, y| RowJob {
                    a: x,
                    b: y,
                    which,
                    scale,
                    allow_neg_inf,
                    top,
                };
                match (ra.as_slice(), rb.as_slice()) {
                    (Some(x), Some(y)) => dispatch(Isa::current(), job(x, y)),
                    _ => {
                        let (x, y) = (ra.to_vec(), rb.to_vec());
                        dispatch(Isa::current(), job(&x, &y))
                    }
                }
            },
        )
        .collect();
    ctl.check()?;
    out.into_iter()
        .enumerate()
        .map(|(r, v)| {
            v.or_else(|e| match e {
                RowError::NonFinite if allow_neg_inf => {
                    invalid(format!("logits contain NaN or +inf (row {r})"))
                }
                RowError::NonFinite => invalid(format!("logits contain NaN or infinity (row {r})")),
                RowError::NoMass(first) => invalid(format!(
                    "every logit of row {r} of the {} logits is -inf: the row has no probability",
                    if first { "first" } else { "second" }
                )),
                RowError::ScaleOverflow => invalid(format!(
                    "the logits of row {r} times the scale {scale} are beyond float64's range"
                )),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    fn log_softmax(v: &[f64]) -> Vec<f64> {
        let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let l = v.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
        v.iter().map(|x| x - m - l).collect()
    }

    fn naive(a: &[f64], b: &[f64], which: LogitDivergence) -> f64 {
        let (la, lb) = (log_softmax(a), log_softmax(b));
        let kl = |l1: &[f64], l2: &[f64]| {
            l1.iter()
                .zip(l2)
                .map(|(x, y)| x.exp() * (x - y))
                .sum::<f64>()
        };
        let gjs = |beta: f64| {
            let lm: Vec<f64> = la
                .iter()
                .zip(&lb)
                .map(|(x, y)| (beta * x.exp() + (1.0 - beta) * y.exp()).ln())
                .collect();
            beta * kl(&la, &lm) + (1.0 - beta) * kl(&lb, &lm)
        };
        let pairs = la.iter().zip(&lb);
        match which {
            LogitDivergence::Kl => kl(&la, &lb),
            LogitDivergence::ReverseKl => kl(&lb, &la),
            LogitDivergence::Js => gjs(0.5),
            LogitDivergence::GeneralizedJs { beta } => gjs(beta),
            LogitDivergence::Tv => 0.5 * pairs.map(|(x, y)| (x.exp() - y.exp()).abs()).sum::<f64>(),
            LogitDivergence::Hellinger => {
                let s: f64 = pairs
                    .map(|(x, y)| ((0.5 * x).exp() - (0.5 * y).exp()).powi(2))
                    .sum();
                (0.5 * s).sqrt()
            }
            LogitDivergence::CrossEntropy => -pairs.map(|(x, y)| x.exp() * y).sum::<f64>(),
            LogitDivergence::Renyi { alpha } if alpha.is_infinite() => {
                pairs.map(|(x, y)| x - y).fold(f64::NEG_INFINITY, f64::max)
            }
            LogitDivergence::Renyi { alpha } => {
                let s: f64 = pairs
                    .map(|(x, y)| (alpha * x + (1.0 - alpha) * y).exp())
                    .sum();
                s.ln() / (alpha - 1.0)
            }
        }
    }

    /// Every divergence, with orders and weights on both sides of their special values.
    const ALL: [LogitDivergence; 12] = [
        LogitDivergence::Kl,
        LogitDivergence::ReverseKl,
        LogitDivergence::Js,
        LogitDivergence::GeneralizedJs { beta: 0.1 },
        LogitDivergence::GeneralizedJs { beta: 0.9 },
        LogitDivergence::Tv,
        LogitDivergence::Hellinger,
        LogitDivergence::CrossEntropy,
        LogitDivergence::Renyi { alpha: 0.0 },
        LogitDivergence::Renyi { alpha: 0.5 },
        LogitDivergence::Renyi { alpha: 3.0 },
        LogitDivergence::Renyi {
            alpha: f64::INFINITY,
        },
    ];

    #[test]
    fn top_tokens_match_naive() {
        // Lengths around the lane width, ties (the first index wins), a banned top token
        // of p under q, a large scale, and float32.
        for (v, seed) in [(1, 1), (15, 2), (16, 3), (33, 4), (300, 5)] {
            let a = random_points(3, v, seed);
            let mut b = random_points(3, v, seed + 100);
            let mut a = a.mapv(|x| (3.0 * x).round() / 3.0);
            if v > 2 {
                a[[0, 1]] = 9.0;
                a[[0, v - 1]] = 9.0;
                b[[1, 0]] = f64::NEG_INFINITY;
                a[[1, 0]] = 50.0;
            }
            for scale in [1.0, 0.37, 1e3] {
                let ctl = Control::new();
                let got = rowwise_kl_and_top_tokens(a.view(), b.view(), scale, true, &ctl).unwrap();
                let kl =
                    rowwise_from_logits(a.view(), b.view(), LogitDivergence::Kl, scale, true, &ctl)
                        .unwrap();
                for r in 0..3 {
                    let (x, y): (Vec<f64>, Vec<f64>) = (
                        a.row(r).iter().map(|t| t * scale).collect(),
                        b.row(r).iter().map(|t| t * scale).collect(),
                    );
                    let (lp, lq) = (log_softmax(&x), log_softmax(&y));
                    let argmax = |l: &[f64]| {
                        let m = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        l.iter().position(|&t| t == m).unwrap()
                    };
                    let (value, top) = got[r];
                    assert_eq!(value.to_bits(), kl[r].to_bits());
                    assert_eq!(top.p_index, argmax(&a.row(r).to_vec()), "v {v} row {r}");
                    assert_eq!(top.q_index, argmax(&b.row(r).to_vec()));
                    let close = |g: f64, w: f64| (g - w).abs() <= 1e-13 * w.abs().max(1e-300);
                    assert!(
                        close(top.p_top, lp[top.p_index].exp()),
                        "{} {}",
                        top.p_top,
                        lp[top.p_index].exp()
                    );
                    assert!(close(top.q_at_p_top, lq[top.p_index].exp()));
                }
            }
            let a32 = a.mapv(|x| x as f32);
            let b32 = b.mapv(|x| x as f32);
            let ctl = Control::new();
            let got = rowwise_kl_and_top_tokens(a32.view(), b32.view(), 1.0, true, &ctl).unwrap();
            assert_eq!(got[0].1.p_index, if v > 2 { 1 } else { 0 });
            if v > 2 {
                assert_eq!(got[1].1.p_index, 0);
                assert_eq!(got[1].1.q_at_p_top, 0.0);
            }
        }
    }

    #[test]
    fn matches_naive_for_every_divergence_and_length() {
        let ctl = Control::new();
        for v in [1, 5, 16, 37, 1000] {
            let a = random_points(7, v, 1) * 3.0;
            let b = random_points(7, v, 2) * 3.0;
            for which in ALL {
                let got = rowwise_from_logits(a.view(), b.view(), which, 1.0, false, &ctl).unwrap();
                for (r, g) in got.iter().enumerate() {
                    let want = naive(
                        a.row(r).as_slice().unwrap(),
                        b.row(r).as_slice().unwrap(),
                        which,
                    );
                    assert!(
                        (g - want).abs() < 1e-13 * want.abs().max(1.0),
                        "{which:?} V={v}: {g} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn extreme_logits_float32_and_errors() {
        let ctl = Control::new();
        let a = ndarray::array![[1e4f64, -1e4, 0.0], [3.0, 3.0, 3.0]];
        let b = ndarray::array![[-1e4f64, 1e4, 0.0], [3.0, 3.0, 3.0]];
        let kl =
            rowwise_from_logits(a.view(), b.view(), LogitDivergence::Kl, 1.0, false, &ctl).unwrap();
        assert!((kl[0] - 2e4).abs() < 1e-9 && kl[1] == 0.0, "{kl:?}");
        let js =
            rowwise_from_logits(a.view(), b.view(), LogitDivergence::Js, 1.0, false, &ctl).unwrap();
        assert!(
            (js[0] - std::f64::consts::LN_2).abs() < 1e-15 && js[1].abs() < 1e-16,
            "{js:?}"
        );
        let a32 = a.mapv(|v| v as f32);
        let b32 = b.mapv(|v| v as f32);
        assert_eq!(
            rowwise_from_logits(
                a32.view(),
                b32.view(),
                LogitDivergence::Kl,
                1.0,
                false,
                &ctl
            )
            .unwrap(),
            kl
        );
        let mut bad = a.clone();
        bad[[1, 2]] = f64::NAN;
        let err = rowwise_from_logits(bad.view(), b.view(), LogitDivergence::Kl, 1.0, false, &ctl)
            .unwrap_err();
        assert!(err.to_string().contains("row 1"));
        assert!(rowwise_from_logits(
            a.view(),
            b.slice(ndarray::s![..1, ..]),
            LogitDivergence::Kl,
            1.0,
            false,
            &ctl
        )
        .is_err());
    }

    #[test]
    fn logits_whose_differences_overflow() {
        let ctl = Control::new();
        let run = |a: ndarray::Array2<f64>, b: ndarray::Array2<f64>, which| {
            rowwise_from_logits(a.view(), b.view(), which, 1.0, false, &ctl).unwrap()[0]
        };
        let big = 1.7e308;
        // p = (1, 0), q = (0, 1): JS = ln 2; KL = 3.4e308 is beyond float64.
        let (a, b) = (ndarray::array![[big, -big]], ndarray::array![[-big, big]]);
        let js = run(a.clone(), b.clone(), LogitDivergence::Js);
        assert!((js - std::f64::consts::LN_2).abs() < 1e-15, "{js}");
        assert_eq!(run(a, b, LogitDivergence::Kl), f64::INFINITY);
        // A token of mass exactly 0 under p whose logit under q is -1.7e308: KL(q || p)
        // = ln(1 + e^-700), not a term of order 1 from the clamped exponential.
        let (a, b) = (ndarray::array![[0.0, -700.0]], ndarray::array![[0.0, -big]]);
        let rev = run(b.clone(), a.clone(), LogitDivergence::Kl);
        assert!(rev.abs() < 1e-300, "{rev}");
        // Mass e^-700 under p where q's log-probability is -1.7e308: KL = 1.7e308 e^-700.
        let want = (-700.0f64).exp() / (1.0 + (-700.0f64).exp()) * big;
        let kl = run(a, b, LogitDivergence::Kl);
        assert!((kl - want).abs() < 1e-12 * want, "{kl} vs {want}");
        // The same below f64::MAX / 4, where the row is in plain units: a logit of
        // -1e300 under p leaves its token out, not 2e-308 x 1e300 = 2e-8.
        let (a, b) = (
            ndarray::array![[0.0, -700.0]],
            ndarray::array![[0.0, -1e300]],
        );
        let rev = run(b, a, LogitDivergence::Kl);
        assert!(rev.abs() < 1e-300, "{rev}");
        // Exponents below exp's range next to ordinary ones, every divergence.
        let (a, b) = (
            ndarray::array![[0.0, -800.0, 3.0, -2000.0]],
            ndarray::array![[1.0, 2.0, -750.0, 0.5]],
        );
        for which in [
            LogitDivergence::Kl,
            LogitDivergence::ReverseKl,
            LogitDivergence::Js,
        ] {
            let want = naive(
                a.row(0).as_slice().unwrap(),
                b.row(0).as_slice().unwrap(),
                which,
            );
            let got = run(a.clone(), b.clone(), which);
            assert!(
                (got - want).abs() < 1e-12 * want.abs(),
                "{which:?}: {got} vs {want}"
            );
        }
        // Half units give the same KL as the plain path where both apply.
        let (a, b) = (
            ndarray::array![[5.0e307, 1.0, -5.0e307]],
            ndarray::array![[1.0, 5.0e307, 2.0]],
        );
        let kl = run(a.clone(), b.clone(), LogitDivergence::Kl);
        let (a2, b2) = (a * 0.125, b * 0.125);
        let kl2 = run(a2, b2, LogitDivergence::Kl);
        assert!((kl - 8.0 * kl2).abs() < 1e-14 * kl, "{kl} vs {}", 8.0 * kl2);
    }

    #[test]
    fn banned_tokens_and_scale() {
        let ctl = Control::new();
        let ninf = f64::NEG_INFINITY;
        // A token banned under both rows is the same as no token at all.
        let a = ndarray::array![[0.5, ninf, 2.0, -1.0]];
        let b = ndarray::array![[1.0, ninf, -0.5, 0.0]];
        let (a3, b3) = (
            ndarray::array![[0.5, 2.0, -1.0]],
            ndarray::array![[1.0, -0.5, 0.0]],
        );
        for which in ALL {
            let got = rowwise_from_logits(a.view(), b.view(), which, 1.0, true, &ctl).unwrap()[0];
            let want = naive(
                a3.row(0).as_slice().unwrap(),
                b3.row(0).as_slice().unwrap(),
                which,
            );
            assert!(
                (got - want).abs() < 1e-14 * want.abs().max(1.0),
                "{which:?}: {got} vs {want}"
            );
            // Not allowed: an error naming the row.
            assert!(rowwise_from_logits(a.view(), b.view(), which, 1.0, false, &ctl).is_err());
        }
        // A token of positive probability under p that q bans: KL(p || q) = inf, while
        // KL(q || p) and JS stay finite (JS of p = (1/2, 1/2), q = (1, 0) is known).
        let a = ndarray::array![[0.0, 0.0]];
        let b = ndarray::array![[0.0, ninf]];
        let run =
            |which| rowwise_from_logits(a.view(), b.view(), which, 1.0, true, &ctl).unwrap()[0];
        assert_eq!(run(LogitDivergence::Kl), f64::INFINITY);
        assert!((run(LogitDivergence::ReverseKl) - std::f64::consts::LN_2).abs() < 1e-15);
        // JS = (KL(p || m) + KL(q || m)) / 2 with m = (3/4, 1/4): (3/4) ln(4/3).
        let js = 0.75 * (4.0f64 / 3.0).ln();
        assert!(
            (run(LogitDivergence::Js) - js).abs() < 1e-15,
            "{}",
            run(LogitDivergence::Js)
        );
        // The others at p = (1/2, 1/2), q = (1, 0): TV 1/2, Hellinger^2 = 1 - 1/sqrt 2,
        // cross-entropy inf, Renyi ln 2 at alpha = 1/2 (-2 ln sum sqrt(p q)), 0 at
        // alpha = 0 (q(supp p) = 1) and inf for alpha > 1.
        let hellinger = (1.0 - 0.5f64.sqrt()).sqrt();
        for (which, want) in [
            (LogitDivergence::Tv, 0.5),
            (LogitDivergence::Hellinger, hellinger),
            (
                LogitDivergence::Renyi { alpha: 0.5 },
                std::f64::consts::LN_2,
            ),
            (LogitDivergence::Renyi { alpha: 0.0 }, 0.0),
        ] {
            let got = run(which);
            assert!((got - want).abs() < 1e-15, "{which:?}: {got} vs {want}");
        }
        for which in [
            LogitDivergence::CrossEntropy,
            LogitDivergence::Renyi { alpha: 3.0 },
            LogitDivergence::Renyi {
                alpha: f64::INFINITY,
            },
        ] {
            assert_eq!(run(which), f64::INFINITY, "{which:?}");
        }
        // Exchanged, p = (1, 0) bans what q = (1/2, 1/2) does not: H(p, q) = ln 2, and
        // -ln q(supp p) = ln 2 is Renyi's alpha = 0 and every finite order's value.
        let back =
            |which| rowwise_from_logits(b.view(), a.view(), which, 1.0, true, &ctl).unwrap()[0];
        for alpha in [0.0, 0.5, 3.0] {
            let got = back(LogitDivergence::Renyi { alpha });
            assert!(
                (got - std::f64::consts::LN_2).abs() < 1e-15,
                "{alpha}: {got}"
            );
        }
        assert!((back(LogitDivergence::CrossEntropy) - std::f64::consts::LN_2).abs() < 1e-15);
        // Every logit -inf: an error naming the row and the argument.
        let z = ndarray::array![[0.0, 1.0], [ninf, ninf]];
        let err = rowwise_from_logits(z.view(), z.view(), LogitDivergence::Kl, 1.0, true, &ctl)
            .unwrap_err();
        assert!(err.to_string().contains("row 1 of the first"), "{err}");
        // scale multiplies every logit: the same as scaled input, on each path.
        let a = random_points(5, 40, 3) * 3.0;
        let b = random_points(5, 40, 4) * 3.0;
        for which in ALL {
            for scale in [0.25, 1.0, 3.0] {
                let got =
                    rowwise_from_logits(a.view(), b.view(), which, scale, false, &ctl).unwrap();
                let (sa, sb) = (&a * scale, &b * scale);
                let want =
                    rowwise_from_logits(sa.view(), sb.view(), which, 1.0, false, &ctl).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() < 1e-13 * w.abs().max(1e-300),
                        "{which:?} {scale}: {g} vs {w}"
                    );
                }
            }
        }
        // A scale that takes finite logits beyond float64: an error, not inf or NaN.
        let big = ndarray::array![[1e300, 0.0]];
        assert!(rowwise_from_logits(
            big.view(),
            big.view(),
            LogitDivergence::Kl,
            1e10,
            false,
            &ctl
        )
        .is_err());
        // Logits in half units once scaled give the plain answer times the scale.
        let h = ndarray::array![[1e300, 0.0, -2e300]];
        let g = ndarray::array![[0.0, 1e300, 5.0]];
        let kl = rowwise_from_logits(h.view(), g.view(), LogitDivergence::Kl, 1000.0, false, &ctl)
            .unwrap()[0];
        let kl1 = rowwise_from_logits(h.view(), g.view(), LogitDivergence::Kl, 1.0, false, &ctl)
            .unwrap()[0];
        assert!(
            (kl - 1000.0 * kl1).abs() < 1e-13 * kl,
            "{kl} vs {}",
            1000.0 * kl1
        );
    }
}
