"""Closed-form per-candidate scores from a Gaussian posterior (mean, std).

Used in pool mode, where every candidate is scored from one posterior
computation instead of one acquisition-function call per candidate.
"""

from __future__ import annotations

import math

import torch

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT_HALF_PI = math.sqrt(math.pi / 2)


def log_h(z: torch.Tensor) -> torch.Tensor:
    """``log(phi(z) + z * Phi(z))``, accurate for very negative ``z`` too."""
    out = torch.empty_like(z)
    mid = z > -1.0
    zm = z[mid]
    normal = torch.distributions.Normal(torch.zeros((), dtype=z.dtype), torch.ones((), dtype=z.dtype))
    out[mid] = torch.log(torch.exp(normal.log_prob(zm)) + zm * torch.special.ndtr(zm))
    zl = z[~mid]
    log_phi = -0.5 * zl * zl - _LOG_SQRT_2PI
    # phi(z) + z Phi(z) = phi(z) * (1 - |z| * Phi(z)/phi(z)), Phi/phi = sqrt(pi/2) erfcx(|z|/sqrt 2)
    a = zl.abs()
    inner = 1.0 - a * _SQRT_HALF_PI * torch.special.erfcx(a / math.sqrt(2.0))
    # asymptotic series 1/z^2 - 3/z^4 + 15/z^6 where the subtraction cancels
    asym = (1.0 / a**2) * (1.0 - 3.0 / a**2 + 15.0 / a**4)
    inner = torch.where(a > 40.0, asym, inner).clamp_min(1e-300)
    out[~mid] = log_phi + torch.log(inner)
    return out


def log_ei(mean: torch.Tensor, std: torch.Tensor, best: float | torch.Tensor) -> torch.Tensor:
    """Log expected improvement over ``best`` (maximization)."""
    std = std.clamp_min(1e-12)
    return log_h((mean - best) / std) + torch.log(std)


def ucb(mean: torch.Tensor, std: torch.Tensor, beta: float) -> torch.Tensor:
    """Upper confidence bound ``mean + sqrt(beta) * std`` (BoTorch's convention)."""
    return mean + math.sqrt(beta) * std


def log_prob_in_window(
    mean: torch.Tensor, std: torch.Tensor, low: float | None, high: float | None
) -> torch.Tensor:
    """``log P(low <= Y <= high)`` for ``Y ~ N(mean, std^2)``; an open bound is ``None``.

    Computed in log space on the side of the window where the mean lies, so a
    candidate far outside still gets a finite, rankable score.
    """
    std = std.clamp_min(1e-12)
    inf = torch.full_like(mean, torch.inf)
    a = -inf if low is None else (low - mean) / std  # standardized lower bound
    b = inf if high is None else (high - mean) / std
    # P = Phi(b) - Phi(a) = Phi(-a) - Phi(-b): use the form whose terms are small
    flip = a > 0
    hi_z = torch.where(flip, -a, b)
    lo_z = torch.where(flip, -b, a)
    log_hi = torch.special.log_ndtr(hi_z)
    log_lo = torch.special.log_ndtr(lo_z)
    diff = (log_lo - log_hi).clamp_max(0.0)
    return log_hi + torch.log1p(-torch.exp(diff).clamp_max(1.0 - 1e-16))


def prob_in_window(mean: torch.Tensor, std: torch.Tensor, low: float | None, high: float | None) -> torch.Tensor:
    """``P(low <= Y <= high)`` for ``Y ~ N(mean, std^2)``; an open bound is ``None``."""
    return torch.exp(log_prob_in_window(mean, std, low, high))
