"""``mobo``: multi-objective Bayesian optimization by expected hypervolume improvement.

One GP per objective (maximize form). The hypervolume is measured from a
reference point: option ``ref_point`` (one value per objective, in the
objectives' own units: a value each objective must beat to count), or else
inferred from the current Pareto front as its nadir minus 10 % of its range
(BoTorch's ``infer_reference_point``).

* Continuous spaces: ``qLogNoisyExpectedHypervolumeImprovement`` optimized with
  ``optimize_acqf`` (simplexes as equality constraints, sequential greedy
  batches, pending points as ``X_pending``).
* Pool mode (seed 002's setting: score every candidate, run the top k as one
  batch): analytic EHVI for every unused row from one posterior, using the
  box decomposition of the non-dominated region of the front made of the
  posterior means at the measured points. The batch is *sequential greedy*:
  pick the best row, believe it (kriging believer: its posterior mean joins
  the front and its variance shrinks its neighbours'), re-score, repeat. This
  spreads the batch along the front, where the k best single scores would
  cluster around the single most promising spot.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective import qLogNoisyExpectedHypervolumeImprovement
from botorch.models import ModelListGP, SingleTaskGP
from botorch.utils.multi_objective.box_decompositions import FastNondominatedPartitioning
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from botorch.utils.multi_objective.pareto import is_non_dominated

from labpilot.errors import PlannerError
from labpilot.planners.base import register
from labpilot.planners.options import MoboOptions
from labpilot.planners.gp import posterior_mean_std
from labpilot.planners.gp_planner import GPPlanner
from labpilot.planners.pool_batch import ScoreFn

_SQRT2 = float(np.sqrt(2.0))


def _expected_excess(mean: torch.Tensor, std: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``E[(Y - a)^+]`` for ``Y ~ N(mean, std^2)``; zero where ``a`` is +inf."""
    finite = torch.isfinite(a)
    a_f = torch.where(finite, a, torch.zeros_like(a))
    z = (mean - a_f) / std
    pdf = torch.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    val = std * pdf + (mean - a_f) * torch.special.ndtr(z)
    return torch.where(finite, val, torch.zeros_like(val))


def ehvi(mean: torch.Tensor, std: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, chunk: int = 20_000) -> torch.Tensor:
    """Expected hypervolume improvement of independent Gaussian outcomes (maximization).

    ``mean``/``std`` are (N, m); ``lower``/``upper`` (C, m) are the cells of
    the non-dominated region (upper may be +inf). For a cell, the improvement
    is ``prod_j (min(Y_j, u_j) - l_j)^+``, whose expectation factorizes over
    independent outcomes into ``prod_j (E[(Y_j - l_j)^+] - E[(Y_j - u_j)^+])``.
    """
    std = std.clamp_min(1e-12)
    out = torch.empty(mean.shape[0], dtype=mean.dtype)
    for s in range(0, mean.shape[0], chunk):
        mu = mean[s : s + chunk, None, :]
        sd = std[s : s + chunk, None, :]
        per_dim = (_expected_excess(mu, sd, lower[None]) - _expected_excess(mu, sd, upper[None])).clamp_min(0.0)
        out[s : s + chunk] = per_dim.prod(dim=-1).sum(dim=-1)
    return out


@register
class MoboPlanner(GPPlanner):
    """Expected hypervolume improvement over two or more objectives."""

    Options = MoboOptions

    name = "mobo"
    #: NEHVI keeps one box decomposition per MC sample: fewer samples by default.
    extra_options = {"ref_point": None, "mc_samples": 32}

    def check_options(self) -> None:
        if len(self.objectives) < 2:
            raise PlannerError("planner 'mobo' needs two or more objectives; use 'bo' for one")
        ref = self.opts["ref_point"]
        if ref is not None:
            try:
                values = [float(v) for v in ref]
            except (TypeError, ValueError):
                raise PlannerError(f"planner 'mobo': ref_point must be a list of numbers, got {ref!r}") from None
            if len(values) != len(self.objectives) or not all(np.isfinite(values)):
                raise PlannerError(
                    f"planner 'mobo': ref_point needs one finite value per objective "
                    f"({[o.name for o in self.objectives]}), got {ref!r}"
                )

    def reference_point(self, front: torch.Tensor) -> torch.Tensor:
        """The reference point in maximize form."""
        ref = self.opts["ref_point"]
        if ref is not None:
            return torch.tensor([o.sign * float(v) for o, v in zip(self.objectives, ref)], dtype=front.dtype)
        return infer_reference_point(front[is_non_dominated(front)])

    def _train_means(self, models: Sequence[SingleTaskGP], train_x: torch.Tensor) -> torch.Tensor:
        return torch.cat([posterior_mean_std(m, train_x)[0] for m in models], dim=-1)

    def score_fn(self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor) -> ScoreFn:
        base = self._train_means(models, train_x)
        ref = self.reference_point(base)

        def score(mean: torch.Tensor, std: torch.Tensor, believed: torch.Tensor) -> torch.Tensor:
            front = torch.cat([base, believed]) if believed.numel() else base
            front = front[is_non_dominated(front)]
            cells = FastNondominatedPartitioning(ref_point=ref, Y=front).get_hypercell_bounds()
            return torch.log(ehvi(mean, std, cells[0], cells[1]).clamp_min(1e-300))

        return score

    def acquisition(
        self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor, pending: torch.Tensor | None
    ) -> AcquisitionFunction:
        ref = self.reference_point(self._train_means(models, train_x))
        return qLogNoisyExpectedHypervolumeImprovement(
            ModelListGP(*models), ref_point=ref, X_baseline=train_x, X_pending=pending, prune_baseline=True,
            sampler=self.sampler(),
        )
