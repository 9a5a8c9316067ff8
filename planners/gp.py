"""The one Gaussian-process helper every GP planner uses.

``fit_gp`` builds a BoTorch ``SingleTaskGP``: Matern-5/2 kernel with one
lengthscale per input (ARD) and BoTorch's dimension-scaled log-normal
lengthscale prior, inputs normalized to the unit cube, outcomes standardized,
hyperparameters fitted by maximizing the marginal likelihood
(``fit_gpytorch_mll``). ``posterior_mean_std`` scores large candidate sets in
chunks from pieces cached once per model (``pool_predict``: the training
solve is done once, then each chunk costs one cross-covariance product).
"""

from __future__ import annotations

import math
from typing import Sequence

import gpytorch
import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from botorch.utils.sampling import manual_seed
from gpytorch.mlls import ExactMarginalLogLikelihood

from labpilot.planners.pool_predict import DEFAULT_RANK, EXACT_BUDGET, predictor, supports

DTYPE = torch.float64

#: Use exact Cholesky solves up to this many training points (gpytorch's own
#: default switches to iterative solvers above 800, which is slower and
#: approximate at the sizes a lab produces).
MAX_CHOLESKY = 5000


def _as_2d(t: torch.Tensor | np.ndarray, what: str) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=DTYPE)
    if t.dim() == 1:
        t = t.unsqueeze(-1)
    if t.dim() != 2:
        raise ValueError(f"{what} must be 1-D or 2-D, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return t


#: Hyperparameter priors ``build_gp`` knows (see ``gamma_matern``).
PRIORS = ("lognormal", "gamma")


def gamma_matern(d: int, batch: torch.Size = torch.Size([])) -> gpytorch.kernels.MaternKernel:
    """ARD Matern-5/2 with a dimension-scaled Gamma(3, .) lengthscale prior (BayBE 0.15's default kernel).

    The Gamma's mode equals the mode of BoTorch's dimension-scaled log-normal
    (``exp(sqrt(2) - 3) * sqrt(d)``) but its tails are lighter, so few data
    cannot pull a lengthscale to extremes; lengthscales stay above 0.025.
    """
    from gpytorch.constraints import GreaterThan
    from gpytorch.priors import GammaPrior

    prior = GammaPrior(3.0, 2.0 / math.exp(math.sqrt(2) - 3) / math.sqrt(d))
    return gpytorch.kernels.MaternKernel(
        nu=2.5, ard_num_dims=d, batch_shape=batch, lengthscale_prior=prior,
        lengthscale_constraint=GreaterThan(2.5e-2, transform=None, initial_value=prior.mode))


def gamma_likelihood(batch: torch.Size = torch.Size([])) -> gpytorch.likelihoods.GaussianLikelihood:
    """Gaussian noise with a Gamma(2, .) prior whose mode is exp(-5) (BayBE 0.15's default likelihood)."""
    from botorch.models.utils.gpytorch_modules import MIN_INFERRED_NOISE_LEVEL
    from gpytorch.constraints import GreaterThan
    from gpytorch.priors import GammaPrior

    prior = GammaPrior(2.0, 1.0 / math.exp(-5.0))
    return gpytorch.likelihoods.GaussianLikelihood(
        noise_prior=prior, batch_shape=batch,
        noise_constraint=GreaterThan(MIN_INFERRED_NOISE_LEVEL, transform=None, initial_value=prior.mode))


def build_gp(
    train_x: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    *,
    bounds: torch.Tensor | None = None,
    train_yvar: torch.Tensor | np.ndarray | None = None,
    nu: float = 2.5,
    priors: str = "lognormal",
) -> SingleTaskGP:
    """The unfitted GP ``fit_gp`` fits (BoTorch's default hyperparameter start); arguments as there."""
    x = _as_2d(train_x, "train_x")
    y = _as_2d(train_y, "train_y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"train_x has {x.shape[0]} rows but train_y has {y.shape[0]}")
    if x.shape[0] < 1:
        raise ValueError("fit_gp needs at least one training point")
    d, m = x.shape[1], y.shape[1]
    if bounds is not None:
        bounds = torch.as_tensor(bounds, dtype=DTYPE)
        if bounds.shape != (2, d):
            raise ValueError(f"bounds must have shape (2, {d}), got {tuple(bounds.shape)}")
    yvar = None if train_yvar is None else _as_2d(train_yvar, "train_yvar")
    batch = torch.Size([m]) if m > 1 else torch.Size([])
    if priors not in PRIORS:
        raise ValueError(f"priors must be one of {sorted(PRIORS)}, got {priors!r}")
    extra = {}
    if priors == "gamma":
        extra["covar_module"] = gamma_matern(d, batch)
        if yvar is None:
            extra["likelihood"] = gamma_likelihood(batch)
    else:
        extra["covar_module"] = get_covar_module_with_dim_scaled_prior(ard_num_dims=d, batch_shape=batch,
                                                                       use_rbf_kernel=False)
    model = SingleTaskGP(
        x,
        y,
        train_Yvar=yvar,
        input_transform=Normalize(d=d, bounds=bounds),
        outcome_transform=Standardize(m=m),
        **extra,
    )
    if nu != 2.5:
        model.covar_module.nu = nu
    return model


def fit_gp(
    train_x: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    *,
    bounds: torch.Tensor | None = None,
    train_yvar: torch.Tensor | np.ndarray | None = None,
    nu: float = 2.5,
    seed: int = 0,
    priors: str = "lognormal",
) -> SingleTaskGP:
    """Fit a GP to ``train_x`` (n, d) and ``train_y`` (n,) or (n, m), from BoTorch's default start.

    ``bounds`` (2, d) fixes the input normalization (e.g. the unit cube of an
    encoded space); without it the bounds are learned from ``train_x``.
    ``train_yvar`` gives known noise variances; without it the noise is fitted.
    A multi-column ``train_y`` gives one independent output per column.
    ``priors``: ``"lognormal"`` (BoTorch's dimension-scaled log-normal
    lengthscale prior and its noise prior) or ``"gamma"`` (``gamma_matern``,
    ``gamma_likelihood``).
    (``gp_warm.fit_with_state`` fits the same model warm from a previous fit.)
    """
    model = build_gp(train_x, train_y, bounds=bounds, train_yvar=train_yvar, nu=nu, priors=priors)
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with manual_seed(seed), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY):
        fit_gpytorch_mll(mll)
    model.eval()
    return model


def posterior_mean_std(
    model: SingleTaskGP | ModelListGP,
    X: torch.Tensor | np.ndarray,
    chunk: int = 4096,
    fast: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and standard deviation of the latent function at ``X`` (N, d).

    Returns two (N, m) float64 tensors, computed in chunks of ``chunk`` rows
    from pieces cached once per model (``pool_predict``), never building the
    N x N joint covariance. With ``fast`` and a pool so large that the exact
    variance would cost more than ``pool_predict.EXACT_BUDGET`` (N x n^2
    operations, e.g. 4 x 10^4 rows at 1,000 observations), the std comes from
    the top ``pool_predict.DEFAULT_RANK`` eigen-directions of the training
    covariance, in float32: an upper bound within a few percent, which the
    planners refine exactly on their shortlist. ``fast=False`` is always exact.
    """
    X = torch.as_tensor(X)
    if X.dtype not in (torch.float32, DTYPE):  # float32 pools (descriptors) stay float32: converted per chunk
        X = X.to(DTYPE)
    if X.dim() != 2:
        raise ValueError(f"X must be 2-D (N, d), got shape {tuple(X.shape)}")
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    model.eval()
    if getattr(model, "target_predictor", None) is not None:  # a transfer model (``planners.transfer``)
        return model.target_predictor.mean_std(X.to(DTYPE), chunk)
    if isinstance(model, ModelListGP):
        parts = [posterior_mean_std(m, X, chunk, fast) for m in model.models]
        return torch.cat([p[0] for p in parts], -1), torch.cat([p[1] for p in parts], -1)
    if supports(model):
        pred = predictor(model)
        n = pred.xt.shape[0]
        approx = fast and X.shape[0] * n * n > EXACT_BUDGET and n > DEFAULT_RANK
        mean, std = pred.predict(X, chunk=chunk, rank=DEFAULT_RANK if approx else None, fast_dtype=approx)
        return mean[:, None], std[:, None]
    # any other model: GPyTorch's path, one independent point per batch entry
    means: list[torch.Tensor] = []
    stds: list[torch.Tensor] = []
    with torch.no_grad(), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY):
        for s in range(0, X.shape[0], min(chunk, 2000)):
            post = model.posterior(X[s : s + min(chunk, 2000)].to(DTYPE).unsqueeze(-2))
            m = post.mean.shape[-1]
            means.append(post.mean.reshape(-1, m))
            stds.append(post.variance.clamp_min(0.0).sqrt().reshape(-1, m))
    if not means:
        m = model.num_outputs
        return torch.zeros(0, m, dtype=DTYPE), torch.zeros(0, m, dtype=DTYPE)
    return torch.cat(means), torch.cat(stds)


def fit_gp_list(train_x: torch.Tensor, ys: Sequence[torch.Tensor], **kw) -> ModelListGP:
    """One independent GP per objective, combined into a ``ModelListGP``."""
    return ModelListGP(*[fit_gp(train_x, y, **kw) for y in ys])


def loo_rmse(model: SingleTaskGP, train_x: torch.Tensor, train_y: torch.Tensor) -> float:
    """Leave-one-out cross-validated RMSE of a fitted single-output GP, in ``train_y``'s units.

    Closed form for GP regression with the fitted hyperparameters kept fixed:
    the held-out residual of point i is ``[K^-1 r]_i / [K^-1]_ii`` with
    ``K`` the training covariance plus noise and ``r`` the centred targets
    (standardized), scaled back by the outcome standard deviation.
    """
    x = _as_2d(train_x, "train_x")
    y = _as_2d(train_y, "train_y")[:, 0]
    if x.shape[0] < 3:
        raise ValueError(f"leave-one-out error needs at least 3 points, got {x.shape[0]}")
    model.eval()
    with torch.no_grad():
        xn = model.input_transform(x) if hasattr(model, "input_transform") else x
        tf = getattr(model, "outcome_transform", None)
        mean, std = (tf.means.reshape(-1)[0], tf.stdvs.reshape(-1)[0]) if tf is not None else (0.0, 1.0)
        resid, _ = loo_residuals(model, xn, (y - mean) / std)
    return float(torch.sqrt(torch.mean(resid**2)) * std)


def loo_residuals(model: SingleTaskGP, xn: torch.Tensor, yt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form leave-one-out residuals and predictive variances of a fitted GP (hyperparameters fixed).

    ``xn``: the inputs after the model's input transform; ``yt``: the targets
    in the model's standardized units. Residual i is ``[K^-1 r]_i / [K^-1]_ii``
    and its held-out variance ``1 / [K^-1]_ii`` (Rasmussen & Williams 2006,
    eq. 5.10-5.12), with ``K`` the training covariance plus noise.
    """
    noise = model.likelihood.noise.reshape(-1)
    noise = noise.expand(xn.shape[0]) if noise.numel() == 1 else noise
    K = model.covar_module(xn).to_dense() + torch.diag(noise)
    L = torch.linalg.cholesky(K + 1e-10 * torch.eye(K.shape[0], dtype=K.dtype))
    Kinv = torch.cholesky_inverse(L)
    diag = torch.diagonal(Kinv)
    return (Kinv @ (yt - model.mean_module(xn))) / diag, 1.0 / diag
