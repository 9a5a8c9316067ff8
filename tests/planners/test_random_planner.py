"""The ``random`` planner and the space-filling initial design."""

from __future__ import annotations

import numpy as np
import pytest

from labpilot.errors import PlannerError
from labpilot.planners import CategoricalParam, ContinuousParam, IntegerParam, Objective, SimplexConstraint, Space, Trial, make_planner
from labpilot.planners.random_planner import _hit_and_run, initial_design, sample_simplex
from tests.planners.checks import assert_feasible_on_simplex

ELEMENTS = ("Fe", "Co", "Ni", "Ir", "Pt")
OBJ = [Objective("magnetization")]


def alloy_space(high: dict[str, float] | None = None) -> Space:
    high = high or {"Fe": 1.0, "Co": 0.6, "Ni": 0.5, "Ir": 0.2, "Pt": 0.2}
    low = {"Fe": 0.2}
    return Space(
        tuple(ContinuousParam(e, low.get(e, 0.0), high[e]) for e in ELEMENTS),
        (SimplexConstraint(ELEMENTS),),
    )


def mixed_space() -> Space:
    return Space(
        (
            ContinuousParam("temperature", 20.0, 300.0),
            IntegerParam("cycles", 1, 5),
            CategoricalParam("gas", ("Ar", "N2", "O2")),
        )
    )


def test_simplex_proposals_sum_to_one_and_respect_bounds() -> None:
    space = alloy_space()
    props = make_planner("random", space, OBJ, seed=3).propose([], k=50)
    assert len(props) == 50
    assert_feasible_on_simplex(space, props, abs_tol=1e-9)


def test_same_seed_same_points_other_seed_other_points() -> None:
    space = alloy_space()
    a = make_planner("random", space, OBJ, seed=1).propose([], k=5)
    b = make_planner("random", space, OBJ, seed=1).propose([], k=5)
    c = make_planner("random", space, OBJ, seed=2).propose([], k=5)
    assert [p.params for p in a] == [p.params for p in b]
    assert [p.params for p in a] != [p.params for p in c]


def test_mixed_space_values_are_valid() -> None:
    space = mixed_space()
    props = make_planner("random", space, OBJ, seed=0).propose([], k=40)
    for p in props:
        assert space.contains(p.params) == []
        assert isinstance(p.params["cycles"], int)
    assert {p.params["gas"] for p in props} == {"Ar", "N2", "O2"}


def test_finite_space_never_repeats_and_says_when_exhausted() -> None:
    space = Space((IntegerParam("n", 1, 3), CategoricalParam("gas", ("Ar", "N2"))))
    history = [
        Trial({"n": 1, "gas": "Ar"}, "completed", {"magnetization": 1.0}),
        Trial({"n": 2, "gas": "Ar"}, "failed"),
        Trial({"n": 3, "gas": "Ar"}, "pending"),
        Trial({"n": 1, "gas": "N2"}, "rejected"),
    ]
    planner = make_planner("random", space, OBJ, seed=0)
    got = {(p.params["n"], p.params["gas"]) for p in planner.propose(history, k=2)}
    assert got == {(2, "N2"), (3, "N2")}
    with pytest.raises(PlannerError, match="only 6 distinct points"):
        planner.propose(history, k=3)


def test_pool_mode_picks_only_unused_rows() -> None:
    pool = np.array([[x, y] for x in range(5) for y in range(4)], dtype=float)
    space = Space((IntegerParam("x", 0, 4), IntegerParam("y", 0, 3)), pool=pool)
    history = [Trial({"x": i, "y": 0}, "completed", {"magnetization": float(i)}) for i in range(5)]
    history += [Trial({"x": 0, "y": 1}, "pending")]
    planner = make_planner("random", space, OBJ, seed=0)
    props = planner.propose(history, k=14)
    used = {(t.params["x"], t.params["y"]) for t in history}
    got = {(p.params["x"], p.params["y"]) for p in props}
    assert len(got) == 14 and not got & used
    with pytest.raises(PlannerError, match="only 14 of 20 pool rows are unused"):
        planner.propose(history, k=15)


