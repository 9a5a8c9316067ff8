"""Monotone warps of one objective's observed values before the GP sees them.

Measured objectives are often skewed (a peak area that is zero for most
settings and large for a few, a yield piled up near 0 or 100 %), while a GP
with a Gaussian likelihood assumes roughly symmetric values around a smooth
mean: a few extreme values then set the output scale and the noise, and the
model of the good region is poor. A monotone warp keeps the order of the
values (so the best observed stays the best), and the expected improvement is
taken in the warped units.

* ``"none"``: values as measured (the GP still standardizes them).
* ``"rank"``: the Gaussian copula: each value becomes the standard-normal
  quantile of its mid-rank, ``Phi^-1((rank - 0.5) / n)`` (ties share their
  mean rank); the model sees only the order, never a scale.
* ``"power"``: Yeo-Johnson on the standardized values, its exponent by
  maximum likelihood (SciPy), bounded to [-2, 4] so that a few points cannot
  pick an extreme one.

``Warp.inverse`` maps warped values back to the objective's units (piecewise
linear through the observed pairs, extended linearly beyond them), for the
predictions shown with a proposal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The warps ``warp`` knows.
WARPS = ("none", "rank", "power")


@dataclass(frozen=True)
class Warp:
    """A fitted warp: the observed values, sorted, and their warped images (both increasing)."""

    y: np.ndarray
    z: np.ndarray

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Warped values -> objective units (linear beyond the observed range)."""
        z = np.asarray(z, dtype=float)
        if len(self.y) < 2 or self.z[-1] - self.z[0] <= 0:
            return z * 0 + (self.y[0] if len(self.y) else 0.0)
        out = np.interp(z, self.z, self.y)
        lo_slope = (self.y[1] - self.y[0]) / max(self.z[1] - self.z[0], 1e-12)
        hi_slope = (self.y[-1] - self.y[-2]) / max(self.z[-1] - self.z[-2], 1e-12)
        out = np.where(z < self.z[0], self.y[0] + (z - self.z[0]) * lo_slope, out)
        return np.where(z > self.z[-1], self.y[-1] + (z - self.z[-1]) * hi_slope, out)


def _rank(y: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri
    from scipy.stats import rankdata

    return ndtri((rankdata(y) - 0.5) / len(y))


def _power(y: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize_scalar
    from scipy.stats import yeojohnson, yeojohnson_llf

    sd = y.std()
    if sd <= 0:
        return y - y.mean()
    u = (y - y.mean()) / sd
    res = minimize_scalar(lambda lam: -yeojohnson_llf(lam, u), bounds=(-2.0, 4.0), method="bounded")
    return yeojohnson(u, float(res.x))


def warp(y: np.ndarray, kind: str) -> tuple[np.ndarray, Warp]:
    """Warp the values ``y`` (n,) by ``kind`` (one of ``WARPS``); returns them and the fitted ``Warp``."""
    if kind not in WARPS:
        raise ValueError(f"output warp must be one of {WARPS}, got {kind!r}")
    y = np.asarray(y, dtype=float)
    z = y.copy() if kind == "none" or len(y) < 2 else (_rank(y) if kind == "rank" else _power(y))
    order = np.argsort(y, kind="stable")
    ys, zs = y[order], z[order]
    keep = np.r_[True, np.diff(ys) > 0]  # one pair per distinct value (ties share their image)
    return z, Warp(ys[keep], zs[keep])
