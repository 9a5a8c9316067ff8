"""A campaign's candidate pool: a CSV or Parquet table read with pyarrow, in bounded memory.

``[space] pool`` names a file with one row per candidate (a polymer, a
molecule, a composition already on a plate). ``read_pool`` reads it once:

* the **id column** (``space.id_column``): unique, never empty; kept as one
  pyarrow array (int64 or string), so a million ids are not a million Python
  objects; ids are looked up vectorized (``pyarrow.compute.index_in``);
* the **parameter columns** (the campaign's ``[[parameters]]``): what the
  instruments receive, checked against their bounds/choices/simplexes, as a
  float64 ``(n, dim)`` array (categoricals: the choice index);
* the **descriptor columns** (``space.descriptors``, fnmatch patterns) and the
  columns a **featurizer** computes from the parameters: what the model sees,
  one float32 ``(n, f)`` array scaled column-wise to [0, 1].

Files are streamed batch by batch (pyarrow's CSV reader converts numbers in
C++; the ``csv`` module would hold every cell as a Python string): the
descriptor array is allocated once (Parquet: its row count, from the
metadata; CSV: an estimate from the first batch, with room to spare that costs
no memory until filled, so the file is read once) and filled in place, so a
10^6 x 200 pool peaks near its 800 MB of float32 (``benchmarks/pool_memory.py``). A bad file is refused with a
``PoolError`` naming the campaign field and, for a bad cell, the file, data
row (1-based, header excluded) and column.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from labpilot.errors import ConfigurationError, PoolError
from labpilot.planners.space import CategoricalParam, IntegerParam, Space

#: Rows per streamed batch (CSV: bytes per block).
BATCH_ROWS = 65_536
CSV_BLOCK_BYTES = 1 << 24
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")

Featurizer = Callable[[np.ndarray, Sequence[str]], np.ndarray]
"""``featurizer(values (n, p) float64, parameter names) -> (n, q) float array``, called per batch."""


@dataclass(eq=False)
class PoolTable:
    """A candidate pool: row ids, parameter rows, model features."""

    path: Path
    id_name: str
    ids: Any  # pyarrow.Array (int64 or string), one chunk
    rows: np.ndarray  # (n, dim) float64, parameter order
    space: Space  # the parameters the rows hold (no pool)
    features: np.ndarray | None = None  # (n, f) float32 in [0, 1]
    feature_names: tuple[str, ...] = ()
    feature_low: np.ndarray | None = None  # raw minimum per feature column
    feature_span: np.ndarray | None = None  # raw max - min (1 where constant)

    def __len__(self) -> int:
        return len(self.ids)

    def id_at(self, i: int) -> Any:
        """Row ``i``'s id as a plain Python value (int or str), as the journal records it."""
        return self.ids[int(i)].as_py()

    def indices(self, ids: Sequence[Any]) -> np.ndarray:
        """Row index of each id (-1 where the pool has no such id), vectorized."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if not len(ids):
            return np.zeros(0, dtype=np.int64)
        want = pa.array([_coerce_id(v, self.ids.type) for v in ids], type=self.ids.type)
        found = pc.index_in(want, value_set=self.ids)
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def point(self, i: int) -> dict[str, Any]:
        """Row ``i`` as the instruments receive it: the id, then the parameter values."""
        return {self.id_name: self.id_at(i), **self.space.to_point(self.rows[int(i)])}

    def contains(self, point: dict[str, Any]) -> list[str]:
        """Why ``point`` is not a row of this pool (empty when it is)."""
        if self.id_name not in point:
            return [f"{self.id_name}: missing (the pool's id column)"]
        i = int(self.indices([point[self.id_name]])[0])
        if i < 0:
            return [f"{self.id_name}: {point[self.id_name]!r} is not a row of {self.path.name}"]
        row = self.point(i)
        problems = [f"{k}: not a column of the pool's parameters" for k in sorted(set(point) - set(row))]
        for name in self.space.names:
            if name in point and not _same(point[name], row[name]):
                problems.append(f"{name}: {point[name]!r} is not row {row[self.id_name]!r}'s value {row[name]!r}")
        return problems


def _same(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return str(a) == str(b)


def _coerce_id(value: Any, typ: Any) -> Any:
    """An id as the pool's id type holds it (ints in a string column compare as text, and back)."""
    import pyarrow as pa

    if pa.types.is_integer(typ):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    return None if value is None else str(value)


