"""Prior data for transfer learning: an earlier campaign or a table, mapped onto this campaign.

A campaign may name data it did not measure itself (``[[prior]]`` in the
campaign file, ``--prior`` in ``labpilot backtest``): a table (CSV or Parquet)
or the SQLite store of an earlier labpilot campaign, plus how its columns map
onto this campaign's parameters and objectives::

    [[prior]]
    name = "2025 furnace"                 # optional; default: the file's name
    source = "runs/furnace_2025.db"       # .csv, .parquet or a labpilot store
    columns = { T_anneal = "temperature", Hc = "coercivity" }

``columns`` maps a *source* column to *this* campaign's parameter or
objective; a parameter or objective that no entry maps is looked up in the
source under its own name. Every parameter and every objective must be
covered (a planner cannot place a row it cannot locate), so a missing one is a
``PriorError`` naming ``prior[i].columns`` and the columns the source has.

* **Tables**: CSV as ``planners.pool.read_table`` reads it (UTF-8, BOM
  allowed, header row), or Parquet (read with pyarrow).
* **Stores**: the completed experiments of a labpilot campaign database,
  opened read-only (never locked or changed); its columns are the earlier
  campaign's parameter names and measured scalar names. The file is read with
  ``sqlite3`` directly: the planners never import the agent.
* **Rows** whose objective is missing or not finite, whose categorical value is
  not one of this campaign's choices, or whose numeric values lie outside this
  campaign's bounds are left out and counted (``PriorData.dropped``); an entry
  with fewer than ``MIN_ROWS`` usable rows is an error.

``PriorData`` holds rows in the planners' row encoding (``Space.to_row``) and
objective values in their own units; the planner (``planners.transfer``)
decides whether to trust them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from pydantic import Field

from labpilot.errors import PriorError, TableError
from labpilot.planners.space import CategoricalParam, IntegerParam, Objective, Space
from labpilot.protocols.strict import Strict

#: An entry needs at least this many usable rows.
MIN_ROWS = 2
#: File suffixes read as Parquet; ``.db``/``.sqlite``/``.sqlite3`` and any file
#: starting with SQLite's magic bytes are stores; everything else is CSV.
PARQUET_SUFFIXES = (".parquet", ".pq")
SQLITE_MAGIC = b"SQLite format 3\x00"


class PriorSpec(Strict):
    """One ``[[prior]]`` entry of a campaign file."""

    source: str = Field(min_length=1, max_length=4096)
    """A CSV or Parquet table, or an earlier campaign's store (its ``.db`` file)."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Source column -> this campaign's parameter or objective (unmapped names match themselves)."""
    name: str | None = Field(None, min_length=1, max_length=200)
    """A label for notes and reports (default: the source's file name)."""


@dataclass(frozen=True)
class PriorData:
    """One prior source, mapped onto a space: rows ``x`` (n, dim) and objective values ``y`` (n, m)."""

    name: str
    source: str
    x: np.ndarray
    y: np.ndarray
    objectives: tuple[str, ...]
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.y)


def _field(index: int, spec: PriorSpec, key: str) -> str:
    label = f"({spec.name})" if spec.name else ""
    return f"prior[{index}]{label}.{key}"


def _read_source(path: Path, where: str) -> dict[str, list[Any]]:
    """The source as columns of raw values (strings, numbers or None)."""
    if not path.is_file():
        raise PriorError(where, f"{str(path)!r}: no such file")
    with path.open("rb") as fh:
        magic = fh.read(len(SQLITE_MAGIC))
    if magic == SQLITE_MAGIC:
        return _read_store(path, where)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        try:
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is a dependency where Parquet is used
            raise PriorError(where, f"{str(path)!r}: reading Parquet needs pyarrow, which is not installed") from None
        try:
            return {k: list(v) for k, v in pq.read_table(path).to_pydict().items()}
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise PriorError(where, f"{str(path)!r} is not a readable Parquet file ({exc})") from None
    from labpilot.planners.pool import read_table

    try:
        table = read_table(path)
    except TableError as exc:
        raise PriorError(where, str(exc)) from None
    return {name: [row[j] for row in table.rows] for j, name in enumerate(table.header)}


