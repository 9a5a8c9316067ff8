"""``uncertainty``: uncertainty sampling, to make the model accurate (seed 003).

Proposes the candidates where the GP's predictive standard deviation is
largest (summed over objectives, each divided by the spread of its observed
values so units do not matter). Batches and pending points use the kriging
believer (``pool_batch``): each pick shrinks the variance around it, so a
batch spreads over the unexplored regions. Continuous spaces are searched over
``fill_samples`` uniform feasible points.

Stopping: with ``stop_cv_error = E`` the planner computes, after each fit, the
leave-one-out cross-validated RMSE of every objective's GP (``gp.loo_rmse``,
in the objective's units; needs ``stop_min_observations`` results, default 5).
When all of them are at or below ``E`` it raises ``PlannerDone`` (a
``PlannerError``) instead of proposing, and sets ``planner.done = True`` and
``planner.done_reason``. The agent should treat ``PlannerDone`` as "the
campaign's goal is reached": stop asking for proposals, finish the experiments
in flight, and complete the campaign with the reason in its journal. The
latest errors are in ``planner.cv_rmse`` (objective name -> RMSE).

Failed trials are excluded from the model by default (``failed =
"exclude"``): a failed sample has no property value, and inventing one would
distort the very model this planner tries to make accurate. They are never
proposed again.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from botorch.models import SingleTaskGP

from labpilot.errors import PlannerDone, PlannerError
from labpilot.planners.base import register
from labpilot.planners.options import UncertaintyOptions
from labpilot.planners.gp import loo_rmse
from labpilot.planners.gp_planner import GPPlanner
from labpilot.planners.pool_batch import ScoreFn
from labpilot.planners.space import Objective, Space


@register
class UncertaintyPlanner(GPPlanner):
    """Propose where the model is least certain; optionally stop once it is accurate enough."""

    Options = UncertaintyOptions

    name = "uncertainty"
    flip_signs = False
    continuous_by_candidates = True
    extra_options = {"stop_cv_error": None, "stop_min_observations": 5}

    def __init__(self, space: Space, objectives: Sequence[Objective], seed: int = 0, **options: Any) -> None:
        options.setdefault("failed", "exclude")
        self.done = False
        self.done_reason = ""
        self.cv_rmse: dict[str, float] = {}
        super().__init__(space, objectives, seed, **options)

    def check_options(self) -> None:
        stop = self.opts["stop_cv_error"]
        if stop is not None and (isinstance(stop, bool) or not isinstance(stop, (int, float)) or not stop > 0):
            raise PlannerError(f"planner 'uncertainty': stop_cv_error must be a number > 0, got {stop!r}")
        n = self.opts["stop_min_observations"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 3:
            raise PlannerError(f"planner 'uncertainty': stop_min_observations must be an integer >= 3, got {n!r}")

    def after_fit(self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor) -> list[str]:
        stop = self.opts["stop_cv_error"]
        if train_x.shape[0] < max(3, self.opts["stop_min_observations"]):
            return []
        self.cv_rmse = {
            o.name: loo_rmse(m, train_x, train_y[:, j]) for j, (o, m) in enumerate(zip(self.objectives, models))
        }
        summary = ", ".join(f"{k} {v:.4g}" for k, v in self.cv_rmse.items())
        if stop is not None and all(v <= stop for v in self.cv_rmse.values()):
            self.done = True
            self.done_reason = (
                f"cross-validated RMSE ({summary}) is at or below the target {stop:g} "
                f"after {train_x.shape[0]} results"
            )
            raise PlannerDone(f"planner 'uncertainty' is done: {self.done_reason}")
        return [f"leave-one-out RMSE: {summary}"]

    def score_fn(self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor) -> ScoreFn:
        scale = train_y.std(dim=0).clamp_min(1e-12) if train_y.shape[0] > 1 else torch.ones(train_y.shape[1])

        def score(mean: torch.Tensor, std: torch.Tensor, believed: torch.Tensor) -> torch.Tensor:
            return (std / scale).sum(dim=-1)

        return score
