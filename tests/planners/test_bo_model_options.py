"""``bo``'s model options: the output warp (``planners.output_warp``) and the GP hyperparameter priors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from labpilot.errors import PlannerError
from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner
from labpilot.planners.gp import build_gp, fit_gp
from labpilot.planners.gp_warm import FitPolicy, fit_with_state
from labpilot.planners.output_warp import warp


def skewed_pool() -> tuple[Space, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    pool = rng.uniform(size=(300, 3))
    y = np.exp(6 * pool[:, 0] * pool[:, 1]) - 1.0  # zero-heavy, a long upper tail
    space = Space(tuple(ContinuousParam(n, 0.0, 1.0) for n in "abc"), pool=pool)
    return space, pool, y


def history(space: Space, pool: np.ndarray, y: np.ndarray, rows: list[int]) -> list[Trial]:
    return [Trial(space.to_point(pool[i]), "completed", {"y": float(y[i])}) for i in rows]


@pytest.mark.parametrize("kind", ["rank", "power"])
def test_warp_keeps_the_order_and_inverts_at_the_data(kind) -> None:
    y = np.array([0.0, 0.0, 0.1, 0.3, 5.0, 40.0, 2.0])
    z, w = warp(y, kind)
    order = np.argsort(y, kind="stable")
    assert np.all(np.diff(z[order]) >= 0)  # monotone; ties share their image
    assert z[0] == z[1]
    assert np.allclose(w.inverse(z), y)
    assert np.all(np.diff(w.inverse(np.linspace(z.min() - 1, z.max() + 1, 50))) >= 0)


def test_rank_warp_is_the_gaussian_copula() -> None:
    z, _ = warp(np.array([10.0, 1.0, 1000.0, 2.0]), "rank")
    from scipy.special import ndtri

    assert np.allclose(z, ndtri((np.array([3, 1, 4, 2]) - 0.5) / 4))


def test_unknown_warp_and_priors_are_refused_by_name() -> None:
    space, _, _ = skewed_pool()
    with pytest.raises(PlannerError, match="output_warp"):
        make_planner("bo", space, [Objective("y")], options={"output_warp": "log"})
    with pytest.raises(PlannerError, match="gp_priors"):
        make_planner("bo", space, [Objective("y")], options={"gp_priors": "flat"})


@pytest.mark.parametrize("options", [{"output_warp": "rank"}, {"output_warp": "power"}, {"gp_priors": "gamma"}])
def test_options_propose_new_rows_reproducibly_with_predictions_in_objective_units(options) -> None:
    space, pool, y = skewed_pool()
    hist = history(space, pool, y, list(range(0, 60, 3)))
    a = make_planner("bo", space, [Objective("y")], seed=4, options=options).propose(hist, 2)
    b = make_planner("bo", space, [Objective("y")], seed=4, options=options).propose(hist, 2)
    assert [p.params for p in a] == [p.params for p in b]
    used = {tuple(space.to_row(t.params)) for t in hist}
    assert all(tuple(space.to_row(p.params)) not in used for p in a)
    for p in a:
        mean, sd = p.predicted["y"]
        assert np.isfinite(mean) and sd >= 0
        assert y.min() - 3 * y.std() < mean < y.max() + 3 * y.std()  # the objective's scale, not the warped one


def test_rank_warp_predictions_map_back_monotonically() -> None:
    space, pool, y = skewed_pool()
    planner = make_planner("bo", space, [Objective("y")], seed=1, options={"output_warp": "rank"})
    planner.propose(history(space, pool, y, list(range(40))), 1)
    assert planner.warp is not None
    assert np.allclose(planner.warp.inverse(planner.warp.z), planner.warp.y)


def test_minimize_with_a_warp_still_minimizes() -> None:
    space, pool, y = skewed_pool()
    obj = [Objective("y", "minimize")]
    hist = history(space, pool, -y, list(range(20)))
    picked = [space.to_row(p.params) for p in
              make_planner("bo", space, obj, seed=0, options={"output_warp": "rank"}).propose(hist, 3)]
    truth = {tuple(r): v for r, v in zip(pool.tolist(), (-y).tolist())}
    # the minimum of -y is where y is large: the proposals aim at the upper tail's region
    assert np.mean([truth[tuple(r)] for r in np.asarray(picked).tolist()]) < np.median(-y)


def test_gamma_priors_are_baybes_and_differ_from_botorchs() -> None:
    x = torch.rand(10, 3, dtype=torch.float64)
    y = torch.rand(10, dtype=torch.float64)
    g = build_gp(x, y, priors="gamma")
    ln = build_gp(x, y)
    assert type(g.covar_module.lengthscale_prior).__name__ == "GammaPrior"
    assert type(ln.covar_module.lengthscale_prior).__name__ == "LogNormalPrior"
    assert type(g.likelihood.noise_covar.noise_prior).__name__ == "GammaPrior"
    m = fit_gp(x, y, priors="gamma")
    assert float(m.covar_module.lengthscale.detach().min()) >= 0.025 - 1e-9
    with pytest.raises(ValueError, match="priors"):
        build_gp(x, y, priors="flat")


def test_a_fit_state_under_other_priors_is_not_warm_started() -> None:
    x = torch.rand(12, 2, dtype=torch.float64)
    y = torch.sin(5 * x[:, 0]) + x[:, 1]
    _, state, _ = fit_with_state(x, y, None, FitPolicy())
    assert "priors" not in state  # states of the default priors are as before
    _, gstate, kind = fit_with_state(x, y, json.loads(json.dumps(state)), FitPolicy(priors="gamma"))
    assert kind == "full (previous fit under other priors)"
    assert gstate["priors"] == "gamma"
    _, _, kind = fit_with_state(x, y, json.loads(json.dumps(gstate)), FitPolicy(priors="gamma"))
    assert kind == "warm"


def test_the_defaults_depend_on_the_space_and_what_a_campaign_sets_wins() -> None:
    """A pool gets UCB on rank-warped values; a continuous space log-EI on the values as measured."""
    space, pool, y = skewed_pool()
    continuous = Space(space.params)
    on_pool = make_planner("bo", space, [Objective("y")])
    on_box = make_planner("bo", continuous, [Objective("y")])
    assert (on_pool.opts["acquisition"], on_pool.opts["output_warp"]) == ("ucb", "rank")
    assert (on_box.opts["acquisition"], on_box.opts["output_warp"]) == ("logei", "none")
    chosen = make_planner("bo", continuous, [Objective("y")], options={"acquisition": "ucb", "output_warp": "rank"})
    assert (chosen.opts["acquisition"], chosen.opts["output_warp"]) == ("ucb", "rank")
    # and the continuous planner proposes through log-EI on the raw values: no warp is fitted
    trials = [Trial(continuous.to_point(pool[i]), "completed", {"y": float(y[i])}) for i in range(8)]
    on_box.propose(trials, k=1)
    assert on_box.warp is None


def test_a_drawn_beta_is_the_same_for_the_same_history_and_changes_with_it() -> None:
    """``beta_draw = "exponential"``: one draw per proposal, seeded by the history's length (a resume draws the same)."""
    space, pool, y = skewed_pool()
    opts = {"beta": 1.0, "beta_draw": "exponential"}

    def draws(rows: list[int]) -> tuple[float, list]:
        planner = make_planner("bo", space, [Objective("y", "maximize")], seed=5, options=opts)
        props = planner.propose(history(space, pool, y, rows), 1)
        return planner._beta(), [p.params for p in props]

    first, again = draws([1, 2, 3, 4, 5]), draws([1, 2, 3, 4, 5])
    assert first == again  # same history, same draw, same proposal
    betas = {draws(list(range(1, n)))[0] for n in range(6, 12)}
    assert len(betas) == 6 and all(b >= 0 for b in betas)  # each history length draws its own
    fixed = make_planner("bo", space, [Objective("y", "maximize")], seed=5, options={"beta": 1.5})
    fixed.propose(history(space, pool, y, [1, 2, 3, 4, 5]), 1)
    assert fixed._beta() == 1.5


def test_an_unknown_beta_draw_is_refused_by_name() -> None:
    space, _, _ = skewed_pool()
    with pytest.raises(PlannerError, match="beta_draw"):
        make_planner("bo", space, [Objective("y", "maximize")], seed=0, options={"beta_draw": "uniform"})
