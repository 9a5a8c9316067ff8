"""The tray is the physical rack shared by simulator processes through one SQLite file."""

import multiprocessing
from pathlib import Path

import pytest

from labpilot.simulators.tray import Tray


def test_put_then_get_round_trips_truth(tmp_path: Path) -> None:
    with Tray(tmp_path / "tray.db") as tray:
        tray.put("S1", "alloy", {"composition": {"Fe": 0.75, "Co": 0.25}, "phase": "bcc"})
        world, truth = tray.get("S1")
    assert world == "alloy"
    assert truth["composition"]["Fe"] == 0.75 and truth["phase"] == "bcc"


def test_unknown_sample_is_a_keyerror_naming_it(tmp_path: Path) -> None:
    with Tray(tmp_path / "tray.db") as tray, pytest.raises(KeyError, match="S404"):
        tray.get("S404")


def test_same_put_twice_is_harmless_but_a_different_truth_is_refused(tmp_path: Path) -> None:
    with Tray(tmp_path / "tray.db") as tray:
        tray.put("S1", "polymer", {"mw": 300})
        tray.put("S1", "polymer", {"mw": 300})
        with pytest.raises(ValueError, match="S1"):
            tray.put("S1", "polymer", {"mw": 301})
        assert tray.ids() == ["S1"]
        assert "S1" in tray and "S2" not in tray


def test_uses_wal_so_readers_and_writers_can_share_it(tmp_path: Path) -> None:
    path = tmp_path / "tray.db"
    with Tray(path) as tray:
        mode = tray._conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"


def test_numpy_values_are_stored_as_plain_json(tmp_path: Path) -> None:
    import numpy as np

    with Tray(tmp_path / "t.db") as tray:
        tray.put("S1", "alloy", {"a": np.float64(3.6), "v": np.array([1.0, 2.0])})
        assert tray.get("S1")[1] == {"a": 3.6, "v": [1.0, 2.0]}


def _writer(path: str, prefix: str) -> None:
    tray = Tray(path)
    for i in range(40):
        tray.put(f"{prefix}{i}", "alloy", {"i": i})
    tray.close()


def test_several_processes_write_the_same_tray(tmp_path: Path) -> None:
    path = str(tmp_path / "tray.db")
    Tray(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, p)) for p in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with Tray(path) as tray:
        assert len(tray.ids()) == 120
        assert tray.get("b39") == ("alloy", {"i": 39})


def test_sample_ids_never_repeat_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Tray(path) as tray:
        first = [tray.new_sample_id("PP-") for _ in range(3)]
    with Tray(path) as tray:
        nxt = tray.new_sample_id("PP-")
        other = tray.new_sample_id("AF-")
    assert first == ["PP-00001", "PP-00002", "PP-00003"]
    assert nxt == "PP-00004" and other == "AF-00001"


def test_command_outcomes_survive_reopen_and_first_wins(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Tray(path) as tray:
        tray.save_command("robot", "c1/transfer", "done", {"sample_id": "PP-00001"})
        tray.save_command("robot", "c1/transfer", "failed", error="late")
        tray.save_command("robot", "c2", "failed", error="E301 interlock")
    with Tray(path) as tray:
        assert tray.load_command("robot", "c1/transfer") == {
            "state": "done", "result": {"sample_id": "PP-00001"}, "error": None}
        assert tray.load_command("robot", "c2")["error"] == "E301 interlock"
        assert tray.load_command("xrd", "c1/transfer") is None
        with pytest.raises(ValueError, match="running"):
            tray.save_command("robot", "c3", "running")


def test_in_memory_tray_for_runs_without_a_file() -> None:
    with Tray(None) as tray:
        tray.put("S1", "alloy", {"x": 1})
        assert tray.get("S1") == ("alloy", {"x": 1})
        with pytest.raises(KeyError, match="in memory"):
            tray.get("S2")