def _read_store(path: Path, where: str) -> dict[str, list[Any]]:
    """Completed experiments of a labpilot store: parameters and measured scalars, one row each."""
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise PriorError(where, f"{str(path)!r} cannot be opened read-only ({exc})") from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"experiments", "measurements", "meta"} <= tables:
            raise PriorError(where, f"{str(path)!r} is an SQLite file but not a labpilot campaign store")
        scalars: dict[int, dict[str, float]] = {}
        for eid, name, value in conn.execute(
                "SELECT experiment_id, name, value FROM measurements WHERE value IS NOT NULL"):
            scalars.setdefault(eid, {})[name] = value
        records = []
        for eid, params in conn.execute("SELECT id, params FROM experiments WHERE status='completed' ORDER BY id"):
            records.append({**json.loads(params), **scalars.get(eid, {})})
    except sqlite3.Error as exc:
        raise PriorError(where, f"{str(path)!r} cannot be read as a labpilot store ({exc})") from None
    finally:
        conn.close()
    if not records:
        raise PriorError(where, f"{str(path)!r} holds no completed experiments")
    names = sorted({k for r in records for k in r})
    return {n: [r.get(n) for r in records] for n in names}


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return float("nan")
    try:
        return float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return float("nan")


def load_prior(spec: PriorSpec | Mapping[str, Any], space: Space, objectives: Sequence[Objective],
               index: int = 0) -> PriorData:
    """Read one prior source and map it onto ``space`` and ``objectives`` (see the module docstring)."""
    if not isinstance(spec, PriorSpec):
        from pydantic import ValidationError

        try:
            spec = PriorSpec.model_validate(dict(spec))
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "(entry)"
            raise PriorError(f"prior[{index}].{key}", err["msg"]) from None
    path = Path(spec.source)
    cols = _read_source(path, _field(index, spec, "source"))
    where = _field(index, spec, "columns")
    targets = set(space.names) | {o.name for o in objectives}
    by_target: dict[str, str] = {}
    for src, dst in spec.columns.items():
        if dst not in targets:
            raise PriorError(f"{where}.{src}", f"maps to {dst!r}, which is neither a parameter "
                                               f"nor an objective; those are {sorted(targets)}")
        if src not in cols:
            raise PriorError(f"{where}.{src}", f"{str(path)!r} has no column {src!r}; its columns are {sorted(cols)}")
        if dst in by_target:
            raise PriorError(f"{where}.{src}", f"{dst!r} is mapped twice ({by_target[dst]!r} and {src!r})")
        by_target[dst] = src
    missing = [t for t in [*space.names, *(o.name for o in objectives)] if t not in by_target and t not in cols]
    if missing:
        raise PriorError(where, f"{str(path)!r} covers no column for {missing}; map them from its columns "
                                f"{sorted(cols)}")
    n = len(next(iter(cols.values()))) if cols else 0
    ok = np.ones(n, dtype=bool)
    x = np.zeros((n, space.dim))
    for j, p in enumerate(space.params):
        raw = cols[by_target.get(p.name, p.name)]
        if isinstance(p, CategoricalParam):
            lookup = {c: i for i, c in enumerate(p.choices)}
            idx = [lookup.get(str(v).strip()) if v is not None else None for v in raw]
            ok &= np.array([i is not None for i in idx])
            x[:, j] = [i if i is not None else 0 for i in idx]
            continue
        vals = np.array([_number(v) for v in raw])
        tol = 1e-9 * max(1.0, abs(p.high - p.low))
        good = np.isfinite(vals) & (vals >= p.low - tol) & (vals <= p.high + tol)
        if isinstance(p, IntegerParam):
            good &= np.isclose(vals, np.round(vals))
        ok &= good
        x[:, j] = np.where(good, vals, p.low)
    y = np.zeros((n, len(objectives)))
    for j, o in enumerate(objectives):
        vals = np.array([_number(v) for v in cols[by_target.get(o.name, o.name)]])
        ok &= np.isfinite(vals)
        y[:, j] = np.where(np.isfinite(vals), vals, 0.0)
    if ok.sum() < MIN_ROWS:
        raise PriorError(_field(index, spec, "source"),
                         f"{str(path)!r} has {int(ok.sum())} usable row(s) of {n} (a finite objective and every "
                         f"parameter inside this campaign's bounds and choices); at least {MIN_ROWS} are needed")
    return PriorData(spec.name or path.name, str(path), x[ok], y[ok], tuple(o.name for o in objectives),
                     int(n - ok.sum()))


def load_priors(specs: Sequence[PriorSpec | Mapping[str, Any]], space: Space,
                objectives: Sequence[Objective]) -> list[PriorData]:
    """Every ``[[prior]]`` entry, mapped (``load_prior``); names must be unique."""
    out = [load_prior(s, space, objectives, i) for i, s in enumerate(specs)]
    names = [p.name for p in out]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise PriorError(f"prior[{i}].name", f"two prior entries are called {name!r}; give each its own name")
    return out
