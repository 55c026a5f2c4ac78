"""MCMC convergence diagnostics: rank-normalised split R-hat, effective sample sizes and
the Monte Carlo standard error of a mean.

Both follow Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021), "Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC",
Bayesian Analysis 16(2), and agree with ArviZ's ``rhat(method="rank")``,
``ess(method="bulk")``, ``ess(method="mean")`` and ``mcse(method="mean")``. They are
computed here in NumPy so that users without ArviZ get them too.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from divergent._scale import in_range, unscaled
from divergent._special import norm_ppf
from divergent._typing import ArrayLike
from divergent._validation import Options, real_array, validate_params

__all__ = ["ess", "rhat", "mcse"]


def _draws(x, name: str, min_chains: int) -> tuple[np.ndarray, int]:
    """(n_chains, n_draws, d) float64 from a (n_chains, n_draws[, d]) array, divided by
    2**e where its squares would leave the float range (R-hat and ESS are scale-free;
    the MCSE scales back), and e."""
    a = real_array(x, "draws").astype(np.float64, copy=False)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(
            f"{name} expects draws of shape (n_chains, n_draws) or (n_chains, n_draws, d), "
            f"got an array of shape {np.shape(x)}"
        )
    if a.shape[0] < min_chains or a.shape[1] < 4:
        raise ValueError(f"{name} needs at least {min_chains} chain(s) of at least 4 draws, got shape {a.shape[:2]}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: the draws contain NaN or infinite values")
    (a,), e = in_range(a)
    return a, e


def _split(a: np.ndarray) -> np.ndarray:
    """Split each chain into its first and last halves (a middle draw of an odd length is dropped)."""
    half = a.shape[1] // 2
    return np.concatenate([a[:, :half], a[:, a.shape[1] - half :]], axis=0)


def _average_ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks of a flat array, ties getting the mean of their ranks."""
    order = np.argsort(v, kind="stable")
    s = v[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], s.size]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(v.size)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _z_scale(a: np.ndarray) -> np.ndarray:
    """Rank-normalise a (chains, draws) array: Phi^{-1}((rank - 3/8) / (S + 1/4)) (Blom 1958)."""
    ranks = _average_ranks(a.ravel())
    return norm_ppf((ranks - 0.375) / (ranks.size + 0.25)).reshape(a.shape)


def _rhat_plain(z: np.ndarray) -> float:
    """Gelman-Rubin R-hat of (chains, draws); inf when every chain is constant but they
    differ (stuck chains), NaN when all draws are equal."""
    n = z.shape[1]
    between = n * np.var(z.mean(axis=1), ddof=1)
    within = np.mean(np.var(z, axis=1, ddof=1))
    if within == 0:
        return np.inf if between > 0 else np.nan
    return float(np.sqrt((between / within + n - 1) / n))


def _autocov(z: np.ndarray) -> np.ndarray:
    """Autocovariances of each row at lags 0..n-1 (biased, divided by n), by FFT."""
    n = z.shape[1]
    c = z - z.mean(axis=1, keepdims=True)
    f = np.fft.rfft(c, n=2 * n, axis=1)
    return np.fft.irfft(f * np.conj(f), n=2 * n, axis=1)[:, :n] / n


