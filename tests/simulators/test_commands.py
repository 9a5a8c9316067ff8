"""Duplicate suppression: a command id seen twice returns the first outcome."""

import threading

import pytest

from labpilot.simulators.commands import CommandRegistry


def test_new_id_is_claimed_and_seen_id_returns_its_record() -> None:
    reg = CommandRegistry()
    assert reg.begin("c1") is None
    again = reg.begin("c1")
    assert again is not None and again.state == "running"
    reg.finish("c1", {"sample_id": "S1"})
    third = reg.begin("c1")
    assert third is not None and third.state == "done" and third.result == {"sample_id": "S1"}


def test_first_outcome_wins() -> None:
    reg = CommandRegistry()
    reg.begin("c1")
    reg.finish("c1", {"v": 1})
    reg.finish("c1", {"v": 2})
    reg.fail("c1", "late failure")
    rec = reg.outcome("c1")
    assert rec is not None and rec.state == "done" and rec.result == {"v": 1} and rec.error is None


def test_failure_is_remembered() -> None:
    reg = CommandRegistry()
    reg.begin("c1")
    reg.fail("c1", "E201 door open")
    rec = reg.begin("c1")
    assert rec is not None and rec.state == "failed" and rec.error == "E201 door open"
    assert rec.as_dict() == {"command_id": "c1", "state": "failed", "result": None, "error": "E201 door open"}


def test_unknown_ids() -> None:
    reg = CommandRegistry()
    assert reg.outcome("nope") is None
    with pytest.raises(KeyError, match="nope"):
        reg.finish("nope", {})
    with pytest.raises(ValueError):
        reg.begin("")


def test_concurrent_begin_claims_an_id_exactly_once() -> None:
    reg = CommandRegistry()
    winners: list[int] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        if reg.begin("shared") is None:
            winners.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert len(reg) == 1


class _FakeClock:
    """A settable clock so the test controls when a scheduled action completes."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_scheduled_result_turns_done_when_its_time_comes() -> None:
    clock = _FakeClock()
    reg = CommandRegistry(clock=clock)
    reg.begin("scan1")
    reg.schedule("scan1", {"counts": [1, 2]}, ready_at=10.0)
    assert reg.outcome("scan1").state == "running"
    assert reg.outcome("scan1").result is None
    assert [r.command_id for r in reg.running()] == ["scan1"]
    clock.t = 10.0
    rec = reg.outcome("scan1")
    assert rec.state == "done" and rec.result == {"counts": [1, 2]}
    assert reg.running() == []


def test_outcomes_persist_in_a_store_across_registries(tmp_path) -> None:
    from labpilot.simulators.tray import Tray

    with Tray(tmp_path / "tray.db") as tray:
        reg = CommandRegistry(store=tray, instrument="robot")
        reg.begin("c1")
        reg.finish("c1", {"sample_id": "PP-00001"})
        reg.begin("c2")  # still running when the simulator "dies": not persisted
        restarted = CommandRegistry(store=tray, instrument="robot")
        again = restarted.begin("c1")
        assert again is not None and again.state == "done" and again.result == {"sample_id": "PP-00001"}
        assert restarted.begin("c2") is None
        assert CommandRegistry(store=tray, instrument="xrd").outcome("c1") is None
