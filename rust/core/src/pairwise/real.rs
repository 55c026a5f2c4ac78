//! The element types the pair loops compute in: f64, and f32 where the products of
//! the Gram path run at twice the SIMD width.

use std::ops::{Add, Mul, Sub};

use ndarray::{ArrayView2, CowArray, Ix2};

use super::microkernel;
use super::LANES;
use crate::arith::simd::Isa;

/// A floating-point element type of input samples.
pub trait Real:
    Copy
    + Default
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + 'static
{
    /// Unit roundoff (half the machine epsilon).
    const UNIT_ROUNDOFF: f64;
    /// The type's name as NumPy spells it, for messages.
    const NAME: &'static str;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// A 2-D view as float64: borrowed for f64, converted (a copy) for f32.
    fn as_f64(x: ArrayView2<'_, Self>) -> CowArray<'_, f64, Ix2>;
    /// a * b + c, fused where `FMA` (see `arith::exp::fma`).
    fn fma<const FMA: bool>(a: Self, b: Self, c: Self) -> Self;
    /// The Gram microkernel (see `pairwise::microkernel`) for G rows on instruction set `isa`,
    /// which the caller runs under (`dispatch`): the intrinsics where `isa` has them
    /// for this G, else the portable loop.
    fn dots<const G: usize, const FMA: bool>(
        isa: Isa,
        rows: &[Self],
        cols: &[Self],
        out: &mut [[Self; LANES]; G],
    );
}

/// `out` as the array of G' = G rows a microkernel of fixed G' writes (checked by the
/// caller's `G == G'`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rows_of<T, const G: usize, const H: usize>(out: &mut [[T; LANES]; G]) -> &mut [[T; LANES]; H] {
    assert_eq!(G, H);
    // SAFETY: G == H, so both types have the same size and layout.
    unsafe { &mut *(out as *mut [[T; LANES]; G] as *mut [[T; LANES]; H]) }
}

/// `Real` for a float type: its roundoff and name, the conversions, and the Gram
/// microkernels of `microkernel::x86` it has for AVX-512 (G = 8) and AVX2 (G = `$avx2_g`).
macro_rules! impl_real {
    ($t:ty, $name:expr, $avx512:ident, $avx2:ident, $avx2_g:expr, |$x:ident| $as_f64:expr) => {
        impl Real for $t {
            const UNIT_ROUNDOFF: f64 = <$t>::EPSILON as f64 / 2.0;
            const NAME: &'static str = $name;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn as_f64($x: ArrayView2<'_, Self>) -> CowArray<'_, f64, Ix2> {
                $as_f64
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn fma<const FMA: bool>(a: Self, b: Self, c: Self) -> Self {
                if FMA {
                    a.mul_add(b, c)
                } else {
                    a * b + c
                }
            }
            #[inline(always)]
            fn dots<const G: usize, const FMA: bool>(
                isa: Isa,
                rows: &[Self],
                cols: &[Self],
                out: &mut [[Self; LANES]; G],
            ) {
                #[cfg(target_arch = "x86_64")]
                {
                    // SAFETY: `Isa::supported` checked (one cached load) that the CPU
                    // has the features of `isa`, whoever made the value; the slices'
                    // lengths are checked inside.
                    if G == 8 && isa == Isa::Avx512 && isa.supported() {
                        return unsafe { microkernel::x86::$avx512(rows, cols, rows_of(out)) };
                    }
                    if G == $avx2_g && isa == Isa::Avx2Fma && isa.supported() {
                        return unsafe { microkernel::x86::$avx2(rows, cols, rows_of(out)) };
                    }
                }
                let _ = isa;
                microkernel::portable::<Self, G, FMA>(rows, cols, out)
            }
        }
    };
}

impl_real!(f64, "float64", avx512_f64, avx2_f64, 2, |x| CowArray::from(
    x
));
impl_real!(f32, "float32", avx512_f32, avx2_f32, 4, |x| CowArray::from(
    x.mapv(f64::from)
));
