"""GP planners say what they expect at each proposal: mean and std per objective, in its own units."""

from __future__ import annotations

import numpy as np

from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner
from labpilot.planners.random_planner import initial_design


def line(p: dict) -> float:
    return 100.0 + 50.0 * p["a"]


def test_bo_predictions_are_in_the_objectives_units_and_sign() -> None:
    space = Space((ContinuousParam("a", 0.0, 1.0), ContinuousParam("b", 0.0, 1.0)))
    history = [Trial(p, "completed", {"cost": line(p)}) for p in initial_design(space, 10, seed=1)]
    # minimize: the model works on -cost inside; the prediction must come back as cost
    proposals = make_planner("bo", space, [Objective("cost", "minimize")], seed=3).propose(history, k=2)
    for p in proposals:
        mean, std = p.predicted["cost"]
        assert abs(mean - line(p.params)) < 10.0, (mean, p.params)
        assert 0.0 <= std < 20.0


def test_mobo_predicts_every_objective_and_random_predicts_nothing() -> None:
    space = Space((ContinuousParam("a", 0.0, 1.0), ContinuousParam("b", 0.0, 1.0)))
    objs = [Objective("u"), Objective("v", "minimize")]
    history = [Trial(p, "completed", {"u": p["a"], "v": p["b"] * 3}) for p in initial_design(space, 8, seed=2)]
    (p,) = make_planner("mobo", space, objs, seed=1).propose(history, k=1)
    assert set(p.predicted) == {"u", "v"}
    assert np.isfinite(p.predicted["v"][0]) and p.predicted["v"][1] >= 0
    assert abs(p.predicted["v"][0] - 3 * p.params["b"]) < 1.0
    (r,) = make_planner("random", space, objs, seed=1).propose(history, k=1)
    assert r.predicted is None
