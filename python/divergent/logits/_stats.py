"""Streaming KL statistics of two models over many tokens: divergent.logits.KLStats."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from divergent._typing import ArrayLike
from divergent._validation import InvalidParameterError, validate_params
from divergent.logits._divergences import kl_and_top
from divergent.logits._inputs import TEMPERATURE


class QuantileSketch:
    """Quantiles of non-negative values within a relative error, in fixed memory.

    The logarithmic buckets of DDSketch (Masson, Rim & Lee, VLDB 2019): a value x in
    (gamma^(i-1), gamma^i] is counted in bucket i, gamma = (1 + alpha) / (1 - alpha),
    and a bucket stands for 2 gamma^i / (gamma + 1), within a factor 1 +- alpha of every
    value in it. Buckets span [LOW, HIGH]; values below LOW (0, and the round-off of two
    identical rows, which may be a tiny negative number) count as 0, values above HIGH
    (+inf included) as the exact maximum. Merging adds counts, so the sketch of a stream
    does not depend on how it was split.
    """

    ALPHA = 1e-3
    LOW, HIGH = 1e-30, 1e30

    def __init__(self):
        self._gamma = (1 + self.ALPHA) / (1 - self.ALPHA)
        self._log_gamma = math.log(self._gamma)
        self._offset = math.floor(math.log(self.LOW) / self._log_gamma)
        size = math.ceil(math.log(self.HIGH) / self._log_gamma) - self._offset + 1
        self._counts = np.zeros(size, dtype=np.int64)
        self._zeros = 0
        self._above = 0

    def add(self, values: np.ndarray) -> None:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        low, high = v <= self.LOW, v > self.HIGH
        self._zeros += int(np.count_nonzero(low))
        self._above += int(np.count_nonzero(high))
        mid = v[~(low | high)]
        index = np.ceil(np.log(mid) / self._log_gamma).astype(np.int64) - self._offset
        self._counts += np.bincount(np.clip(index, 0, self._counts.size - 1), minlength=self._counts.size)

    def merge(self, other: QuantileSketch) -> None:
        self._counts += other._counts
        self._zeros += other._zeros
        self._above += other._above

    @property
    def count(self) -> int:
        return self._zeros + int(self._counts.sum()) + self._above

    def quantile(self, q: float, maximum: float) -> float:
        """The order statistic of rank floor(q (n - 1)) (NumPy's method="lower"), within a
        factor 1 +- ALPHA (0 below LOW; `maximum` above HIGH and at q = 1)."""
        n = self.count
        rank = math.floor(q * (n - 1))
        if rank < self._zeros:
            return 0.0
        cumulative = self._zeros + np.cumsum(self._counts)
        i = int(np.searchsorted(cumulative, rank, side="right"))
        if i >= self._counts.size:
            return maximum
        value = 2 * self._gamma ** (i + self._offset) / (self._gamma + 1)
        return min(value, maximum)


@dataclasses.dataclass(frozen=True)
class KLReport:
    """The per-token KL divergence of two models over a stream, in llama.cpp's terms.

    Attributes
    ----------
    n_tokens : int
        Positions counted (unmasked).
    mean, sem : float
        Mean KL(p || q) per token (nats) and its standard error, std / sqrt(n) (ddof 1;
        +inf for a single token). Both +inf where a token has infinite KL (q bans a
        token that p gives probability).
    median, p90, p95, p99, p999, max : float
        Percentiles of the per-token KL (NumPy's ``method="lower"`` order statistics,
        within a relative error of 1e-3: see ``QuantileSketch``) and the exact maximum.
    top1_agreement : float
        Fraction of positions where p's and q's most probable tokens are the same.
    delta_p_mean, delta_p_rms : float
        Mean and root mean square of delta_p = p(t) - q(t), t p's most probable token:
        how much probability the second model moves away from the first's top choice.
    """

    n_tokens: int
    mean: float
    sem: float
    median: float
    p90: float
    p95: float
    p99: float
    p999: float
    max: float
    top1_agreement: float
    delta_p_mean: float
    delta_p_rms: float

    def to_dict(self) -> dict:
        """The fields as a dict (JSON-serialisable: floats and an int)."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return "\n".join(
            [
                f"tokens            {self.n_tokens}",
                f"mean KL           {self.mean:.6g} +- {self.sem:.3g} nats",
                f"median KL         {self.median:.6g}",
                f"KL p90 / p95      {self.p90:.6g} / {self.p95:.6g}",
                f"KL p99 / p99.9    {self.p99:.6g} / {self.p999:.6g}",
                f"max KL            {self.max:.6g}",
                f"same top token    {100 * self.top1_agreement:.3f} %",
                f"delta p mean      {100 * self.delta_p_mean:.4f} %",
                f"delta p RMS       {100 * self.delta_p_rms:.4f} %",
            ]
        )


