"""Turn a space and a history into the arrays and tensors the planners model.

Three jobs, shared by every planner so they agree on what "the same point" is:

* **Feature encoding.** A *row* is a point in parameter order as a float array
  (``Space.to_row``; categoricals hold the choice index). A *feature* vector is
  what a Gaussian process sees: every numeric parameter scaled to [0, 1] by its
  bounds, every categorical one-hot. Simplex constraints become linear
  equalities on the scaled features (for BoTorch's ``optimize_acqf``).
* **History.** ``HistoryData`` splits the trials by status: completed (with
  objective values), failed, pending and rejected. A completed trial without a
  finite value for an objective is treated as failed, never silently dropped.
* **Never re-propose.** ``taken_mask``/``dedupe`` compare candidate rows with
  every row the history holds (any status) at a tolerance of ``1e-6`` of each
  parameter's range; pools are matched with vectorized integer hashes, so a
  10^6-row pool is filtered in well under a second.
"""

from __future__ import annotations

from itertools import product
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from labpilot.errors import PlannerError
from labpilot.planners.history_split import HistoryData as HistoryData  # re-exported for the planners
from labpilot.planners.history_split import split_history as split_history
from labpilot.planners.space import CategoricalParam, ContinuousParam, IntegerParam, Objective, Space

if TYPE_CHECKING:  # torch loads only when a GP planner needs tensors
    import torch

#: Two rows are the same point when every parameter differs by less than this
#: fraction of its range (categoricals must match exactly).
SAME_POINT_TOL = 1e-6


def check_k(k: int) -> int:
    """Validate a batch size: an integer of at least 1."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise PlannerError(f"batch size k must be an integer, got {k!r}")
    if k < 1:
        raise PlannerError(f"batch size k must be at least 1, got {k}")
    return int(k)


def call_seed(seed: int, history_len: int, salt: int = 0) -> int:
    """A reproducible per-call seed: same planner seed + same history -> same draws."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, history_len, salt]).generate_state(1)[0])


def validate_space(space: Space) -> None:
    """Raise ``PlannerError`` naming the problem if the space cannot be planned in."""
    if not space.params:
        raise PlannerError("the space has no parameters")
    names = space.names
    if len(set(names)) != len(names):
        raise PlannerError(f"duplicate parameter names in the space: {names}")
    for p in space.params:
        if isinstance(p, CategoricalParam):
            if not p.choices:
                raise PlannerError(f"{p.name}: a categorical parameter needs at least one choice")
        elif not (np.isfinite(p.low) and np.isfinite(p.high)):
            raise PlannerError(f"{p.name}: bounds must be finite, got [{p.low}, {p.high}]")
        elif p.low > p.high:
            raise PlannerError(f"{p.name}: lower bound {p.low:g} is above upper bound {p.high:g}")
    seen: set[str] = set()
    for c in space.simplex:
        for n in c.names:
            if n not in names:
                raise PlannerError(f"simplex constraint names {n!r}, which is not a parameter")
            if not isinstance(space.param(n), ContinuousParam):
                raise PlannerError(f"simplex constraint on {n!r}: only continuous parameters may sum to a total")
            if n in seen:
                raise PlannerError(f"parameter {n!r} is in two simplex constraints")
            seen.add(n)
        lo = sum(space.param(n).low for n in c.names)
        hi = sum(space.param(n).high for n in c.names)
        if not lo - 1e-12 <= c.total <= hi + 1e-12:
            raise PlannerError(
                f"simplex({'+'.join(c.names)}) must sum to {c.total:g}, but the bounds allow "
                f"only sums in [{lo:g}, {hi:g}]"
            )
    if space.features is not None:
        if space.pool is None or np.ndim(space.features) != 2 or len(space.features) != len(space.pool):
            raise PlannerError("pool features need a pool with one row per feature row")
    if space.pool is not None:
        pool = np.asarray(space.pool)
        if pool.ndim != 2 or pool.shape[1] != space.dim:
            raise PlannerError(
                f"the candidate pool must have one column per parameter ({space.dim}), got shape {pool.shape}"
            )
        if not np.all(np.isfinite(pool)):
            raise PlannerError("the candidate pool contains NaN or infinite values")


