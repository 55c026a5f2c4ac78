use super::*;
use crate::test_util::{naive_cross, naive_self, random_points};

const KERNELS: [Kernel; 4] = [
    Kernel::Gaussian { bandwidth: 0.8 },
    Kernel::Laplace { bandwidth: 1.3 },
    Kernel::Imq { bandwidth: 0.5 },
    Kernel::Energy,
];

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn cross_sum_matches_naive_for_every_isa() {
    let ctl = Control::new();
    for &(n, m, d) in &[
        (1, 1, 1),
        (17, 5, 3),
        (64, 65, 2),
        (130, 77, 11),
        (5, 200, 40),
    ] {
        let x = random_points(n, d, 1);
        let y = random_points(m, d, 2);
        let wx = random_points(n, 1, 3).column(0).mapv(f64::abs);
        let wy = random_points(m, 1, 4).column(0).mapv(f64::abs);
        for kernel in KERNELS {
            let want = naive_cross(
                &x.view(),
                Some(wx.view()),
                &y.view(),
                Some(wy.view()),
                kernel,
            );
            for isa in Isa::available() {
                let got = cross_sum_on(
                    PairPath::Auto,
                    isa,
                    x.view(),
                    Some(wx.view()),
                    y.view(),
                    Some(wy.view()),
                    kernel,
                    &ctl,
                )
                .unwrap();
                assert!(
                    close(got, want, 1e-12),
                    "{isa:?} {kernel:?} {n}x{m}x{d}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn self_sum_matches_naive_for_every_isa() {
    let ctl = Control::new();
    for &(n, d) in &[(1, 1), (2, 3), (16, 1), (17, 4), (64, 2), (65, 2), (200, 7)] {
        let x = random_points(n, d, 5);
        let w = random_points(n, 1, 6).column(0).mapv(f64::abs);
        for kernel in KERNELS {
            let want = naive_self(&x.view(), Some(w.view()), kernel);
            for isa in Isa::available() {
                let got = self_sum_offdiag_on(
                    PairPath::Auto,
                    isa,
                    x.view(),
                    Some(w.view()),
                    kernel,
                    &ctl,
                )
                .unwrap();
                assert!(
                    close(got, want, 1e-12),
                    "{isa:?} {kernel:?} n={n} d={d}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn row_sums_match_naive() {
    let ctl = Control::new();
    let x = random_points(70, 3, 7);
    let y = random_points(33, 3, 8);
    for kernel in KERNELS {
        let got = row_sums(x.view(), y.view(), None, kernel, &ctl).unwrap();
        for (i, g) in got.iter().enumerate() {
            let want = naive_cross(
                &x.slice(ndarray::s![i..i + 1, ..]),
                None,
                &y.view(),
                None,
                kernel,
            );
            assert!(close(*g, want, 1e-12));
        }
    }
}

#[test]
fn strided_input_equals_contiguous() {
    let ctl = Control::new();
    let x = random_points(90, 6, 9);
    let xt = x.t().to_owned();
    let f_order = xt.t(); // same values, Fortran layout
    let every_other = x.slice(ndarray::s![..;2, ..]);
    let k = Kernel::Gaussian { bandwidth: 1.0 };
    let a = self_sum_offdiag(x.view(), None, k, &ctl).unwrap();
    let b = self_sum_offdiag(f_order, None, k, &ctl).unwrap();
    assert_eq!(a, b);
    let c = self_sum_offdiag(every_other, None, k, &ctl).unwrap();
    let d = self_sum_offdiag(every_other.to_owned().view(), None, k, &ctl).unwrap();
    assert_eq!(c, d);
}

#[test]
fn identical_for_any_thread_count() {
    // d = 3: the difference path; d = 96: the Gram path, in f64 and f32.
    for (d, k) in [
        (3, Kernel::Laplace { bandwidth: 0.9 }),
        (96, Kernel::Gaussian { bandwidth: 4.0 }),
    ] {
        let x = random_points(1000, d, 10);
        let y = random_points(700, d, 11);
        let x32 = x.mapv(|v| v as f32);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let ctl = Control::new();
                (
                    cross_sum(x.view(), None, y.view(), None, k, &ctl).unwrap(),
                    self_sum_offdiag(x.view(), None, k, &ctl).unwrap(),
                    self_sum_offdiag(x32.view(), None, k, &ctl).unwrap(),
                )
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let ctl = Control::new();
    let x = random_points(10, 3, 1);
    let y = random_points(10, 2, 1);
    let k = Kernel::Energy;
    assert!(cross_sum(x.view(), None, y.view(), None, k, &ctl).is_err());
    let w = ndarray::Array1::<f64>::ones(9);
    assert!(self_sum_offdiag(x.view(), Some(w.view()), k, &ctl).is_err());
    let empty = ndarray::Array2::<f64>::zeros((4, 0));
    assert!(self_sum_offdiag(empty.view(), None, k, &ctl).is_err());
    let bad = Kernel::Gaussian { bandwidth: -1.0 };
    assert!(self_sum_offdiag(x.view(), None, bad, &ctl).is_err());
}

#[test]
fn cancelled_returns_error() {
    let ctl = Control::new();
    ctl.cancel();
    let x = random_points(100, 2, 1);
    assert!(self_sum_offdiag(x.view(), None, Kernel::Energy, &ctl).is_err());
}

#[test]
fn accurate_over_millions_of_pairs() {
    // 4.8e6 weighted pairs against a per-term compensated double loop: the engine's
    // short lane sums plus Neumaier folding must stay within 1e-13 relative (the
    // design target is ~1e-12 at 10^12 pairs).
    let ctl = Control::new();
    let x = random_points(2400, 2, 21);
    let y = random_points(2000, 2, 22);
    let wx = random_points(2400, 1, 23).column(0).mapv(|v| v + 2.5);
    let k = Kernel::Gaussian { bandwidth: 0.3 };
    let want = naive_cross(&x.view(), Some(wx.view()), &y.view(), None, k);
    let got = cross_sum(x.view(), Some(wx.view()), y.view(), None, k, &ctl).unwrap();
    assert!(close(got, want, 1e-13), "{got} vs {want}");
    let want = naive_self(&x.view(), Some(wx.view()), k);
    let got = self_sum_offdiag(x.view(), Some(wx.view()), k, &ctl).unwrap();
    assert!(close(got, want, 1e-13), "{got} vs {want}");
}

/// Points clustered in pairs `gap` apart (near-duplicates), every coordinate offset
/// by `offset`: the cases where an unchecked Gram expansion cancels.
fn hard_points(n: usize, d: usize, offset: f64, gap: f64, seed: u64) -> ndarray::Array2<f64> {
    let base = random_points(n.div_ceil(2), d, seed);
    let jitter = random_points(n.div_ceil(2), d, seed + 100);
    ndarray::Array2::from_shape_fn((n, d), |(i, k)| {
        let b = base[[i / 2, k]] + offset;
        if i % 2 == 0 {
            b
        } else {
            b + gap * jitter[[i / 2, k]]
        }
    })
}

/// Cross and self sums of `x`, `y` (weights `wy` on y) on `path`, for every
/// instruction set, within `rtol` of the naive f64 sums of the same values.
fn check_sums<T: Real>(
    path: PairPath,
    x: &ndarray::Array2<T>,
    y: &ndarray::Array2<T>,
    wy: Option<ArrayView1<'_, f64>>,
    kernels: &[Kernel],
    rtol: f64,
) {
    let ctl = Control::new();
    let (x64, y64) = (x.mapv(T::to_f64), y.mapv(T::to_f64));
    let shape = (x.nrows(), y.nrows(), x.ncols());
    for &kernel in kernels {
        let want = naive_cross(&x64.view(), None, &y64.view(), wy, kernel);
        let want_self = naive_self(&x64.view(), None, kernel);
        for isa in Isa::available() {
            let got = cross_sum_on(path, isa, x.view(), None, y.view(), wy, kernel, &ctl).unwrap();
            assert!(
                close(got, want, rtol),
                "{} {isa:?} {kernel:?} {shape:?}: {got} vs {want}",
                T::NAME
            );
            let got = self_sum_offdiag_on(path, isa, x.view(), None, kernel, &ctl).unwrap();
            assert!(
                close(got, want_self, rtol),
                "{} {isa:?} {kernel:?} self {shape:?}: {got} vs {want_self}",
                T::NAME
            );
        }
    }
}

#[test]
fn gram_path_matches_naive_in_float64_anywhere() {
    for &(n, m, d) in &[
        (33, 47, 3),
        (33, 47, 16),
        (70, 65, 32),
        (17, 130, 100),
        (40, 9, 300),
    ] {
        for &(offset, gap) in &[(0.0, 1.0), (1e3, 1e-3), (-5e2, 1e-6)] {
            let x = hard_points(n, d, offset, gap, 1);
            let y = hard_points(m, d, offset, gap, 2);
            let wy = random_points(m, 1, 4).column(0).mapv(f64::abs);
            check_sums(PairPath::Gram, &x, &y, Some(wy.view()), &KERNELS, 1e-10);
        }
    }
}

#[test]
fn gram_path_row_sums_match_naive() {
    let ctl = Control::new();
    let x = hard_points(21, 64, 1e3, 1e-4, 7);
    let y = hard_points(40, 64, 1e3, 1e-4, 8);
    for kernel in KERNELS {
        let got = row_sums(x.view(), y.view(), None, kernel, &ctl).unwrap();
        for (i, g) in got.iter().enumerate() {
            let want = naive_cross(
                &x.slice(ndarray::s![i..i + 1, ..]),
                None,
                &y.view(),
                None,
                kernel,
            );
            assert!(close(*g, want, 1e-10), "{kernel:?} row {i}: {g} vs {want}");
        }
    }
}

#[test]
fn float32_is_within_its_contract_of_the_float64_sum() {
    for &(n, d, offset) in &[(50, 8, 0.0), (90, 64, 0.0), (65, 256, 1e2), (33, 1024, 0.0)] {
        let x = hard_points(n, d, offset, 0.5, 3).mapv(|v| v as f32);
        let y = random_points(n + 3, d, 4).mapv(|v| (v + offset) as f32);
        // Bandwidths at the scale of the distances (about 1.6 sqrt(d) here), as the
        // median heuristic would give: exp(-d2 / 2h^2) then carries the products'
        // relative error, not d2 / 2h^2 times it.
        let h = (d as f64).sqrt();
        let kernels = [
            Kernel::Gaussian { bandwidth: h },
            Kernel::Laplace { bandwidth: 2.0 * h },
            Kernel::Imq { bandwidth: 0.5 * h },
            Kernel::Energy,
        ];
        check_sums(PairPath::Auto, &x, &y, None, &kernels, 1e-4);
    }
}
