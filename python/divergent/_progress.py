"""Progress bars for long runs: tqdm when it is installed, else one line on stderr."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


class _Line:
    """A line on stderr, redrawn at most every half second: "desc: 40% 400/1000 [3.1 s]"."""

    def __init__(self, total, desc, unit):
        self.total, self.desc, self.unit = total, desc, unit
        self.start = self.last = time.monotonic()
        self.n = 0

    def update(self, n):
        self.n = n
        now = time.monotonic()
        if now - self.last >= 0.5:
            self.last = now
            self._draw(now)

    def _draw(self, now):
        frac = self.n / self.total if self.total else 1.0
        count = f"{self.n:.3f}/{self.total:g}" if isinstance(self.total, float) else f"{self.n}/{self.total}"
        sys.stderr.write(f"\r{self.desc}: {100 * frac:3.0f}% {count} {self.unit} [{now - self.start:.1f} s]")
        sys.stderr.flush()

    def close(self):
        self._draw(time.monotonic())
        sys.stderr.write("\n")
        sys.stderr.flush()


class _Tqdm:
    def __init__(self, tqdm, total, desc, unit):
        self.bar = tqdm(total=total, desc=desc, unit=unit)

    def update(self, n):
        self.bar.n = n
        self.bar.refresh()

    def close(self):
        self.bar.close()


@contextmanager
def progress_bar(enabled: bool, total, desc: str, unit: str = "it", scale: float = 1.0):
    """Yield None when not ``enabled``, else a callable ``report(done)`` for the core, which
    reports ``done`` in units of ``1 / scale`` of the bar's; the bar is completed to
    ``total`` when the block ends without an exception."""
    if not enabled:
        yield None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        bar = _Line(total, desc, unit)
    else:
        bar = _Tqdm(tqdm, total, desc, unit)
    try:
        yield lambda done: bar.update(done / scale if scale != 1.0 else done)
        bar.update(total)
    finally:
        bar.close()