# ---------------------------------------------------------------- featurizers


def elements_featurizer(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Element-property descriptors of compositions whose parameters are element fractions (``Fe``, ``x_Co``)."""
    from labpilot.planners.descriptors import composition_descriptors
    from labpilot.planners.elements import element_mapping

    mapping = element_mapping(list(names))
    return composition_descriptors(values, [mapping[n] for n in names])


BUILTIN_FEATURIZERS: dict[str, Featurizer] = {"elements": elements_featurizer}


def featurizer_names(name: str, names: Sequence[str], q: int) -> list[str]:
    """Column names of a featurizer's output."""
    if name == "elements":
        from labpilot.planners.descriptors import descriptor_names

        out = descriptor_names()
        if len(out) == q:
            return out
    return [f"{name.rpartition(':')[2]}_{j}" for j in range(q)]


def resolve_featurizer(name: str, base: Path | None = None) -> Featurizer:
    """A built-in featurizer (``elements``), or ``module:function`` / ``file.py:function`` (file relative to ``base``)."""
    if name in BUILTIN_FEATURIZERS:
        return BUILTIN_FEATURIZERS[name]
    if ":" not in name:
        raise PoolError("space.featurizer", f"unknown featurizer {name!r}: use one of "
                        f"{sorted(BUILTIN_FEATURIZERS)}, module:function or file.py:function")
    from labpilot.drivers.generic.python import resolve_function

    module, _, attr = name.rpartition(":")
    if (module.endswith(".py") or "/" in module) and base is not None and not Path(module).is_absolute():
        module = str(base / module)
    try:
        return resolve_function(f"{module}:{attr}", option="space.featurizer")
    except ConfigurationError as exc:
        raise PoolError("space.featurizer", str(exc).removeprefix("space.featurizer = ")) from None


# ---------------------------------------------------------------- reading


def read_pool(
    path: str | Path,
    id_column: str,
    space: Space,
    descriptors: Sequence[str] = (),
    featurizer: str | None = None,
    base: str | Path | None = None,
) -> PoolTable:
    """Read and check a candidate pool (see the module docstring); ``path`` relative to ``base``.

    Cached by (file, size, modification time, arguments): the agent asks for
    the campaign's space more than once, and a large pool is read once.
    """
    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    if not p.is_file():
        raise PoolError("space.pool", f"{p}: no such file")
    st = p.stat()
    return _read_cached(str(p.resolve()), st.st_size, st.st_mtime_ns, id_column, space,
                        tuple(descriptors), featurizer, str(base) if base is not None else None)


@lru_cache(maxsize=2)  # a 10^6 x 200 pool is ~800 MB: keep few
def _read_cached(path: str, size: int, mtime: int, id_column: str, space: Space,
                 descriptors: tuple[str, ...], featurizer: str | None, base: str | None) -> PoolTable:
    return _read(Path(path), id_column, space, descriptors, featurizer, Path(base) if base else None)


def _columns(path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    try:
        if _is_parquet(path):
            return list(pq.ParquetFile(path).schema_arrow.names)
        with pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 20)) as reader:
            return list(reader.schema.names)
    except (pa.ArrowException, OSError) as exc:
        raise PoolError("space.pool", f"{path}: cannot be read as {'Parquet' if _is_parquet(path) else 'CSV'}: "
                        f"{_first_line(exc)}") from None


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def descriptor_columns(path: Path, header: Sequence[str], patterns: Sequence[str], exclude: Sequence[str] = (),
                       field_name: str = "space.descriptors") -> list[str]:
    """Columns matching the fnmatch ``patterns``, in file order; a pattern matching nothing names itself."""
    chosen: list[str] = []
    for i, pat in enumerate(patterns):
        hits = [c for c in header if fnmatch.fnmatchcase(c, pat) and c not in exclude]
        if not hits:
            raise PoolError(f"{field_name}[{i}]", f"{pat!r} matches no column of {path.name} "
                            f"(columns: {_preview(header)})")
        chosen += [c for c in hits if c not in chosen]
    return [c for c in header if c in chosen]


def _preview(names: Sequence[str], n: int = 12) -> str:
    shown = ", ".join(names[:n])
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


