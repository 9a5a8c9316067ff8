"""``bo``: single-objective Gaussian-process Bayesian optimization (BoTorch).

Model: ``gp.fit_gp`` (ARD Matern-5/2, normalized inputs, standardized
outcomes) on the encoded completed trials; failed trials per the ``failed``
option (see ``gp_planner``).

Options (besides the common ones in ``gp_planner.COMMON_OPTIONS``):

* ``acquisition``: ``"ucb"`` (default; batch upper confidence bound,
  mean + sqrt(``beta``) * std, ``beta`` default 1, was 2) or ``"logei"`` (batch log
  noisy expected improvement) or ``"ts"`` (Thompson sampling, pools only:
  each batch slot takes the best unused row of its own posterior function
  draw, a pathwise sample evaluated over the pool in chunks,
  ``planners.pool_thompson``; exploration in proportion to the model's doubt,
  against UCB's repeated picks in a local basin; seeded by the call seed;
  tried on the selection seeds, ``bo_select`` round 7: score -0.276 against
  the default, bootstrap SE 0.033, it over-explores at 30-50 picks, so not
  the default);
  the one vocabulary of ``planners.acquisitions`` (``qlognei``/``qucb`` are
  accepted aliases). ``"ts"`` is refused on a continuous space (optimising
  a sample path under the space's constraints, categoricals and pending points
  is not built) and with prior data (the multi-task model has no pathwise
  sampler here).
* ``beta_draw``: ``"fixed"`` (default) or ``"exponential"`` (randomised
  GP-UCB: each proposal draws its beta from an exponential distribution of
  mean ``beta``, seeded by the history's length). Tried against the replays
  that stall in a local basin (``bo_select`` round 4): no better, so not the
  default.
* ``output_warp``: ``"rank"`` (default; the Gaussian copula: the GP models the
  normal quantiles of the values' ranks, ``planners.output_warp``),
  ``"power"`` (Yeo-Johnson) or ``"none"``; not applied when priors are given
  (their values are modelled as measured).
* ``gp_priors``: ``"lognormal"`` (default; BoTorch's dimension-scaled prior)
  or ``"gamma"`` (BayBE's lighter-tailed one, ``gp.gamma_matern``).
* Why these defaults, and why they depend on the space: on a pool (rows to
  pick: a campaign's ``[space] pool``, a backtest table), UCB (``beta`` 1) on
  rank-warped values scored best of twelve model/acquisition variants in two
  rounds under one rule over ten public tables (mean over tables of each
  variant's mean EF over the variants' mean), on seeds the final comparison
  with BayBE does not use (``benchmarks/bo_select.py``,
  ``benchmarks/results/bo_select.json``): above the old default on all 10
  tables. On a continuous space it was chosen without evidence, and the alloy
  world (``benchmarks/alloy_bo_vs_random.py --with-pool-default``, 20 seeds) showed
  it slower: 13.8 experiments to 95 % of the best against 10.8 for log-EI on
  the values as measured (paired difference 3.1 +- 1.0 SEM). So a continuous
  space keeps ``acquisition = "logei"``, ``output_warp = "none"`` (the
  behaviour before 2026-12) unless the campaign sets them
  (``CONTINUOUS_DEFAULTS``).
* ``skill_guard`` (default off): after each fit without priors, a fit whose
  lengthscale collapsed to its lower bound and whose leave-one-out error is
  about one standard deviation (no skill) is refitted with the lengthscales
  floored at the median nearest-neighbour distance of the observations, and
  the fit with the better leave-one-out log-likelihood is kept
  (``planners.gp_skill``). Tried on the selection seeds (``bo_select``
  round 6): triggered on 37 of 7,200 fits, score -0.004 against the default
  (bootstrap SE 0.004), so not the default.
* Continuous spaces: ``optimize_acqf`` over the batch with pending points as
  ``X_pending`` (sequential greedy for q > 1).
* Prior data (``make_planner(priors=...)``, a campaign's ``[[prior]]``): a
  multi-task GP over this campaign and the prior sources that pass
  ``planners.transfer``'s test (they must improve the target's leave-one-out
  error by ``transfer_margin``, default 10 %, with a task correlation of at
  least ``transfer_min_correlation``, default 0.5, once there are
  ``transfer_min_target`` target results, default 5); no source passing means
  plain ``bo``. ``transfer_max_prior`` (default 500) caps the rows used per
  source. Each proposal's note says which priors were kept and why.
* Pool mode: UCB, or analytic log-EI over the best posterior mean among the
  trials (the noisy incumbent), for every unused row from one posterior, and a
  kriging-believer greedy batch (``pool_batch``); or Thompson sampling.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction, qLogNoisyExpectedImprovement, qUpperConfidenceBound
from botorch.models import SingleTaskGP

from labpilot.errors import PlannerError
from labpilot.planners.acquisitions import canonical
from labpilot.planners.analytic import log_ei, ucb
from labpilot.planners.base import register
from labpilot.planners import transfer
from labpilot.planners.gp import DTYPE, PRIORS, loo_rmse, posterior_mean_std
from labpilot.planners.gp_skill import GuardResult, guard
from labpilot.planners.options import BoOptions
from labpilot.planners.output_warp import WARPS, Warp, warp
from labpilot.planners.gp_planner import GPPlanner
from labpilot.planners.pool_batch import ScoreFn
from labpilot.planners.pool_thompson import thompson_picks
from labpilot.planners.prior import PriorData
from labpilot.planners.space import Objective, Space


#: ``bo``'s defaults on a continuous space (no pool): log-EI on the values as measured, which the
#: alloy world found faster there than the pool default (UCB on rank-warped values); see the module docstring.
CONTINUOUS_DEFAULTS: dict[str, Any] = {"acquisition": "logei", "output_warp": "none"}


@register
class BoPlanner(GPPlanner):
    """Maximize (or minimize) one objective with a GP and UCB (default) or log-EI."""

    Options = BoOptions

    name = "bo"
    accepts_priors = True
    extra_options = {"acquisition": "ucb", "beta": 1.0, "beta_draw": "fixed", "output_warp": "rank", "gp_priors": "lognormal",
                     "skill_guard": False,
                     "transfer_min_target": transfer.MIN_TARGET,
                     "transfer_margin": transfer.MARGIN, "transfer_min_correlation": transfer.MIN_CORRELATION,
                     "transfer_max_prior": transfer.MAX_PRIOR}
    monotone_score = True  # log-EI and UCB grow with the mean and the std

    def __init__(self, space: Space, objectives: Sequence[Objective], seed: int = 0,
                 priors: Sequence[PriorData] | None = None, **options: Any) -> None:
        if space.pool is None and space.candidates is None:
            options = {**CONTINUOUS_DEFAULTS, **options}  # what a campaign sets wins
        super().__init__(space, objectives, seed, **options)
        self.priors = list(priors or [])
        if self.opts["acquisition"] == "ts" and (space.pool is None and space.candidates is None or self.priors):
            where = "with [[prior]] data" if self.priors else "on a continuous space (no pool)"
            raise PlannerError(f"planner 'bo': planner.options.acquisition = 'ts' (Thompson sampling) works on a pool "
                               f"without prior data only, not {where}; use 'ucb' or 'logei'")
        for p in self.priors:
            if p.y.shape[1] != 1 or p.x.shape[1] != space.dim:
                raise PlannerError(f"planner 'bo': prior {p.name!r} does not match this space and objective")
        #: What the last fit decided about the priors (None: no priors, or not fitted yet).
        self.transfer: transfer.TransferChoice | None = None
        #: The last fit's output warp (None: values as measured).
        self.warp: Warp | None = None
        #: What ``skill_guard`` did at each fit it looked at (``planners.gp_skill``), oldest first.
        self.skill_guard_log: list[GuardResult] = []
        self.fit_policy = dataclasses.replace(self.fit_policy, priors=self.opts["gp_priors"])

    def check_options(self) -> None:
        if len(self.objectives) != 1:
            raise PlannerError(f"planner 'bo' optimizes one objective, got {len(self.objectives)}; use 'mobo'")
        self.opts["acquisition"] = canonical(self.name, self.opts["acquisition"])
        for key in ("transfer_min_target", "transfer_max_prior"):
            v = self.opts[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 3:
                raise PlannerError(f"planner 'bo': {key} must be an integer of at least 3, got {v!r}")
        v = self.opts["transfer_margin"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise PlannerError(f"planner 'bo': transfer_margin must be a number in [0, 1), got {v!r}")
        v = self.opts["transfer_min_correlation"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not -1 <= v <= 1:
            raise PlannerError(f"planner 'bo': transfer_min_correlation must be a number in [-1, 1], got {v!r}")
        if self.opts["output_warp"] not in WARPS:
            raise PlannerError(f"planner 'bo': output_warp must be one of {', '.join(WARPS)}, got {self.opts['output_warp']!r}")
        if self.opts["gp_priors"] not in PRIORS:
            raise PlannerError(f"planner 'bo': gp_priors must be one of {', '.join(PRIORS)}, got {self.opts['gp_priors']!r}")
        beta = self.opts["beta"]
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise PlannerError(f"planner 'bo': beta must be a number >= 0, got {beta!r}")
        if self.opts["beta_draw"] not in ("fixed", "exponential"):
            raise PlannerError(f"planner 'bo': beta_draw must be fixed or exponential, got {self.opts['beta_draw']!r}")
        if not isinstance(self.opts["skill_guard"], bool):
            raise PlannerError(f"planner 'bo': skill_guard must be true or false, got {self.opts['skill_guard']!r}")

    def _beta(self) -> float:
        """This proposal's UCB weight: ``beta``, or a draw of mean ``beta`` seeded by this call's seed."""
        beta = float(self.opts["beta"])
        if self.opts["beta_draw"] == "fixed":
            return beta
        return float(np.random.default_rng([self._call_seed, 11]).exponential(beta))

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> list[Any]:
        """The target-only GP (``GPPlanner.fit``), replaced by a multi-task GP when a prior passes the test.

        Without priors, the values are first warped by ``output_warp``
        (``planners.output_warp``); with priors they are modelled as measured,
        like the prior sources' values.
        """
        self.warp = None
        if self.opts["output_warp"] != "none" and not self.priors:
            z, self.warp = warp(y[:, 0], self.opts["output_warp"])
            y = z[:, None]
        models = super().fit(x, y, seed)
        if not self.priors:
            return self._guarded(models, x, y, seed) if self.opts["skill_guard"] else models
        tx = self.encoder.tensor(x)
        sd = float(np.std(y[:, 0]))
        loo0 = loo_rmse(models[0], tx, torch.as_tensor(y[:, 0], dtype=DTYPE)) / (sd if sd > 1e-12 else 1.0) \
            if len(y) >= 3 else float("nan")
        sources = []
        for i, p in enumerate(self.priors):
            px, py = transfer.subsample(p.x, p.y[:, 0] * self.objectives[0].sign,
                                        int(self.opts["transfer_max_prior"]), seed + i)
            sources.append((p.name, self.encoder.tensor(px), py))
        self.transfer = transfer.select_sources(
            (tx, y[:, 0]), sources, loo0, seed, min_target=int(self.opts["transfer_min_target"]),
            margin=float(self.opts["transfer_margin"]), min_correlation=float(self.opts["transfer_min_correlation"]),
        )
        return [self.transfer.model] if self.transfer.model is not None else models

    def _guarded(self, models: list[Any], x: np.ndarray, y: np.ndarray, seed: int) -> list[Any]:
        """``skill_guard``: the target GP, or its floored refit when it has no LOO skill (``planners.gp_skill``).

        The warm-start state is left as fitted, so the guard never changes
        what the next fit starts from.
        """
        model, result = guard(models[0], self.encoder.tensor(x), torch.as_tensor(y[:, 0], dtype=DTYPE),
                              bounds=self.encoder.bounds(), seed=seed, priors=self.opts["gp_priors"])
        self.skill_guard_log.append(result)
        return [model]

    def _predicted(self, models: list[Any], proposals: list[Any]) -> list[Any]:
        """As ``GPPlanner._predicted``, mapped back to the objective's units through the warp (mean, half of the +-1 sd band)."""
        proposals = super()._predicted(models, proposals)
        if self.warp is None:
            return proposals
        obj = self.objectives[0]
        for p in proposals:
            if p.predicted and obj.name in p.predicted:
                m, s = p.predicted[obj.name]
                lo, mid, hi = self.warp.inverse(np.array([m * obj.sign - s, m * obj.sign, m * obj.sign + s]))
                p.predicted[obj.name] = (float(mid * obj.sign), float((hi - lo) / 2))
        return proposals

    def after_fit(self, models: list[Any], train_x: torch.Tensor, train_y: torch.Tensor) -> list[str]:
        if self.priors:
            return [self.transfer.note()] if self.transfer is not None else []
        if self.opts["skill_guard"] and self.skill_guard_log and self.skill_guard_log[-1].triggered:
            return [self.skill_guard_log[-1].note()]
        return []

    def _pool_pick(self, models: list[Any], train_x: torch.Tensor, train_y: torch.Tensor, feats: torch.Tensor,
                   believed_rows: np.ndarray, k: int, exclude: torch.Tensor | None = None) -> list[tuple[int, float]]:
        """``ts``: each slot the argmax of its own posterior draw (``planners.pool_thompson``); else ``GPPlanner``'s pick.

        Pending rows are not in ``feats`` (or are excluded): independent draws
        need no believer, and the k slots take k distinct rows.
        """
        if self.opts["acquisition"] != "ts":
            return super()._pool_pick(models, train_x, train_y, feats, believed_rows, k, exclude)
        self._pool_note = f"Thompson sampling: {k} posterior draw(s) over {feats.shape[0]} rows"
        return thompson_picks(models[0], feats, k, self._call_seed, chunk=int(self.opts["pool_chunk"]), exclude=exclude)

    def score_fn(self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor) -> ScoreFn:
        if self.opts["acquisition"] == "ucb":
            beta = self._beta()
            return lambda mean, std, believed: ucb(mean[:, 0], std[:, 0], beta)
        incumbent = posterior_mean_std(models[0], train_x)[0].max()

        def score(mean: torch.Tensor, std: torch.Tensor, believed: torch.Tensor) -> torch.Tensor:
            best = torch.maximum(incumbent, believed[:, 0].max()) if believed.numel() else incumbent
            return log_ei(mean[:, 0], std[:, 0], best)

        return score

    def acquisition(
        self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor, pending: torch.Tensor | None
    ) -> AcquisitionFunction:
        if self.opts["acquisition"] == "ucb":
            return qUpperConfidenceBound(
                models[0], beta=self._beta(), X_pending=pending, sampler=self.sampler()
            )
        return qLogNoisyExpectedImprovement(
            models[0], X_baseline=train_x, X_pending=pending, prune_baseline=True, sampler=self.sampler()
        )
