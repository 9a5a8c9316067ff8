"""Warm-started GP hyperparameter fits, with a state the agent can journal.

Fitting a GP's hyperparameters (L-BFGS on the marginal likelihood, each step
an O(n^3) Cholesky) takes 50-100 steps from BoTorch's default start: 10-30 s
per proposal at 1,000 observations. One new observation barely moves the
optimum, so ``fit_with_state`` starts from the previous fit's hyperparameters
and runs a short optimisation (at most ``warm_maxiter`` L-BFGS steps,
stopping at a relative improvement below ``WARM_FTOL``). A **full fit**
runs instead

* when there is no usable state (first fit, other data dimension),
* every ``refit_every``-th fit (``since_full`` counts warm fits in between),
* when the warm fit's marginal likelihood *falls behind*: its per-observation
  log marginal likelihood (GPyTorch's ``ExactMarginalLogLikelihood``, priors
  included) is more than ``tolerance`` nats below the value of the last full
  fit, i.e. the new data disagree with the old hyperparameters,
* when the warm fit fails numerically.

A full fit optimises to convergence from BoTorch's default start, from the
previous hyperparameters (if any) and from ``restarts`` draws of the
hyperparameter priors (seeded), and keeps the best marginal likelihood.

The state is a JSON-ready dict of plain floats and ints (the raw
hyperparameter values, exactly: a float64 survives ``json`` round trips), so a
planner restored from a journaled state fits, and therefore proposes, exactly
what an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gpytorch
import torch
from botorch.exceptions import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.optim.utils import sample_all_priors
from botorch.utils.sampling import manual_seed
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.errors import NotPSDError

from labpilot.planners.gp import MAX_CHOLESKY, build_gp

#: Bumped when the state's layout changes; other versions are ignored (full fit).
STATE_VERSION = 1
#: A warm fit stops once an L-BFGS step improves the objective by less than
#: this fraction (SciPy's default, 2.2e-9, is for fits from far away).
WARM_FTOL = 1e-6


@dataclass(frozen=True)
class FitPolicy:
    """When to warm-start and when to fit fully (see the module docstring)."""

    refit_every: int = 10
    warm_maxiter: int = 20
    restarts: int = 0
    tolerance: float = 0.05
    #: ``gp.build_gp``'s hyperparameter priors (a state fitted under others is not reused)
    priors: str = "lognormal"


def hyper_params(model: SingleTaskGP) -> dict[str, list[float]]:
    """The model's raw hyperparameters as flat lists of floats, by parameter name."""
    return {name: p.detach().reshape(-1).tolist() for name, p in model.named_parameters()}


def load_params(model: SingleTaskGP, params: dict[str, Any]) -> bool:
    """Set the raw hyperparameters from ``hyper_params``' output; False (and nothing set) if they do not fit."""
    own = dict(model.named_parameters())
    if set(own) != set(params):
        return False
    values = {}
    for name, p in own.items():
        v = params[name]
        if not isinstance(v, list) or len(v) != p.numel():
            return False
        values[name] = torch.tensor(v, dtype=p.dtype).reshape(p.shape)
    with torch.no_grad():
        for name, p in own.items():
            p.copy_(values[name])
    return True


def mll_value(model: SingleTaskGP) -> float:
    """Per-observation log marginal likelihood (priors included) at the current hyperparameters."""
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    try:
        with torch.no_grad(), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY):
            value = float(mll(model(*model.train_inputs), model.train_targets))
    finally:
        model.eval()
    return value


def _fit(model: SingleTaskGP, seed: int, maxiter: int | None, attempts: int) -> float:
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    kwargs: dict[str, Any] = {"max_attempts": attempts}
    if maxiter is not None:  # a warm start: stop at a looser relative improvement, too
        kwargs["optimizer_kwargs"] = {"options": {"maxiter": maxiter, "ftol": WARM_FTOL}}
    with manual_seed(seed), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY):
        fit_gpytorch_mll(mll, **kwargs)
    model.eval()
    return mll_value(model)


def _full_fit(x, y, bounds, seed: int, start: dict | None, restarts: int,
              priors: str = "lognormal") -> tuple[SingleTaskGP, float]:
    """Best of: default start, ``start`` (the previous fit), ``restarts`` prior draws."""
    best: tuple[SingleTaskGP, float] | None = None
    n_starts = 1 + (start is not None) + restarts
    for i in range(n_starts):
        model = build_gp(x, y, bounds=bounds, priors=priors)
        if i == 1 and start is not None:
            load_params(model, start)
        elif i >= 1:
            with manual_seed(seed + 7919 * i):
                sample_all_priors(model)
        try:
            value = _fit(model, seed + i, None, 5)
        except (ModelFittingError, NotPSDError):
            continue
        if best is None or value > best[1]:
            best = (model, value)
    if best is None:
        raise ModelFittingError("every start of the full GP fit failed")
    return best


def usable(state: Any) -> bool:
    """Whether ``state`` looks like a per-model state this module wrote."""
    return (
        isinstance(state, dict) and state.get("version") == STATE_VERSION
        and isinstance(state.get("params"), dict) and isinstance(state.get("mll_ref"), (int, float))
        and isinstance(state.get("since_full"), int)
    )


def fit_with_state(
    x: torch.Tensor, y: torch.Tensor, state: dict | None, policy: FitPolicy, *,
    bounds: torch.Tensor | None = None, seed: int = 0,
) -> tuple[SingleTaskGP, dict, str]:
    """Fit a GP to (x, y) warm from ``state`` or fully; returns (model, new state, what was done).

    ``state`` is a previous return value (or None). What was done is
    ``"warm"`` or ``"full (<reason>)"``.
    """
    reason = None
    if not usable(state):
        reason = "no previous fit" if state is None else "previous fit unusable"
    elif state.get("priors", "lognormal") != policy.priors:
        reason = "previous fit under other priors"
        state = None
    elif state["since_full"] + 1 >= policy.refit_every:
        reason = f"every {policy.refit_every} fits"
    if reason is None:
        model = build_gp(x, y, bounds=bounds, priors=policy.priors)
        if not load_params(model, state["params"]):
            reason = "previous fit has other hyperparameters"
        else:
            try:
                value = _fit(model, seed, policy.warm_maxiter, 1)
            except (ModelFittingError, NotPSDError):
                reason = "warm fit failed"
            else:
                if value >= state["mll_ref"] - policy.tolerance:
                    new = {"version": STATE_VERSION, "params": hyper_params(model), "mll": value,
                           "mll_ref": state["mll_ref"], "since_full": state["since_full"] + 1}
                    if policy.priors != "lognormal":
                        new["priors"] = policy.priors
                    return model, new, "warm"
                reason = f"marginal likelihood fell behind ({value:.3f} < {state['mll_ref']:.3f} - {policy.tolerance:g})"
    start = state["params"] if usable(state) else None
    model, value = _full_fit(x, y, bounds, seed, start, policy.restarts, policy.priors)
    new = {"version": STATE_VERSION, "params": hyper_params(model), "mll": value, "mll_ref": value, "since_full": 0}
    if policy.priors != "lognormal":
        new["priors"] = policy.priors
    return model, new, f"full ({reason})"