def _parquet_rows(path: Path) -> int | None:
    """A Parquet file's row count, from its metadata (no data read); None for a CSV (its rows are not known ahead)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows if _is_parquet(path) else None


def _csv_capacity(path: Path, first_rows: int, n_columns: int) -> int:
    """Rows to make room for in a CSV, from its first batch (one ``CSV_BLOCK_BYTES`` block), without reading on.

    The estimate scales the first block's rows to the file's size, with 50 %
    to spare; it never exceeds the hard bound (a row is at least one byte per
    column: its separators and newline). Room that is never filled costs no
    memory (``np.empty`` pages are not resident until written); a file whose
    later rows are much shorter than its first grows its arrays (``_room``).
    """
    size = path.stat().st_size
    estimate = first_rows * size / max(1, min(size, CSV_BLOCK_BYTES))
    bound = size // max(1, n_columns) + 1
    return int(max(first_rows, min(bound, 1.5 * estimate + 16)))


def _room(arr: np.ndarray, off: int, b: int) -> np.ndarray:
    """``arr`` with room for rows ``off:off + b``: itself, or a copy 1.5x larger (rare: see ``_csv_capacity``)."""
    if off + b <= len(arr):
        return arr
    out = np.empty((max(off + b, int(len(arr) * 1.5) + 1),) + arr.shape[1:], dtype=arr.dtype)
    out[:off] = arr[:off]
    return out


def _batches(path: Path, columns: list[str], types: dict[str, Any], names: Sequence[str] | None = None,
             header: bool = True):
    """Record batches of ``columns`` (CSV: with the given column types), streamed.

    ``names`` (CSV only) names the file's columns: the first line is then
    skipped when ``header``, else read as data.
    """
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if _is_parquet(path):
        pf = pq.ParquetFile(path, pre_buffer=False)
        for i in range(pf.num_row_groups):
            yield _RowGroup(pf, i, columns)
        return
    convert = pcsv.ConvertOptions(include_columns=columns, column_types=types)
    read = pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    if names is not None:
        read = pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES, column_names=list(names), skip_rows=1 if header else 0)
    with pcsv.open_csv(path, read_options=read, convert_options=convert) as reader:
        yield from reader


#: Columns a Parquet row group is decoded in at once: each column chunk may carry a dictionary page of up to
#: 1 MB (random floats: written dictionary-first), so all 200 at once cost ~3x the float32 data.
PARQUET_COLUMN_GROUP = 16


class _RowGroup:
    """One Parquet row group, decoded ``PARQUET_COLUMN_GROUP`` columns at a time as they are asked for."""

    def __init__(self, pf: Any, index: int, columns: list[str]) -> None:
        self.pf, self.index, self.columns = pf, index, columns
        self.num_rows = pf.metadata.row_group(index).num_rows
        self._cache: dict[str, Any] = {}

    def column(self, name: str) -> Any:
        if name not in self._cache:
            k = self.columns.index(name)
            group = self.columns[k:k + PARQUET_COLUMN_GROUP]
            table = self.pf.read_row_group(self.index, columns=group, use_threads=False)
            self._cache = {c: table.column(c).combine_chunks() for c in group}
        return self._cache[name]


def read_descriptors(path: str | Path, patterns: Sequence[str], exclude: Sequence[str] = (),
                     names: Sequence[str] | None = None, header: bool = True,
                     field_name: str = "descriptors") -> tuple[list[str], np.ndarray]:
    """The columns matching ``patterns`` as a raw float32 ``(n, f)`` array, with the pool reader's checks.

    For tables read elsewhere too (``planners.backtest``): ``names`` are the
    column names that reader settled on (a renamed header, or a file without
    one), so both agree on the columns and, row for row, on the data.
    """
    import pyarrow as pa

    p = Path(path)
    if not p.is_file():
        raise PoolError(field_name, f"{p}: no such file")
    header_names = list(names) if names is not None else _columns(p)
    desc = descriptor_columns(p, header_names, patterns, exclude=exclude, field_name=field_name)
    out: np.ndarray | None = None
    off = 0
    try:
        for batch in _batches(p, desc, {d: pa.float32() for d in desc}, names, header):
            if out is None:
                cap = _parquet_rows(p) or _csv_capacity(p, batch.num_rows, len(header_names))
                out = np.empty((cap, len(desc)), dtype=np.float32)
            out = _room(out, off, batch.num_rows)
            for j, name in enumerate(desc):
                out[off:off + batch.num_rows, j] = _descriptor_values(p, batch.column(name), name, off, field_name)
            off += batch.num_rows
    except pa.ArrowInvalid as exc:
        import re

        m = re.search(r"column #(\d+)", str(exc))
        k = int(m.group(1)) if m else -1
        if 0 <= k < len(header_names) and header_names[k] in desc:
            _locate_bad_cell(p, header_names[k], field_name, exc, names, header)
        raise PoolError(field_name, f"{p}: {_first_line(exc)}") from None
    return desc, (out[:off] if out is not None else np.empty((0, len(desc)), dtype=np.float32))


def _read(path: Path, id_column: str, space: Space, patterns: tuple[str, ...], featurizer: str | None,
          base: Path | None) -> PoolTable:
    import pyarrow as pa

    header = _columns(path)
    if id_column not in header:
        raise PoolError("space.id_column", f"{id_column!r} is not a column of {path.name} (columns: {_preview(header)})")
    for k, prm in enumerate(space.params):
        if prm.name not in header:
            raise PoolError(f"parameters[{k}]({prm.name})", f"{path.name} has no column {prm.name!r} "
                            f"(columns: {_preview(header)})")
    desc = descriptor_columns(path, header, patterns, exclude=[id_column]) if patterns else []
    feat_fn = resolve_featurizer(featurizer, base) if featurizer else None
    if feat_fn is not None and any(isinstance(p, CategoricalParam) for p in space.params):
        raise PoolError("space.featurizer", "a featurizer computes descriptors from numeric parameters; "
                        f"{[p.name for p in space.params if isinstance(p, CategoricalParam)]} are categorical")
    if feat_fn is not None and not space.params:
        raise PoolError("space.featurizer", "a featurizer computes descriptors from the [[parameters]]; there are none")
    params = [p.name for p in space.params]
    types: dict[str, Any] = {d: pa.float32() for d in desc if d not in params}
    for p in space.params:
        types[p.name] = pa.string() if isinstance(p, CategoricalParam) else pa.float64()
    columns = [id_column] + [c for c in params if c != id_column] + [d for d in desc if d not in params and d != id_column]
    try:
        return _fill(path, id_column, space, desc, feat_fn, featurizer, columns, types, len(header))
    except _IdTypeRetry:
        return _fill(path, id_column, space, desc, feat_fn, featurizer, columns, {**types, id_column: pa.string()},
                     len(header))


class _IdTypeRetry(Exception):
    """The id column's type, inferred from the first block, does not fit a later one: read it as text."""


