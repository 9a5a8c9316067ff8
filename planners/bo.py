"""``bo``: single-objective Gaussian-process Bayesian optimization (BoTorch).

Model: ``gp.fit_gp`` (ARD Matern-5/2, normalized inputs, standardized
outcomes) on the encoded completed trials; failed trials per the ``failed``
option (see ``gp_planner``).

Options (besides the common ones in ``gp_planner.COMMON_OPTIONS``):

* ``acquisition``: ``"qlognei"`` (default; batch log noisy expected
  improvement) or ``"qucb"`` (batch upper confidence bound, ``beta``, default 2).
* Continuous spaces: ``optimize_acqf`` over the batch with pending points as
  ``X_pending`` (sequential greedy for q > 1).
* Pool mode: analytic log-EI over the best posterior mean among the trials
  (the noisy incumbent) or UCB, for every unused row from one posterior, and a
  kriging-believer greedy batch (``pool_batch``).
"""

from __future__ import annotations

import torch
from botorch.acquisition import AcquisitionFunction, qLogNoisyExpectedImprovement, qUpperConfidenceBound
from botorch.models import SingleTaskGP

from labpilot.errors import PlannerError
from labpilot.planners.analytic import log_ei, ucb
from labpilot.planners.base import register
from labpilot.planners.options import BoOptions
from labpilot.planners.gp import posterior_mean_std
from labpilot.planners.gp_planner import GPPlanner
from labpilot.planners.pool_batch import ScoreFn


@register
class BoPlanner(GPPlanner):
    """Maximize (or minimize) one objective with a GP and log-EI or UCB."""

    Options = BoOptions

    name = "bo"
    extra_options = {"acquisition": "qlognei", "beta": 2.0}
    monotone_score = True  # log-EI and UCB grow with the mean and the std

    def check_options(self) -> None:
        if len(self.objectives) != 1:
            raise PlannerError(f"planner 'bo' optimizes one objective, got {len(self.objectives)}; use 'mobo'")
        if self.opts["acquisition"] not in ("qlognei", "qucb"):
            raise PlannerError(f"planner 'bo': acquisition must be 'qlognei' or 'qucb', got {self.opts['acquisition']!r}")
        beta = self.opts["beta"]
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise PlannerError(f"planner 'bo': beta must be a number >= 0, got {beta!r}")

    def score_fn(self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor) -> ScoreFn:
        if self.opts["acquisition"] == "qucb":
            beta = float(self.opts["beta"])
            return lambda mean, std, believed: ucb(mean[:, 0], std[:, 0], beta)
        incumbent = posterior_mean_std(models[0], train_x)[0].max()

        def score(mean: torch.Tensor, std: torch.Tensor, believed: torch.Tensor) -> torch.Tensor:
            best = torch.maximum(incumbent, believed[:, 0].max()) if believed.numel() else incumbent
            return log_ei(mean[:, 0], std[:, 0], best)

        return score

    def acquisition(
        self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor, pending: torch.Tensor | None
    ) -> AcquisitionFunction:
        if self.opts["acquisition"] == "qucb":
            return qUpperConfidenceBound(
                models[0], beta=float(self.opts["beta"]), X_pending=pending, sampler=self.sampler()
            )
        return qLogNoisyExpectedImprovement(
            models[0], X_baseline=train_x, X_pending=pending, prune_baseline=True, sampler=self.sampler()
        )
