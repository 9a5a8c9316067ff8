"""``boed``: the planner contract, its score is the documented IMSE reduction, and it picks what lowers the error."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from labpilot.agent.cli import main
from labpilot.errors import PlannerError
from labpilot.planners.base import Trial, make_planner
from labpilot.planners.boed import expected_rbf, variance_reduction
from labpilot.planners.design import measured_history
from labpilot.planners.property_model import held_out_error
from labpilot.planners.space import ContinuousParam, Objective, Space
from tests.planners.test_used import GRID, OBJ, SPACE, done, rows_of

BACKTEST = Path(__file__).resolve().parents[1] / "data" / "backtest" / "measured.csv"


def test_proposals_are_new_distinct_and_deterministic():
    hist = [done(i) for i in (0, 14, 30, 77, 100, 120, 150, 168)]
    hist.append(Trial({"x1": GRID[4][0], "x2": GRID[4][1]}, "pending"))
    hist.append(Trial({"x1": GRID[5][0], "x2": GRID[5][1]}, "rejected"))
    props = make_planner("boed", SPACE, [OBJ], seed=2).propose(hist, 3)
    got = rows_of(props)
    taken = {tuple(GRID[i]) for i in (0, 14, 30, 77, 100, 120, 150, 168, 4, 5)}
    assert len(set(got)) == 3 and not set(got) & taken
    assert all(p.score > 0 and "expected reduction" in p.note and "mean squared error" in p.note for p in props)
    assert [p.score for p in props] == sorted((p.score for p in props), reverse=True)  # each pick is worth less
    assert rows_of(make_planner("boed", SPACE, [OBJ], seed=2).propose(hist, 3)) == got


def test_the_expected_kernel_and_the_variance_reduction_by_hand():
    # sd = 0: the plain RBF kernel
    assert expected_rbf(np.array([[0.0]]), np.zeros((1, 1)), np.array([[1.0]]), np.zeros((1, 1)), 1.0)[0, 0] == \
        pytest.approx(math.exp(-0.5))
    # one input uncertain (sd 1), l^2 = 1: v = 2, sqrt(1/2) * exp(-1 / 4)
    got = expected_rbf(np.array([[0.0]]), np.zeros((1, 1)), np.array([[1.0]]), np.ones((1, 1)), 1.0)[0, 0]
    assert got == pytest.approx(math.sqrt(0.5) * math.exp(-0.25))
    # jointly normal inputs: only the variance of the difference counts (2 + 2 - 2 * 1.5 = 1: v = 2 again)
    got = expected_rbf(np.array([[0.0]]), np.full((1, 1), math.sqrt(2)), np.array([[1.0]]),
                       np.full((1, 1), math.sqrt(2)), 1.0, cov_ab=np.full((1, 1, 1), 1.5))[0, 0]
    assert got == pytest.approx(math.sqrt(0.5) * math.exp(-0.25))
    # two dimensions multiply
    got = expected_rbf(np.array([[0.0, 0.0]]), np.zeros((1, 2)), np.array([[1.0, 2.0]]), np.zeros((1, 2)), 4.0)[0, 0]
    assert got == pytest.approx(math.exp(-1 / 8) * math.exp(-4 / 8))
    # (0.5^2 + 0.2^2) / (0.8 + 0.2) and (0.1^2) / (0.3 + 0.2)
    np.testing.assert_allclose(variance_reduction(np.array([[0.5, 0.2], [0.1, 0.0]]), np.array([0.8, 0.3]), 0.2),
                               [0.29, 0.02])


def _brute_force_scores(planner, data, rows, chosen=()):
    """The documented score by conditioning on each candidate with explicit inverses (no rank-one updates)."""
    prop, ell2, noise, amp = planner.gp_view(data)
    bel = planner.belief(data, prop, rows)
    m = len(data.y)

    def post_var(cond, ref):
        cond, ref = np.array(cond), np.array(ref)
        a = bel.kernel(cond, cond, ell2) + noise * np.eye(len(cond))
        kr = bel.kernel(cond, ref, ell2)
        return 1.0 - np.sum(kr * np.linalg.solve(a, kr), axis=0)

    base = list(range(m)) + [m + c for c in chosen]
    ref = [m + i for i in range(len(rows))]
    before = post_var(base, ref)
    return np.array([amp * np.mean(before - post_var(base + [m + c], ref)) for c in range(len(rows))])


def test_the_score_is_the_documented_expected_mse_reduction():
    hist = [done(i) for i in (0, 14, 30, 77, 100, 120, 150, 168, 40, 60)]
    rows = GRID[[3, 25, 50, 88, 110, 130, 160, 5, 9]]
    for kind in ("gp", "kernel_ridge"):
        planner = make_planner("boed", SPACE, [OBJ], seed=0, options={"model": kind, "n_components": 3})
        data = measured_history(SPACE, OBJ, hist, "xrd")
        (first, a), (second, b) = planner.imse_scores(data, rows, 2, seed=0)
        brute = _brute_force_scores(planner, data, rows)
        assert first == int(np.argmax(brute)) and a == pytest.approx(brute.max(), rel=1e-6)
        # the second pick is scored as if the first had been observed (the greedy batch's fantasy)
        brute2 = _brute_force_scores(planner, data, rows, chosen=(first,))
        brute2[first] = -np.inf
        assert second == int(np.argmax(brute2)) and b == pytest.approx(brute2.max(), rel=1e-6)


def test_kernel_ridge_noise_ratio_is_recovered_from_its_fit():
    hist = [done(i) for i in (0, 14, 30, 77, 100, 120, 150, 168, 40, 60)]
    planner = make_planner("boed", SPACE, [OBJ], seed=0, options={"model": "kernel_ridge"})
    data = measured_history(SPACE, OBJ, hist, "xrd")
    prop, ell2, noise, _ = planner.gp_view(data)
    assert min(abs(noise - a) / a for a in (1e-3, 1e-2, 1e-1, 1.0)) < 1e-6  # one of the ridge's grid values
    assert ell2 == pytest.approx(1 / (2 * prop.reg_.gamma_))


# A 1-D world: x sets a peak position in the pattern; the property wiggles with x.
LINE_X = np.concatenate([np.linspace(0.40, 0.60, 6), np.linspace(0.80, 0.95, 40), [0.0]])
LINE = np.column_stack([LINE_X, np.zeros_like(LINE_X)])
LINE_SPACE = Space((ContinuousParam("x1", 0, 1), ContinuousParam("x2", 0, 1)), pool=LINE)
THETA = np.linspace(0, 1, 60)


def _line_trial(i):
    x = LINE_X[i]
    z = np.exp(-((THETA - 0.1 - 0.8 * x) ** 2) / 0.01)
    return Trial({"x1": x, "x2": 0.0}, "completed", {"strength": float(np.sin(8 * x))}, {"xrd": z})


def test_its_pick_lowers_the_error_where_the_most_uncertain_point_would_not():
    # measured: 6 samples in the middle. Unmeasured: 40 in a cluster at 0.8-0.95 and one lone sample at 0.
    # The lone one is farthest from everything measured (the largest uncertainty); the cluster is where
    # the model will be used, and a sample there teaches about 39 others.
    seen = list(range(6))
    hist = [_line_trial(i) for i in seen]
    (p,) = make_planner("boed", LINE_SPACE, [OBJ], seed=0).propose(hist, 1)
    pick = int(np.flatnonzero(LINE_X == p.params["x1"])[0])
    lone = len(LINE_X) - 1
    assert 0.8 <= LINE_X[pick] <= 0.95

    trials = [_line_trial(i) for i in range(len(LINE_X))]
    z = np.array([t.measured["xrd"] for t in trials])
    y = np.array([t.values["strength"] for t in trials])

    def error_after(extra):
        train = seen + [extra]
        rest = [i for i in range(len(LINE_X)) if i not in train]
        return held_out_error(z[train], y[train], z[rest], y[rest], "gp", 5)

    assert error_after(pick) < error_after(lone)


def test_bad_settings_are_refused():
    with pytest.raises(PlannerError, match="folds"):
        make_planner("boed", SPACE, [OBJ], options={"folds": 3})
    with pytest.raises(PlannerError, match="n_mc"):
        make_planner("boed", SPACE, [OBJ], options={"n_mc": 8})


def test_backtest_runs_boed_itself(tmp_path):
    """``labpilot backtest --planners boed``: every pick after the initial rows is boed's own proposal."""
    out = tmp_path / "r.json"
    assert main(["backtest", "--csv", str(BACKTEST), "--objective", "p", "--maximize", "--measured", "z*",
                 "--planners", "random,boed", "--budget", "9", "--repeats", "1", "--initial", "4", "--seed", "3",
                 "--json", str(out), "--options", '{"boed": {"n_components": 2}}']) == 0
    result = json.loads(out.read_text())
    picked = result["planners"]["boed"]["repeats"][0]["picked"]
    assert len(picked) == 9 and picked[4:] != result["planners"]["random"]["repeats"][0]["picked"][4:]

    from labpilot.planners.backtest import _trial, load_table

    table = load_table(BACKTEST, "p", "maximize", measured=["z*"])
    planner = make_planner("boed", table.space, [table.objective], seed=3, options={"n_components": 2})
    for t in range(4, 9):
        (p,) = planner.propose([_trial(table, table.space, i) for i in picked[:t]], 1)
        assert p.note.startswith("boed: largest expected reduction")
        assert tuple(table.space.to_row(p.params).tolist()) == tuple(table.x[picked[t]].tolist())


def test_fe_ga_pd_library(fe_ga_pd):
    comp, xrd, mag = fe_ga_pd.composition, fe_ga_pd.xrd, fe_ga_pd.magnetization
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in ("Fe", "Ga", "Pd")), pool=comp)
    seen = np.random.default_rng(1).choice(len(comp), 10, replace=False)
    hist = [Trial(dict(zip(("Fe", "Ga", "Pd"), comp[i])), "completed", {"mag": mag[i]}, {"xrd": xrd[i]}) for i in seen]
    (p,) = make_planner("boed", space, [Objective("mag")], seed=0).propose(hist, 1)
    row = tuple(p.params[n] for n in ("Fe", "Ga", "Pd"))
    assert row in {tuple(r) for r in comp.tolist()} - {tuple(comp[i]) for i in seen}
    assert p.score > 0
