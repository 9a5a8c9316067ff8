"""Duplicate suppression: a command id seen twice returns the first outcome."""

import threading

import pytest

from simulators.commands import CommandRegistry


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
