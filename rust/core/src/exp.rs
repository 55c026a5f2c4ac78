//! A branch-free `exp` that LLVM vectorises.
//!
//! libm's scalar `exp` is a call per element and caps a Gaussian kernel sum at roughly
//! 1e8 evaluations per second per core; this version inlines into the pair loop and runs
//! on every SIMD lane. Method: Cody-Waite reduction x = n ln2 + r with |r| <= ln2 / 2, a
//! degree-13 Taylor polynomial for e^r (truncation error < 5e-18; Estrin's scheme), and 2^n built from
//! its exponent bits. Accuracy: within 2 ulp of the correctly rounded result on
//! [-708.39, 709]; arguments below are clamped (result <= 2.3e-308, i.e. zero for every
//! sum this crate forms), arguments above are clamped to 709.

const LOG2E: f64 = std::f64::consts::LOG2_E;
// fdlibm's split of ln 2: n * LN2_HI is exact for |n| < 2^11.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
// Adding 1.5 * 2^52 rounds to the nearest integer and leaves it in the low mantissa bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;
const MIN_ARG: f64 = -708.396_418_532_264_1; // ln(2^-1022): smallest normal result
const MAX_ARG: f64 = 709.0;

// 1 / k! for k = 2..=13 (k! is exact in f64, so each quotient is correctly rounded).
const C: [f64; 12] = [
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// `a * b + c`, fused when the caller was compiled with FMA.
///
/// Without hardware FMA, `f64::mul_add` is a slow software call, so the unfused form is
/// used instead.
#[inline(always)]
pub fn fma<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// e^x, vectorisable; see the module documentation for range and accuracy.
#[inline(always)]
pub fn exp<const FMA: bool>(x: f64) -> f64 {
    // Written as selects (not f64::max) so that NaN propagates and the loop vectorises.
    let x = if x < MIN_ARG { MIN_ARG } else { x };
    let x = if x > MAX_ARG { MAX_ARG } else { x };
    let t = fma::<FMA>(x, LOG2E, SHIFT);
    let n = t - SHIFT;
    let r = fma::<FMA>(-n, LN2_HI, x);
    let r = fma::<FMA>(-n, LN2_LO, r);
    // Estrin's scheme: the same polynomial as Horner's rule with a dependency chain of 5
    // operations instead of 13, so the pair loops are not bound by FMA latency.
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let a0 = r + 1.0;
    let a1 = fma::<FMA>(C[1], r, C[0]);
    let a2 = fma::<FMA>(C[3], r, C[2]);
    let a3 = fma::<FMA>(C[5], r, C[4]);
    let a4 = fma::<FMA>(C[7], r, C[6]);
    let a5 = fma::<FMA>(C[9], r, C[8]);
    let a6 = fma::<FMA>(C[11], r, C[10]);
    let b0 = fma::<FMA>(a1, r2, a0);
    let b1 = fma::<FMA>(a3, r2, a2);
    let b2 = fma::<FMA>(a5, r2, a4);
    let c0 = fma::<FMA>(b1, r4, b0);
    let c1 = fma::<FMA>(a6, r4, b2);
    let p = fma::<FMA>(c1, r8, c0);
    // t's low mantissa bits hold n; rebuild 2^n from its biased exponent.
    let k = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let scale = f64::from_bits(((k + 1023) << 52) as u64);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulp_error(got: f64, want: f64) -> f64 {
        if got == want {
            return 0.0;
        }
        let ulp = f64::from_bits(want.to_bits() + 1) - want;
        ((got - want) / ulp).abs()
    }

    #[test]
    fn matches_libm_within_two_ulp() {
        let mut worst = 0.0f64;
        let n = 200_000;
        for i in 0..=n {
            let x = -708.0 + 1417.0 * (i as f64) / (n as f64);
            let want = x.exp();
            worst = worst.max(ulp_error(exp::<false>(x), want));
            worst = worst.max(ulp_error(exp::<true>(x), want));
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
    }

    #[test]
    fn special_values() {
        assert_eq!(exp::<false>(0.0), 1.0);
        assert!(exp::<false>(-1e300) <= 2.3e-308);
        assert!(exp::<false>(-1e300) >= 0.0);
        assert!(exp::<false>(f64::NEG_INFINITY) <= 2.3e-308);
        assert!(exp::<false>(f64::NAN).is_nan());
        assert!((exp::<false>(1.0) - std::f64::consts::E).abs() < 1e-15);
    }
}
