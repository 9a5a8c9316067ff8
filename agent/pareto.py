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


def _dominates(q: tuple[float, ...], p: tuple[float, ...]) -> bool:
    """``q`` is at least as good as ``p`` on every objective and better on one (both in maximized form)."""
    return all(a >= b for a, b in zip(q, p)) and any(a > b for a, b in zip(q, p))


class ParetoFront:
    """The front of the results added so far, kept one result at a time: ``len`` equals ``front_size`` of them all.

    For the loop's progress line, which asks after every experiment: adding
    a result compares it with the front only (a result off the front is
    dominated by one on it), never again with every result stored.
    """

    def __init__(self, objectives: Sequence[Mapping[str, Any]]) -> None:
        self.names = [o["name"] for o in objectives]
        self.signs = [1.0 if o.get("direction", "maximize") == "maximize" else -1.0 for o in objectives]
        self._front: list[tuple[float, ...]] = []

    def add(self, result: Mapping[str, float]) -> None:
        """Take in one result (objective name -> value); one missing an objective is left out, as by ``front_size``."""
        if not all(n in result for n in self.names):
            return
        p = tuple(s * float(result[n]) for s, n in zip(self.signs, self.names))
        if any(_dominates(q, p) for q in self._front):
            return
        self._front = [q for q in self._front if not _dominates(p, q)]
        self._front.append(p)

    def __len__(self) -> int:
        return len(self._front)
