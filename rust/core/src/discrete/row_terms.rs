//! The pass over a row pair that follows its log-sum-exps, for every divergence but the
//! two KLs (which `logits` finishes from the sums alone).
//!
//! With S_a, S_b known, each divergence is a sum over tokens of a term of the two
//! log-probabilities up to their normalisers: x = ln p + ln S_a and y = ln q + ln S_b,
//! the scaled logits less their maxima (<= 0, -inf for a banned token). The terms are
//! read here in the row's units h (x = xh / h, see `logits`), in which no difference of
//! two logits overflows:
//!
//! * generalised JS(beta): beta p ln(p / m) + (1 - beta) q ln(q / m), m = beta p +
//!   (1 - beta) q, as p ln w with w = p / m, accurate when p is close to q (no
//!   difference of entropies); beta = 1/2 is JS;
//! * TV: |p - q| / 2; Hellinger: sqrt(sum (sqrt p - sqrt q)^2 / 2);
//! * cross-entropy: -sum p ln q = sum p (-y) + ln S_b (-y >= 0: no cancellation);
//! * Renyi of order alpha: ln sum_{p > 0} exp(alpha x + (1 - alpha) y) less
//!   alpha ln S_a + (1 - alpha) ln S_b, over alpha - 1, with its own maximum taken first
//!   (for alpha > 1 the exponent is not bounded by 0); alpha = inf is
//!   max_{p > 0} (x - y) - ln S_a + ln S_b, and alpha = 0 the formula's limit,
//!   -ln q(supp p).

use crate::arith::ln::ln;
use crate::arith::sum::neumaier_sum;

use super::logits::{exp_or_zero, Logit, LogitDivergence, W};

/// A row pair's maxima and sums: the logits' maxima in row units (`hma`, `hmb`), the
/// conversion of row units to exponents (`inv_h`), and S_a, S_b.
pub(super) struct RowScale {
    pub h: f64,
    pub inv_h: f64,
    pub hma: f64,
    pub hmb: f64,
    pub sa: f64,
    pub sb: f64,
}

/// The compensated sum of the lanes, or +inf where a lane is (a token that q bans and
/// p does not), which the compensation would turn into inf - inf = NaN.
#[inline(always)]
pub(super) fn lane_sum(v: [f64; W]) -> f64 {
    if v.contains(&f64::INFINITY) {
        f64::INFINITY
    } else {
        neumaier_sum(v)
    }
}

/// A fold over a row pair's tokens, each given as (x h, y h): the logits in row units
/// less their maxima. A trait with `#[inline(always)]` methods rather than a closure, so
/// that its body is always compiled inside the caller's SIMD dispatch (a closure left
/// out of line would lose its target features, and `fma` with them).
trait TokenFold: Copy {
    /// One step of a lane's accumulator.
    fn step(self, acc: f64, x: f64, y: f64) -> f64;
}

/// The lanes of `fold` over every token, each from `init`.
#[inline(always)]
fn fold_tokens<T: Logit, F: TokenFold>(
    a: &[T],
    b: &[T],
    s: &RowScale,
    init: f64,
    fold: F,
) -> [f64; W] {
    let (ca, cb) = (a.chunks_exact(W), b.chunks_exact(W));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [init; W];
    for (xa, xb) in ca.zip(cb) {
        let (xa, xb): (&[T; W], &[T; W]) = (xa.try_into().unwrap(), xb.try_into().unwrap());
        for j in 0..W {
            let (x, y) = (s.h * xa[j].widen() - s.hma, s.h * xb[j].widen() - s.hmb);
            acc[j] = fold.step(acc[j], x, y);
        }
    }
    for (x, y) in ra.iter().zip(rb) {
        acc[0] = fold.step(acc[0], s.h * x.widen() - s.hma, s.h * y.widen() - s.hmb);
    }
    acc
}

/// What a sum's tokens add, and the divergence from the sum.
#[derive(Clone, Copy)]
enum Term {
    /// beta p ln(p / m) + (1 - beta) q ln(q / m)
    Js { beta: f64 },
    /// |p - q|
    Tv,
    /// (sqrt p - sqrt q)^2
    Hellinger,
    /// p (-y): cross-entropy less ln S_b, times S_a / inv_h
    CrossEntropy,
}

/// A sum's term with the row's constants: 1 / S_a, 1 / S_b and their square roots, and
/// the conversion of row units to exponents.
#[derive(Clone, Copy)]
struct Summed<const FMA: bool, const ZERO: bool> {
    term: Term,
    isa: f64,
    isb: f64,
    inv_h: f64,
}

impl<const FMA: bool, const ZERO: bool> TokenFold for Summed<FMA, ZERO> {
    #[inline(always)]
    fn step(self, acc: f64, x: f64, y: f64) -> f64 {
        let e = |v: f64| exp_or_zero::<FMA, ZERO>(v * self.inv_h);
        acc + match self.term {
            Term::Js { beta } => js_term::<FMA>(e(x) * self.isa, e(y) * self.isb, beta),
            Term::Tv => (e(x) * self.isa - e(y) * self.isb).abs(),
            Term::Hellinger => {
                let d = e(0.5 * x) * self.isa - e(0.5 * y) * self.isb;
                d * d
            }
            Term::CrossEntropy => {
                // A token of weight 0 contributes 0, also where q bans it (-y = +inf).
                let w = e(x);
                if ZERO && w == 0.0 {
                    0.0
                } else {
                    -(w * y)
                }
            }
        }
    }
}

