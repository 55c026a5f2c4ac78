//! Maximum mean discrepancy and energy distance estimators.
//!
//! With Kxx, Kyy, Kxy the kernel sums of the pairwise engine:
//!
//! * unbiased (U-statistic): sum_{i != j} k(x_i, x_j) / (n (n - 1))
//!   + sum_{i != j} k(y_i, y_j) / (m (m - 1)) - 2 sum_ij k(x_i, y_j) / (n m)
//! * biased (V-statistic): the same with all pairs and n^2, m^2 normalisers
//! * linear (Gretton et al. 2012, JMLR 13, Lemma 14): the mean over consecutive pairs
//!   of h = k(x_1, x_2) + k(y_1, y_2) - k(x_1, y_2) - k(x_2, y_1), in O(n) time.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::sum::neumaier_sum;
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::kernel::pairsum::{check_same_dim, cross_sum, self_sum_offdiag};
use crate::pairwise::kernels::Kernel;
use crate::pairwise::Real;

/// Which MMD^2 estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmdEstimator {
    Unbiased,
    Biased,
    Linear,
}

impl MmdEstimator {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "unbiased" => Ok(Self::Unbiased),
            "biased" => Ok(Self::Biased),
            "linear" => Ok(Self::Linear),
            _ => invalid(format!(
                "unknown estimator {name:?}; expected \"unbiased\", \"biased\" or \"linear\""
            )),
        }
    }
}

/// Squared MMD between the samples x (n, d) and y (m, d).
pub fn mmd_squared<T: Real>(
    x: ArrayView2<'_, T>,
    y: ArrayView2<'_, T>,
    kernel: Kernel,
    estimator: MmdEstimator,
    ctl: &Control,
) -> Result<f64> {
    let (n, m) = (x.nrows(), y.nrows());
    check_same_dim(&x, &y)?;
    let min_points = if estimator == MmdEstimator::Biased {
        1
    } else {
        2
    };
    if n < min_points || m < min_points {
        return invalid(format!(
            "the {estimator:?} estimator needs at least {min_points} points in x and in y, got {n} and {m}"
        ));
    }
    match estimator {
        MmdEstimator::Linear => linear_mmd(x, y, kernel, ctl),
        MmdEstimator::Unbiased | MmdEstimator::Biased => {
            let sxx = self_sum_offdiag(x, None, kernel, ctl)?;
            let syy = self_sum_offdiag(y, None, kernel, ctl)?;
            let sxy = cross_sum(x, None, y, None, kernel, ctl)?;
            let (nf, mf) = (n as f64, m as f64);
            let cross = 2.0 * sxy / (nf * mf);
            Ok(if estimator == MmdEstimator::Unbiased {
                sxx / (nf * (nf - 1.0)) + syy / (mf * (mf - 1.0)) - cross
            } else {
                let k0 = kernel.at_zero();
                (sxx + nf * k0) / (nf * nf) + (syy + mf * k0) / (mf * mf) - cross
            })
        }
    }
}

/// Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| as V-statistics.
pub fn energy_distance<T: Real>(
    x: ArrayView2<'_, T>,
    y: ArrayView2<'_, T>,
    ctl: &Control,
) -> Result<f64> {
    mmd_squared(x, y, Kernel::Energy, MmdEstimator::Biased, ctl)
}

