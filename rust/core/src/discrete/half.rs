//! float16 and bfloat16 logits, read from their bits.
//!
//! NumPy holds float16 natively and bfloat16 as ml_dtypes' 2-byte dtype; neither has a
//! Rust primitive. [`F16`] and [`Bf16`] wrap the 16 bits and widen exactly to f64 as
//! the row kernel reads them, so a half-precision batch is never copied into a wider
//! array. Both conversions are branch-free (selects only), so the kernel's lane loops
//! vectorise as they do for f32.

use ndarray::{ArrayView1, ArrayView2};

use crate::arith::simd::{dispatch, Isa, IsaJob};

use super::logits::Logit;

/// An IEEE 754 binary16 value, by its bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16(pub u16);

/// A bfloat16 value (the upper 16 bits of an f32), by its bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Bf16(pub u16);

/// 2^112: binary16's exponent bias (15) moved to binary32's (127).
const REBIAS: f32 = f32::from_bits((112 + 127) << 23);

impl F16 {
    /// The exact f32 value. The exponent and mantissa bits shifted into an f32's
    /// places give 2^-112 times the value, for normal and subnormal halves alike (a
    /// subnormal half lands on a subnormal f32 with the same mantissa), so one exact
    /// multiplication by 2^112 finishes it; the all-ones exponent (inf, NaN) is selected
    /// apart, and the sign is copied last.
    #[inline(always)]
    pub fn to_f32(self) -> f32 {
        let bits = self.0 as u32;
        let em = bits & 0x7fff;
        let finite = f32::from_bits(em << 13) * REBIAS;
        let special = f32::from_bits(0x7f80_0000 | ((em & 0x03ff) << 13));
        let magnitude = if em >= 0x7c00 { special } else { finite };
        f32::from_bits(magnitude.to_bits() | ((bits & 0x8000) << 16))
    }
}

impl Bf16 {
    /// The exact f32 value: bfloat16 is an f32 with its low 16 mantissa bits dropped.
    #[inline(always)]
    pub fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
}

impl Logit for F16 {
    const STAGE: bool = true;
    #[inline(always)]
    fn widen(self) -> f64 {
        self.to_f32() as f64
    }
    #[inline(always)]
    fn narrow(self) -> f32 {
        self.to_f32()
    }
}

impl Logit for Bf16 {
    #[inline(always)]
    fn widen(self) -> f64 {
        self.to_f32() as f64
    }
}

/// A 16-bit float type whose values are any u16 bit pattern.
pub trait HalfBits: Logit + sealed::Sealed {}
impl HalfBits for F16 {}
impl HalfBits for Bf16 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::F16 {}
    impl Sealed for super::Bf16 {}
}

/// `bits` (a (B, V) view of u16, any strides) seen as half floats `H`, without a copy.
pub fn half_view<H: HalfBits>(bits: ArrayView2<'_, u16>) -> ArrayView2<'_, H> {
    // SAFETY: H is a #[repr(transparent)] wrapper of u16 (sealed: F16, Bf16), so it has
    // u16's size, alignment and validity (every bit pattern is a value); the raw view
    // keeps the shape, strides and borrow of `bits`, whose lifetime the result carries.
    unsafe { bits.raw_view().cast::<H>().deref_into_view() }
}

/// `row` widened into `buf` (resized to its length): the staging of the types whose
/// `Logit::STAGE` is set.
pub(super) fn stage<T: Logit>(row: ArrayView1<'_, T>, buf: &mut Vec<f32>) {
    buf.resize(row.len(), 0.0);
    match row.as_slice() {
        Some(src) => dispatch(Isa::current(), StageJob { src, dst: buf }),
        None => {
            for (d, s) in buf.iter_mut().zip(row.iter()) {
                *d = s.narrow();
            }
        }
    }
}

struct StageJob<'a, T> {
    src: &'a [T],
    dst: &'a mut [f32],
}

impl<T: Logit> IsaJob for StageJob<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        for (d, s) in self.dst.iter_mut().zip(self.src) {
            *d = s.narrow();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of binary16 bits from the definition (sign, biased exponent, fraction).
    fn f16_by_definition(bits: u16) -> f64 {
        let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
        let e = ((bits >> 10) & 0x1f) as i32;
        let f = (bits & 0x3ff) as f64;
        match e {
            0 => sign * f * 2f64.powi(-24),
            31 if f == 0.0 => sign * f64::INFINITY,
            31 => f64::NAN,
            _ => sign * (1.0 + f / 1024.0) * 2f64.powi(e - 15),
        }
    }

    #[test]
    fn every_f16_bit_pattern_widens_exactly() {
        for bits in 0..=u16::MAX {
            let (got, want) = (F16(bits).widen(), f16_by_definition(bits));
            if want.is_nan() {
                assert!(got.is_nan(), "{bits:#06x}");
            } else {
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{bits:#06x}: {got} vs {want}"
                );
            }
        }
        assert_eq!(F16(0x3c00).widen(), 1.0);
        assert_eq!(F16(0x7bff).widen(), 65504.0);
        assert_eq!(F16(0x0001).widen(), 2f64.powi(-24));
        assert_eq!(F16(0xfc00).widen(), f64::NEG_INFINITY);
    }

    #[test]
    fn every_bf16_bit_pattern_widens_exactly() {
        for bits in 0..=u16::MAX {
            let want = f32::from_bits((bits as u32) << 16);
            let got = Bf16(bits).widen();
            if want.is_nan() {
                assert!(got.is_nan());
            } else {
                assert_eq!(got, want as f64);
            }
        }
        assert_eq!(Bf16(0x3f80).widen(), 1.0);
        assert_eq!(Bf16(0xff80).widen(), f64::NEG_INFINITY);
    }

    #[test]
    fn half_view_keeps_shape_and_strides() {
        let bits = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| 0x3c00 + (4 * i + j) as u16);
        let t = bits.t();
        let v: ArrayView2<'_, F16> = half_view(t);
        assert_eq!(v.dim(), (4, 3));
        assert_eq!(v[[1, 2]], F16(bits[[2, 1]]));
    }
}
