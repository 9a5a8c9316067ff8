"""Transfer learning for ``bo``: a multi-task GP over the target and the prior sources it can trust.

Model. BoTorch's ``MultiTaskGP``: one Matern-5/2 ARD kernel over the
(unit-cube) features times a ``PositiveIndexKernel`` over a task column
(task 0 is this campaign, task i a prior source), a constant mean and a noise
level per task. Each task's values are z-scored on their own before the fit,
so a source measured in other units, or offset, can still share its *shape*
with the target; only task 0 is an output, so the acquisition functions see
an ordinary single-output model of this campaign's objective (in its
z-scored units: every acquisition ``bo`` uses is invariant to that positive
affine map). Sources larger than ``max_prior`` rows are subsampled (seeded)
to keep each fit cubic in a bounded size.

Which sources to trust (``select_sources``), the rule, applied at every fit:

1. With fewer than ``min_target`` (default 5) completed target results, no
   source is used: leave-one-out errors of 4 points say nothing reliable, and
   a prior that misleads the first picks costs more than it saves. ``bo``
   plans as it would without priors.
2. The baseline is the leave-one-out RMSE ``e0`` of the target-only GP (the
   one plain ``bo`` fits), over the target points, in z-scored target units.
3. Each source s alone is fitted in a two-task GP with the target; ``e_s`` is
   its leave-one-out RMSE over the *target* points (each held-out target point
   predicted from the source and the other target points, hyperparameters
   fixed: the closed form ``[K^-1 r]_i / [K^-1]_ii``), and ``rho_s`` the fitted
   target-source correlation of the task kernel.
4. Source s is **kept** when ``e_s <= (1 - margin) * e0`` (default margin
   0.10: it must improve the target's cross-validated error by 10 %) **and**
   ``rho_s >= min_correlation`` (default 0.5). This is the spirit of Ax's
   task selection (keep the auxiliary sources whose inclusion improves the
   target model's cross-validated fit) with a correlation floor. Why these
   numbers: with 5-10 target points a LOO error moves by several percent by
   chance, so a 5 % margin let an unrelated source through in a test; and
   BoTorch's task kernel only allows positive correlations under a
   Beta(2.5, 1.5) prior (mean 0.625), so unrelated sources still fit
   correlations of 0.25-0.55, while related ones fit near 1.
5. No source kept: plain ``bo`` (the target-only GP). One kept: its two-task
   GP. Several: one GP over the target and all kept sources.

The choice and its numbers go into every proposal's note
(``TransferChoice.note``), so a journal says which priors shaped each pick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import gpytorch
import numpy as np
import torch
from botorch.exceptions import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import MultiTaskGP
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from botorch.utils.sampling import manual_seed
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.errors import NotPSDError

from labpilot.planners.gp import DTYPE, MAX_CHOLESKY

#: Defaults of the rule above (``bo`` options ``transfer_min_target`` etc.).
MIN_TARGET = 5
MARGIN = 0.10
MIN_CORRELATION = 0.5
MAX_PRIOR = 500


@dataclass
class SourceScore:
    """One source's test: its LOO error with the target, the task correlation, the verdict."""

    name: str
    loo: float
    rho: float
    kept: bool


@dataclass
class TransferChoice:
    """What ``select_sources`` decided, and the model to plan with (None: plain target-only GP)."""

    n_target: int
    loo_target: float | None = None
    sources: list[SourceScore] = field(default_factory=list)
    model: MultiTaskGP | None = None
    reason: str = ""

    @property
    def kept(self) -> list[str]:
        return [s.name for s in self.sources if s.kept]

    def note(self) -> str:
        """One line for the proposal note."""
        if self.reason:
            return f"priors not used: {self.reason}"
        tests = ", ".join(f"{s.name}: LOO {s.loo:.3f}, rho {s.rho:.2f} ({'kept' if s.kept else 'dropped'})"
                          for s in self.sources)
        head = f"priors kept {self.kept}" if self.kept else "priors not used: none improved the target"
        return f"{head} (target-only LOO {self.loo_target:.3f}; {tests})"


