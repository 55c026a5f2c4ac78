"""Calibration and power of the MMD and KSD tests; KSD known answers.

Under H0 the rejection rate at alpha = 0.05 over 200 seeded repetitions must lie in
[0.02, 0.09] (binomial(200, 0.05) puts 99.6% of its mass there).
"""

import math

import divergent as dv
import numpy as np

REPS = 200
ALPHA = 0.05


def rejection_rate(pvalues):
    return float(np.mean(np.asarray(pvalues) <= ALPHA))


def test_mmd_test_is_calibrated_under_the_null():
    rng = np.random.default_rng(2024)
    p = [
        dv.mmd_test(rng.normal(size=(40, 2)), rng.normal(size=(40, 2)), n_permutations=199, seed=r).pvalue
        for r in range(REPS)
    ]
    assert 0.02 <= rejection_rate(p) <= 0.09


def test_mmd_test_energy_kernel_is_calibrated_under_the_null():
    rng = np.random.default_rng(7)
    p = [
        dv.mmd_test(
            rng.standard_t(3, size=30), rng.standard_t(3, size=45), kernel="energy", n_permutations=199, seed=r
        ).pvalue
        for r in range(REPS)
    ]
    assert 0.02 <= rejection_rate(p) <= 0.09


def test_mmd_test_has_power_against_a_half_sd_shift():
    rng = np.random.default_rng(5)
    p = [
        dv.mmd_test(rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + [0.5, 0], n_permutations=199, seed=r).pvalue
        for r in range(10)
    ]
    assert rejection_rate(p) == 1.0


def gaussian_score(z):
    return -z


def test_ksd_test_is_calibrated_under_the_null():
    rng = np.random.default_rng(11)
    p = [dv.ksd_test(rng.normal(size=(100, 2)), gaussian_score, n_bootstrap=199, seed=r).pvalue for r in range(REPS)]
    assert 0.02 <= rejection_rate(p) <= 0.09


def test_ksd_test_has_power_against_a_half_sd_shift():
    rng = np.random.default_rng(12)
    p = [
        dv.ksd_test(rng.normal(size=(500, 2)) + [0.5, 0], gaussian_score, n_bootstrap=199, seed=r).pvalue
        for r in range(10)
    ]
    assert rejection_rate(p) == 1.0


def test_ksd_of_a_gaussian_sample_against_its_own_score():
    """U-statistic: centred at 0 (within 4 SE, SE from 20 replications), clearly positive
    against the score of a shifted Gaussian."""
    rng = np.random.default_rng(3)
    own, shifted = [], []
    for _ in range(20):
        x = rng.normal(size=(3000, 3))
        own.append(dv.ksd(x, gaussian_score))
        shifted.append(dv.ksd(x, lambda z: -(z - 0.3)))
    own, shifted = np.array(own), np.array(shifted)
    se = own.std(ddof=1)
    assert abs(own[0]) <= 4 * se
    assert abs(own.mean()) <= 4 * se / math.sqrt(len(own))
    assert shifted.min() > 20 * se