/// The sum over tokens of `term`.
#[inline(always)]
fn token_sum<T: Logit, const FMA: bool, const ZERO: bool>(
    a: &[T],
    b: &[T],
    s: &RowScale,
    term: Term,
) -> f64 {
    let (isa, isb) = match term {
        // The square roots of the probabilities: exp(x / 2) / sqrt(S_a).
        Term::Hellinger => ((1.0 / s.sa).sqrt(), (1.0 / s.sb).sqrt()),
        _ => (1.0 / s.sa, 1.0 / s.sb),
    };
    let fold = Summed::<FMA, ZERO> {
        term,
        isa,
        isb,
        inv_h: s.inv_h,
    };
    lane_sum(fold_tokens(a, b, s, 0.0, fold))
}

/// The divergence `which` (not a KL) of a row pair whose sums are `s`. `ZERO` where an
/// exponent may fall below exp's normal range (its weight is then exactly 0).
#[inline(always)]
pub(super) fn divergence<T: Logit, const FMA: bool, const ZERO: bool>(
    a: &[T],
    b: &[T],
    which: LogitDivergence,
    s: &RowScale,
) -> f64 {
    let sum = |term| token_sum::<T, FMA, ZERO>(a, b, s, term);
    match which {
        LogitDivergence::Kl | LogitDivergence::ReverseKl => {
            unreachable!("the KLs are finished from the sums")
        }
        LogitDivergence::Js => sum(Term::Js { beta: 0.5 }),
        LogitDivergence::GeneralizedJs { beta } => sum(Term::Js { beta }),
        LogitDivergence::Tv => 0.5 * sum(Term::Tv),
        LogitDivergence::Hellinger => (0.5 * sum(Term::Hellinger)).sqrt(),
        LogitDivergence::CrossEntropy => sum(Term::CrossEntropy) * s.inv_h / s.sa + s.sb.ln(),
        LogitDivergence::Renyi { alpha } => renyi::<T, FMA>(a, b, s, alpha),
    }
}

/// beta p ln(p / m) + (1 - beta) q ln(q / m), m = beta p + (1 - beta) q.
///
/// A ratio below the normal range (a probability ~1e-308 next to one ~1) contributes
/// 0, the 0 log 0 = 0 convention; its exact contribution is below 1e-305.
#[inline(always)]
fn js_term<const FMA: bool>(p: f64, q: f64, beta: f64) -> f64 {
    let m = beta * p + (1.0 - beta) * q;
    let (wp, wq) = (p / m, q / m);
    // Written so that 0 / 0 (both probabilities 0) also contributes 0.
    let tp = if wp >= f64::MIN_POSITIVE {
        p * ln::<FMA>(wp)
    } else {
        0.0
    };
    let tq = if wq >= f64::MIN_POSITIVE {
        q * ln::<FMA>(wq)
    } else {
        0.0
    };
    beta * tp + (1.0 - beta) * tq
}

/// The largest exponent of Renyi's sum over the tokens with p > 0 (x h = -inf is a token
/// that p bans): alpha x + (1 - alpha) y as `ca x h + cb y h`, or x - y for alpha = inf
/// (`infinite`).
#[derive(Clone, Copy)]
struct RenyiMax {
    ca: f64,
    cb: f64,
    infinite: bool,
}

impl TokenFold for RenyiMax {
    #[inline(always)]
    fn step(self, acc: f64, x: f64, y: f64) -> f64 {
        let z = if self.infinite {
            x - y
        } else {
            self.ca * x + self.cb * y
        };
        if x == f64::NEG_INFINITY {
            acc
        } else {
            acc.max(z)
        }
    }
}

/// Renyi's sum of exp(alpha x + (1 - alpha) y - top) over the tokens with p > 0.
#[derive(Clone, Copy)]
struct RenyiSum<const FMA: bool> {
    ca: f64,
    cb: f64,
    top: f64,
}

impl<const FMA: bool> TokenFold for RenyiSum<FMA> {
    #[inline(always)]
    fn step(self, acc: f64, x: f64, y: f64) -> f64 {
        let e = exp_or_zero::<FMA, true>(self.ca * x + self.cb * y - self.top);
        if x == f64::NEG_INFINITY {
            acc
        } else {
            acc + e
        }
    }
}

/// The Renyi divergence of order `alpha` (>= 0, not 1; inf is the max-divergence).
#[inline(always)]
fn renyi<T: Logit, const FMA: bool>(a: &[T], b: &[T], s: &RowScale, alpha: f64) -> f64 {
    let (lsa, lsb) = (s.sa.ln(), s.sb.ln());
    let max = |v: [f64; W]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let infinite = alpha.is_infinite();
    let (ca, cb) = if infinite {
        (1.0, -1.0)
    } else {
        (alpha * s.inv_h, (1.0 - alpha) * s.inv_h)
    };
    let top = max(fold_tokens(
        a,
        b,
        s,
        f64::NEG_INFINITY,
        RenyiMax { ca, cb, infinite },
    ));
    if infinite {
        return top * s.inv_h - lsa + lsb;
    }
    let log_sum = if top.is_finite() {
        top + neumaier_sum(fold_tokens(a, b, s, 0.0, RenyiSum::<FMA> { ca, cb, top })).ln()
    } else {
        // Every term 0 (each token of p banned by q, alpha < 1) or one +inf (alpha > 1).
        top
    };
    // + 0: a divergence of 0 is +0 (alpha < 1 divides a 0 by a negative number).
    (log_sum - alpha * lsa - (1.0 - alpha) * lsb) / (alpha - 1.0) + 0.0
}
