use super::*;
use crate::ot::sinkhorn::{sinkhorn, sinkhorn_symmetric, SinkhornConfig};
use crate::ot::softmin::lse_naive;
use crate::test_util::{cost_matrix, random_points};
use ndarray::ArrayView1;

#[test]
fn products_are_exact_sums_and_the_same_on_every_instruction_set() {
    // Lengths off the 32 partial sums and row counts off the 4-row sweeps.
    for (rows, m) in [(1, 1), (5, 31), (7, 33), (130, 97), (9, 200)] {
        let e: Vec<f64> = (0..rows * m)
            .map(|k| ((k * 7919 % 1000) as f64 / 1000.0).powi(3))
            .collect();
        let v: Vec<f64> = (0..rows.max(m))
            .map(|k| {
                if k % 5 == 3 {
                    0.0
                } else {
                    1.0 + (k % 13) as f64
                }
            })
            .collect();
        let dots: Vec<f64> = e
            .chunks(m)
            .map(|r| r.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect();
        let mut cols = vec![0.0; m];
        for (r, vi) in e.chunks(m).zip(&v) {
            for (c, x) in cols.iter_mut().zip(r) {
                *c += vi * x;
            }
        }
        let per_isa: Vec<(Vec<f64>, Vec<f64>)> = Isa::available()
            .into_iter()
            .map(|isa| {
                let d = dispatch(
                    isa,
                    RowDots {
                        rows: &e,
                        b: &v[..m],
                        m,
                    },
                );
                // Four rows per sweep add as one row at a time does.
                for (i, r) in e.chunks(m).enumerate() {
                    let one = dispatch(
                        isa,
                        RowDots {
                            rows: r,
                            b: &v[..m],
                            m,
                        },
                    );
                    assert_eq!(one[0], d[i]);
                }
                let mut c = vec![0.0; m];
                let acc = &mut c;
                dispatch(
                    isa,
                    ColumnSums {
                        rows: &e,
                        v: &v[..rows],
                        m,
                        acc,
                    },
                );
                (d, c)
            })
            .collect();
        for (d, c) in &per_isa {
            assert_eq!((d, c), (&per_isa[0].0, &per_isa[0].1));
            for (got, want) in d.iter().zip(&dots).chain(c.iter().zip(&cols)) {
                assert!((got - want).abs() <= 1e-13 * want.abs(), "{got} vs {want}");
            }
        }
    }
}

#[test]
fn soft_mins_match_naive_through_rebuilds_and_drift() {
    let x = random_points(90, 3, 41);
    let y = random_points(70, 3, 42);
    for p in [2.0, 1.0, 1.5] {
        let c = cost_matrix(&x, &y, p);
        let points = GibbsKernel::new(x.view(), y.view(), p).unwrap();
        check_against_naive(&points, &c, &format!("points, p = {p}"));
        let matrix = GibbsKernel::from_matrix(c.view()).unwrap();
        check_against_naive(&matrix, &c, &format!("matrix, p = {p}"));
    }
}

#[test]
fn soft_mins_match_naive_in_high_dimension() {
    // d = 40, far from the origin: the costs come from the Gram path, once.
    let x = random_points(60, 40, 45) + 100.0;
    let y = random_points(50, 40, 46) + 100.0;
    for p in [2.0, 1.0] {
        let c = cost_matrix(&x, &y, p);
        let points = GibbsKernel::from_points(x.view(), y.view(), p, &Control::new()).unwrap();
        check_against_naive(&points, &c, &format!("points, d = 40, p = {p}"));
    }
}

fn check_against_naive<F: KernelFallback>(
    kernel: &GibbsKernel<F>,
    c: &ndarray::Array2<f64>,
    what: &str,
) {
    let ctl = Control::new();
    // Alternate sides with exponents that drift by 0, a little, and past DRIFT,
    // at epsilons from broad to far below the costs, with zero weights.
    let mut step = 0;
    for eps in [1.0, 0.05, 1e-3] {
        for shift in [0.0, 3.0, 0.0, 250.0, -40.0] {
            for side in [Side::X, Side::Y] {
                step += 1;
                let (cols, cm) = match side {
                    Side::X => (c.ncols(), c.clone()),
                    Side::Y => (c.nrows(), c.t().to_owned()),
                };
                let mut w: Vec<f64> = random_points(cols, 1, step)
                    .iter()
                    .map(|v| v * 5.0 + shift)
                    .collect();
                w[step as usize % cols] = f64::NEG_INFINITY;
                let want = lse_naive(cm.view(), ArrayView1::from(&w), eps);
                let none = vec![f64::NAN; cm.nrows()];
                let (got, _) = kernel.lse(side, &w, eps, &none, false, &ctl).unwrap();
                for i in 0..cm.nrows() {
                    let tol = 1e-12 * want[i].abs().max(1.0);
                    assert!(
                        (got[i] - want[i]).abs() <= tol,
                        "{what} eps={eps} shift={shift} {side:?} {i}: {} vs {}",
                        got[i],
                        want[i]
                    );
                }
            }
        }
    }
}

#[test]
fn one_pass_gives_both_soft_mins_bit_for_bit() {
    let ctl = Control::new();
    // Row counts off the 4-row sweeps and the blocks, parts of 4 rows to whole blocks.
    for (n, m, seed) in [(5, 7, 1), (130, 97, 2), (257, 40, 3), (70, 5000, 4)] {
        let x = random_points(n, 2, seed);
        let y = random_points(m, 2, seed + 100);
        let (one, two) = (
            GibbsKernel::new(x.view(), y.view(), 2.0).unwrap(),
            GibbsKernel::new(x.view(), y.view(), 2.0).unwrap(),
        );
        let eps = 0.05;
        let (none_x, none_y) = (vec![f64::NAN; n], vec![f64::NAN; m]);
        let mut w: Vec<f64> = random_points(m, 1, seed + 200).iter().copied().collect();
        // Exponents served by the kernel, then some that drift past DRIFT (the
        // Y side is then left to `lse`, which rebuilds), and zero weights.
        for (step, shift) in [0.0, 1.0, 0.5, 300.0, 300.5, 2.0].into_iter().enumerate() {
            let next = |i: usize, l: f64| {
                if i % 11 == 5 {
                    f64::NEG_INFINITY
                } else {
                    -0.5 * l + 0.01 * i as f64 + shift
                }
            };
            let (lse_x, lse_y) = one.lse_then_next(&w, eps, &none_x, &next, &ctl).unwrap();
            let want_x = two.lse(Side::X, &w, eps, &none_x, false, &ctl).unwrap().0;
            assert_eq!(lse_x, want_x, "n={n} m={m} step {step}");
            let w_y: Vec<f64> = want_x
                .iter()
                .enumerate()
                .map(|(i, l)| next(i, *l))
                .collect();
            let want_y = two.lse(Side::Y, &w_y, eps, &none_y, false, &ctl).unwrap().0;
            // Served until the shift of 300 (after which the kernel is rebuilt on
            // either side, and served or not depending on what it absorbed).
            match lse_y {
                Some(got) => {
                    assert!(step != 3, "n={n} m={m}: a drifted side was served");
                    assert_eq!(got, want_y, "n={n} m={m} step {step}");
                }
                None => {
                    assert!(step >= 3, "n={n} m={m} step {step}: not computed");
                    let got = one.lse(Side::Y, &w_y, eps, &none_y, false, &ctl).unwrap();
                    assert_eq!(got.0, want_y);
                }
            }
            w = want_y.iter().map(|l| -0.7 * l + 0.1).collect();
        }
    }
}

#[test]
fn sinkhorn_on_the_kernel_runs_the_streamed_iterations() {
    let ctl = Control::new();
    let x = random_points(120, 2, 43);
    let y = random_points(100, 2, 44);
    let a: Vec<f64> = (1..=120).map(|i| i as f64 / 7260.0).collect();
    let mut b = vec![1.0 / 99.0; 100];
    b[7] = 0.0;
    let cloud = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
    let kernel = GibbsKernel::new(x.view(), y.view(), 2.0).unwrap();
    for (schedule, rho) in [
        (vec![0.05], None),
        (vec![4.0, 1.0, 0.25, 0.06, 0.01], None),
        (vec![0.02], Some(0.5)),
    ] {
        let cfg = SinkhornConfig {
            schedule,
            rho,
            max_iter: 3000,
            tol: 1e-10,
        };
        let want = sinkhorn(&cloud, &a, &b, &cfg, true, &ctl).unwrap();
        let got = sinkhorn(&kernel, &a, &b, &cfg, true, &ctl).unwrap();
        assert!(want.converged && got.converged);
        assert_eq!(want.n_iter, got.n_iter, "{rho:?}");
        assert!((want.value - got.value).abs() <= 1e-12, "{rho:?}");
        assert!((want.cost - got.cost).abs() <= 1e-12, "{rho:?}");
        for (f, g) in want.f.iter().zip(&got.f) {
            assert!((f - g).abs() <= 1e-11);
        }
    }
    let sym = GibbsKernel::new(x.view(), x.view(), 2.0).unwrap();
    let cfg = SinkhornConfig {
        schedule: vec![0.05],
        rho: None,
        max_iter: 3000,
        tol: 1e-10,
    };
    let op = CloudCost::new(x.view(), x.view(), 2.0).unwrap();
    let want = sinkhorn_symmetric(&op, &a, &cfg, &ctl).unwrap();
    let got = sinkhorn_symmetric(&sym, &a, &cfg, &ctl).unwrap();
    assert_eq!(want.n_iter, got.n_iter);
    assert!((want.value - got.value).abs() <= 1e-12);
}
