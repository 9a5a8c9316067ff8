"""Warm-started GP fits: the policy, the JSON state, and exact resumption of a planner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch



@pytest.fixture(autouse=True)
def one_thread():
    """Tiny fits: extra threads only contend on a shared machine (restored afterwards)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

from labpilot.errors import PlannerError
from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner
from labpilot.planners.gp import fit_gp
from labpilot.planners.gp_warm import FitPolicy, fit_with_state, mll_value


def _data(n: int, seed: int = 0, rough: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, generator=g, dtype=torch.float64)
    if rough:
        return x, torch.randn(n, generator=g, dtype=torch.float64) * 5
    return x, torch.sin(4 * x[:, 0]) + x[:, 1] ** 2 - x[:, 2] + 0.01 * torch.randn(n, generator=g, dtype=torch.float64)


def test_warm_fit_is_short_and_as_good_as_a_cold_fit():
    x, y = _data(60)
    _, state, kind = fit_with_state(x[:59], y[:59], None, FitPolicy())
    assert kind.startswith("full (no previous fit)")
    model, new, kind = fit_with_state(x, y, json.loads(json.dumps(state)), FitPolicy())
    assert kind == "warm" and new["since_full"] == 1 and new["mll_ref"] == state["mll_ref"]
    cold = fit_gp(x, y)
    # the warm fit's marginal likelihood is no worse than a cold fit's (to optimiser tolerance)
    assert mll_value(model) >= mll_value(cold) - 1e-3


def test_full_fit_every_k_and_when_the_likelihood_falls_behind():
    x, y = _data(40)
    policy = FitPolicy(refit_every=3)
    state = None
    kinds = []
    for n in range(30, 35):
        _, state, kind = fit_with_state(x[:n], y[:n], state, policy)
        kinds.append(kind.split(" ")[0])
    assert kinds == ["full", "warm", "warm", "full", "warm"]
    # hyperparameters of a smooth function do not explain noise: the warm fit falls behind
    xr, yr = _data(40, seed=1, rough=True)
    _, _, kind = fit_with_state(xr, yr, state, FitPolicy(refit_every=100))
    assert kind.startswith("full (marginal likelihood fell behind")


def test_unusable_state_means_a_full_fit():
    x, y = _data(20)
    _, state, _ = fit_with_state(x, y, None, FitPolicy())
    xs, ys = torch.cat([x, x[:, :1]], 1), y  # one more input dimension: the lengthscales do not fit
    _, _, kind = fit_with_state(xs, ys, state, FitPolicy())
    assert kind == "full (previous fit has other hyperparameters)"
    _, _, kind = fit_with_state(x, y, {"version": 0}, FitPolicy())
    assert kind == "full (previous fit unusable)"


def _space() -> Space:
    return Space(tuple(ContinuousParam(n, 0.0, 1.0) for n in ("a", "b")))


def _value(p: dict) -> float:
    return float(-(p["a"] - 0.3) ** 2 - (p["b"] - 0.7) ** 2 + 0.3 * np.sin(9 * p["a"]))


@pytest.mark.parametrize("warp", ["none", "rank"])
@pytest.mark.parametrize("pool", [False, True])
def test_a_resumed_planner_proposes_exactly_what_an_uninterrupted_one_does(pool, warp):
    space = _space()
    if pool:
        rows = np.random.default_rng(3).uniform(size=(400, 2))
        space = Space(space.params, pool=rows)
    opts = {"refit_every": 3, "num_restarts": 2, "raw_samples": 32, "maxiter": 20, "output_warp": warp}
    rng = np.random.default_rng(0)
    history = [Trial({"a": float(a), "b": float(b)}, "completed") for a, b in rng.uniform(size=(5, 2))]
    if pool:
        history = [Trial(space.to_point(r), "completed") for r in space.pool[:5]]
    for t in history:
        t.values = {"y": _value(t.params)}
    planner = make_planner("bo", space, [Objective("y")], seed=11, options=opts)
    kinds = []
    for step in range(4):
        journaled = json.dumps(planner.state())  # what the agent writes with the last proposals
        resumed = make_planner("bo", space, [Objective("y")], seed=11, options=opts)
        resumed.load_state(json.loads(journaled))
        a = planner.propose(history, 1)[0]
        b = resumed.propose(history, 1)[0]
        assert a.params == b.params and a.score == b.score
        assert planner.state() == resumed.state()
        kinds.append(planner.last_fit[0].split(" ")[0])
        history.append(Trial(a.params, "completed", {"y": _value(a.params)}))
    if warp == "none":
        assert kinds == ["full", "warm", "warm", "full"]
    else:  # ranks re-warp every value as data come in: a warm fit may fall behind and force a full one
        assert kinds[0] == "full" and "warm" in kinds


def test_warm_start_options_are_checked_and_can_be_turned_off():
    space = _space()
    with pytest.raises(PlannerError, match="refit_every"):
        make_planner("bo", space, [Objective("y")], options={"refit_every": 0})
    with pytest.raises(PlannerError, match="warm_start"):
        make_planner("bo", space, [Objective("y")], options={"warm_start": "yes"})
    with pytest.raises(PlannerError, match="refit_tolerance"):
        make_planner("bo", space, [Objective("y")], options={"refit_tolerance": -1})
    cold = make_planner("bo", space, [Objective("y")], options={"warm_start": False, "num_restarts": 2, "raw_samples": 16})
    history = [Trial({"a": a, "b": b}, "completed", {"y": _value({"a": a, "b": b})})
               for a, b in ((0.1, 0.2), (0.5, 0.9), (0.8, 0.4), (0.3, 0.3))]
    cold.propose(history, 1)
    assert cold.state() is None and cold.last_fit == ["cold"]
    cold.load_state({"planner": "mobo", "gp": []})  # foreign state: ignored, no error
