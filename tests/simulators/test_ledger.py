"""The ledger is the proof that no physical action happened twice: it must be durable and readable."""

import json
import multiprocessing
from pathlib import Path

import pytest

from labpilot.simulators.ledger import Ledger, read_ledger


def test_records_are_appended_in_order(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.record("robot", "dispense", "c1/dispense", "S1", volume_ml=2.5)
    ledger.record("xrd", "scan", "c2", "S1", points=3500)
    entries = read_ledger(path)
    assert [e["action"] for e in entries] == ["dispense", "scan"]
    assert entries[0]["command_id"] == "c1/dispense"
    assert entries[0]["volume_ml"] == 2.5
    assert entries[1]["sample_id"] == "S1"
    assert all(isinstance(e["ts"], float) for e in entries)


def test_a_second_ledger_on_the_same_file_appends(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    Ledger(path).record("robot", "mix", "a", None)
    Ledger(path).record("robot", "mix", "b", None)
    assert [e["command_id"] for e in read_ledger(path)] == ["a", "b"]


def test_none_path_records_nothing(tmp_path: Path) -> None:
    entry = Ledger(None).record("robot", "mix", "a", None, speed=3)
    assert entry["speed"] == 3
    assert list(tmp_path.iterdir()) == []


def test_missing_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_ledger(tmp_path / "absent.jsonl") == []


def test_torn_last_line_is_ignored_but_corruption_elsewhere_is_named(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    Ledger(path).record("xrd", "scan", "a", "S1")
    with open(path, "a") as fh:
        fh.write('{"instrument": "xrd", "act')  # killed mid-write
    assert len(read_ledger(path)) == 1
    path.write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_ledger(path)


def test_details_cannot_overwrite_core_fields(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample_id|ts"):
        Ledger(tmp_path / "l").record("xrd", "scan", "a", "S1", ts=0)


def test_numpy_details_are_written_as_json(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "l.jsonl"
    Ledger(path).record("xrd", "scan", "a", "S1", step=np.float64(0.02), rng=np.arange(3))
    entry = json.loads(path.read_text())
    assert entry["step"] == 0.02 and entry["rng"] == [0, 1, 2]


def _append_many(path: str, tag: str) -> None:
    ledger = Ledger(path)
    for i in range(50):
        ledger.record("sim", "act", f"{tag}{i}", None, pad="x" * 200)


def test_concurrent_processes_never_interleave_lines(tmp_path: Path) -> None:
    path = str(tmp_path / "l.jsonl")
    procs = [multiprocessing.get_context("spawn").Process(target=_append_many, args=(path, t)) for t in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ids = [e["command_id"] for e in read_ledger(path)]
    assert sorted(ids) == sorted([f"{t}{i}" for t in "ab" for i in range(50)])
