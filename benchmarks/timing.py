"""Wall-clock timing shared by the latency benchmarks."""

from __future__ import annotations

import time
from typing import Callable


def time_calls(call: Callable[[], object], n: int, warmup: int = 100) -> list[float]:
    """``n`` wall-clock durations of ``call()`` in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out
