"""The prediction model from measured descriptors z to a property y, and its CV error.

Seed 000's setting: the property (impact strength, magnetization...) is
predicted from a descriptor that is *measured* on a made sample (an XRD
pattern, a DSC curve). The model is

1. PCA of z (centred, not scaled: an XRD pattern's channels share one unit,
   and scaling would blow up noise in empty channels) to ``n_components``
   scores (fewer if there are fewer samples), then
2. a regressor on the scores, all divided by one common scale (the root of
   their total variance), so distances between scores are distances between
   the patterns projected on the leading components and the leading (larger)
   components weigh more than the noisy trailing ones:
   * ``"gp"``: ``planners.grid_gp.GridGP``, an RBF Gaussian process on
     standardized y whose length scale and noise ratio maximize the marginal
     likelihood over a fixed grid. Gives a predictive standard deviation,
     which ``used`` propagates.
   * ``"kernel_ridge"``: RBF kernel ridge (``_LooKernelRidge``, here);
     ``alpha`` and ``gamma`` picked on a small grid by the exact closed-form
     leave-one-out error (no refits).

Both are a few lines of numpy rather than BoTorch or scikit-learn because the
model is refitted thousands of times per benchmark run inside
cross-validation, on tens of samples (``grid_gp`` says why a grid). The
planners ``used`` and ``boed`` fit a ``PropertyModel`` on the measured
samples; ``boed`` also reads the fitted regressor's GP view (``reg_``: the
GP's ``ell_``/``noise_``/``sig2_``, the ridge's ``gamma_``/``coef_``).

``cross_validated_predictions`` refits the whole pipeline (PCA included) in
every fold, so no information leaks from the held-out samples;
``cross_validated_error`` is the root-mean-square of those out-of-fold errors.
``benchmarks/used_boed_fegapd.py`` reports them (with ``held_out_error``
against samples never measured); the planners do not call them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.decomposition import PCA

from labpilot.planners.grid_gp import GridGP, sqdist

KINDS = ("gp", "kernel_ridge")

_KR_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0)
_KR_GAMMA_FACTORS = (0.1, 0.3, 1.0, 3.0)


class PropertyModel:
    """PCA of the measured descriptor followed by a GP or kernel ridge regressor."""

    def __init__(self, kind: str = "gp", n_components: int = 5, seed: int = 0) -> None:
        if kind not in KINDS:
            raise ValueError(f"property model must be one of {list(KINDS)}, got {kind!r}")
        if int(n_components) != n_components or n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
        self.kind = kind
        self.n_components = int(n_components)
        self.seed = seed

    # -- fitting -------------------------------------------------------------
    def fit(self, z: np.ndarray, y: np.ndarray) -> "PropertyModel":
        """Fit on measured descriptors ``z`` (n, p) and properties ``y`` (n,)."""
        z, y = _check_zy(z, y)
        if len(y) < 2:
            raise ValueError(f"the property model needs at least 2 samples, got {len(y)}")
        c = max(1, min(self.n_components, len(y) - 1, z.shape[1]))
        self.pca_ = PCA(n_components=c, random_state=self.seed).fit(z)
        raw = self.pca_.transform(z)
        total = float(np.sqrt((raw.var(axis=0)).sum()))
        self.score_scale_ = total if total > 1e-12 else 1.0
        s = raw / self.score_scale_
        if self.kind == "gp":
            self.reg_ = GridGP().fit(s, y)
        else:
            self.reg_ = _LooKernelRidge().fit(s, y)
        return self

    # -- prediction ------------------------------------------------------------
    def scores(self, z: np.ndarray) -> np.ndarray:
        """Scaled principal-component scores of ``z`` (what the regressor sees)."""
        return self.pca_.transform(np.atleast_2d(np.asarray(z, dtype=float))) / self.score_scale_

    def predict_scores(self, s: np.ndarray, return_std: bool = False):
        """Predict y from scaled scores ``s`` (n, c); with ``return_std`` also the model's std.

        Kernel ridge has no predictive distribution: its std is returned as zeros.
        """
        s = np.atleast_2d(np.asarray(s, dtype=float))
        if self.kind == "gp":
            return self.reg_.predict(s, return_std=return_std)
        mean = self.reg_.predict(s)
        return (mean, np.zeros_like(mean)) if return_std else mean

    def predict(self, z: np.ndarray, return_std: bool = False):
        """Predict y from measured descriptors ``z``."""
        return self.predict_scores(self.scores(z), return_std=return_std)


class _LooKernelRidge:
    """RBF kernel ridge whose alpha and gamma minimise the closed-form LOO error."""

    def fit(self, s: np.ndarray, y: np.ndarray) -> "_LooKernelRidge":
        self.x_ = s
        self.y_mean_ = float(y.mean())
        yc = y - self.y_mean_
        d2 = sqdist(s, s)
        base = 1.0  # scores are scaled to unit total variance
        best = None
        for gf in _KR_GAMMA_FACTORS:
            k = np.exp(-base * gf * d2)
            for alpha in _KR_ALPHAS:
                h_inv = np.linalg.inv(k + alpha * np.eye(len(y)))
                coef = h_inv @ yc
                loo = coef / np.diag(h_inv)  # residual y_i - f_{-i}(x_i), exact for ridge
                err = float(np.mean(loo**2))
                if best is None or err < best[0]:
                    best = (err, base * gf, coef)
        _, self.gamma_, self.coef_ = best
        return self

    def predict(self, s: np.ndarray) -> np.ndarray:
        return self.y_mean_ + np.exp(-self.gamma_ * sqdist(s, self.x_)) @ self.coef_


def _check_zy(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(z, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    if z.ndim != 2:
        raise ValueError(f"measured descriptors must be a 2-D array (samples x channels), got shape {z.shape}")
    if z.shape[0] != y.shape[0]:
        raise ValueError(f"{z.shape[0]} descriptor rows but {y.shape[0]} property values")
    if not (np.isfinite(z).all() and np.isfinite(y).all()):
        raise ValueError("measured descriptors or property values contain NaN or infinite values")
    return z, y


def fold_ids(n: int, folds: int | str = 5, seed: int = 0) -> np.ndarray:
    """Fold number of each of ``n`` samples: a seeded shuffle cut into ``folds`` parts ("loo": n parts)."""
    k = n if folds == "loo" else int(folds)
    if n < 2:
        raise ValueError(f"cross-validation needs at least 2 samples, got {n}")
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds!r}")
    k = min(k, n)
    perm = np.random.default_rng(seed).permutation(n)
    ids = np.empty(n, dtype=int)
    ids[perm] = np.arange(n) % k
    return ids


def cross_validated_predictions(
    z: np.ndarray,
    y: np.ndarray,
    kind: str = "gp",
    n_components: int = 5,
    folds: int | str = 5,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-fold prediction of every sample, refitting PCA and regressor per fold."""
    z, y = _check_zy(z, y)
    ids = fold_ids(len(y), folds, seed)
    out = np.empty(len(y))
    for f in np.unique(ids):
        test = ids == f
        train = ~test
        if train.sum() < 2:
            raise ValueError(f"fold {f} leaves {train.sum()} training samples; use fewer folds")
        model = PropertyModel(kind, n_components, seed).fit(z[train], y[train])
        out[test] = model.predict(z[test])
    return out


def cross_validated_error(
    z: np.ndarray,
    y: np.ndarray,
    kind: str = "gp",
    n_components: int = 5,
    folds: int | str = 5,
    seed: int = 0,
) -> float:
    """Root-mean-square cross-validated error of the z -> y model on these samples."""
    pred = cross_validated_predictions(z, y, kind, n_components, folds, seed)
    return float(np.sqrt(np.mean((pred - np.asarray(y, dtype=float).ravel()) ** 2)))


def held_out_error(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray,
    kind: str = "gp", n_components: int = 5, seed: int = 0,
) -> float:
    """RMSE on samples not used for fitting (a benchmark's ground-truth check)."""
    model = PropertyModel(kind, n_components, seed).fit(z_train, y_train)
    return float(np.sqrt(np.mean((model.predict(z_test) - np.asarray(y_test, dtype=float)) ** 2)))


__all__: Sequence[str] = (
    "KINDS", "PropertyModel", "fold_ids", "cross_validated_predictions",
    "cross_validated_error", "held_out_error",
)
