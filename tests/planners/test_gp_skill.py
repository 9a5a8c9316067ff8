"""The skill guard on a GP fit (``planners.gp_skill``) and ``bo``'s ``skill_guard`` option, on real fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from labpilot.errors import PlannerError
from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner
from labpilot.planners.gp import fit_gp
from labpilot.planners.gp_skill import NO_SKILL, collapsed, guard, loo, median_nn_distance


def unit(d: int) -> torch.Tensor:
    return torch.tensor([[0.0] * d, [1.0] * d], dtype=torch.float64)


def noise(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pure noise: nothing to learn, so a fit with skill would be a fluke."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)


def test_loo_matches_refitting_without_each_point_at_fixed_hyperparameters() -> None:
    x, y = noise(9, 2, 1)
    y = y + torch.sin(4 * x[:, 0])
    model = fit_gp(x, y, bounds=unit(2), seed=0)
    got = loo(model, x)
    # brute force: condition the same kernel on the other points, in standardized units
    xn, yt = model.input_transform(x), model.train_targets
    K = model.covar_module(xn).to_dense().detach()
    noise_var = float(model.likelihood.noise.detach())
    mean = float(model.mean_module.constant)
    errs, lls = [], []
    for i in range(len(y)):
        keep = [j for j in range(len(y)) if j != i]
        Kk = K[keep][:, keep] + noise_var * torch.eye(len(keep), dtype=K.dtype)
        k = K[i, keep]
        mu = mean + k @ torch.linalg.solve(Kk, yt[keep] - mean)
        var = K[i, i] + noise_var - k @ torch.linalg.solve(Kk, k)
        errs.append(float(yt[i] - mu))
        lls.append(-0.5 * (math.log(2 * math.pi * float(var)) + errs[-1] ** 2 / float(var)))
    assert got.rmse == pytest.approx(float(np.sqrt(np.mean(np.square(errs)))), rel=1e-6)
    assert got.log_lik == pytest.approx(float(np.mean(lls)), rel=1e-6)


def test_median_nearest_neighbour_distance_on_a_grid() -> None:
    x = torch.tensor([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.0, 0.25]], dtype=torch.float64)
    assert median_nn_distance(x) == pytest.approx(0.25)  # nearest: 0.5, 0.5, 0.25, 0.25; the lower median


def test_on_noise_the_guard_triggers_and_keeps_the_fit_with_the_higher_loo_likelihood() -> None:
    outcomes = []
    for n, seed in [(10, s) for s in range(8)] + [(20, s) for s in range(8)]:
        x, y = noise(n, 2, seed)
        model = fit_gp(x, y, bounds=unit(2), seed=0)
        kept, r = guard(model, x, y, bounds=unit(2), seed=0)
        outcomes.append(r)
        if not r.triggered:
            assert kept is model
            continue
        assert collapsed(model) and r.loo_before.rmse >= NO_SKILL
        assert r.loo_floored is not None  # the refit ran
        assert r.floored == (r.loo_floored.log_lik > r.loo_before.log_lik)
        assert (kept is not model) == r.floored
        assert loo(kept, x).log_lik == pytest.approx(max(r.loo_before.log_lik, r.loo_floored.log_lik))
        if r.floored:
            assert float(kept.covar_module.lengthscale.min()) >= r.floor * (1 - 1e-6)  # L-BFGS-B's bound, to rounding
        assert "skill guard" in r.note()
    # on these draws both branches happen: the floored refit kept, and the original kept
    assert any(r.floored for r in outcomes)
    assert any(r.triggered and not r.floored for r in outcomes)


def test_on_smooth_data_the_guard_does_not_trigger() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(15, 2, generator=g, dtype=torch.float64)
    y = torch.sin(3 * x[:, 0]) + x[:, 1]
    model = fit_gp(x, y, bounds=unit(2), seed=0)
    kept, r = guard(model, x, y, bounds=unit(2), seed=0)
    assert kept is model and not r.triggered and r.note() == ""
    assert loo(model, x).rmse < 0.3  # skill: well under one sd


def pool_space() -> tuple[Space, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    pool = rng.uniform(size=(200, 2))
    return Space(tuple(ContinuousParam(n, 0.0, 1.0) for n in "ab"), pool=pool), pool, rng.normal(size=200)


def test_bo_with_the_guard_logs_every_fit_and_notes_a_trigger() -> None:
    space, pool, y = pool_space()
    hist = [Trial(space.to_point(pool[i]), "completed", {"y": float(y[i])}) for i in range(12)]
    off = make_planner("bo", space, [Objective("y")], seed=3)
    on = make_planner("bo", space, [Objective("y")], seed=3, options={"skill_guard": True})
    assert off.propose(hist, 1) and off.skill_guard_log == []
    props = []
    for k in range(4, 13):
        props += on.propose(hist[:k], 1)
    assert len(on.skill_guard_log) == 9
    triggered = [r for r in on.skill_guard_log if r.triggered]
    assert sum("skill guard" in p.note for p in props) == len(triggered)


def test_a_non_boolean_skill_guard_is_refused() -> None:
    space, _, _ = pool_space()
    with pytest.raises(PlannerError, match="skill_guard"):
        make_planner("bo", space, [Objective("y")], options={"skill_guard": "yes"})
