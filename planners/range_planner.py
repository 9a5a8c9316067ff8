"""``range``: seek candidates whose property lands inside a target window (seed 003).

Each objective carries a window ``[Objective.low, Objective.high]`` (either
bound may be ``None``: open). With one GP per objective in the objective's own
units, a candidate's score is the probability that every property lands in its
window, ``prod_j P(low_j <= Y_j <= high_j)``, reported as its logarithm so that
tiny probabilities still rank. Unlike EI on the distance to the window, this
prefers points that are confidently inside over points that are merely close.

Batches and pending points use the kriging believer (``pool_batch``): a
believed point shrinks the variance around it, so the next pick goes to
another promising place instead of a neighbour. Continuous spaces are
searched over ``fill_samples`` uniform feasible points (default 1024) scored
the same way, since the window probability is flat almost everywhere and a
gradient optimizer gains little on it.

Failed trials (``failed = "worst"``, the default) are modeled with the
observed value farthest outside the window, per objective.
"""

from __future__ import annotations

import numpy as np
import torch
from botorch.models import SingleTaskGP

from labpilot.errors import PlannerError
from labpilot.planners.analytic import log_prob_in_window
from labpilot.planners.base import register
from labpilot.planners.options import RangeOptions
from labpilot.planners.gp_planner import GPPlanner
from labpilot.planners.pool_batch import ScoreFn


def window_distance(y: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    """How far each value lies outside ``[low, high]`` (0 inside)."""
    below = np.zeros_like(y) if low is None else np.maximum(low - y, 0.0)
    above = np.zeros_like(y) if high is None else np.maximum(y - high, 0.0)
    return below + above


@register
class RangePlanner(GPPlanner):
    """Maximize the probability that every objective falls inside its window."""

    Options = RangeOptions

    name = "range"
    flip_signs = False
    continuous_by_candidates = True

    def check_options(self) -> None:
        for o in self.objectives:
            if o.low is None and o.high is None:
                raise PlannerError(f"planner 'range': objective {o.name!r} needs a window (low and/or high)")
            if o.low is not None and o.high is not None and o.low > o.high:
                raise PlannerError(f"planner 'range': objective {o.name!r} has low {o.low:g} above high {o.high:g}")

    def worst_values(self, y: np.ndarray) -> np.ndarray:
        out = np.empty((1, y.shape[1]))
        for j, o in enumerate(self.objectives):
            out[0, j] = y[int(np.argmax(window_distance(y[:, j], o.low, o.high))), j]
        return out

    def score_fn(self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor) -> ScoreFn:
        windows = [(o.low, o.high) for o in self.objectives]

        def score(mean: torch.Tensor, std: torch.Tensor, believed: torch.Tensor) -> torch.Tensor:
            total = torch.zeros(mean.shape[0], dtype=mean.dtype)
            for j, (lo, hi) in enumerate(windows):
                total += log_prob_in_window(mean[:, j], std[:, j], lo, hi)
            return total

        return score
