"""``boed``: the sample expected to reduce the property model's prediction error the most.

Exactly what is implemented (see ``planners.design`` for the shared setting).
The score is the expected reduction of the z -> y model's mean squared
prediction error over the unused candidates (integrated mean squared error,
IMSE), if candidate x were made, measured and added to the training set:

1. Fit the z -> y model (``planners.property_model``): PCA scores s of z, then
   an RBF regressor on s. Its GP view: ``k(s, s') = exp(-|s - s'|^2 / (2 l^2))``,
   signal variance ``a`` (y units^2) and noise ratio ``r`` (noise variance
   ``a * r``). For ``model = "gp"`` these are the fitted GP's own; for
   ``"kernel_ridge"`` the GP whose posterior mean *is* the ridge fit
   (``l^2 = 1 / (2 gamma)``, ``r = alpha``) with ``a`` = the variance of y.
2. A candidate's descriptor does not exist yet: a numpy GP per component
   (``planners.grid_gp.GridGP``, RBF on unit-scaled x) gives a joint normal
   belief about the scores of all unmeasured points: mean ``mu(x)``, sd
   ``sd(x)`` and cross-covariance ``cov(x, x')`` per component (components
   independent). Measured samples have exact scores (sd = 0); pending points
   and the unused candidates get the predicted ones.
3. The predicted descriptor uncertainty is propagated by the expected kernel
   (uncertain-input GPs, Girard et al., NIPS 2003). The RBF depends only on
   ``d = s_a - s_b``, normal with mean ``mu_a - mu_b`` and per-component
   variance ``sd_a^2 + sd_b^2 - 2 cov_ab``, so with
   ``v_j = l^2 + sd_a,j^2 + sd_b,j^2 - 2 cov_ab,j``, in closed form:
   ``K(a, b) = prod_j sqrt(l^2 / v_j) exp(-(mu_a,j - mu_b,j)^2 / (2 v_j))``
   (1 for a point with itself; two candidates close in x have nearly the same
   unknown pattern, hence a kernel near 1 however uncertain that pattern).
   Conditioning on the measured and pending samples D
   (``A = K(D, D) + r I``) gives the posterior covariance of the model's
   latent prediction ``C(a, b) = K(a, b) - K(a, D) A^-1 K(D, b)``.
4. Adding candidate c with a noisy observation lowers the posterior variance
   at every point p by ``a * C(p, c)^2 / (C(c, c) + r)`` (exact for a GP, rank
   one). The score is the mean over the reference set R (the unused
   candidates; a seeded subsample of ``REFERENCE`` of them when there are
   more), in y units^2::

       score(c) = a / |R| * sum_{p in R} C(p, c)^2 / (C(c, c) + r)

   For a GP this *is* the expected drop of the mean squared prediction error
   over R. Propose the argmax.
5. A batch is greedy: after each pick c the covariance of the shortlist and R
   is updated as if c had been observed (``C <- C - C(., c) C(c, .) / (C(c, c)
   + r)``, closed form, no refit) and the next pick maximizes the updated score.

Approximation: with uncertain descriptors the GP is conditioned through the
expected kernel (moment matching: ``E[k] E[k]^T`` stands in for ``E[k k^T]``);
with known descriptors (sd = 0) every formula above is the exact GP one.
Cost: one Cholesky of the measured + pending set, then O(N |R| c) for N
candidates and c components, in chunks; no refits inside the batch.

Why: the goal is an accurate model over the candidates one could make next,
not knowledge of the single most uncertain point. Maximum variance (``used``)
favours isolated corners whose information does not carry; IMSE weighs a
candidate by how much it teaches about the *other* candidates, so it prefers
representative samples in regions where many unmeasured ones lie.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labpilot.planners.base import register
from labpilot.planners.design import DesignPlanner, MeasuredData
from labpilot.planners.options import BoedOptions
from labpilot.planners.grid_gp import GridGP, sqdist
from labpilot.planners.property_model import PropertyModel

#: Largest reference set the error is integrated over (a seeded subsample beyond it).
REFERENCE = 1024
_CHUNK = 512


def expected_rbf(mu_a: np.ndarray, sd_a: np.ndarray, mu_b: np.ndarray, sd_b: np.ndarray, ell2: float,
                 cov_ab: np.ndarray | None = None) -> np.ndarray:
    """``E[k(s_a, s_b)]`` for Gaussian ``s`` (per-dimension sd, cross-covariance ``cov_ab`` (na, nb, c) or 0), RBF ``ell2``."""
    v = ell2 + sd_a[:, None, :] ** 2 + sd_b[None, :, :] ** 2
    if cov_ab is not None:
        v = np.maximum(v - 2 * cov_ab, ell2)  # the variance of s_a - s_b; >= 0 up to rounding
    d2 = (mu_a[:, None, :] - mu_b[None, :, :]) ** 2
    return np.exp(np.sum(0.5 * np.log(ell2 / v) - d2 / (2 * v), axis=2))


def variance_reduction(cov_ref: np.ndarray, var: np.ndarray, noise: float) -> np.ndarray:
    """Per candidate (rows of ``cov_ref``): ``sum_p cov(p, c)^2 / (var(c) + noise)`` (unit signal variance)."""
    return np.sum(cov_ref**2, axis=1) / (var + noise)


class DescriptorBelief:
    """Joint Gaussian belief about the scaled PCA scores at points: measured ones exact, others from x.

    One numpy GP per component (``planners.grid_gp.GridGP``, RBF on unit-scaled x) on the measured
    samples; ``mu``/``sd`` per point and ``cov(ia, ib)`` the posterior cross-covariance per component
    (zero whenever a point is measured).
    """

    def __init__(self, fx: np.ndarray, s: np.ndarray, q: np.ndarray) -> None:
        self.gps = [GridGP().fit(fx, s[:, j]) for j in range(s.shape[1])]
        n = len(s)
        self.measured = np.r_[np.ones(n, dtype=bool), np.zeros(len(q), dtype=bool)]
        self.q = np.vstack([fx, q])
        mu = np.empty((len(q), s.shape[1]))
        sd = np.empty_like(mu)
        for j, gp in enumerate(self.gps):
            mu[:, j], sd[:, j] = gp.predict(q, return_std=True)
        self.mu = np.vstack([s, mu])
        self.sd = np.vstack([np.zeros_like(s), sd])
        # each point's kernel with each GP's training inputs, for the posterior cross-covariance
        self._kx = [(np.exp(-sqdist(self.q, gp.x_) / (2 * gp.ell_**2)), gp) for gp in self.gps]

    def cov(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """(len(ia), len(ib), c) posterior covariance of the scores at points ``ia`` and ``ib``."""
        out = np.empty((len(ia), len(ib), len(self.gps)))
        for j, (kq, gp) in enumerate(self._kx):
            prior = np.exp(-sqdist(self.q[ia], self.q[ib]) / (2 * gp.ell_**2))
            out[:, :, j] = gp.y_std_**2 * gp.sig2_ * (prior - kq[ia] @ gp.k_inv_ @ kq[ib].T)
        out[self.measured[ia]] = 0.0
        out[:, self.measured[ib]] = 0.0
        return out

    def kernel(self, ia: np.ndarray, ib: np.ndarray, ell2: float) -> np.ndarray:
        """The expected z -> y kernel between points ``ia`` and ``ib`` (1 on a point with itself)."""
        return expected_rbf(self.mu[ia], self.sd[ia], self.mu[ib], self.sd[ib], ell2, self.cov(ia, ib))


@register
class BoedPlanner(DesignPlanner):
    """Pick the candidate expected to lower the model's mean squared error over the candidates the most."""

    Options = BoedOptions

    name = "boed"

    def describe(self, key: str) -> str:
        return (f"boed: largest expected reduction of the {self.objective.name}-from-{key} model's "
                f"mean squared error over the unused candidates ({self.model_kind})")

    def gp_view(self, data: MeasuredData) -> tuple[PropertyModel, float, float, float]:
        """The fitted z -> y model and its GP view: (model, squared length scale, noise ratio, signal variance)."""
        prop = PropertyModel(self.model_kind, self.n_components, seed=self.seed).fit(data.z, data.y)
        reg = prop.reg_
        if self.model_kind == "gp":
            return prop, reg.ell_**2, float(reg.noise_), float(reg.sig2_ * reg.y_std_**2)
        return prop, 1.0 / (2.0 * reg.gamma_), ridge_alpha(reg, data.y), float(np.var(data.y) or 1.0)

    def belief(self, data: MeasuredData, prop: PropertyModel, rows: np.ndarray) -> DescriptorBelief:
        """Scores of the measured samples, then of the pending points, then of ``rows`` (see ``DescriptorBelief``)."""
        q = np.vstack([data.pending, rows]) if len(data.pending) else rows
        return DescriptorBelief(self.features(data.x).numpy(), prop.scores(data.z), self.features(q).numpy())

    def imse_scores(self, data: MeasuredData, rows: np.ndarray, k: int, seed: int) -> list[tuple[int, float]]:
        """Greedy picks of ``k`` rows with their expected MSE reduction (y units^2), see the module docstring."""
        prop, ell2, noise, amp = self.gp_view(data)
        bel = self.belief(data, prop, rows)
        n, first_row = len(rows), len(data.y) + len(data.pending)
        cond = np.arange(first_row)  # measured + pending: what the model is conditioned on
        chol = np.linalg.cholesky(bel.kernel(cond, cond, ell2) + noise * np.eye(first_row))
        ref = np.arange(n)
        if n > REFERENCE:
            ref = np.sort(np.random.default_rng(seed).choice(n, REFERENCE, replace=False))
        w_ref = np.linalg.solve(chol, bel.kernel(cond, first_row + ref, ell2))

        def post(idx: np.ndarray, other: np.ndarray, w_other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Posterior covariance of candidates ``idx`` with ``other`` and the whitened ``idx``."""
            w = np.linalg.solve(chol, bel.kernel(cond, first_row + idx, ell2))
            return bel.kernel(first_row + idx, first_row + other, ell2) - w.T @ w_other, w

        short = np.arange(n)
        if n > max(k, self.shortlist):  # first pass over every candidate, in chunks; keep the best
            first = np.empty(n)
            for a in range(0, n, _CHUNK):
                idx = np.arange(a, min(n, a + _CHUNK))
                c_r, w = post(idx, ref, w_ref)
                first[idx] = variance_reduction(c_r, 1.0 - np.sum(w**2, axis=0), noise)
            short = np.argsort(-first, kind="stable")[: max(k, self.shortlist)]
        # greedy batch: exact rank-one updates of the shortlist's covariance with R and with itself
        c_sr, w_s = post(short, ref, w_ref)
        if k == 1:
            c_ss = np.diag(1.0 - np.sum(w_s**2, axis=0))
        else:
            c_ss, _ = post(short, short, w_s)
        picks: list[tuple[int, float]] = []
        free = np.ones(len(short), dtype=bool)
        for _ in range(k):
            score = np.where(free, variance_reduction(c_sr, np.diag(c_ss).copy(), noise), -np.inf)
            j = int(np.argmax(score))
            picks.append((int(short[j]), float(amp * score[j] / len(ref))))
            free[j] = False
            denom = c_ss[j, j] + noise
            c_sr = c_sr - np.outer(c_ss[:, j], c_sr[j]) / denom
            c_ss = c_ss - np.outer(c_ss[:, j], c_ss[j]) / denom
        return picks

    def select(self, data: MeasuredData, key: str, rows: np.ndarray, k: int, seed: int) -> list[tuple[int, float]]:
        return self.imse_scores(data, rows, k, seed)


def ridge_alpha(reg: Any, y: np.ndarray) -> float:
    """The penalty alpha of a fitted kernel ridge (its GP noise ratio), recovered exactly from its fit.

    The fit solves ``(K + alpha I) coef = y - mean(y)``, so ``alpha = coef . (y_c - K coef) / |coef|^2``.
    """
    coef = reg.coef_
    kc = np.exp(-reg.gamma_ * sqdist(reg.x_, reg.x_)) @ coef
    return float(max(coef @ (y - reg.y_mean_ - kc) / max(coef @ coef, 1e-300), 1e-9))
