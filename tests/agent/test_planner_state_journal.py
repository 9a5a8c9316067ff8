"""The planner state travels through the campaign database: a resumed agent proposes what an uninterrupted one would."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from labpilot.agent.history import last_planner_state
from labpilot.agent.store import Store
from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner

SPACE = Space((ContinuousParam("a", 0.0, 1.0), ContinuousParam("b", 0.0, 1.0)))
OPTS = {"refit_every": 4, "num_restarts": 2, "raw_samples": 32, "maxiter": 20}


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _y(p: dict) -> float:
    return -(p["a"] - 0.3) ** 2 - (p["b"] - 0.6) ** 2


def test_state_journaled_in_planned_events_resumes_exact_proposals(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store = Store.create(db, "demo", {"name": "demo"}, "name = 'demo'\n")
    assert last_planner_state(store, "bo") is None
    history = [Trial(p, "completed", {"y": _y(p)}) for p in ({"a": 0.1, "b": 0.1}, {"a": 0.9, "b": 0.5}, {"a": 0.5, "b": 0.9})]
    agent = make_planner("bo", SPACE, [Objective("y")], seed=5, options=OPTS)
    for step in range(3):
        # what the runner does after each planning step
        props = agent.propose(history, 1)
        store.log_event("planned", planner="bo", k=1, ahead=False, seconds=0.0, planner_state=agent.state())
        history.append(Trial(props[0].params, "completed", {"y": _y(props[0].params)}))
    store.log_event("planned", planner="space-filling", k=1, ahead=False, seconds=0.0)  # other events in between
    # the agent is killed here; a new process opens the database and builds a fresh planner
    resumed = make_planner("bo", SPACE, [Objective("y")], seed=5, options=OPTS)
    resumed.load_state(last_planner_state(Store.open(db), "bo"))
    a, b = agent.propose(history, 1)[0], resumed.propose(history, 1)[0]
    assert a.params == b.params and a.score == b.score
    assert agent.last_fit == resumed.last_fit == ["warm"]
    # without the journal the resumed planner would have fitted from scratch
    cold = make_planner("bo", SPACE, [Objective("y")], seed=5, options=OPTS)
    cold.propose(history, 1)
    assert cold.last_fit[0].startswith("full")