def _fill(path: Path, id_column: str, space: Space, desc: list[str], feat_fn: Featurizer | None,
          featurizer: str | None, columns: list[str], types: dict[str, Any], n_columns: int) -> PoolTable:
    import pyarrow as pa
    import pyarrow.compute as pc

    n_desc = len(desc)
    feats: np.ndarray | None = None
    n_feat = n_desc
    rows: np.ndarray | None = None
    id_chunks: list[Any] = []
    names: list[str] = list(desc)
    off = 0
    try:
        for batch in _batches(path, columns, types):
            b = batch.num_rows
            if rows is None:  # one pass: Parquet says its rows, a CSV's are estimated from this first batch
                cap = _parquet_rows(path) or _csv_capacity(path, b, n_columns)
                rows = np.empty((cap, space.dim))
            rows = _room(rows, off, b)
            feats = _room(feats, off, b) if feats is not None else None
            cap = len(rows)
            ids = batch.column(id_column)
            if not (pa.types.is_integer(ids.type) or pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
                ids = ids.cast(pa.string())
            empty = ids.is_null() if pa.types.is_integer(ids.type) else pc.or_kleene(
                ids.is_null(), pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(ids)), 0))
            if pc.any(empty).as_py():
                i = int(np.argmax(np.asarray(empty.fill_null(True).to_numpy(zero_copy_only=False))))
                raise PoolError("space.id_column", f"{path.name}, row {off + i + 1}, column {id_column!r}: the id is empty")
            id_chunks.append(ids)
            block = rows[off:off + b]
            for j, p in enumerate(space.params):
                block[:, j] = _param_values(path, batch.column(p.name), p, off, j, space)
            if feat_fn is not None:
                extra = _featurize(feat_fn, block, space.names, path, off)
                if feats is None:
                    n_feat = n_desc + extra.shape[1]
                    names += featurizer_names(featurizer or "", space.names, extra.shape[1])
                    feats = np.empty((cap, n_feat), dtype=np.float32)
                feats[off:off + b, n_desc:] = extra
            elif feats is None and n_desc:
                feats = np.empty((cap, n_feat), dtype=np.float32)
            for j, name in enumerate(desc):
                feats[off:off + b, j] = _descriptor_values(path, batch.column(name), name, off)  # type: ignore[index]
            off += b
    except pa.ArrowInvalid as exc:
        _explain(path, exc, columns, id_column, types, space)
        raise
    if off == 0 or rows is None:
        raise PoolError("space.pool", f"{path}: the file has no data rows")
    ids = pa.chunked_array(id_chunks).combine_chunks() if len(id_chunks) > 1 else id_chunks[0]
    _check_unique(path, ids, id_column)
    rows = rows[:off]
    _check_simplex(path, space, rows)
    low = span = None
    if feats is not None:
        feats = feats[:off]
        low, span = scale_in_place(feats)
    return PoolTable(path=path, id_name=id_column, ids=ids, rows=rows, space=space, features=feats,
                     feature_names=tuple(names), feature_low=low, feature_span=span)


