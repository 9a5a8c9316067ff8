"""Find the (approximate) maximum of a function on a box-bounded simplex.

Used by the worlds to tell benchmarks where the true optimum lies: a dense
random search (uniform on the bounded simplex by rejection) followed by a
shrinking local search whose steps are projected back onto the feasible set.
Deterministic for a given seed.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Objective = Callable[[np.ndarray], np.ndarray]


def project_to_bounded_simplex(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row onto {x : lo <= x <= hi, sum(x) = 1}.

    x = clip(y - t, lo, hi) for the shift t where the sum is 1. The sum is
    piecewise linear and non-increasing in t with breakpoints at y - lo and
    y - hi, so t is found exactly by interpolating between breakpoints.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    knots = np.sort(np.concatenate([y - lo, y - hi], axis=1), axis=1)  # (n, 2d), increasing t
    sums = np.clip(y[:, None, :] - knots[:, :, None], lo, hi).sum(axis=2)  # non-increasing along axis 1
    j = np.clip((sums >= 1.0).sum(axis=1) - 1, 0, knots.shape[1] - 2)  # last knot with sum >= 1
    rows = np.arange(len(y))
    t0, t1, s0, s1 = knots[rows, j], knots[rows, j + 1], sums[rows, j], sums[rows, j + 1]
    frac = np.divide(s0 - 1.0, s0 - s1, out=np.zeros_like(s0), where=s0 > s1)
    x = np.clip(y - (t0 + frac * (t1 - t0))[:, None], lo, hi)
    return x / x.sum(axis=1, keepdims=True)


def sample_bounded_simplex(n: int, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform on the bounded simplex (rejection), topped up by projection if bounds are tight."""
    free = 1.0 - lo.sum()
    accepted: list[np.ndarray] = []
    count = 0
    for _ in range(10):
        x = lo + free * rng.dirichlet(np.ones(lo.size), size=n)
        x = x[np.all(x <= hi + 1e-12, axis=1)]
        accepted.append(x)
        count += len(x)
        if count >= n:
            break
    pts = np.concatenate(accepted)[:n]
    if len(pts) < n:
        extra = project_to_bounded_simplex(rng.dirichlet(np.ones(lo.size), size=n - len(pts)), lo, hi)
        pts = np.concatenate([pts, extra])
    return pts


def best_on_simplex(
    f: Objective, lo: np.ndarray, hi: np.ndarray, n: int = 200000, seed: int = 0,
    keep: int = 32, rounds: int = 40, per_point: int = 64,
) -> tuple[np.ndarray, float]:
    """Best point and value of ``f`` (vectorized over rows) on the bounded simplex."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    pts = sample_bounded_simplex(n, lo, hi, rng)
    vals = np.concatenate([f(chunk) for chunk in np.array_split(pts, max(1, len(pts) // 50000))])
    order = np.argsort(vals)[::-1][:keep]
    best, best_vals = pts[order], vals[order]
    step = 0.03
    for _ in range(rounds):
        trial = np.repeat(best, per_point, axis=0) + rng.normal(0.0, step, (len(best) * per_point, lo.size))
        trial = project_to_bounded_simplex(trial, lo, hi)
        tv = f(trial)
        allp, allv = np.concatenate([best, trial]), np.concatenate([best_vals, tv])
        order = np.argsort(allv)[::-1][:keep]
        best, best_vals = allp[order], allv[order]
        step *= 0.85
    return best[0], float(best_vals[0])
