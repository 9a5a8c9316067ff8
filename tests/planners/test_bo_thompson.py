"""``bo``'s Thompson sampling on pools (``acquisition = "ts"``, ``planners.pool_thompson``), on real fitted GPs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labpilot.errors import PlannerError
from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner
from labpilot.planners.acquisitions import canonical
from labpilot.planners.gp import fit_gp, posterior_mean_std
from labpilot.planners.pool_thompson import thompson_picks
from labpilot.planners.prior import PriorData

OBJ = [Objective("y")]


def pool_2d(n: int = 600) -> tuple[Space, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    pool = rng.uniform(size=(n, 2))
    y = np.exp(-((pool[:, 0] - 0.7) ** 2 + (pool[:, 1] - 0.3) ** 2) / 0.05) + 0.3 * pool[:, 1]
    return Space((ContinuousParam("a", 0, 1), ContinuousParam("b", 0, 1)), pool=pool), pool, y


def history(space: Space, pool: np.ndarray, y: np.ndarray, rows) -> list[Trial]:
    return [Trial(space.to_point(pool[i]), "completed", {"y": float(y[i])}) for i in rows]


def picked_rows(space: Space, pool: np.ndarray, proposals) -> list[int]:
    where = {tuple(r): i for i, r in enumerate(pool.tolist())}
    return [where[tuple(space.to_row(p.params).tolist())] for p in proposals]


def test_ts_is_reproducible_with_a_seed_and_gives_k_distinct_unused_rows() -> None:
    space, pool, y = pool_2d()
    used = list(range(0, 60, 3))
    hist = history(space, pool, y, used)
    runs = [make_planner("bo", space, OBJ, seed=5, options={"acquisition": "ts"}).propose(hist, 6) for _ in range(2)]
    rows = [picked_rows(space, pool, r) for r in runs]
    assert rows[0] == rows[1]
    assert len(set(rows[0])) == 6 and not set(rows[0]) & set(used)
    assert "Thompson sampling" in runs[0][0].note
    assert all(np.isfinite(p.score) for p in runs[0])


def test_ts_picks_vary_across_seeds() -> None:
    space, pool, y = pool_2d()
    hist = history(space, pool, y, list(range(0, 24, 3)))  # 8 results: the posterior is still wide
    firsts = {picked_rows(space, pool, make_planner("bo", space, OBJ, seed=s, options={"acquisition": "ts"}).propose(hist, 1))[0]
              for s in range(8)}
    assert len(firsts) >= 3
    # UCB, deterministic given the model, picks one row whatever the seed's draws
    ucb = {picked_rows(space, pool, make_planner("bo", space, OBJ, seed=s, options={"warm_start": False}).propose(hist, 1))[0]
           for s in range(3)}
    assert len(ucb) == 1


def test_ts_concentrates_near_the_optimum_of_a_smooth_1d_pool_more_than_uniform_random() -> None:
    x = np.linspace(0.0, 1.0, 401)
    y = np.exp(-((x - 0.63) ** 2) / 0.02) + 0.2 * x  # one smooth optimum, between two results
    best = x[np.argmax(y)]
    space = Space((ContinuousParam("x", 0, 1),), pool=x[:, None])
    used = list(range(0, 401, 40))  # 11 evenly spaced results
    hist = [Trial({"x": float(x[i])}, "completed", {"y": float(y[i])}) for i in used]
    free = np.setdiff1d(np.arange(401), used)
    uniform = float(np.mean(np.abs(x[free] - best)))  # the expected distance of a uniform random unused row
    picks = []
    for s in range(12):
        for p in make_planner("bo", space, OBJ, seed=s, options={"acquisition": "ts", "output_warp": "none"}).propose(hist, 2):
            picks.append(p.params["x"])
    ts = float(np.mean(np.abs(np.array(picks) - best)))
    assert ts < 0.5 * uniform, (ts, uniform)
    assert len(set(picks)) > 3  # and it does not always pick the same rows


def fitted(n_pool: int = 500, seed: int = 2):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(15, 2))
    y = np.sin(5 * x[:, 0]) + x[:, 1]
    model = fit_gp(torch.as_tensor(x), torch.as_tensor(y), bounds=torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64))
    return model, torch.as_tensor(rng.uniform(size=(n_pool, 2)))


def test_chunking_does_not_change_the_picks_and_excluded_rows_are_never_picked() -> None:
    model, feats = fitted()
    whole = thompson_picks(model, feats, 5, seed=3, chunk=10_000)
    chunked = thompson_picks(model, feats, 5, seed=3, chunk=7)
    assert [i for i, _ in whole] == [i for i, _ in chunked]
    assert np.allclose([v for _, v in whole], [v for _, v in chunked])
    exclude = torch.zeros(feats.shape[0], dtype=torch.bool)
    exclude[[i for i, _ in whole]] = True
    exclude[::2] = True
    again = thompson_picks(model, feats, 5, seed=3, chunk=64, exclude=exclude)
    assert len({i for i, _ in again}) == 5 and not any(bool(exclude[i]) for i, _ in again)
    with pytest.raises(ValueError, match="only"):
        thompson_picks(model, feats[:4], 5, seed=3)


def test_the_draws_follow_the_posterior() -> None:
    """Many pathwise draws: their mean is the posterior mean and their spread close to the posterior std."""
    from botorch.sampling.pathwise import draw_kernel_feature_paths, draw_matheron_paths
    from botorch.utils.sampling import manual_seed

    from labpilot.planners.pool_thompson import NUM_FEATURES

    model, feats = fitted(n_pool=60)
    with manual_seed(0):
        paths = draw_matheron_paths(model, torch.Size([1500]), prior_sampler=lambda model, sample_shape:
                                    draw_kernel_feature_paths(model, sample_shape, num_features=NUM_FEATURES))
    with torch.no_grad():
        f = paths(feats)
    mean, std = posterior_mean_std(model, feats, fast=False)
    z = (f.mean(0) - mean[:, 0]) / (std[:, 0] / np.sqrt(1500))
    assert float(z.abs().max()) < 5
    ratio = (f.std(0) / std[:, 0]).median()
    assert 0.85 < float(ratio) < 1.15


def test_ts_is_refused_on_a_continuous_space_and_with_priors_and_by_ae_bo() -> None:
    box = Space((ContinuousParam("a", 0, 1), ContinuousParam("b", 0, 1)))
    with pytest.raises(PlannerError, match=r"planner\.options\.acquisition = 'ts'.*continuous space"):
        make_planner("bo", box, OBJ, options={"acquisition": "ts"})
    space, pool, y = pool_2d()
    prior = PriorData("p", "mem", pool[:5], y[:5, None], ("y",))
    with pytest.raises(PlannerError, match=r"planner\.options\.acquisition = 'ts'.*prior data"):
        make_planner("bo", space, OBJ, options={"acquisition": "ts"}, priors=[prior])
    with pytest.raises(PlannerError, match=r"planner\.options\.acquisition"):
        make_planner("ae-bo", space, OBJ, options={"acquisition": "ts"})
    with pytest.raises(PlannerError, match=r"must be one of 'logei', 'ucb' \(also.*got 'ts'"):
        canonical("ae-bo", "ts", allowed=("logei", "ucb"))
    assert canonical("bo", "TS") == "ts"
    assert make_planner("bo", space, OBJ, options={"acquisition": "ts"}).opts["acquisition"] == "ts"


def test_ts_on_a_descriptor_pool_scores_in_place_and_skips_used_rows() -> None:
    """A pool with model features (a campaign's candidate table): every row scored in place, used ones masked."""
    from labpilot.planners.space import IntegerParam

    rng = np.random.default_rng(4)
    feats = rng.uniform(size=(300, 3)).astype(np.float32)
    y = -((feats - 0.4) ** 2).sum(1)
    space = Space((IntegerParam("row", 0, 299),), pool=np.arange(300, dtype=float)[:, None], features=feats)
    used = list(range(0, 300, 15))
    hist = [Trial({"row": i}, "completed", {"y": float(y[i])}) for i in used]
    pending = [Trial({"row": 1}, "pending", {})]
    a = make_planner("bo", space, OBJ, seed=1, options={"acquisition": "ts"}).propose(hist + pending, 4)
    b = make_planner("bo", space, OBJ, seed=1, options={"acquisition": "ts"}).propose(hist + pending, 4)
    rows = [p.params["row"] for p in a]
    assert rows == [p.params["row"] for p in b]
    assert len(set(rows)) == 4 and not set(rows) & set(used + [1])