class KLStats:
    """Streaming statistics of KL(p || q) per token between two models, in O(V) memory.

    Feed chunks of positions with ``update(p_logits, q_logits, mask=None)`` (any leading
    shape, the vocabulary last, as ``divergent.logits.kl`` takes them), combine streams
    computed apart with ``merge``, and read the summary with ``report()``: what
    llama.cpp's ``perplexity --kl-divergence`` prints for a quantised model against its
    original. Each chunk is one pass of the fused kernel, which finds the KL and the top
    tokens together.

    Parameters
    ----------
    temperature : float, default 1.0
        Divides both logits before the softmax.

    Notes
    -----
    The mean and variance are folded in chunk by chunk with the pairwise update of
    Chan, Golub & LeVeque (1979); the percentiles come from a ``QuantileSketch`` of about
    70,000 counts (relative error 1e-3, values below 1e-30 reported as 0), so memory does
    not grow with the stream.

    Examples
    --------
    >>> stats = KLStats()
    >>> for base, quant in chunks:              # doctest: +SKIP
    ...     stats.update(base, quant)
    >>> print(stats.report())                   # doctest: +SKIP
    """

    @validate_params({"temperature": TEMPERATURE})
    def __init__(self, *, temperature: float = 1.0):
        self._temperature = temperature
        self._n = 0
        self._n_inf = 0
        self._finite = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._max = -math.inf
        self._agree = 0
        self._dp_sum = 0.0
        self._dp_sq_sum = 0.0
        self._sketch = QuantileSketch()

    def update(self, p_logits: ArrayLike, q_logits: ArrayLike, mask: ArrayLike | None = None) -> KLStats:
        """Fold in the positions of one chunk (masked positions are skipped); returns self."""
        (kl, agree, p_top, q_at), mask, _ = kl_and_top(p_logits, q_logits, temperature=self._temperature, mask=mask)
        kl, agree, dp = (a.reshape(-1) if mask is None else a[mask] for a in (kl, agree, p_top - q_at))
        n = kl.size
        if n == 0:
            return self
        self._sketch.add(kl)
        self._max = max(self._max, float(kl.max()))
        finite = kl[np.isfinite(kl)]
        self._n_inf += n - finite.size
        if finite.size:
            mean_b = float(finite.mean())
            self._fold(finite.size, mean_b, float(((finite - mean_b) ** 2).sum()))
        self._n += n
        self._agree += int(agree.sum())
        self._dp_sum += float(dp.sum())
        self._dp_sq_sum += float((dp * dp).sum())
        return self

    def _fold(self, nb: int, mean_b: float, m2_b: float) -> None:
        """Chan, Golub & LeVeque's update of (count, mean, M2) of the finite values."""
        na = self._finite
        total = na + nb
        delta = mean_b - self._mean
        self._mean += delta * nb / total
        self._m2 += m2_b + delta * delta * na * nb / total
        self._finite = total

    def merge(self, other: KLStats) -> KLStats:
        """Fold in the statistics of another ``KLStats`` (same temperature); returns self."""
        if not isinstance(other, KLStats):
            raise TypeError(f"other must be a KLStats, got {type(other).__name__}")
        if other._temperature != self._temperature:
            raise InvalidParameterError(
                f"cannot merge statistics at temperature {other._temperature} into {self._temperature}"
            )
        if other._finite:
            self._fold(other._finite, other._mean, other._m2)
        self._n += other._n
        self._n_inf += other._n_inf
        self._max = max(self._max, other._max)
        self._agree += other._agree
        self._dp_sum += other._dp_sum
        self._dp_sq_sum += other._dp_sq_sum
        self._sketch.merge(other._sketch)
        return self

    @property
    def n_tokens(self) -> int:
        """Positions counted so far."""
        return self._n

    def report(self) -> KLReport:
        """The summary of everything folded in (see ``KLReport``)."""
        n = self._n
        if n == 0:
            raise ValueError("no tokens yet: call update() with at least one unmasked position first")
        if self._n_inf:
            mean = sem = math.inf
        else:
            mean = self._mean
            sem = math.sqrt(self._m2 / (n - 1) / n) if n > 1 else math.inf
        p50, p90, p95, p99, p999 = (self._sketch.quantile(q, self._max) for q in (0.5, 0.9, 0.95, 0.99, 0.999))
        dp_mean = self._dp_sum / n
        return KLReport(
            n_tokens=n,
            mean=mean,
            sem=sem,
            median=p50,
            p90=p90,
            p95=p95,
            p99=p99,
            p999=p999,
            max=self._max,
            top1_agreement=self._agree / n,
            delta_p_mean=dp_mean,
            delta_p_rms=math.sqrt(max(self._dp_sq_sum / n, 0.0)),
        )
