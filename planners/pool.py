"""Load a discrete candidate pool (and other tables) from CSV files.

A lab's candidates usually live in a spreadsheet: one row per candidate, one
column per parameter. ``load_pool`` reads such a file into the float array that
``Space.pool`` holds (columns in parameter order, categoricals as the index of
the choice), and refuses a bad file with a message that names the file, the
line and the column: a missing column, a value that is not a number or not one
of the choices, a value outside the parameter's bounds, a composition that does
not sum to its total, an empty file. Files written by Excel start with a UTF-8
byte-order mark; it is stripped. ``read_table`` is the shared reader (also used
by ``planners.backtest``).
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from labpilot.errors import TableError
from labpilot.planners.random_planner import sample_space
from labpilot.planners.space import CategoricalParam, IntegerParam, Space


@dataclass
class Table:
    """A CSV file as text cells: ``header`` names and ``rows`` with their file line numbers."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column_index(self, name: str) -> int:
        """Position of column ``name`` (exact, then case-insensitive), or a TableError listing the columns."""
        if name in self.header:
            return self.header.index(name)
        lowered = [h.lower() for h in self.header]
        if name.lower() in lowered:
            return lowered.index(name.lower())
        raise TableError(f"{self.path}: no column named {name!r}; the columns are {self.header}")

    def numeric(self, col: int) -> np.ndarray:
        """Column ``col`` as floats; a cell that is not a finite number is an error naming line and column."""
        out = np.empty(len(self.rows))
        for i, (row, line) in enumerate(zip(self.rows, self.lines)):
            cell = row[col].strip()
            try:
                out[i] = float(cell)
            except ValueError:
                raise TableError(
                    f"{self.path}, line {line}, column {self.header[col]!r}: {cell!r} is not a number"
                ) from None
            if not np.isfinite(out[i]):
                raise TableError(f"{self.path}, line {line}, column {self.header[col]!r}: {cell!r} is not finite")
        return out

    def is_numeric(self, col: int) -> bool:
        """True when every cell of column ``col`` parses as a finite number."""
        try:
            self.numeric(col)
        except TableError:
            return False
        return True


def read_table(
    path: str | Path,
    *,
    header: bool = True,
    columns: Sequence[str] | None = None,
) -> Table:
    """Read a comma-separated file (UTF-8, with or without a byte-order mark).

    ``header=False`` means the first line is data; columns are then named by
    ``columns`` if given, else ``"0"``, ``"1"``, ... ``columns`` given with a
    header renames the columns. Blank lines are skipped; a row with a different
    number of cells than the header is an error naming its line.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise TableError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    records = [
        (line_no, row)
        for line_no, row in enumerate(csv.reader(text.splitlines()), start=1)
        if any(cell.strip() for cell in row)
    ]
    if not records:
        raise TableError(f"{path}: the file is empty")
    if header:
        head = [h.strip() for h in records[0][1]]
        records = records[1:]
    else:
        head = [str(i) for i in range(len(records[0][1]))]
    if columns is not None:
        columns = [c.strip() for c in columns]
        if len(columns) != len(head):
            raise TableError(f"{path}: {len(columns)} column names given ({columns}) but the file has {len(head)} columns")
        head = columns
    if len(set(head)) != len(head):
        dup = sorted({h for h in head if head.count(h) > 1})
        raise TableError(f"{path}: duplicate column names {dup}")
    if not records:
        raise TableError(f"{path}: the file has a header but no data rows")
    for line_no, row in records:
        if len(row) != len(head):
            raise TableError(f"{path}, line {line_no}: {len(row)} cells, but there are {len(head)} columns {head}")
    return Table(path=path, header=head, rows=[r for _, r in records], lines=[n for n, _ in records])


def load_pool(
    path: str | Path,
    space: Space,
    *,
    header: bool = True,
    columns: Sequence[str] | None = None,
) -> np.ndarray:
    """Read the candidate pool for ``space`` from a CSV: one row per candidate.

    Every parameter needs a column of the same name (extra columns are ignored).
    Returns a ``(n, space.dim)`` float array in parameter order.
    """
    table = read_table(path, header=header, columns=columns)
    missing = []
    cols = []
    for p in space.params:
        try:
            cols.append(table.column_index(p.name))
        except TableError:
            missing.append(p.name)
    if missing:
        raise TableError(f"{table.path}: missing columns {missing} for parameters; the file has {table.header}")
    pool = np.empty((len(table.rows), space.dim))
    for j, (p, col) in enumerate(zip(space.params, cols)):
        if isinstance(p, CategoricalParam):
            for i, (row, line) in enumerate(zip(table.rows, table.lines)):
                cell = row[col].strip()
                if cell not in p.choices:
                    raise TableError(
                        f"{table.path}, line {line}, column {p.name!r}: {cell!r} is not one of {list(p.choices)}"
                    )
                pool[i, j] = p.choices.index(cell)
            continue
        values = table.numeric(col)
        tol = 1e-9 * max(1.0, abs(p.high - p.low))
        for check, what, bound in ((values < p.low - tol, "below the lower bound", p.low), (values > p.high + tol, "above the upper bound", p.high)):
            if check.any():
                i = int(np.argmax(check))
                raise TableError(
                    f"{table.path}, line {table.lines[i]}, column {p.name!r}: {values[i]:g} is {what} {bound:g}"
                )
        if isinstance(p, IntegerParam):
            frac = values != np.round(values)
            if frac.any():
                i = int(np.argmax(frac))
                raise TableError(f"{table.path}, line {table.lines[i]}, column {p.name!r}: {values[i]:g} is not an integer")
        pool[:, j] = values
    for c in space.simplex:
        idx = [space.names.index(n) for n in c.names]
        sums = pool[:, idx].sum(axis=1)
        off = np.abs(sums - c.total) > 1e-4 * max(1.0, abs(c.total))
        if off.any():
            i = int(np.argmax(off))
            raise TableError(
                f"{table.path}, line {table.lines[i]}: {'+'.join(c.names)} sums to {sums[i]:g}, must sum to {c.total:g}"
            )
    return pool


def with_pool(space: Space, path: str | Path, **kwargs) -> Space:
    """A copy of ``space`` whose ``pool`` is read from ``path`` (see ``load_pool``)."""
    return dataclasses.replace(space, pool=load_pool(path, space, **kwargs))


def candidate_rows(space: Space, n_candidates: int, seed: int) -> np.ndarray:
    """The candidates a pool-scoring planner ranks: the pool, else ``n_candidates`` uniform samples.

    Continuous (possibly simplex-constrained) spaces are sampled once with
    ``seed``, uniformly (``random_planner.sample_space``), so every call of a
    planner with the same seed ranks the same real, constraint-satisfying points.
    """
    if space.pool is not None:
        return np.asarray(space.pool, dtype=float)
    if int(n_candidates) < 1:
        raise ValueError(f"n_candidates must be at least 1, got {n_candidates!r}")
    return sample_space(space, int(n_candidates), np.random.default_rng(seed))
