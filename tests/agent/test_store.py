"""The SQLite store: durable across reopen, arrays round-trip, bad files are named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from labpilot.errors import StoreError
from labpilot.agent import store as st
from labpilot.agent.store import Store


def _new(tmp_path: Path) -> Store:
    return Store.create(tmp_path / "c.db", "demo", {"name": "demo"}, "name = 'demo'\n")


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    s = _new(tmp_path)
    eid = s.add_experiment({"Fe": 0.7, "Co": 0.3}, st.APPROVED, "planner", planner="bo", score=1.5)
    s.update_experiment(eid, status=st.SYNTHESIZING)
    s.command_sent("c1", eid, "sputter", "synthesize")
    s.synthesis_done("c1", eid, "S0001", {"powers_w": [100.0, 50.0]})
    pattern = np.linspace(0, 1, 3500, dtype=np.float32)
    s.command_sent("c2", eid, "xrd", "measure")
    s.measurement_done("c2", eid, "xrd", {"peak_two_theta": 44.7}, {"counts": pattern, "two_theta": pattern * 2})
    s.set_state("synthesizing")
    s.close()

    r = Store.open(tmp_path / "c.db")
    exp = r.experiment(eid)
    assert exp.params == {"Fe": 0.7, "Co": 0.3}
    assert exp.status == st.SYNTHESIZED and exp.sample_id == "S0001"
    assert exp.chosen_by == "planner" and exp.planner == "bo"
    assert exp.scalars == {"peak_two_theta": 44.7}
    arrays = r.arrays(eid, "xrd")
    np.testing.assert_array_equal(arrays["counts"], pattern)
    assert arrays["counts"].dtype == np.float32 and arrays["counts"].shape == (3500,)
    assert r.command("c1")["status"] == "done" and r.command("c1")["result"]["sample_id"] == "S0001"
    assert r.campaign()["state"] == "synthesizing"
    kinds = [e["kind"] for e in r.events()]
    assert kinds[:2] == ["campaign_created", "experiment_added"]
    assert "synthesized" in kinds and "measured" in kinds
    assert r.measured_instruments(eid) == {"xrd"}


def test_wal_mode(tmp_path: Path) -> None:
    _new(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "c.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_command_is_journaled_before_it_finishes(tmp_path: Path) -> None:
    s = _new(tmp_path)
    eid = s.add_experiment({"x": 1.0}, st.APPROVED, "initial")
    s.command_sent("cmd-1", eid, "sputter", "synthesize")
    # A second connection (another process, after a crash) sees the command as sent.
    other = Store.open(tmp_path / "c.db")
    assert other.command("cmd-1")["status"] == "sent"
    assert [c["id"] for c in other.commands("sent")] == ["cmd-1"]


def test_counts_cover_every_status(tmp_path: Path) -> None:
    s = _new(tmp_path)
    s.add_experiment({"x": 1}, st.COMPLETED, "planner")
    s.add_experiment({"x": 2}, st.REJECTED, "planner")
    c = s.counts()
    assert c["completed"] == 1 and c["rejected"] == 1 and c["failed"] == 0
    assert set(c) == set(st.EXPERIMENT_STATUSES)


def test_create_refuses_an_existing_campaign(tmp_path: Path) -> None:
    _new(tmp_path).close()
    with pytest.raises(StoreError, match="already holds campaign 'demo'"):
        _new(tmp_path)


def test_open_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("these are my lab notes, not a database\n" * 50)
    with pytest.raises(StoreError, match="not a labpilot campaign database"):
        Store.open(bad)
    assert bad.read_text().startswith("these are my lab notes")


def test_open_missing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no campaign database"):
        Store.open(tmp_path / "nothing.db")


def test_unknown_status_and_field_are_refused(tmp_path: Path) -> None:
    s = _new(tmp_path)
    eid = s.add_experiment({"x": 1}, st.APPROVED, "planner")
    with pytest.raises(StoreError, match="unknown experiment status"):
        s.update_experiment(eid, status="half-done")
    with pytest.raises(StoreError, match="cannot update"):
        s.update_experiment(eid, created=0)
    with pytest.raises(StoreError, match="no experiment with id 99"):
        s.update_experiment(99, status=st.FAILED)
    assert s.experiment(eid).status == st.APPROVED


def test_a_creation_cut_short_leaves_a_blank_file(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()  # a file exists, but a kill stopped creation before its one transaction
    assert Store.is_blank(db)
    Store.create(db, "demo", {}, "").close()
    assert not Store.is_blank(db)
    assert Store.open(db).campaign()["name"] == "demo"


def test_create_is_one_transaction(tmp_path: Path) -> None:
    s = _new(tmp_path)
    tables = {r[0] for r in s._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "campaign", "events", "experiments", "commands", "measurements"} <= tables


def test_conditional_update_refuses_a_stale_status(tmp_path: Path) -> None:
    s = _new(tmp_path)
    eid = s.add_experiment({"x": 1}, st.APPROVED, "planner")
    s.update_experiment(eid, status=st.SYNTHESIZING, expect=(st.APPROVED,))  # the agent starts it
    with pytest.raises(st.StaleExperiment, match="now synthesizing, no longer approved"):
        s.update_experiment(eid, params={"x": 2}, chosen_by="operator", expect=(st.APPROVED,))
    assert s.experiment(eid).params == {"x": 1}


def test_typed_meta_values_round_trip(tmp_path) -> None:  # noqa: ANN001
    s = Store.create(tmp_path / "m.db", "m", {"x": 1}, "")
    assert (s.pause_request(), s.resume_requested(), s.abort_request(), s.fault()) == (None, False, None, None)
    s.request_pause(now=True)
    s.request_resume()
    s.request_abort("end of shift")
    s.set_fault({"instrument": "xrd", "error": "lost", "experiment": 2})
    s.set_resume_to("measuring")
    s.set_control_endpoint("tcp://127.0.0.1:5555")
    s.set_dry_run_simulators([{"instrument": "xrd", "pid": 1}])
    again = Store.open(tmp_path / "m.db")
    assert again.pause_request() == "now" and again.resume_requested() and again.abort_request() == "end of shift"
    assert again.fault() == {"instrument": "xrd", "error": "lost", "experiment": 2}
    assert (again.resume_to(), again.control_endpoint()) == ("measuring", "tcp://127.0.0.1:5555")
    assert again.dry_run_simulators() == [{"instrument": "xrd", "pid": 1}]
    s.clear_pause_request()
    s.clear_resume_request()
    s.clear_abort_request()
    s.set_fault(None)
    s.set_control_endpoint(None)
    assert (again.pause_request(), again.resume_requested(), again.abort_request(), again.fault(),
            again.control_endpoint()) == (None, False, None, None, None)
