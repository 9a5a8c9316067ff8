"""``random``: uniform proposals, and the space-filling initial design.

Uniform means: continuous parameters uniform on their interval, integers and
categoricals uniform over their values, and each simplex group uniform on its
polytope ``{x: sum x = total, low <= x <= high}``. The polytope is sampled
exactly by rejection from a scaled flat Dirichlet when the bounds reject
little; when they reject a lot (tight upper bounds), by vectorized hit-and-run
chains (one chain per sample, long burn-in), which converge to the same
uniform distribution.

In pool mode the planner picks uniformly among pool rows that are not
measured, failed, pending or rejected.

``initial_design(space, n, seed)`` is what the agent runs before any model
exists: a scrambled Sobol design in plain boxes, and a greedy maximin
(farthest-point) selection from many uniform samples when there are simplex
constraints or a pool, so the first experiments spread over the whole space.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.stats import qmc

from labpilot.errors import PlannerError
from labpilot.planners.base import Planner, Proposal, Trial, register
from labpilot.planners.options import RandomOptions
from labpilot.planners.encoding import Encoder, call_seed, check_k, dedupe, points, pool_available, validate_space
from labpilot.planners.history_split import HistorySplitter
from labpilot.planners.space import CategoricalParam, ContinuousParam, IntegerParam, Objective, Space

#: Below this acceptance rate, simplex sampling switches from rejection to hit-and-run.
MIN_ACCEPTANCE = 0.02


def sample_simplex(
    low: np.ndarray, high: np.ndarray, total: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` points uniform on ``{x: sum x = total, low <= x <= high}``, shape (n, len(low))."""
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    free = total - low.sum()
    room = high - low
    if free < -1e-12 or free > room.sum() + 1e-12:
        raise PlannerError(f"no point has sum {total:g} within bounds summing to [{low.sum():g}, {high.sum():g}]")
    if free <= 1e-12:
        return np.tile(low, (n, 1))
    if n == 0:
        return np.zeros((0, low.size))
    # rejection from the flat Dirichlet on the free mass
    probe = rng.dirichlet(np.ones(low.size), size=max(4 * n, 256)) * free
    ok = (probe <= room).all(axis=1)
    rate = ok.mean()
    if rate >= MIN_ACCEPTANCE:
        accepted = [probe[ok]]
        got = accepted[0].shape[0]
        while got < n:
            batch = rng.dirichlet(np.ones(low.size), size=int(2 * (n - got) / rate) + 16) * free
            batch = batch[(batch <= room).all(axis=1)]
            accepted.append(batch)
            got += batch.shape[0]
        return low + np.vstack(accepted)[:n]
    return low + _hit_and_run(room, free, n, rng)


def _hit_and_run(room: np.ndarray, free: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform samples of ``{y: sum y = free, 0 <= y <= room}`` by parallel hit-and-run chains."""
    m = room.size
    y = np.tile(room * (free / room.sum()), (n, 1))  # an interior start point
    steps = 200 + 20 * m * m
    for _ in range(steps):
        d = rng.standard_normal((n, m))
        d -= d.mean(axis=1, keepdims=True)  # stay on the hyperplane sum y = free
        with np.errstate(divide="ignore", invalid="ignore"):
            t_to_low = np.where(d != 0, -y / d, np.nan)
            t_to_high = np.where(d != 0, (room - y) / d, np.nan)
        t_lo = np.nanmax(np.where(d > 0, t_to_low, np.where(d < 0, t_to_high, -np.inf)), axis=1)
        t_hi = np.nanmin(np.where(d > 0, t_to_high, np.where(d < 0, t_to_low, np.inf)), axis=1)
        t = rng.uniform(t_lo, np.maximum(t_hi, t_lo))
        y = np.clip(y + t[:, None] * d, 0.0, room)
    return y


def sample_space(space: Space, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform rows of the space (ignores any pool)."""
    rows = np.zeros((n, space.dim))
    for i, p in enumerate(space.params):
        if isinstance(p, CategoricalParam):
            rows[:, i] = rng.integers(len(p.choices), size=n)
        elif isinstance(p, IntegerParam):
            rows[:, i] = rng.integers(p.low, p.high + 1, size=n)
        else:
            rows[:, i] = rng.uniform(p.low, p.high, size=n)
    for c in space.simplex:
        idx = [space.names.index(name) for name in c.names]
        low = np.array([space.param(name).low for name in c.names])
        high = np.array([space.param(name).high for name in c.names])
        rows[:, idx] = sample_simplex(low, high, c.total, n, rng)
    return rows


def finite_size(space: Space) -> int | None:
    """How many distinct points a space of only integers/categoricals has (None if continuous)."""
    size = 1
    for p in space.params:
        if isinstance(p, ContinuousParam):
            return None
        size *= len(p.choices) if isinstance(p, CategoricalParam) else int(p.high - p.low + 1)
    return size


def sample_new(
    space: Space, k: int, taken: np.ndarray, rng: np.random.Generator, oversample: int = 4, at_most: bool = False
) -> np.ndarray:
    """``k`` uniform rows, distinct from each other and from ``taken``; ``PlannerError`` if impossible.

    With ``at_most``, a finite space that has fewer than ``k`` new points left
    gives all it has (at least one) instead of an error.
    """
    size = finite_size(space)
    if size is not None:
        n_taken = len(dedupe(space, taken, np.zeros((0, space.dim)))) if len(taken) else 0
        if at_most and size > n_taken:
            k = min(k, size - n_taken)
        if k > size - n_taken:
            raise PlannerError(
                f"asked for {k} new points but the space has only {size} distinct points, "
                f"{n_taken} of them already used"
            )
    found = np.zeros((0, space.dim))
    for _ in range(50):
        cand = sample_space(space, oversample * (k - len(found)) + 8, rng)
        cand = cand[dedupe(space, cand, np.vstack([taken, found]))]
        found = np.vstack([found, cand[: k - len(found)]])
        if len(found) == k:
            return found
    raise PlannerError(f"could find only {len(found)} of {k} new points after many random draws")


def _maximin(feats: np.ndarray, n: int, rng: np.random.Generator, taken_feats: np.ndarray | None = None) -> list[int]:
    """Greedy farthest-point selection of ``n`` row indices of ``feats``."""
    if taken_feats is not None and len(taken_feats):
        dist = np.min(((feats[:, None, :] - taken_feats[None, :, :]) ** 2).sum(-1), axis=1)
        chosen: list[int] = []
    else:
        first = int(rng.integers(feats.shape[0]))
        chosen = [first]
        dist = ((feats - feats[first]) ** 2).sum(axis=1)
    while len(chosen) < n:
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((feats - feats[nxt]) ** 2).sum(axis=1))
    return chosen