def zscore(y: np.ndarray) -> np.ndarray:
    """(y - mean) / std, with a std of 1 for a constant column."""
    y = np.asarray(y, dtype=float).reshape(-1)
    sd = float(y.std())
    return (y - y.mean()) / (sd if sd > 1e-12 else 1.0)


def subsample(x: np.ndarray, y: np.ndarray, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` rows, drawn without replacement with ``seed`` (all rows when fewer)."""
    if len(y) <= limit:
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(y), limit, replace=False))
    return x[idx], y[idx]


def fit_mtgp(target: tuple[torch.Tensor, np.ndarray], sources: Sequence[tuple[torch.Tensor, np.ndarray]],
             seed: int) -> MultiTaskGP:
    """Fit a multi-task GP: task 0 = ``target`` (features, values), task i = ``sources[i - 1]``.

    Values are z-scored per task here; features are already in the unit cube
    (``Encoder.tensor``), so the model has no input or outcome transform.
    """
    parts_x, parts_y = [], []
    for task, (fx, fy) in enumerate([target, *sources]):
        fx = torch.as_tensor(fx, dtype=DTYPE)
        parts_x.append(torch.cat([fx, torch.full((fx.shape[0], 1), float(task), dtype=DTYPE)], dim=1))
        parts_y.append(torch.as_tensor(zscore(fy), dtype=DTYPE))
    X = torch.cat(parts_x)
    Y = torch.cat(parts_y).unsqueeze(-1)
    d = X.shape[1] - 1
    model = MultiTaskGP(
        X, Y, task_feature=d, output_tasks=[0], outcome_transform=None,
        covar_module=get_covar_module_with_dim_scaled_prior(ard_num_dims=d, use_rbf_kernel=False,
                                                            active_dims=list(range(d))),
    )
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with manual_seed(seed), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY):
        fit_gpytorch_mll(mll)
    model.eval()
    model.target_predictor = TargetPredictor(model)
    return model


class TargetPredictor:
    """Exact posterior of task 0 at many points, from one Cholesky factor (the pool paths' fast route).

    BoTorch's batched ``MultiTaskGP.posterior`` rebuilds the multi-task
    structure per call and is slow on thousands of candidates;
    ``gp.posterior_mean_std`` and ``pool_batch`` use this instead when a model
    carries one (``model.target_predictor``).
    """

    def __init__(self, model: MultiTaskGP) -> None:
        self.model = model
        X = model.train_inputs[0]
        with torch.no_grad(), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY):
            prior = model.forward(X)
            K = model.likelihood(prior, X).covariance_matrix
            K = K.to_dense() if hasattr(K, "to_dense") else K
            self.L = torch.linalg.cholesky(K + 1e-10 * torch.eye(K.shape[0], dtype=K.dtype))
            self.alpha = torch.cholesky_solve((model.train_targets - prior.mean).unsqueeze(-1), self.L)
            task0 = X[:1].clone()
            task0[:, model._task_feature] = 0.0
            latent = model.forward(task0)
            noisy = model.likelihood(latent, task0).variance
            self.noise0 = float(noisy.reshape(-1)[0] - latent.variance.reshape(-1)[0])
        self.X = X

    def _with_task(self, Z: torch.Tensor) -> torch.Tensor:
        Z = torch.as_tensor(Z, dtype=DTYPE)
        return torch.cat([Z, torch.zeros(Z.shape[0], 1, dtype=DTYPE)], dim=1)

    def mean_std(self, Z: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 1) mean and latent std of task 0 at features ``Z`` (N, d)."""
        means, stds = [], []
        with torch.no_grad():
            for s in range(0, Z.shape[0], chunk):
                Zt = self._with_task(Z[s : s + chunk])
                ks = self.model.covar_module(Zt, self.X).to_dense()
                v = torch.linalg.solve_triangular(self.L, ks.T, upper=False)
                kss = self.model.covar_module(Zt, diag=True)
                means.append(self.model.forward(Zt).mean + (ks @ self.alpha).reshape(-1))
                stds.append((kss - (v**2).sum(0)).clamp_min(0.0).sqrt())
        if not means:
            return torch.zeros(0, 1, dtype=DTYPE), torch.zeros(0, 1, dtype=DTYPE)
        return torch.cat(means)[:, None], torch.cat(stds)[:, None]

    def joint(self, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean (n,), latent covariance (n, n) and noise variance (n,) of task 0 at ``Z``."""
        with torch.no_grad():
            Zt = self._with_task(Z)
            ks = self.model.covar_module(Zt, self.X).to_dense()
            v = torch.linalg.solve_triangular(self.L, ks.T, upper=False)
            cov = self.model.covar_module(Zt).to_dense() - v.T @ v
            mean = self.model.forward(Zt).mean + (ks @ self.alpha).reshape(-1)
        return mean, cov, torch.full((Z.shape[0],), max(self.noise0, 1e-12), dtype=DTYPE)



def task_correlation(model: MultiTaskGP, task: int = 1) -> float:
    """The fitted correlation between task 0 (the target) and ``task`` in the task kernel."""
    kernels = getattr(model.covar_module, "kernels", [])
    index = next(k for k in kernels if hasattr(k, "covar_matrix"))
    with torch.no_grad():
        C = index.covar_matrix.to_dense()
    return float(C[0, task] / torch.sqrt(C[0, 0] * C[task, task]))


def loo_target_rmse(model: MultiTaskGP) -> float:
    """Leave-one-out RMSE over the task-0 training points (z-scored units), hyperparameters fixed."""
    X = model.train_inputs[0]
    y = model.train_targets
    with torch.no_grad(), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY):
        prior = model.forward(X)
        K = model.likelihood(prior, X).covariance_matrix
        K = K.to_dense() if hasattr(K, "to_dense") else K
        L = torch.linalg.cholesky(K + 1e-10 * torch.eye(K.shape[0], dtype=K.dtype))
        Kinv = torch.cholesky_inverse(L)
        resid = (Kinv @ (y - prior.mean)) / torch.diagonal(Kinv)
    target = X[:, model._task_feature] == 0
    return float(torch.sqrt(torch.mean(resid[target] ** 2)))


def select_sources(
    target: tuple[torch.Tensor, np.ndarray],
    sources: Sequence[tuple[str, torch.Tensor, np.ndarray]],
    loo_target: float,
    seed: int,
    *,
    min_target: int = MIN_TARGET,
    margin: float = MARGIN,
    min_correlation: float = MIN_CORRELATION,
) -> TransferChoice:
    """Apply the rule of the module docstring; ``loo_target`` is the target-only GP's LOO RMSE (z-scored)."""
    n = len(target[1])
    choice = TransferChoice(n_target=n, loo_target=loo_target)
    if n < min_target:
        choice.reason = f"{n} target result(s), fewer than {min_target}"
        return choice
    fitted: dict[str, MultiTaskGP] = {}
    for name, fx, fy in sources:
        try:
            model = fit_mtgp(target, [(fx, fy)], seed)
            loo, rho = loo_target_rmse(model), task_correlation(model)
        except (ModelFittingError, NotPSDError, RuntimeError):
            choice.sources.append(SourceScore(name, float("nan"), float("nan"), False))
            continue
        kept = bool(np.isfinite(loo) and loo <= (1.0 - margin) * loo_target and rho >= min_correlation)
        choice.sources.append(SourceScore(name, loo, rho, kept))
        fitted[name] = model
    kept = [(name, fx, fy) for name, fx, fy in sources if name in choice.kept]
    if len(kept) == 1:
        choice.model = fitted[kept[0][0]]
    elif kept:
        choice.model = fit_mtgp(target, [(fx, fy) for _, fx, fy in kept], seed)
    return choice
