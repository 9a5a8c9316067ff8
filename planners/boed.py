"""``boed``: Bayesian optimization of the prediction error (seed 000's BOED).

Exactly what is implemented (see ``planners.design`` for the shared setting):

1. Every measured sample gets its cross-validated error: the z -> y model
   (``planners.property_model``) is refitted without the sample's fold
   (``folds``, default ``"loo"``: leave-one-out) and predicts it; the error is
   ``e_i = |y_i - y_hat_{-i}|``.
2. A GP (``planners.gp.fit_gp``, ARD Matern-5/2, standardized outcomes) maps
   the controllable x (unit-scaled parameters) to ``t_i = log(e_i + delta)``,
   with ``delta`` = 1 % of the spread of y. The log makes the skewed, positive
   errors closer to Gaussian and keeps a near-perfect prediction from
   dominating the fit.
3. Every unused candidate x is scored by log expected improvement of t over
   the best (largest) posterior mean at a measured sample: where the model is
   expected to be most wrong, allowing for what the GP does not know yet.
4. Propose the best; batches and pending points use the kriging believer
   (``planners.pool_batch.greedy_batch``).

Why: a sample the current model predicts badly is, by definition, one it
has not learned; fitting such samples reduces the cross-validated error
fastest. Learning *where* (in x) the errors are large lets the planner ask for
new x's that will likely be mispredicted, before making them.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from labpilot.errors import PlannerError
from labpilot.planners.analytic import log_ei
from labpilot.planners.base import register
from labpilot.planners.options import BoedOptions
from labpilot.planners.design import DesignPlanner, MeasuredData
from labpilot.planners.gp import fit_gp, posterior_mean_std
from labpilot.planners.pool_batch import greedy_batch, shortlist
from labpilot.planners.property_model import cross_validated_predictions
from labpilot.planners.space import Objective, Space


@register
class BoedPlanner(DesignPlanner):
    """Pick the candidate with the highest expected improvement of the model's CV error."""

    Options = BoedOptions

    name = "boed"
    extra_options = frozenset({"folds"})

    def __init__(self, space: Space, objectives: Sequence[Objective], seed: int = 0, **options: Any) -> None:
        super().__init__(space, objectives, seed, **options)
        self.folds = options.get("folds", "loo")
        if self.folds != "loo" and (isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2):
            raise PlannerError(f"boed: folds must be 'loo' or an integer of at least 2, got {self.folds!r}")

    def describe(self, key: str) -> str:
        return f"boed: largest expected improvement of the {self.objective.name}-from-{key} CV error ({self.model_kind})"

    def sample_errors(self, data: MeasuredData) -> np.ndarray:
        """Cross-validated absolute error of every measured sample."""
        pred = cross_validated_predictions(
            data.z, data.y, self.model_kind, self.n_components, folds=self.folds, seed=self.seed
        )
        return np.abs(data.y - pred)

    def select(self, data: MeasuredData, key: str, rows: np.ndarray, k: int, seed: int) -> list[tuple[int, float]]:
        err = self.sample_errors(data)
        delta = 0.01 * float(np.ptp(data.y)) + 1e-12
        t = np.log(err + delta)
        train = self.features(data.x)
        gp = fit_gp(train, t, seed=seed)
        train_mean, _ = posterior_mean_std(gp, train)
        best = float(train_mean.max())

        def score(mean: torch.Tensor, std: torch.Tensor, _believed: torch.Tensor) -> torch.Tensor:
            return log_ei(mean[:, 0], std[:, 0], best)

        X = self.features(rows)
        mean, std = posterior_mean_std(gp, X)
        first = score(mean, std, mean[:0])
        short = shortlist(first, k, self.shortlist)
        pending = self.features(data.pending) if len(data.pending) else X[:0]
        picks = greedy_batch([gp], X[short], pending, k, score)
        return [(int(short[j]), s) for j, s in picks]
