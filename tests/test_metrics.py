"""divergent.metrics against the reference packages (prdc, vendi-score), the published
formulas (divergent.reference.metrics), closed forms, and bad input."""

import warnings

import divergent as dv
import divergent.metrics._kid
import divergent.metrics._vendi
import numpy as np
import pytest
from divergent import metrics as M
from divergent.reference import metrics as R
from hypothesis import given, settings
from hypothesis import strategies as st

prdc_package = pytest.importorskip("prdc")
vendi_package = pytest.importorskip("vendi_score.vendi")


def _pair(seed, n, m, d, shift=0.3, offset=0.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + offset, rng.normal(size=(m, d)) * 1.1 + shift + offset


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(8, 150),
    m=st.integers(8, 150),
    d=st.sampled_from([1, 3, 16, 70]),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_prdc_equals_the_reference(n, m, d, k, seed):
    real, fake = _pair(seed, n, m, d)
    assert M.prdc(real, fake, k=k) == R.prdc(real, fake, k=k)


@pytest.mark.parametrize("d, offset", [(8, 0.0), (300, 0.0), (64, 1e3)])
def test_prdc_equals_the_prdc_package(d, offset, capsys):
    real, fake = _pair(1, 600, 500, d, offset=offset)
    got = M.prdc(real, fake, k=5)
    want = prdc_package.compute_prdc(real, fake, 5)
    capsys.readouterr()  # the package prints the sizes
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(got, name) == pytest.approx(want[name], rel=1e-12, abs=0), name


def test_prdc_float32_is_the_float64_result_of_the_same_values():
    real, fake = (a.astype(np.float32) for a in _pair(2, 700, 650, 128))
    assert M.prdc(real, fake) == M.prdc(real.astype(np.float64), fake.astype(np.float64))


def test_prdc_strict_inequalities_on_ties():
    # A grid: many pairs sit exactly on the radius, and strict inequalities exclude them.
    g = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0)), -1).reshape(-1, 2)
    assert M.prdc(g, g + [0.0, 1.0], k=4) == R.prdc(g, g + [0.0, 1.0], k=4)
    identical = M.prdc(g, g, k=4)
    assert identical.precision == 1.0 and identical.coverage == 1.0


def test_fid_matches_the_published_formula_and_streams():
    x, y = _pair(3, 800, 700, 12)
    want = R.fid(x, y)
    assert M.fid(x, y) == pytest.approx(want, rel=1e-10)
    sx, sy = M.FeatureStats(), M.FeatureStats()
    for part in np.array_split(x, 5):
        sx.update(part.astype(np.float32))
    halves = [M.FeatureStats().update(part) for part in np.array_split(y, 2)]
    sy = halves[0].merge(halves[1])
    assert np.allclose(sy.mean, y.mean(0), rtol=1e-13) and np.allclose(sy.cov, np.cov(y, rowvar=False), rtol=1e-12)
    assert M.fid(sx, sy) == pytest.approx(R.fid(x.astype(np.float32), y), rel=1e-6)


def test_fid_with_rank_deficient_covariances():
    # n < d: singular covariances, where sqrtm-based FID reports complex parts.
    x, y = _pair(4, 20, 25, 50)
    assert M.fid(x, y) == pytest.approx(R.fid(x, y), rel=1e-8)
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-9)


def test_fid_of_large_gaussian_samples_is_the_closed_form_within_its_error():
    rng = np.random.default_rng(5)
    d, n = 4, 200_000
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d)) * 2.0 + 0.5
    # W2^2 of N(0, I) and N(0.5, 4 I) = d 0.25 + d (1 - 2)^2 = 5.
    # The plug-in bias is O(d / n); the spread of the estimate ~ sqrt(d) * 2 / sqrt(n).
    assert M.fid(x, y) == pytest.approx(5.0, abs=6 * 2 * np.sqrt(d / n) * 2.0)


def test_kid_equals_clean_fids_formula_on_the_same_subsets():
    x, y = _pair(6, 300, 260, 20)
    got = M.kid(x, y, n_subsets=7, subset_size=100, seed=3)
    want = R.kid(x, y, n_subsets=7, subset_size=100, seed=3)
    assert np.allclose(got.values, want.values, rtol=1e-10)
    assert got.mean == pytest.approx(want.mean, rel=1e-10) and got.std == pytest.approx(want.std, rel=1e-9)
    whole = M.kid(x, y, subset_size=None)
    assert whole.std == 0 and whole.mean == pytest.approx(R.kid(x, y, subset_size=None).mean, rel=1e-10)
    # The unbiased estimate equals MMD^2 with the polynomial kernel written out.
    f32 = M.kid(x.astype(np.float32), y.astype(np.float32), n_subsets=7, subset_size=100, seed=3)
    assert np.allclose(f32.values, want.values, rtol=1e-3, atol=1e-3 * np.abs(want.values).max())


def test_kid_is_unbiased_near_zero_for_equal_distributions():
    rng = np.random.default_rng(7)
    r = M.kid(rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8)), n_subsets=50, subset_size=200, seed=0)
    # Per-subset values scatter around 0 (unbiased); their mean is well within 4 std / sqrt(50)
    # (an upper bound, the subsets overlapping).
    assert abs(r.mean) < 4 * r.std / np.sqrt(50) + 1e-12
    assert (r.values < 0).any()