fn linear_mmd<T: Real>(
    x: ArrayView2<'_, T>,
    y: ArrayView2<'_, T>,
    kernel: Kernel,
    ctl: &Control,
) -> Result<f64> {
    if x.nrows() != y.nrows() {
        return invalid(format!(
            "the linear estimator needs as many points in x as in y, got {} and {}",
            x.nrows(),
            y.nrows()
        ));
    }
    kernel.validate()?;
    const CHUNK: usize = 4096;
    let pairs = x.nrows() / 2;
    let k = |a: ndarray::ArrayView1<'_, T>, b: ndarray::ArrayView1<'_, T>| {
        let d2: f64 = a
            .iter()
            .zip(b.iter())
            .map(|(p, q)| (p.to_f64() - q.to_f64()) * (p.to_f64() - q.to_f64()))
            .sum();
        kernel.eval_sq(d2)
    };
    let partial: Vec<f64> = (0..pairs.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            if ctl.is_cancelled() {
                return 0.0;
            }
            neumaier_sum((c * CHUNK..((c + 1) * CHUNK).min(pairs)).map(|p| {
                let (x1, x2) = (x.row(2 * p), x.row(2 * p + 1));
                let (y1, y2) = (y.row(2 * p), y.row(2 * p + 1));
                k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)
            }))
        })
        .collect();
    ctl.check()?;
    Ok(neumaier_sum(partial) / pairs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{naive_cross, naive_self, random_points};

    #[test]
    fn unbiased_and_biased_match_naive() {
        let ctl = Control::new();
        let x = random_points(40, 3, 1);
        let y = random_points(25, 3, 2) + 0.3;
        for kernel in [Kernel::Gaussian { bandwidth: 1.1 }, Kernel::Energy] {
            let (n, m) = (40.0, 25.0);
            let kxx = naive_self(&x.view(), None, kernel);
            let kyy = naive_self(&y.view(), None, kernel);
            let kxy = naive_cross(&x.view(), None, &y.view(), None, kernel);
            let u = kxx / (n * (n - 1.0)) + kyy / (m * (m - 1.0)) - 2.0 * kxy / (n * m);
            let k0 = kernel.at_zero();
            let b = (kxx + n * k0) / (n * n) + (kyy + m * k0) / (m * m) - 2.0 * kxy / (n * m);
            let got_u =
                mmd_squared(x.view(), y.view(), kernel, MmdEstimator::Unbiased, &ctl).unwrap();
            let got_b =
                mmd_squared(x.view(), y.view(), kernel, MmdEstimator::Biased, &ctl).unwrap();
            assert!((got_u - u).abs() < 1e-12 * u.abs().max(1e-3));
            assert!((got_b - b).abs() < 1e-12 * b.abs().max(1e-3));
        }
    }

    #[test]
    fn linear_matches_definition() {
        let ctl = Control::new();
        let x = random_points(11, 2, 3);
        let y = random_points(11, 2, 4);
        let kernel = Kernel::Imq { bandwidth: 0.7 };
        let k = |a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>| {
            kernel.eval_sq(a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum())
        };
        let want: f64 = (0..5)
            .map(|p| {
                k(x.row(2 * p), x.row(2 * p + 1)) + k(y.row(2 * p), y.row(2 * p + 1))
                    - k(x.row(2 * p), y.row(2 * p + 1))
                    - k(x.row(2 * p + 1), y.row(2 * p))
            })
            .sum::<f64>()
            / 5.0;
        let got = mmd_squared(x.view(), y.view(), kernel, MmdEstimator::Linear, &ctl).unwrap();
        assert!((got - want).abs() < 1e-14);
    }

    #[test]
    fn too_few_points_and_mismatches() {
        let ctl = Control::new();
        let one = random_points(1, 2, 1);
        let many = random_points(5, 2, 1);
        let k = Kernel::Energy;
        assert!(mmd_squared(one.view(), many.view(), k, MmdEstimator::Unbiased, &ctl).is_err());
        assert!(mmd_squared(one.view(), many.view(), k, MmdEstimator::Biased, &ctl).is_ok());
        assert!(mmd_squared(
            many.view(),
            random_points(6, 2, 1).view(),
            k,
            MmdEstimator::Linear,
            &ctl
        )
        .is_err());
        assert!(mmd_squared(
            many.view(),
            random_points(5, 3, 1).view(),
            k,
            MmdEstimator::Biased,
            &ctl
        )
        .is_err());
        assert!(MmdEstimator::from_name("quadratic").is_err());
    }

    #[test]
    fn energy_distance_of_a_sample_with_itself_is_zero() {
        let ctl = Control::new();
        let x = random_points(50, 4, 8);
        let e = energy_distance(x.view(), x.view(), &ctl).unwrap();
        assert!(e.abs() < 1e-12, "{e}");
    }
}