def initial_design(
    space: Space, n: int, seed: int = 0, taken: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """A space-filling set of ``n`` distinct points (parameter dicts), reproducible under ``seed``.

    ``taken`` lists points already used (e.g. after a restart); the design avoids them.
    """
    n = check_k(n)
    if space.candidates is not None:  # a campaign's pool table: rows named by their id
        from labpilot.planners.pool_planner import initial_pool_design

        return initial_pool_design(space, n, seed, taken)
    validate_space(space)
    rng = np.random.default_rng(call_seed(seed, 0, salt=1))
    enc = Encoder(space)
    taken_rows = np.array([space.to_row(p) for p in taken], dtype=float).reshape(-1, space.dim)
    if space.pool is not None:
        avail = pool_available(space, taken_rows)
        if n > avail.size:
            raise PlannerError(f"asked for {n} initial points but only {avail.size} pool rows are unused")
        if avail.size > 20_000:
            avail = np.sort(rng.choice(avail, 20_000, replace=False))
        pool = np.asarray(space.pool, dtype=float)
        feats = enc.to_features(pool[avail])
        pick = _maximin(feats, n, rng, enc.to_features(taken_rows) if len(taken_rows) else None)
        return points(space, pool[avail[pick]])
    if not space.simplex and finite_size(space) is None:
        sobol = qmc.Sobol(space.dim, scramble=True, seed=rng)
        u = sobol.random(int(2 ** np.ceil(np.log2(max(n, 2)))))[:n]
        rows = np.zeros_like(u)
        for i, p in enumerate(space.params):
            if isinstance(p, CategoricalParam):
                rows[:, i] = np.minimum(np.floor(u[:, i] * len(p.choices)), len(p.choices) - 1)
            elif isinstance(p, IntegerParam):
                rows[:, i] = p.low + np.minimum(np.floor(u[:, i] * (p.high - p.low + 1)), p.high - p.low)
            else:
                rows[:, i] = p.low + u[:, i] * (p.high - p.low)
        rows = rows[dedupe(space, rows, taken_rows)]
        if len(rows) < n:
            rows = np.vstack([rows, sample_new(space, n - len(rows), np.vstack([taken_rows, rows]), rng)])
        return points(space, rows)
    cand = sample_new(space, 1, taken_rows, rng)  # checks that n points can exist at all
    size = finite_size(space)
    if size is not None and size <= 200_000:
        cand = sample_new(space, min(size - len(taken_rows), max(50 * n, 2000)), taken_rows, rng)
    else:
        cand = sample_space(space, max(50 * n, 2000), rng)
        cand = cand[dedupe(space, cand, taken_rows)]
    if len(cand) < n:
        raise PlannerError(f"asked for {n} initial points but only {len(cand)} distinct new points exist")
    pick = _maximin(enc.to_features(cand), n, rng, enc.to_features(taken_rows) if len(taken_rows) else None)
    return points(space, cand[pick])


@register
class RandomPlanner(Planner):
    """Uniform random proposals (pool mode: uniform over unused pool rows)."""

    Options = RandomOptions

    name = "random"
    plans_pool_rows = True

    def __init__(self, space: Space, objectives: Sequence[Objective], seed: int = 0, **options: Any) -> None:
        super().__init__(space, objectives, seed, **options)
        if options:
            raise PlannerError(f"planner 'random' takes no options, got {sorted(options)}")
        validate_space(space)
        self._history = HistorySplitter(space, objectives)

    def propose(self, history: Sequence[Trial], k: int = 1) -> list[Proposal]:
        k = check_k(k)
        data = self._history.split(history)
        rng = np.random.default_rng(call_seed(self.seed, len(history)))
        if self.space.pool is not None:
            avail = pool_available(self.space, data.taken)
            if k > avail.size:
                raise PlannerError(
                    f"asked for {k} points but only {avail.size} of {len(self.space.pool)} pool rows are unused"
                )
            rows = np.asarray(self.space.pool, dtype=float)[rng.choice(avail, k, replace=False)]
        else:
            rows = sample_new(self.space, k, data.taken, rng)
        return [Proposal(p, None, "random") for p in points(self.space, rows)]
