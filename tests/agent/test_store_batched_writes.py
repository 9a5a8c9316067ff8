"""Fewer statements, the same rows: what the store writes inside one transaction, and what it reads back.

Real SQLite files; statements counted with sqlite's own trace callback.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from labpilot.agent import store as st
from labpilot.agent.store import Store


def _traced(path: Path) -> tuple[Store, list[str]]:
    conn = Store._connect(path)
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    return Store(path, conn), seen


def test_an_atomic_blocks_journal_entries_are_one_statement_in_call_order(tmp_path: Path) -> None:
    Store.create(tmp_path / "c.db", "c", {}, "").close()
    store, seen = _traced(tmp_path / "c.db")
    before = store.last_event_seq()
    seen.clear()
    with store.atomic():
        eid = store.add_experiment({"x": 0.5}, st.APPROVED, "planner")
        store.set_state("synthesizing", previous="planning", trigger="synthesize")
        store.log_event("note", eid, n=1)
    inserts = [q for q in seen if q.startswith("INSERT INTO events")]
    assert len(inserts) == 1, seen
    got = store.events(since=before)
    assert [e["kind"] for e in got] == ["experiment_added", "state", "note"]
    assert [e["seq"] for e in got] == sorted(e["seq"] for e in got)
    assert got[1]["data"] == {"from": "planning", "to": "synthesizing", "trigger": "synthesize"}
    # committed: another connection sees every entry
    other = sqlite3.connect(str(tmp_path / "c.db"))
    assert other.execute("SELECT COUNT(*) FROM events WHERE seq > ?", (before,)).fetchone()[0] == 3
    other.close()


def test_inside_the_block_its_own_entries_are_read_back(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    with store.atomic():
        eid = store.add_experiment({"x": 0.5}, st.APPROVED, "planner")
        seq, changed = store.changed_experiments(0)
        assert eid in changed and seq == store.last_event_seq()
        assert store.events(kind="experiment_added")[-1]["experiment_id"] == eid
        store.log_event("after_read", eid)
    assert [e["kind"] for e in store.events()][-2:] == ["experiment_added", "after_read"]


def test_a_state_change_without_previous_reads_the_stored_one(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    store.set_state("planning")
    store.set_state("synthesizing")
    assert store.events(kind="state")[-1]["data"] == {"from": "planning", "to": "synthesizing"}


def test_a_results_rows_are_one_statement_and_an_array_still_replaces_a_scalar_of_its_name(tmp_path: Path) -> None:
    Store.create(tmp_path / "c.db", "c", {}, "").close()
    store, seen = _traced(tmp_path / "c.db")
    eid = store.add_experiment({"x": 0.5}, st.MEASURING, "planner")
    store.command_sent("c1", eid, "xrd", "measure")
    seen.clear()
    pattern = np.arange(6, dtype=np.float32).reshape(2, 3)
    store.measurement_done("c1", eid, "xrd", {"peak": 44.7, "width": float("nan")}, {"counts": pattern})
    assert len([q for q in seen if "INTO measurements" in q]) == 1, seen
    assert store.scalars(eid) == {"peak": 44.7}  # NaN is stored as NULL: not a measured value
    assert np.array_equal(store.arrays(eid, "xrd")["counts"], pattern)
    store.command_sent("c2", eid, "xrd", "measure")
    store.measurement_done("c2", eid, "xrd", {"peak": 45.0}, {"peak": np.ones(3)})  # one name, both kinds
    assert "peak" not in store.scalars(eid)
    assert np.array_equal(store.arrays(eid, "xrd")["peak"], np.ones(3))


def test_one_experiments_commands_in_the_order_sent(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    a = store.add_experiment({"x": 0.1}, st.APPROVED, "planner")
    b = store.add_experiment({"x": 0.2}, st.APPROVED, "planner")
    store.command_sent("a-s", a, "sputter", "synthesize")
    store.command_sent("b-s", b, "sputter", "synthesize")
    store.synthesis_done("a-s", a, "S1", {"k": 1})
    store.command_sent("a-x", a, "xrd", "measure")
    assert [c["id"] for c in store.commands_of(a)] == ["a-s", "a-x"]
    assert [c["id"] for c in store.commands_of(a, "done")] == ["a-s"]
    assert store.commands_of(a, "done")[0]["result"] == {"sample_id": "S1", "info": {"k": 1}}
    assert [c["id"] for c in store.commands_of(b)] == ["b-s"]
    assert store.last_update() == max(e.updated for e in store.experiments())


def test_the_checkpoint_read_matches_its_two_parts(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "c", {"budget": 3}, "")
    assert store.requests_and_config() == (*store.requests(), store.config_text())
    store.request_pause(now=True)
    store.request_abort("enough")
    assert store.requests_and_config() == ("enough", "now", store.config_text())