@pytest.mark.parametrize("k", [0, -1, 1.5, "2"])
def test_bad_batch_size_is_refused(k) -> None:
    with pytest.raises(PlannerError, match="batch size"):
        make_planner("random", alloy_space(), OBJ).propose([], k=k)


def test_impossible_simplex_is_refused_with_reason() -> None:
    space = Space((ContinuousParam("a", 0, 0.3), ContinuousParam("b", 0, 0.3)), (SimplexConstraint(("a", "b")),))
    with pytest.raises(PlannerError, match=r"must sum to 1.*\[0, 0.6\]"):
        make_planner("random", space, OBJ)


def test_unknown_option_is_refused() -> None:
    with pytest.raises(PlannerError, match="no options"):
        make_planner("random", alloy_space(), OBJ, options={"acquisition": "ei"})


def test_hit_and_run_matches_exact_rejection_sampling() -> None:
    """Both simplex samplers must produce the same (uniform) distribution."""
    rng = np.random.default_rng(0)
    room = np.array([0.7, 0.5, 0.3, 0.3])
    exact = rng.dirichlet(np.ones(4), size=200_000)
    exact = exact[(exact <= room).all(axis=1)]
    walked = _hit_and_run(room, 1.0, 4000, rng)
    assert np.allclose(walked.sum(axis=1), 1.0)
    assert (walked >= -1e-12).all() and (walked <= room + 1e-12).all()
    assert np.abs(walked.mean(axis=0) - exact.mean(axis=0)).max() < 0.01
    assert np.abs(walked.std(axis=0) - exact.std(axis=0)).max() < 0.01


def test_tight_bounds_fall_back_to_hit_and_run_and_stay_feasible() -> None:
    rng = np.random.default_rng(1)
    low, high = np.zeros(6), np.full(6, 0.2)  # free mass 1 in room 1.2: Dirichlet rejection rate is tiny
    x = sample_simplex(low, high, 1.0, 2000, rng)
    assert np.allclose(x.sum(axis=1), 1.0)
    assert (x <= 0.2 + 1e-12).all() and (x >= -1e-12).all()
    assert np.abs(x.mean(axis=0) - 1 / 6).max() < 0.01  # symmetric bounds: every mean is 1/6


def _min_distance(points: list[dict], names: tuple[str, ...]) -> float:
    a = np.array([[p[n] for n in names] for p in points])
    d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(a), 1)].min())


def test_initial_design_spreads_better_than_random() -> None:
    space = alloy_space()
    spread, rand = [], []
    for seed in range(5):
        design = initial_design(space, 12, seed=seed)
        assert len(design) == 12
        assert all(space.contains(p) == [] for p in design)
        spread.append(_min_distance(design, ELEMENTS))
        random_pts = [p.params for p in make_planner("random", space, OBJ, seed=seed).propose([], k=12)]
        rand.append(_min_distance(random_pts, ELEMENTS))
    assert np.mean(spread) > 1.5 * np.mean(rand)


def test_initial_design_is_reproducible_and_avoids_taken_points() -> None:
    space = mixed_space()
    a = initial_design(space, 8, seed=4)
    assert a == initial_design(space, 8, seed=4)
    assert all(space.contains(p) == [] for p in a)
    b = initial_design(space, 8, seed=4, taken=a[:3])
    assert not any(p in a[:3] for p in b)


def test_initial_design_on_a_pool_picks_distinct_rows() -> None:
    pool = np.random.default_rng(0).uniform(size=(300, 3))
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in "abc"), pool=pool)
    design = initial_design(space, 10, seed=0)
    rows = {tuple(space.to_row(p)) for p in design}
    assert len(rows) == 10
    assert all(any(np.allclose(r, q) for q in pool) for r in rows)
    with pytest.raises(PlannerError, match="only 300 pool rows"):
        initial_design(space, 301, seed=0)
