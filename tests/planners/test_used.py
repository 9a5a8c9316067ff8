"""``used``: the planner contract, and that it asks where the property is least predictable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from labpilot.errors import PlannerError
from labpilot.planners.base import Trial, make_planner
from labpilot.planners.space import ContinuousParam, Objective, Space

AXIS = np.linspace(0, 1, 13)
GRID = np.array(list(itertools.product(AXIS, AXIS)))
SPACE = Space((ContinuousParam("x1", 0, 1), ContinuousParam("x2", 0, 1)), pool=GRID)
OBJ = Objective("strength")
TWO_THETA = np.linspace(0, 1, 80)


def pattern(row) -> np.ndarray:
    """A made-up XRD pattern: one peak whose position follows x1 and height follows x2."""
    return (1 + row[1]) * np.exp(-((TWO_THETA - 0.2 - 0.6 * row[0]) ** 2) / 0.005)


def prop(row) -> float:
    return float(np.sin(3 * row[0]) + row[1])


def done(i: int, **measured) -> Trial:
    row = GRID[i]
    return Trial({"x1": row[0], "x2": row[1]}, "completed", {"strength": prop(row)}, measured or {"xrd": pattern(row)})


def rows_of(props) -> list[tuple]:
    return [(p.params["x1"], p.params["x2"]) for p in props]


def test_random_start_until_enough_samples_with_the_descriptor():
    planner = make_planner("used", SPACE, [OBJ], seed=0)
    props = planner.propose([done(0), done(5)], 2)
    assert len(props) == 2 and all("random start (2 of 3" in p.note for p in props)


def test_proposals_are_new_distinct_and_deterministic():
    hist = [done(i) for i in (0, 14, 30, 77, 100, 120, 150, 168)]
    hist.append(Trial({"x1": GRID[3][0], "x2": GRID[3][1]}, "failed"))
    hist.append(Trial({"x1": GRID[4][0], "x2": GRID[4][1]}, "pending"))
    hist.append(Trial({"x1": GRID[6][0], "x2": GRID[6][1]}, "completed", {"strength": 1.0}))  # no xrd
    props = make_planner("used", SPACE, [OBJ], seed=3, options={"n_components": 3}).propose(hist, 3)
    got = rows_of(props)
    taken = {tuple(GRID[i]) for i in (0, 14, 30, 77, 100, 120, 150, 168, 3, 4, 6)}
    assert len(set(got)) == 3 and not set(got) & taken
    assert set(got) <= {tuple(r) for r in GRID.tolist()}
    assert all(p.score > 0 and "trial 10 has no measured xrd" in p.note for p in props)
    again = make_planner("used", SPACE, [OBJ], seed=3, options={"n_components": 3}).propose(hist, 3)
    assert rows_of(again) == got


def test_asks_where_nothing_has_been_measured():
    # every sample so far has x1 < 0.4: the pattern, hence the property, is unknown beyond
    seen = [i for i, r in enumerate(GRID) if r[0] < 0.4][::3]
    planner = make_planner("used", SPACE, [OBJ], seed=0, options={"n_components": 3})
    (p,) = planner.propose([done(i) for i in seen], 1)
    # far from the data (beyond a GP length scale the uncertainty saturates, so
    # any point well outside the sampled band is a right answer)
    assert p.params["x1"] > 0.5


def test_kernel_ridge_model_works_too():
    hist = [done(i) for i in (0, 14, 30, 77, 100, 168)]
    (p,) = make_planner("used", SPACE, [OBJ], seed=0, options={"model": "kernel_ridge"}).propose(hist, 1)
    assert "kernel_ridge" in p.note


def test_descriptor_choice_and_errors():
    two = [done(i, xrd=pattern(GRID[i]), dsc=np.ones(5)) for i in (0, 14, 30, 77)]
    with pytest.raises(PlannerError, match=r"several measured descriptors \['dsc', 'xrd'\]"):
        make_planner("used", SPACE, [OBJ]).propose(two, 1)
    assert make_planner("used", SPACE, [OBJ], options={"descriptor": "xrd"}).propose(two, 1)
    ragged = [done(0), done(14), done(30, xrd=np.ones(7))]
    with pytest.raises(PlannerError, match="trial 2: measured 'xrd' has 7 values"):
        make_planner("used", SPACE, [OBJ]).propose(ragged, 1)
    with pytest.raises(PlannerError, match="only 2 of 169 pool rows"):
        make_planner("used", SPACE, [OBJ]).propose([done(i) for i in range(167)], 3)


@pytest.mark.parametrize(
    "options, objectives, message",
    [
        ({"model": "forest"}, [OBJ], "planner.options.model: must be"),
        ({"n_components": 0}, [OBJ], "n_components"),
        ({"n_mc": 1}, [OBJ], "n_mc"),
        ({"folds": 3}, [OBJ], "planner.options.folds: unknown option"),
        ({}, [OBJ, Objective("other")], "one property"),
    ],
)
def test_bad_settings_are_refused(options, objectives, message):
    with pytest.raises(PlannerError, match=message):
        make_planner("used", SPACE, objectives, options=options)


def test_fe_ga_pd_library(fe_ga_pd):
    comp, xrd, mag = fe_ga_pd.composition, fe_ga_pd.xrd, fe_ga_pd.magnetization
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in ("Fe", "Ga", "Pd")), pool=comp)
    seen = np.random.default_rng(0).choice(len(comp), 10, replace=False)
    hist = [Trial(dict(zip(("Fe", "Ga", "Pd"), comp[i])), "completed", {"mag": mag[i]}, {"xrd": xrd[i]}) for i in seen]
    (p,) = make_planner("used", space, [Objective("mag")], seed=0).propose(hist, 1)
    row = tuple(p.params[n] for n in ("Fe", "Ga", "Pd"))
    assert row in {tuple(r) for r in comp.tolist()} - {tuple(comp[i]) for i in seen}