class Encoder:
    """Maps rows (parameter order, categorical index) to GP features and back.

    A space with pool ``features`` (a descriptor pool, ``planners.pool_planner``)
    has one integer parameter, the pool row; its features are that row of
    ``space.features`` (float32, already in [0, 1]) instead of the scaled
    parameter.
    """

    def __init__(self, space: Space) -> None:
        validate_space(space)
        self.space = space
        self.features = space.features
        self.numeric_idx: list[int] = []  # row index of each numeric param
        self.numeric_col: list[int] = []  # its feature column
        self.low = np.zeros(space.dim)
        self.span = np.ones(space.dim)
        self.cat_cols: dict[int, list[int]] = {}  # row index -> one-hot feature columns
        col = 0
        for i, p in enumerate(space.params):
            if isinstance(p, CategoricalParam):
                self.cat_cols[i] = list(range(col, col + len(p.choices)))
                col += len(p.choices)
            else:
                self.low[i] = p.low
                self.span[i] = (p.high - p.low) or 1.0
                self.numeric_idx.append(i)
                self.numeric_col.append(col)
                col += 1
        self.n_features = col if self.features is None else int(self.features.shape[1])
        self.integer_idx = [i for i, p in enumerate(space.params) if isinstance(p, IntegerParam)]

    # -- rows <-> features -------------------------------------------------
    def to_features(self, rows: np.ndarray) -> np.ndarray:
        """Rows (n, dim) -> features (n, n_features) in the unit cube."""
        rows = np.atleast_2d(np.asarray(rows, dtype=float))
        if self.features is not None:
            return self.features[self._pool_index(rows)].astype(float)
        out = np.zeros((rows.shape[0], self.n_features))
        if self.numeric_idx:
            idx = np.array(self.numeric_idx)
            out[:, self.numeric_col] = (rows[:, idx] - self.low[idx]) / self.span[idx]
        for i, cols in self.cat_cols.items():
            choice = np.clip(np.rint(rows[:, i]).astype(int), 0, len(cols) - 1)
            out[np.arange(rows.shape[0]), np.array(cols)[choice]] = 1.0
        return out

    def to_rows(self, feats: np.ndarray) -> np.ndarray:
        """Features -> rows: unscale, argmax one-hots, round integers, repair simplexes."""
        if self.features is not None:
            raise PlannerError("a descriptor pool has no continuous search: features cannot be turned back into rows")
        feats = np.atleast_2d(np.asarray(feats, dtype=float))
        rows = np.zeros((feats.shape[0], self.space.dim))
        if self.numeric_idx:
            idx = np.array(self.numeric_idx)
            rows[:, idx] = self.low[idx] + np.clip(feats[:, self.numeric_col], 0.0, 1.0) * self.span[idx]
        for i, cols in self.cat_cols.items():
            rows[:, i] = np.argmax(feats[:, cols], axis=1)
        return repair_rows(self.space, rows)

    def tensor(self, rows: np.ndarray) -> "torch.Tensor":
        """Rows -> a float64 feature tensor."""
        import torch

        return torch.as_tensor(self.to_features(rows), dtype=torch.float64)

    def pool_tensor(self, rows: np.ndarray) -> "torch.Tensor":
        """Pool rows -> features to score: float32, without a float64 copy, for a descriptor pool.

        The whole pool in order is shared with ``space.features`` (no copy);
        the scorers (``gp.posterior_mean_std``, ``pool_select``) convert chunk
        by chunk.
        """
        import torch

        if self.features is None:
            return self.tensor(rows)
        idx = self._pool_index(np.atleast_2d(np.asarray(rows, dtype=float)))
        if len(idx) == len(self.features) and np.array_equal(idx, np.arange(len(idx))):
            return torch.from_numpy(np.ascontiguousarray(self.features))
        return torch.from_numpy(self.features[idx])

    def _pool_index(self, rows: np.ndarray) -> np.ndarray:
        return np.rint(rows[:, 0]).astype(np.int64)

    def bounds(self) -> "torch.Tensor":
        """The (2, n_features) unit-cube bounds for ``optimize_acqf``."""
        import torch

        return torch.stack([torch.zeros(self.n_features), torch.ones(self.n_features)]).to(torch.float64)

    def equality_constraints(self) -> list[tuple["torch.Tensor", "torch.Tensor", float]]:
        """Each simplex as ``sum(span_i * u_i) = total - sum(low_i)`` on the scaled features."""
        import torch

        out = []
        for c in self.space.simplex:
            rows = [self.space.names.index(n) for n in c.names]
            cols = [self.numeric_col[self.numeric_idx.index(i)] for i in rows]
            coef = [float(self.span[i]) for i in rows]
            rhs = float(c.total - sum(self.low[i] for i in rows))
            out.append((torch.tensor(cols, dtype=torch.long), torch.tensor(coef, dtype=torch.float64), rhs))
        return out

    def categorical_combos(self, limit: int, rng: np.random.Generator) -> list[dict[int, float]]:
        """One-hot settings of every categorical (as ``fixed_features``); at most ``limit``, sampled if more."""
        if not self.cat_cols:
            return []
        groups = list(self.cat_cols.values())
        sizes = [len(g) for g in groups]
        total = int(np.prod(sizes))
        if total <= limit:
            choices = list(product(*[range(s) for s in sizes]))
        else:
            picked = {tuple(int(rng.integers(s)) for s in sizes) for _ in range(limit * 4)}
            choices = sorted(picked)[:limit]
        combos = []
        for choice in choices:
            fixed: dict[int, float] = {}
            for cols, c in zip(groups, choice):
                for j, col in enumerate(cols):
                    fixed[col] = 1.0 if j == c else 0.0
            combos.append(fixed)
        return combos


