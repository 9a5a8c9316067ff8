"""``used``: uncertainty sampling for a measured-descriptor model (seed 000's USED).

Exactly what is implemented (see ``planners.design`` for the shared setting):

1. Fit the z -> y model (``planners.property_model``: PCA of z to
   ``n_components`` scores, then a GP or kernel ridge) on the measured samples.
2. Fit a GP (``planners.gp.fit_gp``, ARD Matern-5/2, one independent output
   per component) from the controllable x (unit-scaled parameters) to the
   samples' principal-component scores: what the measured descriptor of a
   sample made at x will look like, with its uncertainty.
3. For every unused candidate x, propagate that uncertainty through the
   z -> y model by Monte Carlo: draw ``n_mc`` (default 64) score vectors
   s ~ N(mu(x), diag sigma(x)^2), predict y for each; the score is the
   predictive standard deviation of y by the law of total variance,
   ``sqrt(Var_s[E[y|s]] + E_s[Var[y|s]])`` (the second term is the GP
   property model's own variance; kernel ridge has none). The normal draws are
   the same for every candidate (common random numbers, seeded), so the
   ranking is deterministic and not blurred by sampling noise.
4. Propose the candidate with the largest score. A batch (and pending
   points) uses the kriging believer on the x -> scores GP
   (``planners.pool_batch.greedy_batch``): a chosen point shrinks the score
   uncertainty around it, so the next pick goes elsewhere.

Why this form: plain uncertainty sampling on z -> y would ask for "a sample
with this XRD pattern", which nobody can make to order. Taking the
expectation over the patterns a candidate composition may produce turns it
into a choice among things the operator can actually set, and a candidate
scores high either where its pattern is unpredictable from x or where the
property is unpredictable from its likely patterns, which are both places
the model has not seen.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from botorch.models import ModelListGP

from labpilot.errors import PlannerError
from labpilot.planners.base import register
from labpilot.planners.options import UsedOptions
from labpilot.planners.design import DesignPlanner, MeasuredData
from labpilot.planners.gp import fit_gp, posterior_mean_std
from labpilot.planners.pool_batch import greedy_batch, shortlist
from labpilot.planners.property_model import PropertyModel
from labpilot.planners.space import Objective, Space


@register
class UsedPlanner(DesignPlanner):
    """Pick the candidate whose property is most uncertain before it is made."""

    Options = UsedOptions

    name = "used"
    extra_options = frozenset({"n_mc"})

    def __init__(self, space: Space, objectives: Sequence[Objective], seed: int = 0, **options: Any) -> None:
        super().__init__(space, objectives, seed, **options)
        self.n_mc = options.get("n_mc", 64)
        if isinstance(self.n_mc, bool) or not isinstance(self.n_mc, int) or self.n_mc < 2:
            raise PlannerError(f"used: n_mc must be an integer of at least 2, got {self.n_mc!r}")

    def describe(self, key: str) -> str:
        return f"used: largest predicted uncertainty of {self.objective.name} from {key} ({self.model_kind})"

    def select(self, data: MeasuredData, key: str, rows: np.ndarray, k: int, seed: int) -> list[tuple[int, float]]:
        prop = PropertyModel(self.model_kind, self.n_components, seed=self.seed).fit(data.z, data.y)
        scores = prop.scores(data.z)
        train = self.features(data.x)
        models = [fit_gp(train, scores[:, j], seed=seed) for j in range(scores.shape[1])]
        gp = ModelListGP(*models)
        eps = np.random.default_rng(seed).standard_normal((self.n_mc, scores.shape[1]))

        def y_std(mean: torch.Tensor, std: torch.Tensor, _believed: torch.Tensor) -> torch.Tensor:
            out = np.empty(mean.shape[0])
            m, s = mean.numpy(), std.numpy()
            step = max(1, 200_000 // self.n_mc)
            for a in range(0, len(m), step):
                draws = m[a : a + step, None, :] + s[a : a + step, None, :] * eps[None, :, :]
                mu, sd = prop.predict_scores(draws.reshape(-1, draws.shape[-1]), return_std=True)
                mu, sd = mu.reshape(-1, self.n_mc), sd.reshape(-1, self.n_mc)
                out[a : a + step] = np.sqrt(mu.var(axis=1) + (sd**2).mean(axis=1))
            return torch.as_tensor(out)

        X = self.features(rows)
        mean, std = posterior_mean_std(gp, X)
        first = y_std(mean, std, mean[:0])
        short = shortlist(first, k, self.shortlist)
        pending = self.features(data.pending) if len(data.pending) else X[:0]
        picks = greedy_batch(models, X[short], pending, k, y_std)
        return [(int(short[j]), s) for j, s in picks]