@pytest.mark.parametrize("q", [1.0, 2.0, 0.5, np.inf])
def test_vendi_equals_the_reference_and_the_package(q):
    x = np.random.default_rng(8).normal(size=(150, 10))
    assert M.vendi_score(x, q=q) == pytest.approx(R.vendi_score(x, q=q), rel=1e-10)
    assert M.vendi_score(x, kernel="linear", q=q) == pytest.approx(R.vendi_score(x, kernel="linear", q=q), rel=1e-10)
    g = M.vendi_score(x, kernel="gaussian", bandwidth=2.0, q=q)
    assert g == pytest.approx(R.vendi_score(x, kernel="gaussian", bandwidth=2.0, q=q), rel=1e-9)
    if q == 1.0:
        assert M.vendi_score(x) == pytest.approx(vendi_package.score_dual(x), rel=1e-10)
        K = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / 8.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the package's scipy.sparse.csr
            assert g == pytest.approx(vendi_package.score_K(K), rel=1e-9)


def test_vendi_known_answers():
    assert M.vendi_score(np.eye(7)) == pytest.approx(7.0, rel=1e-12)
    assert M.vendi_score(np.ones((30, 4))) == pytest.approx(1.0, rel=1e-12)
    assert M.vendi_score(np.vstack([np.eye(3)] * 5)) == pytest.approx(3.0, rel=1e-12)


def test_inception_score_matches_the_original_loop_and_known_answers():
    p = np.random.default_rng(9).dirichlet(np.ones(10) * 0.3, size=500)
    assert np.allclose(M.inception_score(p, splits=5), R.inception_score(p, splits=5), rtol=1e-12)
    logits = np.log(p)
    assert np.allclose(
        M.inception_score(logits, splits=5, from_logits=True), M.inception_score(p, splits=5), rtol=1e-10
    )
    assert M.inception_score(np.full((100, 4), 0.25))[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, exc, says",
    [
        (lambda x, y: M.prdc(x, y, k=0), ValueError, "k must be"),
        (lambda x, y: M.prdc(x, y, k=40), ValueError, "k=40 must be less"),
        (lambda x, y: M.prdc(x, y[:, :2]), ValueError, "same number of features"),
        (lambda x, y: M.prdc(np.where(x > 2, np.nan, x), y), ValueError, "real contains NaN"),
        (lambda x, y: M.kid(x, y, subset_size=1), ValueError, "subset_size must be an integer >= 2"),
        (lambda x, y: M.kid(x, y, subset_size=100), ValueError, "subset_size=100 is more"),
        (lambda x, y: M.kid(x, y, gamma=-1.0, subset_size=10), ValueError, "gamma"),
        (lambda x, y: M.fid(x, y[:, :2]), ValueError, "same number of features"),
        (lambda x, y: M.fid(x[:1], y), ValueError, "x has 1 sample"),
        (lambda x, y: M.vendi_score(x, kernel="rbf"), ValueError, "unknown kernel"),
        (lambda x, y: M.vendi_score(x, kernel="gaussian"), ValueError, "needs a bandwidth"),
        (lambda x, y: M.vendi_score(np.zeros((3, 2))), ValueError, "zero vector"),
        (lambda x, y: M.vendi_score(x, q=-1), ValueError, "q must be"),
        (lambda x, y: M.inception_score(-np.ones((10, 3))), ValueError, "negative"),
        (lambda x, y: M.inception_score(np.full((10, 3), 0.5)), ValueError, "sums to"),
        (lambda x, y: M.inception_score(np.full((10, 2), 0.5), splits=11), ValueError, "splits=11"),
        (lambda x, y: M.FeatureStats().update(x).update(y[:, :2]), ValueError, "features"),
        (lambda x, y: M.FeatureStats().cov, ValueError, "at least 2"),
    ],
)
def test_bad_input_names_the_argument(call, exc, says):
    x, y = _pair(10, 40, 30, 3)
    with pytest.raises(exc, match=says):
        call(x, y)


def test_gaussian_vendi_size_limit_names_the_alternatives(monkeypatch):
    monkeypatch.setattr(divergent.metrics._vendi, "VENDI_GAUSSIAN_MAX_N", 50)
    with pytest.raises(ValueError, match="subsample x, or use kernel='cosine'"):
        M.vendi_score(np.random.default_rng(0).normal(size=(60, 3)), kernel="gaussian", bandwidth=1.0)


def test_wasserstein2_accepts_semi_definite_but_not_indefinite_covariances():
    S = np.diag([1.0, 0.0])
    assert dv.gaussian.wasserstein2([0, 0], S, [1, 0], S) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="S0 is not positive semi-definite"):
        dv.gaussian.wasserstein2([0, 0], np.diag([1.0, -0.1]), [1, 0], S)
    with pytest.raises(ValueError, match="not positive definite"):
        dv.gaussian.kl([0, 0], S, [1, 0], np.eye(2))


def test_kid_on_whole_samples_runs_in_row_blocks(monkeypatch):
    x, y = _pair(5, 300, 250, 8)
    whole = M.kid(x, y, subset_size=None).mean
    # Blocks of a few rows: the same estimate to round-off, the Gram temporaries bounded.
    monkeypatch.setattr(divergent.metrics._kid, "KID_BLOCK_BYTES", 2 * 250 * 8 * 7)
    assert M.kid(x, y, subset_size=None).mean == pytest.approx(whole, rel=1e-12, abs=1e-15)
    assert whole == pytest.approx(R.kid(x, y, n_subsets=1, subset_size=None).mean, rel=1e-10, abs=1e-14)


def test_vendi_cut_off_follows_the_dual_matrix_precision():
    # n = 5 points in d = 512: the 512 x 512 dual has 507 zero eigenvalues, which float32
    # products leave at ~1e-8 of the largest; q < 1 counts every one it keeps.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 512))
    want = M.vendi_score(x, q=0.1)
    assert M.vendi_score(x.astype(np.float32), q=0.1) == pytest.approx(want, rel=1e-4)
    assert want <= 5.0 + 1e-9
