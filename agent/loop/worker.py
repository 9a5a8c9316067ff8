"""Instrument commands on one worker thread, watched by the loop.

The loop hands each instrument command to ``InstrumentWorker.run``, which
waits for it in short polls: between polls the loop can honour ``pause
--now``, an abort (by raising out of ``on_poll``) and the watchdog. A command
left running by such a stop stays ``in_flight`` until ``settle`` lets it
finish; its result is kept under its command id and taken by the loop
(``holds``) instead of sending the command again.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from typing import Any, Callable

from labpilot.errors import WatchdogTimeout

log = logging.getLogger("labpilot.agent")


def watchdog_real_s(inst: object, watchdog_s: float, speed: float) -> float | None:
    """Real seconds a command of ``inst`` may take before the watchdog fires; None: not watched.

    A step that waits for an operator (``manual``) is not watched: a person
    may take hours. A dry run's clock (``speed``) speeds up its simulators, so
    their watchdog is scaled, but never under 30 s; an instrument a dry run
    uses as configured (a program, a model: ``dry_run_as_is``) runs in real
    time, so its watchdog is the configured one.
    """
    if getattr(inst, "waits_for_operator", False):
        return None
    scaled = max(watchdog_s / speed, 30.0)
    return max(watchdog_s, scaled) if getattr(inst, "dry_run_as_is", False) else scaled


class InstrumentWorker:
    """One thread for instrument commands, with a watchdog in real seconds."""

    def __init__(self, poll_s: float, watchdog_real_s: float, watchdog_s: float) -> None:
        self.poll_s = poll_s
        self.watchdog_real_s = watchdog_real_s
        self.watchdog_s = watchdog_s  # as configured (virtual seconds), for messages
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="instrument")
        self.in_flight: cf.Future[Any] | None = None
        self._in_flight_key: str | None = None
        self._settled: tuple[str, Any] | None = None

    def busy(self) -> bool:
        """True while a command is still running (e.g. one left by a pause)."""
        return self.in_flight is not None and not self.in_flight.done()

    def settle(self) -> None:
        """Before talking to instruments again, let a command left in flight by a pause finish.

        Its result is kept under its key (the command id), so that the loop
        takes it instead of sending the command again (``holds``): an
        instrument that cannot reconcile command ids must never get it twice.
        """
        fut, key = self.in_flight, self._in_flight_key
        self.in_flight, self._in_flight_key = None, None
        if fut is None:
            return
        if not fut.done():
            log.warning("waiting for the instrument command left in flight to finish")
        try:
            result = fut.result(timeout=self.watchdog_real_s)
        except Exception as exc:  # a reconciling instrument is asked by command id; any other one by the operator
            log.warning("the command left in flight ended with %s", exc)
            return
        if key is not None:
            self._settled = (key, result)

    def holds(self, key: str) -> bool:
        """Whether the command ``key`` finished while the loop was held, its result kept for ``run``."""
        return self._settled is not None and self._settled[0] == key

    def run(self, instrument: str, fn: Callable[[], Any] | cf.Future[Any], on_poll: Callable[[], None],
            key: str | None = None, watched: bool = True, watchdog_real_s: float | None = None) -> Any:
        """Run ``fn`` (or wait for a future already running) and return its result.

        ``on_poll`` is called between polls and may raise to leave (the
        command then stays ``in_flight``). Raises the command's own error, or
        ``WatchdogTimeout`` after ``watchdog_real_s`` seconds without a reply
        (None: this worker's ``watchdog_real_s``) unless not ``watched`` (a
        step that waits for a person, not a device).
        ``key`` (the command id): a command of that key that finished while
        the loop was held is not run again; its kept result is returned.
        """
        if key is not None and self.holds(key):
            assert self._settled is not None
            result, self._settled = self._settled[1], None
            return result
        self.settle()
        self._settled = None
        fut = fn if isinstance(fn, cf.Future) else self._pool.submit(fn)
        self.in_flight, self._in_flight_key = fut, key
        started = time.monotonic()
        limit = self.watchdog_real_s if watchdog_real_s is None else watchdog_real_s
        while True:
            try:
                result = fut.result(timeout=self.poll_s)
            except cf.TimeoutError:
                on_poll()
                if watched and time.monotonic() - started > limit:
                    raise WatchdogTimeout(
                        f"no reply and no progress from {instrument} within the watchdog of "
                        f"{self.watchdog_s:g}s (faults.watchdog_s)") from None
                continue
            except Exception:
                self.in_flight, self._in_flight_key = None, None
                raise
            self.in_flight, self._in_flight_key = None, None
            return result

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