def _featurize(fn: Featurizer, block: np.ndarray, names: list[str], path: Path, off: int) -> np.ndarray:
    try:
        out = np.asarray(fn(np.array(block), list(names)), dtype=np.float32)
    except PoolError:
        raise
    except Exception as exc:  # a plug-in featurizer: any error is the plug-in's
        raise PoolError("space.featurizer", f"failed on rows {off + 1}..{off + len(block)} of {path.name}: "
                        f"{type(exc).__name__}: {_first_line(exc)}") from None
    if out.ndim != 2 or out.shape[0] != len(block) or out.shape[1] < 1:
        raise PoolError("space.featurizer", f"must return an (n, q) array for n = {len(block)} rows, got shape {out.shape}")
    bad = ~np.isfinite(out)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise PoolError("space.featurizer", f"{path.name}, row {off + int(i) + 1}: descriptor {int(j)} is not finite")
    return out


def _descriptor_values(path: Path, col: Any, name: str, off: int, field_name: str = "space.descriptors") -> np.ndarray:
    """A descriptor column of one batch as float32; an empty, non-numeric or non-finite cell names its row."""
    import pyarrow as pa

    if col.null_count:
        i = int(np.argmax(np.asarray(col.is_null().to_numpy(zero_copy_only=False))))
        raise PoolError(field_name, f"{path.name}, row {off + i + 1}, column {name!r}: "
                        "empty or NaN (a descriptor needs a finite number)")
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type)):
        _raise_bad_text(path, col.to_pylist(), name, off, field_name)
    values = col.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise PoolError(field_name, f"{path.name}, row {off + i + 1}, column {name!r}: "
                        f"{float(values[i])!r} is not finite")
    return values


def _raise_bad_text(path: Path, cells: list, name: str, off: int, field_name: str) -> None:
    for i, cell in enumerate(cells):
        try:
            v = float(cell)
        except (TypeError, ValueError):
            raise PoolError(field_name, f"{path.name}, row {off + i + 1}, column {name!r}: {cell!r} is not a number") from None
        if not np.isfinite(v):
            raise PoolError(field_name, f"{path.name}, row {off + i + 1}, column {name!r}: {cell!r} is not finite")
    raise PoolError(field_name, f"{path.name}, column {name!r}: not a numeric column")


