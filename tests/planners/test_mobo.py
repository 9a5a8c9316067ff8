"""The ``mobo`` planner: EHVI over pools with a greedy batch, qLogNEHVI in continuous spaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labpilot.errors import PlannerError
from labpilot.planners import ContinuousParam, Objective, SimplexConstraint, Space, Trial, make_planner
from labpilot.planners.mobo import ehvi
from labpilot.planners.random_planner import initial_design
from tests.planners.checks import assert_feasible_on_simplex

OBJS = [Objective("n"), Objective("abbe")]


def line_pool() -> Space:
    """Candidates on a square grid; the two objectives trade off along x - y."""
    g = np.linspace(0, 1, 31)
    return Space((ContinuousParam("x", 0, 1), ContinuousParam("y", 0, 1)), pool=np.array([[a, b] for a in g for b in g]))


def truth(p: dict) -> dict:
    x, y = p["x"], p["y"]
    return {"n": float(np.sin(3 * x) + 0.3 * y), "abbe": float(np.cos(3 * x) + 0.3 * y)}


def history(space: Space, n: int = 8, seed: int = 0) -> list[Trial]:
    return [Trial(p, "completed", truth(p)) for p in initial_design(space, n, seed=seed)]


def test_ehvi_matches_monte_carlo() -> None:
    """The closed form must agree with sampling outcomes and measuring the hypervolume gained."""
    from botorch.utils.multi_objective.box_decompositions import FastNondominatedPartitioning
    from botorch.utils.multi_objective.hypervolume import Hypervolume
    from botorch.utils.multi_objective.pareto import is_non_dominated

    front = torch.tensor([[1.0, 0.2], [0.6, 0.6], [0.2, 1.0]], dtype=torch.float64)
    ref = torch.zeros(2, dtype=torch.float64)
    lower, upper = FastNondominatedPartitioning(ref_point=ref, Y=front).get_hypercell_bounds()
    mean = torch.tensor([[0.8, 0.7], [0.3, 0.3]], dtype=torch.float64)
    std = torch.tensor([[0.2, 0.3], [0.1, 0.4]], dtype=torch.float64)
    exact = ehvi(mean, std, lower, upper)
    hv = Hypervolume(ref)
    base = hv.compute(front)
    gen = torch.Generator().manual_seed(0)
    for i in range(2):
        samples = mean[i] + std[i] * torch.randn(3000, 2, generator=gen, dtype=torch.float64)
        gains = []
        for s in samples:
            pts = torch.cat([front, s[None]])
            pts = pts[is_non_dominated(pts) & (pts > ref).all(-1)]
            gains.append(hv.compute(pts) - base)
        mc, se = float(np.mean(gains)), float(np.std(gains) / np.sqrt(len(gains)))
        assert abs(float(exact[i]) - mc) < 4 * se + 1e-4


def test_pool_batch_is_distinct_new_and_reproducible() -> None:
    space = line_pool()
    hist = history(space)
    hist.append(Trial(space.to_point(space.pool[500]), "pending"))
    a = make_planner("mobo", space, OBJS, seed=1).propose(hist, k=5)
    b = make_planner("mobo", space, OBJS, seed=1).propose(hist, k=5)
    assert [p.params for p in a] == [p.params for p in b]
    rows = {tuple(space.to_row(p.params)) for p in a}
    used = {tuple(space.to_row(t.params)) for t in hist}
    assert len(rows) == 5 and not rows & used


def test_greedy_batch_is_not_the_k_best_single_scores() -> None:
    """Seed 002: the top-k single EHVI scores cluster; the greedy believer batch spreads."""
    space = line_pool()
    hist = history(space, 10, seed=3)
    planner = make_planner("mobo", space, OBJS, seed=0)
    batch = planner.propose(hist, k=6)
    # the k best single scores: score every unused row once, take the top k
    from labpilot.planners.encoding import pool_available, split_history
    import labpilot.planners.gp_planner as gpp

    data = split_history(space, OBJS, hist)
    x, y, _ = planner.training_data(data)
    models = planner.fit(x, y, 0)
    avail = pool_available(space, data.taken)
    feats = planner.encoder.tensor(space.pool[avail])
    stats = [gpp.posterior_mean_std(m, feats) for m in models]
    mean = torch.cat([s[0] for s in stats], -1)
    std = torch.cat([s[1] for s in stats], -1)
    single = planner.score_fn(models, planner.encoder.tensor(x), torch.as_tensor(y))(mean, std, mean[:0])
    top = space.pool[avail[torch.topk(single, 6).indices.numpy()]]
    greedy = np.array([space.to_row(p.params) for p in batch])
    assert {tuple(r) for r in top} != {tuple(r) for r in greedy}

    def min_gap(a: np.ndarray) -> float:
        d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
        return float(d[np.triu_indices(len(a), 1)].min())

    assert min_gap(greedy) > min_gap(top)


def test_continuous_simplex_proposals_are_feasible() -> None:
    names = ("a", "b", "c")
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in names), (SimplexConstraint(names),))
    f = lambda p: {"n": p["a"] - p["b"], "abbe": p["b"] + 0.5 * p["c"]}
    hist = [Trial(p, "completed", f(p)) for p in initial_design(space, 6, seed=0)]
    props = make_planner("mobo", space, OBJS, seed=0, options={"ref_point": [-2.0, -1.0]}).propose(hist, k=2)
    assert len(props) == 2
    assert_feasible_on_simplex(space, props)


def test_minimize_objectives_and_ref_point_units() -> None:
    space = line_pool()
    objs = [Objective("n", "minimize"), Objective("abbe")]
    planner = make_planner("mobo", space, objs, options={"ref_point": [2.0, -2.0]})
    ref = planner.reference_point(torch.zeros(1, 2, dtype=torch.float64))
    assert ref.tolist() == [-2.0, -2.0]  # maximize form: minimize flips the sign


@pytest.mark.parametrize(
    "objs, options, message",
    [
        ([Objective("n")], {}, "two or more objectives"),
        (OBJS, {"ref_point": [1.0]}, "one finite value per objective"),
        (OBJS, {"ref_point": "high"}, "ref_point"),
    ],
)
def test_bad_requests_are_refused(objs, options, message) -> None:
    with pytest.raises(PlannerError, match=message):
        make_planner("mobo", line_pool(), objs, options=options)


def test_pool_too_small_for_the_batch() -> None:
    space = Space((ContinuousParam("x", 0, 1),), pool=np.linspace(0, 1, 6)[:, None])
    f = lambda p: {"n": p["x"], "abbe": 1 - p["x"]}
    hist = [Trial(space.to_point(r), "completed", f(space.to_point(r))) for r in space.pool[:4]]
    with pytest.raises(PlannerError, match="only 2 of 6 pool rows"):
        make_planner("mobo", space, OBJS).propose(hist, k=3)
