"""``boed``: the planner contract, and that it asks where the model is most wrong."""

from __future__ import annotations

import numpy as np
import pytest

from labpilot.errors import PlannerError
from labpilot.planners.base import Trial, make_planner
from labpilot.planners.property_model import cross_validated_predictions
from labpilot.planners.space import Objective
from tests.planners.test_used import GRID, OBJ, SPACE, done, pattern, rows_of


def test_proposals_are_new_distinct_and_deterministic():
    hist = [done(i) for i in (0, 14, 30, 77, 100, 120, 150, 168)]
    hist.append(Trial({"x1": GRID[4][0], "x2": GRID[4][1]}, "pending"))
    hist.append(Trial({"x1": GRID[5][0], "x2": GRID[5][1]}, "rejected"))
    props = make_planner("boed", SPACE, [OBJ], seed=2).propose(hist, 3)
    got = rows_of(props)
    taken = {tuple(GRID[i]) for i in (0, 14, 30, 77, 100, 120, 150, 168, 4, 5)}
    assert len(set(got)) == 3 and not set(got) & taken
    assert all(p.score is not None and "CV error" in p.note for p in props)
    assert rows_of(make_planner("boed", SPACE, [OBJ], seed=2).propose(hist, 3)) == got


def test_sample_errors_are_the_models_cross_validated_errors():
    hist = [done(i) for i in (0, 14, 30, 77, 100, 120)]
    planner = make_planner("boed", SPACE, [OBJ], seed=0, options={"folds": 3, "model": "kernel_ridge"})
    from labpilot.planners.design import measured_history

    data = measured_history(SPACE, OBJ, hist, "xrd")
    pred = cross_validated_predictions(data.z, data.y, "kernel_ridge", 5, folds=3, seed=0)
    np.testing.assert_allclose(planner.sample_errors(data), np.abs(data.y - pred))


def test_asks_where_the_model_errs():
    # the property is erratic (unpredictable from the pattern) where x1 > 0.7,
    # smooth elsewhere: the largest cross-validated errors sit there
    rng = np.random.default_rng(0)
    seen = rng.choice(len(GRID), 30, replace=False)
    hist = []
    for i in seen:
        t = done(int(i))
        if GRID[i][0] > 0.7:
            t.values["strength"] += float(rng.choice([-3.0, 3.0]))
        hist.append(t)
    (p,) = make_planner("boed", SPACE, [OBJ], seed=0).propose(hist, 1)
    assert p.params["x1"] > 0.6


@pytest.mark.parametrize(
    "options, message",
    [({"folds": 1}, "folds"), ({"folds": "all"}, "folds"), ({"n_mc": 8}, "planner.options.n_mc: unknown option")],
)
def test_bad_settings_are_refused(options, message):
    with pytest.raises(PlannerError, match=message):
        make_planner("boed", SPACE, [OBJ], options=options)


def test_fe_ga_pd_library(fe_ga_pd):
    comp, xrd, mag = fe_ga_pd.composition, fe_ga_pd.xrd, fe_ga_pd.magnetization
    from labpilot.planners.space import ContinuousParam, Space

    space = Space(tuple(ContinuousParam(n, 0, 1) for n in ("Fe", "Ga", "Pd")), pool=comp)
    seen = np.random.default_rng(1).choice(len(comp), 10, replace=False)
    hist = [Trial(dict(zip(("Fe", "Ga", "Pd"), comp[i])), "completed", {"mag": mag[i]}, {"xrd": xrd[i]}) for i in seen]
    (p,) = make_planner("boed", space, [Objective("mag")], seed=0).propose(hist, 1)
    row = tuple(p.params[n] for n in ("Fe", "Ga", "Pd"))
    assert row in {tuple(r) for r in comp.tolist()} - {tuple(comp[i]) for i in seen}
    _ = pattern  # shared world helpers come from test_used