def _param_values(path: Path, col: Any, p: Any, off: int, j: int, space: Space) -> np.ndarray:
    """One parameter column of a batch, checked like ``planners.pool.load_pool`` (choices, bounds, integers)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    where = f"parameters[{j}]({p.name})"
    if col.null_count:
        i = int(np.argmax(np.asarray(col.is_null().to_numpy(zero_copy_only=False))))
        raise PoolError(where, f"{path.name}, row {off + i + 1}, column {p.name!r}: empty")
    if isinstance(p, CategoricalParam):
        text = pc.utf8_trim_whitespace(col.cast(pa.string()))
        idx = pc.index_in(text, value_set=pa.array(list(p.choices)))
        if idx.null_count:
            i = int(np.argmax(np.asarray(idx.is_null().to_numpy(zero_copy_only=False))))
            raise PoolError(where, f"{path.name}, row {off + i + 1}, column {p.name!r}: "
                            f"{text[i].as_py()!r} is not one of {list(p.choices)}")
        return idx.to_numpy(zero_copy_only=False).astype(float)
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        _raise_bad_text(path, col.to_pylist(), p.name, off, where)
    values = col.to_numpy(zero_copy_only=False).astype(float)
    tol = 1e-9 * max(1.0, abs(p.high - p.low))
    for bad, what, bound in ((~np.isfinite(values), "not finite", None), (values < p.low - tol, "below the lower bound", p.low),
                             (values > p.high + tol, "above the upper bound", p.high)):
        if bad.any():
            i = int(np.argmax(bad))
            said = what if bound is None else f"{what} {bound:g}"
            raise PoolError(where, f"{path.name}, row {off + i + 1}, column {p.name!r}: {values[i]:g} is {said}")
    if isinstance(p, IntegerParam):
        frac = values != np.round(values)
        if frac.any():
            i = int(np.argmax(frac))
            raise PoolError(where, f"{path.name}, row {off + i + 1}, column {p.name!r}: {values[i]:g} is not an integer")
    return values


def _check_simplex(path: Path, space: Space, rows: np.ndarray) -> None:
    for k, c in enumerate(space.simplex):
        idx = [space.names.index(n) for n in c.names]
        sums = rows[:, idx].sum(axis=1)
        off = np.abs(sums - c.total) > 1e-4 * max(1.0, abs(c.total))
        if off.any():
            i = int(np.argmax(off))
            raise PoolError(f"constraints[{k}]", f"{path.name}, row {i + 1}: {'+'.join(c.names)} sums to "
                            f"{sums[i]:g}, must sum to {c.total:g}")


def _check_unique(path: Path, ids: Any, id_column: str) -> None:
    import pyarrow.compute as pc

    if pc.count_distinct(ids).as_py() == len(ids):
        return
    counts = pc.value_counts(ids)
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    shown = [f"{v.as_py()!r} ({c.as_py()} rows)" for v, c in zip(dup.field("values")[:5], dup.field("counts")[:5])]
    raise PoolError("space.id_column", f"{path.name}: ids in column {id_column!r} must be unique; "
                    f"{len(dup)} repeat: {', '.join(shown)}{' ...' if len(dup) > 5 else ''}")


def scale_in_place(feats: np.ndarray, chunk: int = BATCH_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Scale each column to [0, 1] by its min and max, chunk by chunk (no float64 copy of the whole array)."""
    low = np.full(feats.shape[1], np.inf, dtype=np.float64)
    high = np.full(feats.shape[1], -np.inf, dtype=np.float64)
    for s in range(0, len(feats), chunk):
        part = feats[s:s + chunk]
        low = np.minimum(low, part.min(axis=0))
        high = np.maximum(high, part.max(axis=0))
    span = high - low
    span[span <= 0] = 1.0
    low32, inv32 = low.astype(np.float32), (1.0 / span).astype(np.float32)
    for s in range(0, len(feats), chunk):
        part = feats[s:s + chunk]
        part -= low32
        part *= inv32
    np.clip(feats, 0.0, 1.0, out=feats)
    return low, span


def _explain(path: Path, exc: Exception, columns: list[str], id_column: str, types: dict[str, Any],
             space: Space) -> None:
    """Turn pyarrow's conversion error (it names the column number, not the row) into a PoolError naming both."""
    import re

    m = re.search(r"column #(\d+)", str(exc))
    if m is None:
        raise PoolError("space.pool", f"{path}: cannot be read: {_first_line(exc)}") from None
    header = _columns(path)
    k = int(m.group(1))
    name = header[k] if k < len(header) else columns[min(k, len(columns) - 1)]
    if name == id_column and id_column not in types:
        raise _IdTypeRetry from None
    field_name = "space.descriptors"
    if name in space.names:
        field_name = f"parameters[{space.names.index(name)}]({name})"
    _locate_bad_cell(path, name, field_name, exc)


def _locate_bad_cell(path: Path, name: str, field_name: str, exc: Exception, names: Sequence[str] | None = None,
                     header: bool = True) -> None:
    """Rescan column ``name`` as text (one batch at a time) for the first cell that is not a number; raise naming it."""
    import pyarrow as pa

    off = 0
    for batch in _batches(path, [name], {name: pa.string()}, names, header):
        cells = batch.column(name).to_pylist()
        for i, cell in enumerate(cells):
            try:
                float(cell)
            except (TypeError, ValueError):
                raise PoolError(field_name, f"{path.name}, row {off + i + 1}, column {name!r}: {cell!r} is not a number") from None
        off += batch.num_rows
    raise PoolError(field_name, f"{path.name}, column {name!r}: {_first_line(exc)}") from None
