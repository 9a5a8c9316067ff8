"""Pool scoring and greedy batch selection shared by the GP planners.

Scoring a huge pool: every available row gets its posterior mean and standard
deviation from one cached posterior (``gp.posterior_mean_std``), then a
vectorized score (log-EI, UCB, window probability, EHVI, std...).

Choosing a batch of k (and respecting pending points) uses the *kriging
believer*: a pending or already chosen point is treated as observed with its
own posterior mean as the value. That leaves the posterior mean everywhere
unchanged and shrinks the variance near the point, so the next pick moves
elsewhere instead of clustering. It is done exactly, by rank-one updates of
the joint posterior covariance of a *shortlist*: the top ``shortlist`` rows of
the full-pool score (all rows when the pool is smaller) plus the pending
points. Rows outside the shortlist are not re-scored; a pending point can only
lower scores, so this approximation can miss only rows that scored below the
shortlist's cut on the first pass.
"""

from __future__ import annotations

from typing import Callable, Sequence

import gpytorch
import torch
from botorch.models import SingleTaskGP

from labpilot.planners.gp import MAX_CHOLESKY, DTYPE
from labpilot.planners.pool_predict import predictor, supports

#: score_fn(mean (S, m), std (S, m), believed_means (j, m)) -> scores (S,)
ScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _joint(model: SingleTaskGP, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean (n,), latent covariance (n, n) and observation-noise variance (n,) at ``Z``."""
    if getattr(model, "target_predictor", None) is not None:  # a transfer model (``planners.transfer``)
        return model.target_predictor.joint(Z)
    if supports(model) and model.likelihood.noise.numel() == 1:
        return predictor(model).joint(Z)  # the cached Cholesky factor: no second posterior pass
    with torch.no_grad(), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY):
        post = model.posterior(Z)
        mean = post.mean.reshape(-1)
        cov = post.mvn.covariance_matrix.to_dense() if hasattr(post.mvn.covariance_matrix, "to_dense") else post.mvn.covariance_matrix
        cov = cov.reshape(Z.shape[0], Z.shape[0]).clone()
        noisy = model.posterior(Z, observation_noise=True).variance.reshape(-1)
    noise = (noisy - torch.diagonal(cov)).clamp_min(1e-12)
    return mean, cov, noise


def greedy_batch(
    models: Sequence[SingleTaskGP],
    candidates: torch.Tensor,
    believed: torch.Tensor,
    k: int,
    score_fn: ScoreFn,
) -> list[tuple[int, float]]:
    """Pick ``k`` rows of ``candidates`` one at a time by ``score_fn`` under the kriging believer.

    ``models`` holds one single-output GP per objective (the same inputs);
    ``believed`` (P, d) are the pending points to condition on before the
    first pick. Returns ``(row index, score at pick time)`` pairs.
    """
    S = candidates.shape[0]
    Z = torch.cat([candidates.to(DTYPE), believed.to(DTYPE)]) if believed.numel() else candidates.to(DTYPE)
    parts = [_joint(m, Z) for m in models]
    mean = torch.stack([p[0] for p in parts], dim=-1)  # (n, m)
    covs = [p[1] for p in parts]
    noises = [p[2] for p in parts]

    def condition(j: int) -> None:
        for c, nz in zip(covs, noises):
            col = c[:, j].clone()
            c -= torch.outer(col, col) / (col[j] + nz[j])

    believed_idx = list(range(S, Z.shape[0]))
    for j in believed_idx:
        condition(j)
    chosen: list[tuple[int, float]] = []
    taken = torch.zeros(S, dtype=torch.bool)
    for _ in range(k):
        std = torch.stack([torch.diagonal(c)[:S].clamp_min(0.0).sqrt() for c in covs], dim=-1)
        idx_b = believed_idx + [i for i, _ in chosen]
        scores = score_fn(mean[:S], std, mean[idx_b] if idx_b else mean[:0]).clone()
        scores[taken] = -torch.inf
        best = int(torch.argmax(scores))
        chosen.append((best, float(scores[best])))
        taken[best] = True
        condition(best)
    return chosen


def shortlist(scores: torch.Tensor, k: int, size: int) -> torch.Tensor:
    """Indices of the ``max(size, k)`` best scores (all indices if there are fewer)."""
    n = scores.shape[0]
    size = max(size, k)
    if n <= size:
        return torch.arange(n)
    return torch.topk(scores, size).indices
