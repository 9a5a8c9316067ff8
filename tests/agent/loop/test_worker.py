"""The instrument worker: results, errors, the watchdog, and a stop that leaves a command in flight."""

from __future__ import annotations

import threading
import time

import pytest

from labpilot.agent.loop.worker import InstrumentWorker
from labpilot.errors import InstrumentError, WatchdogTimeout


class Leave(Exception):
    pass


def test_returns_the_result_and_raises_the_commands_own_error() -> None:
    w = InstrumentWorker(poll_s=0.01, watchdog_real_s=5, watchdog_s=5)
    assert w.run("xrd", lambda: 42, on_poll=lambda: None) == 42

    def fails() -> None:
        raise InstrumentError("xrd", 5, "lamp off")

    with pytest.raises(InstrumentError, match="lamp off"):
        w.run("xrd", fails, on_poll=lambda: None)
    assert not w.busy()
    w.shutdown()


def test_the_watchdog_fires_when_a_command_never_answers() -> None:
    w = InstrumentWorker(poll_s=0.01, watchdog_real_s=0.05, watchdog_s=600)
    release = threading.Event()
    with pytest.raises(WatchdogTimeout, match="from dsc within the watchdog of 600s"):
        w.run("dsc", release.wait, on_poll=lambda: None)
    release.set()
    w.shutdown()


def test_leaving_from_a_poll_keeps_the_command_in_flight_until_settled() -> None:
    w = InstrumentWorker(poll_s=0.01, watchdog_real_s=5, watchdog_s=5)
    release = threading.Event()

    def leave() -> None:
        raise Leave

    with pytest.raises(Leave):
        w.run("sputter", lambda: release.wait() and "done", on_poll=leave)
    assert w.busy()
    release.set()
    started = time.monotonic()
    w.settle()
    assert not w.busy() and w.in_flight is None and time.monotonic() - started < 5
    w.shutdown()


def test_a_command_settled_after_a_stop_is_taken_not_sent_again() -> None:
    """`pause --now` then resume: the finished command's result is returned; the command never runs twice."""
    w = InstrumentWorker(poll_s=0.01, watchdog_real_s=5, watchdog_s=5)
    release = threading.Event()
    calls: list[str] = []

    def deposit() -> str:
        calls.append("deposit")
        release.wait()
        return "SP00001"

    def leave() -> None:
        raise Leave

    with pytest.raises(Leave):
        w.run("sputter", deposit, on_poll=leave, key="c-e1-sputter")
    release.set()
    w.settle()
    assert w.holds("c-e1-sputter") and not w.holds("c-e2-sputter")
    assert w.run("sputter", deposit, on_poll=lambda: None, key="c-e1-sputter") == "SP00001"
    assert calls == ["deposit"]
    assert not w.holds("c-e1-sputter")  # taken once
    w.shutdown()
