"""The incremental planner history equals a full re-read of the store after any sequence of events.

Real SQLite files; the operator's decisions go through a second connection,
as ``labpilot approve/reject/override`` do, so the cache must see writes it did
not make.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as hs

from labpilot.agent import store as st
from labpilot.agent.history import HistoryCache, best_experiment, planner_history
from labpilot.agent.pareto import front_size
from labpilot.agent.store import Store
from labpilot.errors import StoreError

OBJECTIVES = ["m", "h"]

_add = hs.tuples(hs.just("add"), hs.sampled_from([st.AWAITING_APPROVAL, st.APPROVED]), hs.floats(0, 1))
_event = hs.one_of(
    _add, _add, _add,
    hs.tuples(hs.just("approve"), hs.integers(0, 3)),
    hs.tuples(hs.just("reject"), hs.integers(0, 3)),
    hs.tuples(hs.just("override"), hs.integers(0, 3), hs.floats(0, 1)),
    hs.tuples(hs.just("synthesize"), hs.integers(0, 3)),
    hs.tuples(hs.just("measure"), hs.integers(0, 3), hs.sampled_from(["a", "b"]), hs.floats(-5, 5),
              hs.booleans()),
    hs.tuples(hs.just("complete"), hs.integers(0, 3)),
    hs.tuples(hs.just("fail"), hs.integers(0, 3)),
    hs.tuples(hs.just("abandon"), hs.integers(0, 3)),
    hs.tuples(hs.just("unknown"), hs.integers(0, 3)),
)


def _apply(agent: Store, operator: Store, event: tuple) -> None:
    """One event, as the agent (``agent``) or an operator (``operator``, another connection) makes it."""
    kind, *args = event
    ids = [e.id for e in agent.experiments()]
    if kind == "add":
        agent.add_experiment({"x": args[1]}, args[0], "planner")
        return
    if not ids:
        return
    eid = ids[args[0] % len(ids)]
    status = agent.experiment(eid).status
    try:
        if kind == "approve" and status == st.AWAITING_APPROVAL:
            operator.update_experiment(eid, status=st.APPROVED, event="approved", expect=(st.AWAITING_APPROVAL,))
        elif kind == "reject" and status == st.AWAITING_APPROVAL:
            operator.update_experiment(eid, status=st.REJECTED, event="rejected", expect=(st.AWAITING_APPROVAL,))
        elif kind == "override" and status in (st.AWAITING_APPROVAL, st.APPROVED):
            operator.update_experiment(eid, params={"x": args[1]}, chosen_by="operator", event="overridden")
        elif kind == "synthesize" and status == st.APPROVED:
            with agent.atomic():
                agent.update_experiment(eid, status=st.SYNTHESIZING, event="synthesizing")
                agent.command_sent(f"c{eid}s", eid, "synth", "synthesize")
            agent.synthesis_done(f"c{eid}s", eid, f"S{eid}", {})
        elif kind == "measure" and status in (st.SYNTHESIZED, st.MEASURING):
            name = "m" if args[3] else "h"
            agent.command_sent(f"c{eid}{args[1]}", eid, args[1], "measure")
            agent.measurement_done(f"c{eid}{args[1]}", eid, args[1], {name: args[2], "other": 1.0}, {})
        elif kind == "complete" and status in (st.SYNTHESIZED, st.MEASURING):
            agent.update_experiment(eid, status=st.COMPLETED, event="completed")
        elif kind == "fail" and status not in st.TERMINAL:
            agent.update_experiment(eid, status=st.FAILED, error="x", event="failed")
        elif kind == "abandon" and status not in st.TERMINAL:
            operator.update_experiment(eid, status=st.ABANDONED, event="abandoned")
        elif kind == "unknown" and status in (st.SYNTHESIZED, st.MEASURING):
            agent.command_sent(f"c{eid}u", eid, "u", "measure")
            agent.mark_outcome_unknown(f"c{eid}u", eid, why="test")
    except st.StaleExperiment:
        pass


def _same(cache: HistoryCache, store: Store) -> None:
    assert cache.trials() == planner_history(store, OBJECTIVES)
    assert cache.counts() == store.counts()
    for direction in ("maximize", "minimize"):
        best = best_experiment(store, "m", direction)
        assert cache.best_value("m", direction) == (None if best is None else best.scalars["m"])
    done = [t.values for t in planner_history(store, OBJECTIVES) if t.status == "completed"]
    for directions in (("maximize", "maximize"), ("maximize", "minimize")):  # kept up to date since the first ask
        objectives = list(zip(OBJECTIVES, directions))
        assert cache.pareto_front_size(objectives) == front_size(done, [{"name": n, "direction": d}
                                                                         for n, d in objectives])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=hs.lists(_event, max_size=6), events=hs.lists(_event, max_size=40))
@example(before=[("add", st.APPROVED, 0.2)],  # measured, not yet completed: not the best
         events=[("add", st.APPROVED, 0.5), ("synthesize", 1), ("measure", 1, "a", 3.0, True), ("complete", 0),
                 ("synthesize", 0), ("measure", 0, "b", 1.0, True), ("complete", 0), ("reject", 1)])
def test_incremental_history_equals_a_full_read(before: list[tuple], events: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.db"
        agent = Store.create(path, "c", {}, "")
        operator = Store.open(path)
        try:
            for event in before:  # what an earlier run left: the cache starts from it
                _apply(agent, operator, event)
            cache = HistoryCache(agent, OBJECTIVES)
            _same(cache, agent)
            for event in events:
                _apply(agent, operator, event)
                _same(cache, agent)
        finally:
            operator.close()
            agent.close()


def test_arrays_reach_the_cached_history(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    cache = HistoryCache(store, ["m"], with_arrays=True)
    eid = store.add_experiment({"x": 0.5}, st.APPROVED, "planner")
    store.command_sent("c1", eid, "xrd", "measure")
    store.measurement_done("c1", eid, "xrd", {"m": 1.0}, {"counts": np.arange(4.0)})
    store.update_experiment(eid, status=st.COMPLETED, event="completed")
    [cached] = cache.trials()
    [fresh] = planner_history(store, ["m"], with_arrays=True)
    assert cached.status == fresh.status == "completed"
    assert sorted(cached.measured) == sorted(fresh.measured) == ["xrd", "xrd.counts"]
    assert np.array_equal(cached.measured["xrd"], fresh.measured["xrd"])


def test_a_refused_conditional_update_inside_atomic_leaves_the_rest(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    eid = store.add_experiment({"x": 0.5}, st.AWAITING_APPROVAL, "planner")
    with store.atomic():
        try:
            store.update_experiment(eid, status=st.SYNTHESIZING, expect=(st.APPROVED,))
        except st.StaleExperiment:
            pass
        store.log_event("note", eid)
    assert store.experiment(eid).status == st.AWAITING_APPROVAL
    assert [e["kind"] for e in store.events()][-1] == "note"


def test_a_write_that_failed_midway_fails_the_whole_block_even_if_caught(tmp_path: Path, monkeypatch) -> None:
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    real_event = store._event

    def failing_event(kind: str, *a: object) -> int:
        if kind == "experiment_added":  # after the experiment's row went in
            raise sqlite3.OperationalError("database or disk is full")
        return real_event(kind, *a)

    monkeypatch.setattr(store, "_event", failing_event)
    with pytest.raises(StoreError, match="none of it was kept"):
        with store.atomic():
            store.log_event("before", None)
            try:
                store.add_experiment({"x": 0.5}, st.APPROVED, "planner")
            except st.StoreUnavailable:
                pass  # swallowed: the block must still not commit half of it
    monkeypatch.undo()
    assert store.experiments() == []
    assert "before" not in [e["kind"] for e in store.events()]
    store.log_event("after", None)  # the store is usable again
    assert [e["kind"] for e in store.events()][-1] == "after"


def test_nothing_inside_atomic_is_kept_when_the_block_fails(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    try:
        with store.atomic():
            store.add_experiment({"x": 0.5}, st.APPROVED, "planner")
            raise RuntimeError("crash before the commit")
    except RuntimeError:
        pass
    assert store.experiments() == []
    assert Store.open(tmp_path / "c.db").experiments() == []


def test_the_experiment_it_hands_out_is_the_stores_even_after_another_connection_wrote(tmp_path: Path) -> None:
    """``HistoryCache.experiment`` (the runner's look-up of the experiment it concluded) equals a fresh read."""
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    cache = HistoryCache(store, OBJECTIVES)
    eid = store.add_experiment({"x": 0.5}, st.AWAITING_APPROVAL, "planner")
    assert cache.experiment(eid) == store.experiment(eid)
    operator = Store.open(tmp_path / "c.db")  # `labpilot override`: another connection
    operator.update_experiment(eid, params={"x": 0.25}, event="overridden")
    operator.close()
    assert cache.experiment(eid).params == {"x": 0.25}
    assert cache.experiment(eid) == store.experiment(eid)
    # an experiment it never read (it keeps only the last few whole) comes from the store
    for i in range(300):
        store.add_experiment({"x": i / 300}, st.APPROVED, "planner")
    assert cache.experiment(eid) == store.experiment(eid)


def test_the_pareto_front_is_kept_up_to_date_one_completion_at_a_time(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    rng = np.random.default_rng(3)
    for i in range(4):  # what an earlier run left: read in one pass at the first ask
        eid = store.add_experiment({"x": i / 10}, st.APPROVED, "planner")
        store.command_sent(f"o{i}", eid, "a", "measure")
        store.measurement_done(f"o{i}", eid, "a", {"m": float(rng.integers(3)), "h": float(rng.integers(3))}, {})
        store.update_experiment(eid, status=st.COMPLETED, event="completed")
    cache = HistoryCache(store, OBJECTIVES)
    objectives = [("m", "maximize"), ("h", "minimize")]
    sizes = []
    for i in range(30):
        eid = store.add_experiment({"x": rng.random()}, st.APPROVED, "planner")
        store.command_sent(f"c{i}", eid, "a", "measure")
        store.measurement_done(f"c{i}", eid, "a", {"m": float(rng.integers(6)), "h": float(rng.integers(6))}, {})
        store.update_experiment(eid, status=st.COMPLETED if i % 5 else st.FAILED, event="done")
        done = [t.values for t in planner_history(store, OBJECTIVES) if t.status == "completed"]
        sizes.append(cache.pareto_front_size(objectives))
        assert sizes[-1] == front_size(done, [{"name": n, "direction": d} for n, d in objectives])
    assert len(set(sizes)) > 1  # the front did change along the way
    store.close()
