"""The history a planner is handed is a snapshot: nothing later changes it, and it cannot change the cache.

``TrialLog`` against a model that copies the whole list at every snapshot
(property-tested: any interleaving of appends, in-place changes, snapshots
and dropped views); and through ``HistoryCache`` on a real SQLite store, with
planners that try to change what they get or hold it across steps.
"""

from __future__ import annotations

import copy
import gc
import pickle
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from labpilot.agent import store as st
from labpilot.agent.history import HistoryCache, planner_history
from labpilot.agent.history_view import HistoryView, TrialLog
from labpilot.agent.store import Store
from labpilot.planners.base import COMPLETED, PENDING, Trial


def _trial(x: float, status: str = PENDING) -> Trial:
    return Trial(params={"x": x}, status=status)


_op = hs.one_of(
    hs.tuples(hs.just("append"), hs.floats(0, 1)),
    hs.tuples(hs.just("set"), hs.integers(0, 50), hs.floats(0, 1)),
    hs.tuples(hs.just("snapshot")),
    hs.tuples(hs.just("drop"), hs.integers(0, 10)),
    hs.tuples(hs.just("read"), hs.integers(0, 10)),
)


@settings(max_examples=100, deadline=None)
@given(start=hs.lists(hs.floats(0, 1), max_size=5), ops=hs.lists(_op, max_size=80))
def test_every_live_view_keeps_its_moment(start: list[float], ops: list[tuple]) -> None:
    model = [_trial(x) for x in start]
    log = TrialLog(model)
    views: list[tuple[HistoryView, list[Trial]]] = []
    for op in ops:
        if op[0] == "append":
            t = _trial(op[1])
            log.append(t)
            model.append(t)
        elif op[0] == "set" and model:
            i, t = op[1] % len(model), _trial(op[2], COMPLETED)
            log[i] = t
            model[i] = t
        elif op[0] == "snapshot":
            views.append((log.snapshot(), list(model)))
        elif op[0] == "drop" and views:
            del views[op[1] % len(views)]
            gc.collect()  # the log may now forget what only that view could read
        elif op[0] == "read" and views:  # a reader iterates it (a copy of its own, every time)
            view, moment = views[op[1] % len(views)]
            assert list(view) == moment and view == moment and list(reversed(view)) == moment[::-1]
        for view, moment in views:  # by index: reads the log as of the view's moment, copies nothing
            assert len(view) == len(moment)
            assert all(view[i] is moment[i] for i in range(len(moment)))
            if moment:
                assert view[-1] is moment[-1]
    for view, moment in views:
        assert view == moment
    assert log.snapshot() == model


def test_a_view_is_read_only_and_copies_are_its_readers_own() -> None:
    log = TrialLog([_trial(0.1), _trial(0.2)])
    view = log.snapshot()
    with pytest.raises(AttributeError):
        view.append(_trial(0.3))  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        view[0] = _trial(0.3)  # type: ignore[index]
    with pytest.raises(IndexError):
        view[2]
    mine = list(view)
    mine.append(_trial(0.4))
    part = view[:1]
    part.clear()
    assert len(view) == 2 and log.snapshot() == view and len(log) == 2
    pickled = pickle.loads(pickle.dumps(view))
    assert type(pickled) is list and pickled == view
    copied = copy.deepcopy(view)  # a planner's own copy: a plain list, its trials its own
    copied[0].params["x"] = 9.0
    assert type(copied) is list and view[0].params["x"] == 0.1


class _GreedyPlanner:
    """Changes the history it is handed as far as it can, and keeps each one."""

    def __init__(self) -> None:
        self.held: list[tuple[HistoryView, list[Trial]]] = []

    def propose(self, history: HistoryView, copy: bool) -> None:
        self.held.append((history, [history[i] for i in range(len(history))]))
        if copy:  # a copy is the planner's own to change
            as_list = list(history)
            as_list.reverse()
            as_list.append(_trial(9.0))
        for attempt in (lambda: history.append(_trial(9.0)), lambda: history.__setitem__(0, _trial(9.0)),
                        lambda: history.__delitem__(0), lambda: history.sort()):
            with pytest.raises((AttributeError, TypeError)):
                attempt()  # type: ignore[no-untyped-call]


def test_a_planner_that_changes_and_holds_its_history_cannot_corrupt_the_cache(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "c", {}, "")
    for x in (0.1, 0.2, 0.3):
        store.add_experiment({"x": x}, st.APPROVED, "planner")
    cache = HistoryCache(store, ["m"])
    planner = _GreedyPlanner()
    for step in range(6):
        planner.propose(cache.trials(), copy=step % 2 == 1)
        eid = store.add_experiment({"x": 0.5 + step / 10}, st.APPROVED, "planner")  # appended after the view
        first = store.experiments()[step].id  # and an experiment the held views cover changes
        store.command_sent(f"c{step}", first, "a", "measure")
        store.measurement_done(f"c{step}", first, "a", {"m": float(step)}, {})
        store.update_experiment(first, status=st.COMPLETED, event="completed")
        assert cache.trials() == planner_history(store, ["m"])
        assert cache.trial(eid) is not None
    for view, moment in planner.held:  # each one still shows the moment it was taken
        assert view == moment and list(view) == moment
    statuses = [t.status for t in planner.held[0][0]]
    assert statuses == [PENDING] * 3  # not the completions that came after it
    assert planner.held[-1][0] != cache.trials()
    store.close()


def test_a_view_read_on_another_thread_while_the_log_changes_keeps_its_moment() -> None:
    log = TrialLog(_trial(i / 1000) for i in range(500))
    view = log.snapshot()
    moment = [view[i] for i in range(len(view))]
    stop = threading.Event()
    seen: list[bool] = []

    def read() -> None:
        while not stop.is_set():
            # the held view, by index (nothing cached), and a view of its own taken while the writer goes on
            held = all(view[i] is moment[i] for i in range(0, 500, 3))
            fresh = log.snapshot()
            by_index = [fresh[i] for i in range(len(fresh))]
            seen.append(held and len(fresh) >= 500 and list(fresh) == by_index)

    reader = threading.Thread(target=read)
    reader.start()
    for round_ in range(20):
        for i in range(0, 500, 7):
            log[i] = _trial(round_ + i / 1000, COMPLETED)
        log.append(_trial(round_))
    stop.set()
    reader.join()
    assert seen and all(seen)
    assert list(view) == moment