def project_simplex(values: np.ndarray, low: np.ndarray, high: np.ndarray, total: float) -> np.ndarray:
    """Euclidean projection of each row onto ``{x: sum x = total, low <= x <= high}``.

    ``x_i = clip(v_i - tau, low_i, high_i)`` with ``tau`` found by bisection, per row.
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    lo_t = np.min(values - high, axis=1) - 1.0
    hi_t = np.max(values - low, axis=1) + 1.0
    for _ in range(100):
        mid = 0.5 * (lo_t + hi_t)
        s = np.clip(values - mid[:, None], low, high).sum(axis=1)
        too_big = s > total
        lo_t = np.where(too_big, mid, lo_t)
        hi_t = np.where(too_big, hi_t, mid)
    x = np.clip(values - 0.5 * (lo_t + hi_t)[:, None], low, high)
    # remove the last rounding residue on coordinates that are not at a bound
    resid = total - x.sum(axis=1)
    free = (x > low + 1e-12) & (x < high - 1e-12)
    nfree = np.maximum(free.sum(axis=1), 1)
    x = np.where(free, x + (resid / nfree)[:, None], x)
    return np.clip(x, low, high)


def repair_rows(space: Space, rows: np.ndarray) -> np.ndarray:
    """Clip to bounds, round integers and categorical indices, project simplex groups."""
    rows = np.array(np.atleast_2d(rows), dtype=float)
    for i, p in enumerate(space.params):
        if isinstance(p, CategoricalParam):
            rows[:, i] = np.clip(np.rint(rows[:, i]), 0, len(p.choices) - 1)
        elif isinstance(p, IntegerParam):
            rows[:, i] = np.clip(np.rint(rows[:, i]), p.low, p.high)
        else:
            rows[:, i] = np.clip(rows[:, i], p.low, p.high)
    for c in space.simplex:
        idx = [space.names.index(n) for n in c.names]
        low = np.array([space.param(n).low for n in c.names])
        high = np.array([space.param(n).high for n in c.names])
        rows[:, idx] = project_simplex(rows[:, idx], low, high, c.total)
    return rows


# -- history ---------------------------------------------------------------
# ``HistoryData`` and ``split_history`` live in ``planners.history_split`` (with the
# incremental ``HistorySplitter`` planners keep); they are re-exported here.


def maximize_form(y: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """Objective values multiplied by their sign, so larger is always better."""
    return y * np.array([o.sign for o in objectives])[None, :]


# -- never re-propose -------------------------------------------------------
def _quantize(space: Space, rows: np.ndarray) -> np.ndarray:
    enc_low = np.array([0.0 if isinstance(p, CategoricalParam) else p.low for p in space.params])
    enc_span = np.array(
        [1.0 if isinstance(p, CategoricalParam) else ((p.high - p.low) or 1.0) for p in space.params]
    )
    return np.rint((np.atleast_2d(rows) - enc_low) / enc_span / SAME_POINT_TOL).astype(np.int64)


def _hash(q: np.ndarray) -> np.ndarray:
    mult = np.random.default_rng(12345).integers(1, 2**62, size=q.shape[1], dtype=np.int64) | 1
    with np.errstate(over="ignore"):
        return (q * mult[None, :]).sum(axis=1, dtype=np.int64)


def taken_mask(space: Space, candidates: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Boolean mask over ``candidates``: True where the row equals a taken row (within tolerance).

    Rows are quantized at ``SAME_POINT_TOL`` of each range and matched by a
    vectorized integer hash (then checked exactly), which keeps this fast on
    10^6-row pools. Pool rows that come back from the history are the same
    floats, so they quantize identically. When candidates x taken is small, a
    direct distance check also catches values that rounded across a grid line.
    """
    candidates = np.atleast_2d(np.asarray(candidates, dtype=float))
    mask = np.zeros(candidates.shape[0], dtype=bool)
    taken = np.atleast_2d(np.asarray(taken, dtype=float)).reshape(-1, space.dim)
    if taken.shape[0] == 0 or candidates.shape[0] == 0:
        return mask
    qc = _quantize(space, candidates)
    qt = _quantize(space, taken)
    # hash the taken rows; candidates that hash-match are then checked exactly
    hits = np.isin(_hash(qc), _hash(qt))
    idx = np.nonzero(hits)[0]
    if idx.size:
        lookup = {tuple(r) for r in qt.tolist()}
        mask[idx] = [tuple(r) in lookup for r in qc[idx].tolist()]
    # exact check for the (rare) rows whose value sat on a rounding boundary
    if taken.shape[0] * candidates.shape[0] <= 5_000_000:
        near = _near(space, candidates, taken)
        mask |= near
    return mask