def _ess_plain(z: np.ndarray) -> float:
    """ESS of (chains, draws) with Geyer's initial monotone sequence (Stan's estimator)."""
    m, n = z.shape
    if np.ptp(z) < np.finfo(float).resolution:
        return float(z.size)
    acov = _autocov(z)
    mean_var = acov[:, 0].mean() * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if m > 1:
        var_plus += np.var(z.mean(axis=1), ddof=1)
    rho = np.zeros(n)
    rho[0] = even = 1.0
    rho[1] = odd = 1.0 - (mean_var - acov[:, 1].mean()) / var_plus
    # Initial positive sequence: sum autocorrelations in pairs while the pairs are positive.
    t = 1
    while t < n - 3 and even + odd > 0.0:
        even = 1.0 - (mean_var - acov[:, t + 1].mean()) / var_plus
        odd = 1.0 - (mean_var - acov[:, t + 2].mean()) / var_plus
        if even + odd >= 0:
            rho[t + 1], rho[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0:
        rho[max_t + 1] = even
    # Initial monotone sequence: the pair sums must not increase.
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    total = m * n
    tau = -1.0 + 2.0 * rho[: max_t + 1].sum() + rho[max_t + 1 : max_t + 2].sum()
    tau = max(tau, 1.0 / np.log10(total))
    return float(total / tau)


def _per_dim(values: list[float], squeeze: bool):
    out = np.asarray(values)
    return float(out[0]) if squeeze else out


def rhat(draws: ArrayLike) -> float | np.ndarray:
    """Rank-normalised split R-hat (Vehtari et al. 2021).

    Each chain is split in half; the pooled draws are replaced by the normal scores of
    their ranks, z = Phi^{-1}((r - 3/8) / (S + 1/4)), and the classic R-hat

    .. math::

        \\hat R = \\sqrt{\\frac{(n - 1)/n \\, W + B/n}{W}}

    (W the mean within-chain variance, B/n the variance of the chain means) is computed
    on them and on the ranks of the folded draws |x - median|; the larger is returned.
    Values above about 1.01 indicate chains that have not mixed.

    Parameters
    ----------
    draws : array_like, shape (n_chains, n_draws) or (n_chains, n_draws, d)
        At least 4 draws; one chain is allowed (its halves are compared).

    Returns
    -------
    float or ndarray of shape (d,)
        One value per coordinate; a float for 2-D input.

    References
    ----------
    Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021). Rank-normalization, folding,
    and localization: an improved R-hat for assessing convergence of MCMC. Bayesian
    Analysis 16(2), 667-718.

    Examples
    --------
    >>> import numpy as np
    >>> from divergent.diagnostics import rhat
    >>> round(rhat(np.random.default_rng(0).normal(size=(4, 1000))), 2)
    1.0
    """
    squeeze = np.ndim(draws) == 2
    a, _ = _draws(draws, "rhat", 1)
    out = []
    for k in range(a.shape[2]):
        s = _split(a[:, :, k])
        if np.ptp(s) == 0:
            warnings.warn(
                f"rhat: coordinate {k} has the same value in every draw; R-hat is undefined "
                f"there and returned as NaN (as ArviZ does)",
                RuntimeWarning,
                stacklevel=2,
            )
            out.append(np.nan)
            continue
        bulk = _rhat_plain(_z_scale(s))
        tail = _rhat_plain(_z_scale(np.abs(s - np.median(s))))
        out.append(max(bulk, tail))
    return _per_dim(out, squeeze)


@validate_params({"method": Options(("bulk", "mean"))})
def ess(draws: ArrayLike, *, method: Literal["bulk", "mean"] = "bulk") -> float | np.ndarray:
    """Effective sample size: bulk (rank-normalised) or of the mean (Vehtari et al. 2021).

    The autocorrelations rho_t of the split chains are combined across chains as in Stan,
    truncated by Geyer's initial monotone sequence, and

    .. math::

        \\mathrm{ESS} = \\frac{M N}{-1 + 2 \\sum_{t \\le T} \\hat\\rho_t}

    for M split chains of N draws. ``"bulk"`` computes it on the rank-normalised draws
    (robust to heavy tails; the default diagnostic); ``"mean"`` on the draws themselves,
    which is the ESS that sets the Monte Carlo standard error of the posterior mean,
    sd / sqrt(ESS) (see :func:`mcse`).

    Parameters
    ----------
    draws : array_like, shape (n_chains, n_draws) or (n_chains, n_draws, d)
        At least 4 draws per chain.
    method : {"bulk", "mean"}, default "bulk"

    Returns
    -------
    float or ndarray of shape (d,)
        One value per coordinate; a float for 2-D input.

    References
    ----------
    Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021), Bayesian Analysis 16(2).
    Geyer (1992). Practical Markov chain Monte Carlo. Statistical Science 7(4).

    Examples
    --------
    >>> import numpy as np
    >>> from divergent.diagnostics import ess
    >>> 3500 < ess(np.random.default_rng(0).normal(size=(4, 1000))) < 4500
    True
    """
    squeeze = np.ndim(draws) == 2
    a, _ = _draws(draws, "ess", 1)
    scale = _z_scale if method == "bulk" else (lambda z: z)
    return _per_dim([_ess_plain(scale(_split(a[:, :, k]))) for k in range(a.shape[2])], squeeze)


def mcse(draws: ArrayLike) -> float | np.ndarray:
    """Monte Carlo standard error of the mean of each coordinate: sd / sqrt(ESS_mean).

    Parameters
    ----------
    draws : array_like, shape (n_chains, n_draws) or (n_chains, n_draws, d)

    Returns
    -------
    float or ndarray of shape (d,)

    Examples
    --------
    >>> import numpy as np
    >>> from divergent.diagnostics import mcse
    >>> 0.01 < mcse(np.random.default_rng(0).normal(size=(4, 1000))) < 0.02
    True
    """
    squeeze = np.ndim(draws) == 2
    a, e = _draws(draws, "mcse", 1)
    sd = a.reshape(-1, a.shape[2]).std(axis=0, ddof=1)
    values = sd / np.sqrt(np.atleast_1d(ess(a, method="mean")))
    return _per_dim([unscaled(v, e) for v in values], squeeze)
