"""``ae-bo``: the planner contract, and that it finds good compositions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from labpilot.errors import PlannerError
from labpilot.planners.base import Trial, make_planner
from labpilot.planners.space import ContinuousParam, Objective, SimplexConstraint, Space

NAMES = ("Fe", "Co", "Ni")
GRID = np.array([c for c in itertools.product(range(11), repeat=3) if sum(c) == 10], dtype=float) / 10
POOL_SPACE = Space(tuple(ContinuousParam(n, 0, 1) for n in NAMES), (SimplexConstraint(NAMES),), pool=GRID)
OBJ = Objective("m", "maximize")
FAST = {"ae_steps": 200, "latent_dim": 2}


def value(row) -> float:
    """A smooth made-up property peaking at Fe0.7Co0.3 (Slater-Pauling-like)."""
    return float(-((row[0] - 0.7) ** 2) - (row[1] - 0.3) ** 2)


def trial(row, status="completed") -> Trial:
    params = dict(zip(NAMES, map(float, row)))
    return Trial(params, status, {"m": value(row)} if status == "completed" else {})


def history(rows, **extra) -> list[Trial]:
    out = [trial(GRID[i]) for i in rows]
    for status, idx in extra.items():
        out += [trial(GRID[i], status) for i in idx]
    return out


def rows_of(proposals) -> list[tuple]:
    return [tuple(p.params[n] for n in NAMES) for p in proposals]


def test_random_start_then_model_proposals_are_new_distinct_pool_rows():
    planner = make_planner("ae-bo", POOL_SPACE, [OBJ], seed=1, options=FAST)
    first = planner.propose([], 3)
    assert len(first) == 3 and all("random start" in p.note for p in first)
    hist = history([0, 5, 9, 20, 33, 40], failed=[50], pending=[60], rejected=[61])
    props = planner.propose(hist, 4)
    got = rows_of(props)
    assert len(got) == 4 and len(set(got)) == 4
    pool_rows = {tuple(r) for r in GRID.tolist()}
    taken = {tuple(GRID[i]) for i in [0, 5, 9, 20, 33, 40, 50, 60, 61]}
    assert set(got) <= pool_rows and not set(got) & taken
    assert all(p.score is not None and "latent" in p.note for p in props)
    again = make_planner("ae-bo", POOL_SPACE, [OBJ], seed=1, options=FAST).propose(hist, 4)
    assert rows_of(again) == got


def test_too_many_points_for_the_pool_is_refused():
    planner = make_planner("ae-bo", POOL_SPACE, [OBJ], seed=0, options=FAST)
    hist = history(range(60))
    with pytest.raises(PlannerError, match=f"only {len(GRID) - 60} of {len(GRID)} pool rows"):
        planner.propose(hist, 7)


def test_finds_a_good_composition_from_few_observations():
    rng = np.random.default_rng(5)
    seen = list(rng.choice(len(GRID), 10, replace=False))
    planner = make_planner("ae-bo", POOL_SPACE, [OBJ], seed=0, options={"ae_steps": 400, "latent_dim": 2})
    best = planner.propose(history(seen), 1)[0]
    remaining = np.array([value(GRID[i]) for i in range(len(GRID)) if i not in seen])
    # the proposal is among the best fifth of what is left to measure
    assert value([best.params[n] for n in NAMES]) >= np.quantile(remaining, 0.8)


def test_continuous_simplex_space_gets_constraint_satisfying_points():
    space = Space(POOL_SPACE.params, POOL_SPACE.simplex)
    planner = make_planner("ae-bo", space, [OBJ], seed=0, options={**FAST, "n_candidates": 300})
    hist = [Trial(dict(zip(NAMES, r)), "completed", {"m": value(r)}) for r in GRID[[0, 10, 30, 50, 65]].tolist()]
    for p in planner.propose(hist, 2):
        assert space.contains(p.params) == []


@pytest.mark.parametrize(
    "options, message",
    [
        ({"depth": 3}, "planner.options.depth: unknown option"),
        ({"latent_dim": 9}, "latent_dim"),
        ({"acquisition": "pi"}, "acquisition"),
        ({"elements": ["Fe"]}, "planner.options.elements: must be a valid dictionary"),
        ({"elements": {"Fe": "Qq"}}, "Qq"),
        ({"elements": {"temperature": "Fe"}}, "not parameters"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(PlannerError, match=message):
        make_planner("ae-bo", POOL_SPACE, [OBJ], options=options)


def test_oer_plate_names_map_to_elements(oer_plate):
    data = oer_plate[:300]
    names = ["ni_load", "fe_load", "co_load", "mn_load", "ce_load", "la_load"]
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in names), pool=data[:, :6])
    obj = Objective("overpotential", "minimize")
    planner = make_planner("ae-bo", space, [obj], seed=0, options=FAST)
    assert planner.elements == dict(zip(names, ["Ni", "Fe", "Co", "Mn", "Ce", "La"]))
    assert planner.descriptors(data[:2, :6]).shape == (2, 36)
    hist = [Trial(dict(zip(names, r[:6])), "completed", {"overpotential": r[6]}) for r in data[:5].tolist()]
    props = planner.propose(hist, 2)
    pool = {tuple(r) for r in data[:, :6].tolist()}
    assert all(tuple(p.params[n] for n in names) in pool for p in props)


def test_auto_latent_does_not_compress_a_small_simplex():
    """3 elements = 2 free parameters: no autoencoder, the GP works on the parameters and still finds the peak."""
    planner = make_planner("ae-bo", POOL_SPACE, [OBJ], seed=0)
    assert planner.direct and planner.free_params == 2
    rows = [0, 20, 40, 60]
    for _ in range(5):
        p = planner.propose(history(rows), 1)[0]
        assert "not compressed" in p.note
        rows.append(int(np.nonzero((GRID == np.array(rows_of([p])[0])).all(1))[0][0]))
    assert max(value(GRID[i]) for i in rows) >= -0.021  # within two grid steps of Fe0.7Co0.3
    many = Space(tuple(ContinuousParam(f"x{i}", 0, 1) for i in range(10)))
    assert make_planner("ae-bo", many, [OBJ], seed=0).representation is None  # 10 free: the autoencoder decides
