"""The ``uncertainty`` planner: make the model accurate fast, and stop when it is."""

from __future__ import annotations

import numpy as np
import pytest

from labpilot.errors import PlannerDone, PlannerError
from labpilot.planners import ContinuousParam, IntegerParam, Objective, Space, Trial, make_planner
from labpilot.planners.random_planner import initial_design


OBJ = [Objective("y")]


def wave(p: dict) -> float:
    return float(np.sin(6 * p["x"]) * np.cos(4 * p["y"]) + p["x"])


def pool_space() -> Space:
    g = np.linspace(0, 1, 31)
    return Space((ContinuousParam("x", 0, 1), ContinuousParam("y", 0, 1)), pool=np.array([[a, b] for a in g for b in g]))


def model_error(space: Space, hist: list[Trial]) -> float:
    """RMSE over the whole pool of a GP fitted to the history (the thing uncertainty sampling improves)."""
    from labpilot.planners.encoding import Encoder
    from labpilot.planners.gp import fit_gp, posterior_mean_std

    enc = Encoder(space)
    x = enc.tensor(np.array([space.to_row(t.params) for t in hist]))
    y = np.array([t.values["y"] for t in hist])
    model = fit_gp(x, y, bounds=enc.bounds())
    mean = posterior_mean_std(model, enc.tensor(space.pool))[0][:, 0].numpy()
    truth = np.array([wave(space.to_point(r)) for r in space.pool])
    return float(np.sqrt(np.mean((mean - truth) ** 2)))


def run(name: str, seed: int, budget: int) -> float:
    space = pool_space()
    planner = make_planner(name, space, OBJ, seed=seed)
    hist = [Trial(p, "completed", {"y": wave(p)}) for p in initial_design(space, 4, seed=seed)]
    while len(hist) < budget:
        hist += [Trial(p.params, "completed", {"y": wave(p.params)}) for p in planner.propose(hist, k=3)]
    return model_error(space, hist)


def test_uncertainty_sampling_beats_random_at_model_error() -> None:
    unc = [run("uncertainty", s, 22) for s in range(3)]
    rnd = [run("random", s, 22) for s in range(3)]
    assert np.mean(unc) < np.mean(rnd)


def test_batch_spreads_and_avoids_pending() -> None:
    space = pool_space()
    hist = [Trial(p, "completed", {"y": wave(p)}) for p in initial_design(space, 6, seed=0)]
    hist.append(Trial(space.to_point(space.pool[0]), "pending"))
    props = make_planner("uncertainty", space, OBJ, seed=0).propose(hist, k=4)
    rows = np.array([space.to_row(p.params) for p in props])
    assert len({tuple(r) for r in rows}) == 4
    assert not any(np.allclose(r, space.pool[0]) for r in rows)
    d = np.sqrt(((rows[:, None] - rows[None]) ** 2).sum(-1))[np.triu_indices(4, 1)]
    assert d.min() > 0.1


def test_stops_when_the_cross_validated_error_is_below_target() -> None:
    space = pool_space()
    hist = [Trial(p, "completed", {"y": wave(p)}) for p in initial_design(space, 12, seed=0)]
    loose = make_planner("uncertainty", space, OBJ, options={"stop_cv_error": 10.0})
    with pytest.raises(PlannerDone, match="at or below the target 10"):
        loose.propose(hist, k=1)
    assert loose.done and "after 12 results" in loose.done_reason
    strict = make_planner("uncertainty", space, OBJ, options={"stop_cv_error": 1e-6})
    assert len(strict.propose(hist, k=2)) == 2 and not strict.done
    assert 0 < strict.cv_rmse["y"] < 2


def test_loo_rmse_matches_brute_force_leave_one_out() -> None:
    """The closed form equals predicting each point from the others (same hyperparameters)."""
    import torch
    from labpilot.planners.gp import fit_gp, loo_rmse

    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.uniform(size=(15, 2)))
    y = torch.sin(5 * x[:, 0]) + x[:, 1]
    model = fit_gp(x, y)
    with torch.no_grad():
        xn = model.input_transform(x)
        K = model.covar_module(xn).to_dense() + model.likelihood.noise * torch.eye(15, dtype=x.dtype)
        mu0, sd = model.outcome_transform.means.item(), model.outcome_transform.stdvs.item()
        yt = (y - mu0) / sd - model.mean_module.constant
        resid = []
        for i in range(15):
            keep = [j for j in range(15) if j != i]
            pred = K[i, keep] @ torch.linalg.solve(K[keep][:, keep], yt[keep])
            resid.append(float(yt[i] - pred) * sd)
    assert loo_rmse(model, x, y) == pytest.approx(float(np.sqrt(np.mean(np.square(resid)))), rel=1e-6)


def test_failed_are_excluded_by_default_and_options_checked() -> None:
    space = Space((IntegerParam("n", 0, 9),))
    hist = [Trial({"n": i}, "completed", {"y": float(i)}) for i in range(4)] + [Trial({"n": 4}, "failed")]
    planner = make_planner("uncertainty", space, OBJ)
    from labpilot.planners.encoding import split_history

    x, _, _ = planner.training_data(split_history(space, OBJ, hist))
    assert len(x) == 4
    assert {p.params["n"] for p in planner.propose(hist, k=5)} == {5, 6, 7, 8, 9}
    with pytest.raises(PlannerError, match="stop_cv_error"):
        make_planner("uncertainty", space, OBJ, options={"stop_cv_error": -1})
