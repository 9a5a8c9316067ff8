"""A small RBF Gaussian process in numpy whose hyperparameters are picked on a grid: ``GridGP``.

What: an RBF kernel with white noise on standardized y. The length scale
(``LENGTH_FACTORS`` times the median pairwise distance) and the noise ratio
(``NOISE_RATIOS``) maximize the marginal likelihood over a fixed grid, with the
signal variance profiled out in closed form: one eigendecomposition per length
scale serves every noise ratio. Fitted attributes (``x_``, ``ell_``,
``noise_``, ``sig2_``, ``y_mean_``, ``y_std_``, ``k_inv_``, ``alpha_``) are
public: ``boed`` builds posterior cross-covariances from them.

Why not BoTorch or scikit-learn: it is fitted on tens of samples, thousands of
times per benchmark run (inside cross-validation, and once per descriptor
component per proposal); a grid is fast, deterministic, and never stops at an
optimizer's bound. Users: ``property_model`` (the z -> y model, ``kind =
"gp"``) and ``boed`` (a belief about a candidate's descriptor scores from its
x). The BoTorch GP (``planners.gp``) stays the acquisition model of ``bo``.
"""

from __future__ import annotations

import numpy as np


def sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``a`` (n, d) and ``b`` (m, d): (n, m), never negative."""
    return np.clip((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T, 0.0, None)


class GridGP:
    """RBF GP on standardized y; length scale and noise ratio by grid marginal likelihood."""

    LENGTH_FACTORS = np.geomspace(0.05, 20.0, 14)
    NOISE_RATIOS = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)

    def fit(self, s: np.ndarray, y: np.ndarray) -> "GridGP":
        """Fit on inputs ``s`` (n, d) and targets ``y`` (n,): the grid point of highest marginal likelihood."""
        n = len(y)
        self.x_ = s
        self.y_mean_ = float(y.mean())
        self.y_std_ = float(y.std()) if y.std() > 1e-12 else 1.0
        yt = (y - self.y_mean_) / self.y_std_
        d2 = sqdist(s, s)
        med = float(np.sqrt(np.median(d2[np.triu_indices(n, 1)]))) if n > 1 else 1.0
        med = med if med > 1e-12 else 1.0
        best = None
        for lf in self.LENGTH_FACTORS:
            ell = lf * med
            lam, u = np.linalg.eigh(np.exp(-d2 / (2 * ell**2)))
            lam = np.clip(lam, 0.0, None)
            proj = u.T @ yt
            for r in self.NOISE_RATIOS:
                quad = float(np.sum(proj**2 / (lam + r)))
                sig2 = max(quad / n, 1e-12)
                lml = -0.5 * n * np.log(sig2) - 0.5 * float(np.sum(np.log(lam + r)))
                if best is None or lml > best[0]:
                    best = (lml, ell, r, sig2, u, lam)
        _, self.ell_, self.noise_, self.sig2_, u, lam = best
        self.k_inv_ = (u / (lam + self.noise_)) @ u.T
        self.alpha_ = self.k_inv_ @ yt
        return self

    def predict(self, s: np.ndarray, return_std: bool = False):
        """Posterior mean at ``s`` (m, d); with ``return_std`` also the latent function's std (y units)."""
        k = np.exp(-sqdist(s, self.x_) / (2 * self.ell_**2))
        mean = self.y_mean_ + self.y_std_ * (k @ self.alpha_)
        if not return_std:
            return mean
        var = 1.0 - np.einsum("ij,jk,ik->i", k, self.k_inv_, k)
        return mean, self.y_std_ * np.sqrt(self.sig2_ * np.clip(var, 0.0, None))


__all__ = ("GridGP", "sqdist")
