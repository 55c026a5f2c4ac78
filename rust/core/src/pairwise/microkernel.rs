//! Inner products of a group of rows with one block of `LANES` points: the Gram path's
//! microkernels.
//!
//! `rows` holds G rows k-major (coordinate k of the G rows contiguous), `cols` one block
//! coordinate-major (coordinate k of the LANES points contiguous); the result is
//! `out[r][j] += sum_k rows[k G + r] cols[k LANES + j]`, accumulated in the element type
//! in the order k = 0, 1, ... (the same bits on every run and thread count). The caller
//! passes a slice of the coordinates (a k-chunk that stays in L1) and adds chunk after
//! chunk into the same `out`.
//!
//! Each step k loads the block's coordinate k once (one or two SIMD registers),
//! broadcasts the G row values and issues G x LANES / width fused multiply-adds into
//! accumulators that stay in registers for the whole k-chunk. Written with the AVX-512 and
//! AVX2 intrinsics, because the portable form (an array of accumulators) is kept in
//! memory by LLVM, with a store per step; the portable form is the baseline path.

use super::real::Real;
use super::LANES;

/// The portable microkernel (any element type, any G).
#[inline(always)]
pub fn portable<T: Real, const G: usize, const FMA: bool>(
    rows: &[T],
    cols: &[T],
    out: &mut [[T; LANES]; G],
) {
    for (yk, xk) in cols.chunks_exact(LANES).zip(rows.chunks_exact(G)) {
        let yk: &[T; LANES] = yk.try_into().unwrap();
        let xk: &[T; G] = xk.try_into().unwrap();
        for r in 0..G {
            for j in 0..LANES {
                out[r][j] = T::fma::<FMA>(xk[r], yk[j], out[r][j]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use std::arch::x86_64::*;

    use super::LANES;

    /// 8 rows x 16 points in f64 with AVX-512: 16 accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `rows` holds 8 d values and `cols` 16 d.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_f64(rows: &[f64], cols: &[f64], out: &mut [[f64; LANES]; 8]) {
        // SAFETY: the caller guarantees the CPU features (this function's contract);
        // every pointer offset is within the lengths asserted first.
        unsafe {
            let d = cols.len() / LANES;
            assert!(rows.len() >= 8 * d && cols.len() >= LANES * d);
            let (xp, yp) = (rows.as_ptr(), cols.as_ptr());
            let o = |r: usize, h: usize| _mm512_loadu_pd(out[r].as_ptr().add(8 * h));
            let (mut a0, mut a1, mut a2, mut a3) = (o(0, 0), o(1, 0), o(2, 0), o(3, 0));
            let (mut a4, mut a5, mut a6, mut a7) = (o(4, 0), o(5, 0), o(6, 0), o(7, 0));
            let (mut b0, mut b1, mut b2, mut b3) = (o(0, 1), o(1, 1), o(2, 1), o(3, 1));
            let (mut b4, mut b5, mut b6, mut b7) = (o(4, 1), o(5, 1), o(6, 1), o(7, 1));
            for k in 0..d {
                let y0 = _mm512_loadu_pd(yp.add(k * LANES));
                let y1 = _mm512_loadu_pd(yp.add(k * LANES + 8));
                let x = xp.add(k * 8);
                macro_rules! step {
                    ($r:expr, $a:ident, $b:ident) => {
                        let v = _mm512_set1_pd(*x.add($r));
                        $a = _mm512_fmadd_pd(v, y0, $a);
                        $b = _mm512_fmadd_pd(v, y1, $b);
                    };
                }
                step!(0, a0, b0);
                step!(1, a1, b1);
                step!(2, a2, b2);
                step!(3, a3, b3);
                step!(4, a4, b4);
                step!(5, a5, b5);
                step!(6, a6, b6);
                step!(7, a7, b7);
            }
            for (r, (a, b)) in [
                (a0, b0),
                (a1, b1),
                (a2, b2),
                (a3, b3),
                (a4, b4),
                (a5, b5),
                (a6, b6),
                (a7, b7),
            ]
            .into_iter()
            .enumerate()
            {
                _mm512_storeu_pd(out[r].as_mut_ptr(), a);
                _mm512_storeu_pd(out[r].as_mut_ptr().add(8), b);
            }
        }
    }

    /// 8 rows x 16 points in f32 with AVX-512: 8 accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `rows` holds 8 d values and `cols` 16 d.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_f32(rows: &[f32], cols: &[f32], out: &mut [[f32; LANES]; 8]) {
        // SAFETY: the caller guarantees the CPU features (this function's contract);
        // every pointer offset is within the lengths asserted first.
        unsafe {
            let d = cols.len() / LANES;
            assert!(rows.len() >= 8 * d && cols.len() >= LANES * d);
            let (xp, yp) = (rows.as_ptr(), cols.as_ptr());
            let o = |r: usize| _mm512_loadu_ps(out[r].as_ptr());
            let (mut a0, mut a1, mut a2, mut a3) = (o(0), o(1), o(2), o(3));
            let (mut a4, mut a5, mut a6, mut a7) = (o(4), o(5), o(6), o(7));
            for k in 0..d {
                let y = _mm512_loadu_ps(yp.add(k * LANES));
                let x = xp.add(k * 8);
                macro_rules! step {
                    ($r:expr, $a:ident) => {
                        $a = _mm512_fmadd_ps(_mm512_set1_ps(*x.add($r)), y, $a);
                    };
                }
                step!(0, a0);
                step!(1, a1);
                step!(2, a2);
                step!(3, a3);
                step!(4, a4);
                step!(5, a5);
                step!(6, a6);
                step!(7, a7);
            }
            for (r, a) in [a0, a1, a2, a3, a4, a5, a6, a7].into_iter().enumerate() {
                _mm512_storeu_ps(out[r].as_mut_ptr(), a);
            }
        }
    }

    /// 2 rows x 16 points in f64 with AVX2 + FMA: 8 accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `rows` holds 2 d values and `cols` 16 d.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2_f64(rows: &[f64], cols: &[f64], out: &mut [[f64; LANES]; 2]) {
        // SAFETY: the caller guarantees the CPU features (this function's contract);
        // every pointer offset is within the lengths asserted first.
        unsafe {
            let d = cols.len() / LANES;
            assert!(rows.len() >= 2 * d && cols.len() >= LANES * d);
            let (xp, yp) = (rows.as_ptr(), cols.as_ptr());
            let o = |r: usize, q: usize| _mm256_loadu_pd(out[r].as_ptr().add(4 * q));
            let (mut a0, mut a1, mut a2, mut a3) = (o(0, 0), o(0, 1), o(0, 2), o(0, 3));
            let (mut b0, mut b1, mut b2, mut b3) = (o(1, 0), o(1, 1), o(1, 2), o(1, 3));
            for k in 0..d {
                let y = yp.add(k * LANES);
                let (y0, y1, y2, y3) = (
                    _mm256_loadu_pd(y),
                    _mm256_loadu_pd(y.add(4)),
                    _mm256_loadu_pd(y.add(8)),
                    _mm256_loadu_pd(y.add(12)),
                );
                let u = _mm256_set1_pd(*xp.add(2 * k));
                let v = _mm256_set1_pd(*xp.add(2 * k + 1));
                a0 = _mm256_fmadd_pd(u, y0, a0);
                a1 = _mm256_fmadd_pd(u, y1, a1);
                a2 = _mm256_fmadd_pd(u, y2, a2);
                a3 = _mm256_fmadd_pd(u, y3, a3);
                b0 = _mm256_fmadd_pd(v, y0, b0);
                b1 = _mm256_fmadd_pd(v, y1, b1);
                b2 = _mm256_fmadd_pd(v, y2, b2);
                b3 = _mm256_fmadd_pd(v, y3, b3);
            }
            for (r, acc) in [[a0, a1, a2, a3], [b0, b1, b2, b3]].into_iter().enumerate() {
                for (q, a) in acc.into_iter().enumerate() {
                    _mm256_storeu_pd(out[r].as_mut_ptr().add(4 * q), a);
                }
            }
        }
    }

    /// 4 rows x 16 points in f32 with AVX2 + FMA: 8 accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `rows` holds 4 d values and `cols` 16 d.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2_f32(rows: &[f32], cols: &[f32], out: &mut [[f32; LANES]; 4]) {
        // SAFETY: the caller guarantees the CPU features (this function's contract);
        // every pointer offset is within the lengths asserted first.
        unsafe {
            let d = cols.len() / LANES;
            assert!(rows.len() >= 4 * d && cols.len() >= LANES * d);
            let (xp, yp) = (rows.as_ptr(), cols.as_ptr());
            let o = |r: usize, h: usize| _mm256_loadu_ps(out[r].as_ptr().add(8 * h));
            let (mut a0, mut a1, mut a2, mut a3) = (o(0, 0), o(1, 0), o(2, 0), o(3, 0));
            let (mut b0, mut b1, mut b2, mut b3) = (o(0, 1), o(1, 1), o(2, 1), o(3, 1));
            for k in 0..d {
                let y0 = _mm256_loadu_ps(yp.add(k * LANES));
                let y1 = _mm256_loadu_ps(yp.add(k * LANES + 8));
                let x = xp.add(4 * k);
                macro_rules! step {
                    ($r:expr, $a:ident, $b:ident) => {
                        let v = _mm256_set1_ps(*x.add($r));
                        $a = _mm256_fmadd_ps(v, y0, $a);
                        $b = _mm256_fmadd_ps(v, y1, $b);
                    };
                }
                step!(0, a0, b0);
                step!(1, a1, b1);
                step!(2, a2, b2);
                step!(3, a3, b3);
            }
            for (r, (a, b)) in [(a0, b0), (a1, b1), (a2, b2), (a3, b3)]
                .into_iter()
                .enumerate()
            {
                _mm256_storeu_ps(out[r].as_mut_ptr(), a);
                _mm256_storeu_ps(out[r].as_mut_ptr().add(8), b);
            }
        }
    }
}
