"""Pipelining (opt-in, ``pipeline = true``): the next sample is synthesized while the current one is measured.

``SynthesisPipeline`` holds at most one synthesis started ahead, on its own
thread. The runner journals that experiment and its command id before the
command goes out (so a crash recovers it like any other) and later picks up
the running future with ``take`` instead of starting the synthesis again.
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any, Callable


class SynthesisPipeline:
    """One synthesis started ahead, keyed by its experiment id."""

    def __init__(self) -> None:
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthesis")
        self._ahead: tuple[int, cf.Future[Any]] | None = None

    @property
    def busy(self) -> bool:
        """True while a synthesis started ahead has not been taken."""
        return self._ahead is not None

    def start(self, eid: int, fn: Callable[[], Any]) -> None:
        if self._ahead is not None:
            raise RuntimeError(f"a synthesis is already running ahead (experiment {self._ahead[0]})")
        self._ahead = (eid, self._pool.submit(fn))

    def take(self, eid: int) -> cf.Future[Any] | None:
        """The running synthesis of ``eid`` if it was started ahead (and forget it), else None."""
        if self._ahead is None or self._ahead[0] != eid:
            return None
        (_, fut), self._ahead = self._ahead, None
        return fut

    def future(self) -> cf.Future[Any] | None:
        return None if self._ahead is None else self._ahead[1]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
