//! A branch-free natural logarithm that LLVM vectorises (companion of `exp`).
//!
//! x = 2^k m with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m - 1) / (m + 1),
//! |s| <= 0.1716, summed as an odd series to s^23 (truncation < 1e-19). Accuracy within
//! 2 ulp for positive normal x; ln(0) = -inf, ln(negative or NaN) = NaN, ln(inf) = inf.
//! Subnormal inputs are treated as 0 (ln = -inf); callers pass probabilities, for which
//! that is a < 1e-307 perturbation.

use crate::arith::exp::fma;

const LN2: f64 = std::f64::consts::LN_2;
const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD; // sqrt(1/2)

/// 1 / (2k + 1) for k = 1..=11.
const C: [f64; 11] = [
    1.0 / 3.0,
    1.0 / 5.0,
    1.0 / 7.0,
    1.0 / 9.0,
    1.0 / 11.0,
    1.0 / 13.0,
    1.0 / 15.0,
    1.0 / 17.0,
    1.0 / 19.0,
    1.0 / 21.0,
    1.0 / 23.0,
];

/// ln(x), vectorisable; see the module documentation for range and accuracy.
#[inline(always)]
pub fn ln<const FMA: bool>(x: f64) -> f64 {
    let bits = x.to_bits();
    // Re-bias so that the mantissa lands in [sqrt(1/2), sqrt(2)).
    let shifted = bits.wrapping_sub(SQRT_HALF_BITS);
    let k = ((shifted as i64) >> 52) as f64;
    let m = f64::from_bits(bits.wrapping_sub(shifted & (0xFFF << 52)));
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut p = C[10];
    for &c in C[..10].iter().rev() {
        p = fma::<FMA>(p, s2, c);
    }
    let r = fma::<FMA>(k, LN2, 2.0 * fma::<FMA>(s * s2, p, s));
    // Special values, as selects so the loop stays vectorised.
    let r = if x < f64::MIN_POSITIVE {
        if x >= 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::NAN
        }
    } else {
        r
    };
    let r = if x == f64::INFINITY { x } else { r };
    if x.is_nan() {
        x
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(got: f64, want: f64) -> f64 {
        if got == want {
            return 0.0;
        }
        let ulp = f64::from_bits(want.abs().to_bits() + 1) - want.abs();
        ((got - want) / ulp).abs()
    }

    #[test]
    fn matches_libm_within_two_ulp() {
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            // log-uniform over [1e-300, 1e300], plus values near 1 where ln is small.
            let x = 10f64.powf(-300.0 + 600.0 * i as f64 / 200_000.0);
            let y = 1.0 + (i as f64 - 100_000.0) * 1e-6;
            for v in [x, y] {
                worst = worst
                    .max(ulps(ln::<false>(v), v.ln()))
                    .max(ulps(ln::<true>(v), v.ln()));
            }
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
    }

    #[test]
    fn special_values() {
        assert_eq!(ln::<false>(1.0), 0.0);
        assert_eq!(ln::<false>(0.0), f64::NEG_INFINITY);
        assert!(ln::<false>(-1.0).is_nan());
        assert!(ln::<false>(f64::NAN).is_nan());
        assert_eq!(ln::<false>(f64::INFINITY), f64::INFINITY);
        assert_eq!(ln::<false>(f64::MAX), f64::MAX.ln());
    }
}
