"""The ``range`` planner: find candidates whose property lands inside a window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labpilot.errors import PlannerError
from labpilot.planners import ContinuousParam, Objective, SimplexConstraint, Space, Trial, make_planner
from labpilot.planners.analytic import log_prob_in_window
from labpilot.planners.random_planner import initial_design


def gap(p: dict) -> float:
    """A 'band gap' that rises across the square: the window 1.9-2.1 is a thin diagonal band."""
    return float(4.0 * (0.6 * p["x"] + 0.4 * p["y"]) ** 1.5)


def pool_space(n: int = 41) -> Space:
    g = np.linspace(0, 1, n)
    return Space((ContinuousParam("x", 0, 1), ContinuousParam("y", 0, 1)), pool=np.array([[a, b] for a in g for b in g]))


WINDOW = [Objective("gap", low=1.9, high=2.1)]


def run(name: str, seed: int, budget: int, objectives=WINDOW) -> int:
    space = pool_space()
    planner = make_planner(name, space, objectives, seed=seed)
    hist = [Trial(p, "completed", {"gap": gap(p)}) for p in initial_design(space, 5, seed=seed)]
    while len(hist) < budget:
        hist += [Trial(p.params, "completed", {"gap": gap(p.params)}) for p in planner.propose(hist, k=2)]
    return sum(1.9 <= t.values["gap"] <= 2.1 for t in hist[5:])


def test_range_finds_many_points_inside_the_window() -> None:
    hits = [run("range", s, 15) for s in range(2)]
    rand = [run("random", s, 15) for s in range(2)]
    assert np.mean(hits) >= 6  # most of the 10 proposals land in the window
    assert np.mean(hits) > 2 * np.mean(rand)


def test_log_window_probability_is_exact_and_finite_far_away() -> None:
    from scipy.stats import norm

    mean = torch.tensor([0.0, 2.0, 5.0, -40.0, 40.0], dtype=torch.float64)
    std = torch.ones(5, dtype=torch.float64)
    got = log_prob_in_window(mean, std, 1.0, 3.0)
    m = mean[:3].numpy()
    assert np.allclose(got[:3].numpy(), np.log(norm.cdf(3.0 - m) - norm.cdf(1.0 - m)))
    assert torch.isfinite(got).all() and got[3] < got[0] and got[4] < got[2]
    open_low = log_prob_in_window(mean, std, None, 3.0)
    assert np.allclose(open_low[:3].numpy(), norm.logcdf(3.0 - mean[:3].numpy()))


def test_one_sided_window_and_continuous_simplex() -> None:
    names = ("a", "b", "c")
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in names), (SimplexConstraint(names),))
    f = lambda p: 3 * p["a"] + p["b"]
    hist = [Trial(p, "completed", {"v": f(p)}) for p in initial_design(space, 8, seed=0)]
    props = make_planner("range", space, [Objective("v", low=2.5)], seed=0).propose(hist, k=3)
    assert len({tuple(p.params.values()) for p in props}) == 3
    for p in props:
        assert space.contains(p.params) == []
        assert f(p.params) > 2.0  # headed for the open-ended window above 2.5


def test_failed_trials_are_modeled_farthest_from_the_window() -> None:
    space = pool_space(5)
    pts = [space.to_point(r) for r in space.pool]
    hist = [Trial(p, "completed", {"gap": gap(p)}) for p in pts[:6]] + [Trial(pts[6], "failed")]
    planner = make_planner("range", space, WINDOW)
    from labpilot.planners.encoding import split_history

    x, y, _ = planner.training_data(split_history(space, WINDOW, hist))
    dist = [max(1.9 - v, v - 2.1, 0) for v in y[:6, 0]]
    assert y[6, 0] == pytest.approx(y[int(np.argmax(dist)), 0])
    assert not {tuple(p.params.values()) for p in planner.propose(hist, k=3)} & {tuple(pts[6].values())}


@pytest.mark.parametrize(
    "objective, message",
    [(Objective("gap"), "needs a window"), (Objective("gap", low=3.0, high=1.0), "above high")],
)
def test_bad_windows_are_refused(objective, message) -> None:
    with pytest.raises(PlannerError, match=message):
        make_planner("range", pool_space(3), [objective])
