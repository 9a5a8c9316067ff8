"""The float32 pool screen with a float64 certificate picks what exact scoring picks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labpilot.planners.gp_planner as gp_planner
from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner
from labpilot.planners.gp import fit_gp
from labpilot.planners.pool_predict import predictor



@pytest.fixture(autouse=True)
def one_thread():
    """Tiny fits: extra threads only contend on a shared machine (restored afterwards)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _problem(n_pool: int = 2000, n_obs: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    pool = rng.uniform(size=(n_pool, 3))
    idx = rng.choice(n_pool, n_obs, replace=False)
    y = np.sin(5 * pool[idx, 0]) * np.cos(3 * pool[idx, 1]) + pool[idx, 2] + 0.01 * rng.standard_normal(n_obs)
    space = Space(tuple(ContinuousParam(f"x{i}", 0.0, 1.0) for i in range(3)), pool=pool)
    history = [Trial(space.to_point(pool[i]), "completed", {"y": float(v)}) for i, v in zip(idx, y)]
    return space, history


def test_screen_is_close_to_exact_and_its_std_is_an_upper_bound():
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.uniform(size=(150, 3)))
    y = torch.sin(5 * x[:, 0]) + x[:, 1] + 0.01 * torch.as_tensor(rng.standard_normal(150))
    pred = predictor(fit_gp(x, y))
    X = torch.as_tensor(rng.uniform(size=(3000, 3)))
    mean, std = pred.screen(X, chunk=256, rank=32)
    em, es = pred.exact(X)
    assert float((mean - em).abs().max()) < 1e-3 * float(y.std())
    assert float((es - std).max()) < 1e-4 * float(y.std())  # an upper bound, up to float32 rounding
    assert float((std - es).mean()) > 0  # rank 32 < 150 observations: strictly looser on average


@pytest.mark.parametrize("k, pending", [(1, False), (3, False), (2, True)])
@pytest.mark.parametrize("shortlist", [1, 50])
def test_screened_picks_equal_exact_picks(monkeypatch, k, pending, shortlist):
    space, history = _problem()
    if pending:
        history.append(Trial(space.to_point(space.pool[7]), "pending"))
    monkeypatch.setattr(gp_planner, "SCREEN_ABOVE", 1e30)  # exact float64 greedy over the whole pool
    exact = make_planner("bo", space, [Objective("y")], seed=3, options={"pool_shortlist": 10**6}).propose(history, k)
    monkeypatch.setattr(gp_planner, "SCREEN_ABOVE", 0.0)  # a shortlist that must grow until certified
    screened = make_planner("bo", space, [Objective("y")], seed=3, options={"pool_shortlist": shortlist}).propose(history, k)
    assert [p.params for p in screened] == [p.params for p in exact]
    np.testing.assert_allclose([p.score for p in screened], [p.score for p in exact], rtol=1e-9, atol=1e-9)
    assert "pool pick certified" in screened[0].note and "pool pick" not in exact[0].note
