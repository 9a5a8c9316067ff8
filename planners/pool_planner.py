"""Planning over a campaign's candidate table: proposals are pool rows, named by their id.

A campaign with ``[space] pool`` hands the planners a ``Space`` whose
``candidates`` is a ``planners.pool_table.PoolTable``. ``make_planner`` then
builds the named planner on an **index space**: one integer parameter, the
pool row (``ROW``), whose pool is every row index and whose features are the
table's descriptors (float32 in [0, 1]; without descriptors, the encoded
parameters). The planner models the features, never sees an id, and its
"never re-propose" check is a mask over row indices (no hashing of 200
descriptor values per row). ``PoolPlanner`` translates between the two:

* history: each trial's id (``params[id_column]``) -> its row index; an id the
  pool does not hold is an error naming it (the store and the file disagree);
* proposals: row index -> ``{id_column: id, **parameter values}``, what the
  journal records and the instruments receive.

Measured, pending and rejected rows are in the history the agent derives from
its store on every call, so a resumed agent never proposes a row twice.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from labpilot.errors import PlannerError
from labpilot.planners.base import Planner, Proposal, Trial
from labpilot.planners.history_split import ChangedTrials
from labpilot.planners.pool_table import PoolTable
from labpilot.planners.space import IntegerParam, Objective, Space

#: The index space's one parameter: the pool row.
ROW = "pool_row"


def index_space(table: PoolTable) -> Space:
    """The space planners search for ``table``: its row indices, with the table's model features."""
    cached = getattr(table, "_index_space", None)
    if cached is not None:
        return cached
    n = len(table)
    feats = table.features
    if feats is None:
        if not table.space.params:
            raise PlannerError("a pool without descriptors, featurizer or parameters gives a model nothing to learn from")
        from labpilot.planners.encoding import Encoder

        feats = Encoder(table.space).to_features(table.rows).astype(np.float32)
    space = Space((IntegerParam(ROW, 0, max(n - 1, 0)),), pool=np.arange(n, dtype=float)[:, None], features=feats)
    object.__setattr__(table, "_index_space", space)
    return space


def index_history(table: PoolTable, history: Sequence[Trial], positions: Sequence[int] | None = None) -> list[Trial]:
    """The trials with each id replaced by its row index (an unknown id is a ``PlannerError`` naming it).

    ``positions``: the trials' positions in the whole history, for the errors (default 0, 1, ...).
    """
    where = list(range(len(history))) if positions is None else list(positions)
    ids = []
    for i, t in zip(where, history):
        if table.id_name not in t.params:
            raise PlannerError(f"history trial {i}: no {table.id_name!r} (the pool's id column) in {t.params}")
        ids.append(t.params[table.id_name])
    rows = table.indices(ids)
    out = []
    for j, (i, t, r) in enumerate(zip(where, history, rows)):
        if r < 0:
            raise PlannerError(f"history trial {i}: {table.id_name} {ids[j]!r} is not a row of {table.path}")
        out.append(Trial({ROW: int(r)}, t.status, t.values, t.measured))
    return out


class IndexedHistory:
    """``index_history`` kept between proposals: a trial is looked up once, and stays the same inner object.

    The inner planner's ``HistorySplitter`` then sees unchanged trials as the
    same objects and re-encodes only the new or changed ones.
    """

    def __init__(self, table: PoolTable) -> None:
        self.table = table
        self._changes = ChangedTrials()
        self._inner: list[Trial] = []
        self._lock = threading.Lock()

    def __call__(self, history: Sequence[Trial]) -> list[Trial]:
        with self._lock:
            trials, positions = self._changes.changed(history)
            fresh = index_history(self.table, [trials[i] for i in positions], positions)
            inner = self._inner[: len(trials)]
            inner.extend([None] * (len(trials) - len(inner)))  # type: ignore[list-item]  # filled just below
            for i, t in zip(positions, fresh):
                inner[i] = t
            self._inner = inner
            self._changes.commit(trials)
            return list(inner)


def taken_rows(table: PoolTable, points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points already used (parameter dicts with ids) as index-space points; ids the pool lacks are skipped."""
    ids = [p.get(table.id_name) for p in points]
    return [{ROW: int(r)} for r in table.indices(ids) if r >= 0]


class PoolPlanner(Planner):
    """A planner of the index space, speaking ids and parameter values to the agent."""

    def __init__(self, inner_cls: type[Planner], space: Space, objectives: Sequence[Objective], seed: int = 0,
                 **options: Any) -> None:
        if space.candidates is None:
            raise PlannerError("PoolPlanner needs a space with a candidate table")
        super().__init__(space, objectives, seed, **options)
        self.table = space.candidates
        self.inner = inner_cls(index_space(self.table), objectives, seed=seed, **options)
        self.name = self.inner.name
        self._indexed = IndexedHistory(self.table)
        self.needs_measured = self.inner.needs_measured

    def propose(self, history: Sequence[Trial], k: int = 1) -> list[Proposal]:
        proposals = self.inner.propose(self._indexed(history), k)
        return [Proposal(self.table.point(int(p.params[ROW])), p.score, p.note, p.predicted) for p in proposals]

    def observe(self, trials: Sequence[Trial]) -> None:
        self.inner.observe(index_history(self.table, trials))

    def state(self) -> Any:
        return self.inner.state()

    def load_state(self, state: Any) -> None:
        self.inner.load_state(state)

    def __getattr__(self, name: str) -> Any:  # planner-specific attributes (done, cv_rmse, last_fit) of the inner one
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def initial_pool_design(space: Space, n: int, seed: int, taken: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A space-filling set of ``n`` unused pool rows (maximin over the model features), as id + parameters."""
    from labpilot.planners.random_planner import initial_design

    table = space.candidates
    assert table is not None
    picks = initial_design(index_space(table), n, seed, taken=taken_rows(table, taken))
    return [table.point(int(p[ROW])) for p in picks]
