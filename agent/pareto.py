"""The Pareto front of several objectives: which results no other one beats on every objective.

One definition for the Pareto figure (``charts.pareto_figure``), the run's
progress line and the status summary, so they count the same points. Numpy
only (no matplotlib): the loop imports it.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np


def pareto_front(points: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Mask of the non-dominated rows of ``points`` (n, k), column j maximized or minimized as ``directions[j]``."""
    signs = np.array([1.0 if d == "maximize" else -1.0 for d in directions])
    p = np.asarray(points, dtype=float).reshape(-1, len(signs)) * signs
    keep = np.ones(len(p), dtype=bool)
    for i in range(len(p)):
        dominated = np.all(p >= p[i], axis=1) & np.any(p > p[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def front_size(results: Iterable[Mapping[str, float]], objectives: Sequence[Mapping[str, Any]]) -> int:
    """How many of ``results`` (objective name -> value, one per completed experiment) are on the Pareto
    front of ``objectives`` (``{"name", "direction"}``); results missing an objective are left out."""
    names = [o["name"] for o in objectives]
    rows = [[r[n] for n in names] for r in results if all(n in r for n in names)]
    if not rows:
        return 0
    return int(pareto_front(np.array(rows, dtype=float), [o.get("direction", "maximize") for o in objectives]).sum())
