"""A skill guard on a fitted GP: catch a fit whose lengthscales collapsed and that predicts nothing, refit with a floor.

Why: with few observations the marginal likelihood can be maximised by an ARD
lengthscale at its lower bound (0.025 of the unit cube): every training point
then explains itself and predicts nothing about its neighbours. Its
leave-one-out (LOO) error is about one outcome standard deviation, no better
than the mean, and UCB on such a model explores blind (``bo``'s stalls on
photo_pce10, ``benchmarks/bo_select.py``).

``guard`` detects that (a lengthscale within ``AT_BOUND`` of its lower bound
and a standardized LOO error of at least ``NO_SKILL``), refits from
BoTorch's default start with the lengthscales floored at the median
nearest-neighbour distance of the training inputs in the unit cube (below
that distance no pair of observations constrains the correlation, so a
shorter lengthscale is not identified by the data), and keeps whichever fit
has the higher mean LOO log predictive density. LOO is the closed form for
fixed hyperparameters (Rasmussen & Williams 2006, eq. 5.10-5.12).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gpytorch
import torch
from botorch.exceptions import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.utils.sampling import manual_seed
from gpytorch.constraints import GreaterThan
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.errors import NotPSDError

from labpilot.planners.gp import DTYPE, MAX_CHOLESKY, build_gp, loo_residuals

#: A lengthscale counts as collapsed within this factor of its lower bound.
AT_BOUND = 1.05
#: Standardized LOO RMSE at or above which a fit has no skill (0.9: it explains under 19 % of the held-out variance).
NO_SKILL = 0.9


@dataclass(frozen=True)
class Loo:
    """Closed-form leave-one-out fit quality in standardized outcome units."""

    rmse: float
    """Root mean squared held-out error (1: no better than the mean)."""
    log_lik: float
    """Mean held-out log predictive density (higher is better)."""


@dataclass(frozen=True)
class GuardResult:
    """What ``guard`` did to one fit."""

    triggered: bool
    """The fit had a collapsed lengthscale and no LOO skill."""
    floored: bool
    """The floored refit was kept (its LOO log predictive density was higher)."""
    floor: float = float("nan")
    loo_before: Loo | None = None
    loo_floored: Loo | None = None

    def note(self) -> str:
        """One line for a proposal's note ('' when the guard did not trigger)."""
        if not self.triggered:
            return ""
        before, after = self.loo_before, self.loo_floored
        kept = "floored refit kept" if self.floored else "original fit kept"
        detail = f"LOO log-lik {before.log_lik:.2f} -> {after.log_lik:.2f}" if before and after else "refit failed"
        return f"skill guard: lengthscale at its bound, LOO error {before.rmse:.2f} sd; floor {self.floor:.3f}, {detail}, {kept}"


def _unit_inputs(model: SingleTaskGP, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model.input_transform(x) if hasattr(model, "input_transform") else x


def loo(model: SingleTaskGP, x: torch.Tensor) -> Loo:
    """Closed-form LOO of a fitted single-output GP on its own (standardized) targets; ``x`` as given to the fit."""
    xn = _unit_inputs(model, torch.as_tensor(x, dtype=DTYPE))
    with torch.no_grad():
        resid, var = loo_residuals(model, xn, model.train_targets.reshape(-1).to(DTYPE))
        log_lik = -0.5 * (torch.log(2 * math.pi * var) + resid**2 / var)
    return Loo(float(torch.sqrt(torch.mean(resid**2))), float(torch.mean(log_lik)))


def median_nn_distance(x_unit: torch.Tensor) -> float:
    """Median Euclidean distance from each row to its nearest other row (unit-cube inputs).

    The lower median (``torch.median``: the smaller middle value for an even count), so the floor is an observed gap.
    """
    d = torch.cdist(x_unit, x_unit)
    d.fill_diagonal_(float("inf"))
    return float(torch.median(d.min(dim=1).values))


def collapsed(model: SingleTaskGP) -> bool:
    """Whether any ARD lengthscale sits at (within ``AT_BOUND`` of) its constraint's lower bound."""
    k = model.covar_module
    bound = float(k.raw_lengthscale_constraint.lower_bound.min())
    return bool((k.lengthscale.detach() <= bound * AT_BOUND).any())


def floored_fit(x: torch.Tensor, y: torch.Tensor, floor: float, *, bounds: torch.Tensor | None, seed: int,
                priors: str = "lognormal") -> SingleTaskGP:
    """``gp.fit_gp``'s model and fit with every lengthscale constrained to at least ``floor``."""
    model = build_gp(x, y, bounds=bounds, priors=priors)
    k = model.covar_module
    start = k.lengthscale.detach().clamp_min(floor * 1.01)
    k.register_constraint("raw_lengthscale", GreaterThan(floor, transform=None))
    k.lengthscale = start
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with manual_seed(seed), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY):
        fit_gpytorch_mll(mll)
    model.eval()
    return model


def guard(model: SingleTaskGP, x: torch.Tensor, y: torch.Tensor, *, bounds: torch.Tensor | None = None,
          seed: int = 0, priors: str = "lognormal") -> tuple[SingleTaskGP, GuardResult]:
    """``model`` (fitted to ``x``, ``y``), or its floored refit when it has no skill and that refit predicts better."""
    x = torch.as_tensor(x, dtype=DTYPE)
    if x.shape[0] < 3 or not collapsed(model):
        return model, GuardResult(False, False)
    before = loo(model, x)
    if before.rmse < NO_SKILL:
        return model, GuardResult(False, False, loo_before=before)
    floor = median_nn_distance(_unit_inputs(model, x))
    bound = float(model.covar_module.raw_lengthscale_constraint.lower_bound.min())
    if not floor > bound * AT_BOUND:  # nothing to raise (duplicates or a dense design)
        return model, GuardResult(True, False, floor, before)
    try:
        refit = floored_fit(x, y, floor, bounds=bounds, seed=seed, priors=priors)
        after = loo(refit, x)
    except (ModelFittingError, NotPSDError, RuntimeError):
        return model, GuardResult(True, False, floor, before)
    keep = after.log_lik > before.log_lik
    return (refit if keep else model), GuardResult(True, keep, floor, before, after)