def _near(space: Space, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True for rows of ``a`` within ``SAME_POINT_TOL`` of some row of ``b`` (per-range scaled).

    Small pairs are compared all against all. Larger ones compare each row of
    ``a`` only with the rows of ``b`` inside its ``SAME_POINT_TOL`` window on
    the most spread column (``b`` sorted on it once), which finds the same
    pairs: a row outside that window differs by more than the tolerance there.
    """
    span = np.array([1.0 if isinstance(p, CategoricalParam) else ((p.high - p.low) or 1.0) for p in space.params])
    out = np.zeros(a.shape[0], dtype=bool)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return out
    a, b = a / span, b / span
    if a.shape[0] * b.shape[0] <= 20_000:
        return (np.abs(a[:, None, :] - b[None, :, :]).max(axis=2) <= SAME_POINT_TOL).any(axis=1)
    col = int(np.argmax(b.std(axis=0)))
    order = np.argsort(b[:, col], kind="stable")
    b = b[order]
    lo = np.searchsorted(b[:, col], a[:, col] - SAME_POINT_TOL, side="left")
    hi = np.searchsorted(b[:, col], a[:, col] + SAME_POINT_TOL, side="right")
    counts = hi - lo
    rows = np.nonzero(counts)[0]
    pairs_at_once = max(1, 2_000_000 // a.shape[1])  # pairs compared per chunk (bounded memory)
    start = 0
    while start < rows.size:
        n_pairs = np.cumsum(counts[rows[start:]])
        stop = start + max(1, int(np.searchsorted(n_pairs, pairs_at_once, side="right")))
        chunk = rows[start:stop]
        c = counts[chunk]
        ia = np.repeat(chunk, c)
        ib = np.repeat(lo[chunk], c) + (np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c))
        hit = np.abs(a[ia] - b[ib]).max(axis=1) <= SAME_POINT_TOL
        out[ia[hit]] = True
        start = stop
    return out


def dedupe(space: Space, rows: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Indices of ``rows`` to keep: not taken, and not repeating an earlier row of ``rows``."""
    rows = np.atleast_2d(rows)
    keep: list[int] = []
    bad = taken_mask(space, rows, taken)
    for i in range(rows.shape[0]):
        if bad[i]:
            continue
        if keep and _near(space, rows[i : i + 1], rows[keep]).any():
            continue
        keep.append(i)
    return np.array(keep, dtype=int)


def pool_available(space: Space, taken: np.ndarray) -> np.ndarray:
    """Indices of pool rows not yet measured, failed, pending or rejected."""
    if space.pool is None:
        raise PlannerError("this space has no candidate pool")
    if space.features is not None:  # rows are pool indices (``planners.pool_planner``): no hashing of values
        free = np.ones(len(space.pool), dtype=bool)
        idx = np.rint(np.asarray(taken, dtype=float).reshape(-1, space.dim)[:, 0]).astype(np.int64)
        free[idx[(idx >= 0) & (idx < len(free))]] = False
        return np.nonzero(free)[0]
    pool = np.asarray(space.pool, dtype=float)
    return np.nonzero(~taken_mask(space, pool, taken))[0]


def points(space: Space, rows: np.ndarray) -> list[dict[str, Any]]:
    """Rows -> parameter dicts."""
    return [space.to_point(r) for r in np.atleast_2d(rows)]
