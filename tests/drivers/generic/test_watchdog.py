"""The loop's watchdog: it faults a silent device command, but not a step that waits for an operator."""

from __future__ import annotations

import threading

import pytest

from labpilot.agent.loop.worker import InstrumentWorker, watchdog_real_s
from labpilot.drivers.generic.command import CommandDriver
from labpilot.drivers.generic.manual import ManualDriver
from labpilot.errors import WatchdogTimeout


def _blocked_until_polled(worker: InstrumentWorker, watchdog: bool, release: threading.Event,
                          polls: int = 5) -> object:
    """Run a command that finishes only after the loop has polled ``polls`` times (past a zero watchdog)."""
    seen = []

    def on_poll() -> None:
        seen.append(1)
        if len(seen) >= polls:
            release.set()

    def command() -> str:
        release.wait(60)
        return "done"

    return worker.run("hand", command, on_poll, watched=watchdog)


def test_a_step_waiting_for_an_operator_is_not_watched() -> None:
    worker = InstrumentWorker(poll_s=0.01, watchdog_real_s=0.0, watchdog_s=0.0)
    try:
        first = threading.Event()
        with pytest.raises(WatchdogTimeout, match="no reply and no progress from hand"):
            _blocked_until_polled(worker, True, first)
        first.set()  # the abandoned command ends; the worker thread is free again
        worker.settle()
        assert _blocked_until_polled(worker, False, threading.Event()) == "done"
    finally:
        worker.shutdown()
    assert ManualDriver.waits_for_operator and not getattr(CommandDriver, "waits_for_operator", False)


def test_a_dry_run_scales_the_watchdog_of_simulators_but_not_of_programs_that_run_in_real_time() -> None:
    from labpilot.drivers.sputter import SputterDriver

    # --speed 100: a simulator's 900 s of virtual time pass in 9 s (floored at 30 s real) ...
    assert watchdog_real_s(SputterDriver, 900.0, 100.0) == 30.0
    assert watchdog_real_s(SputterDriver, 9000.0, 100.0) == 90.0
    # ... but a simulation program or a python model runs in real time: its watchdog is the configured one
    assert CommandDriver.dry_run_as_is
    assert watchdog_real_s(CommandDriver, 900.0, 100.0) == 900.0
    assert watchdog_real_s(CommandDriver, 10.0, 1.0) == 30.0  # the 30 s floor holds for every instrument
    assert watchdog_real_s(ManualDriver, 900.0, 100.0) is None  # a person is never watched
