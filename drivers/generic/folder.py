"""``folder``: a measurer that waits for the instrument's result file in a drop folder.

Many instruments (diffractometers, spectrometers, plate readers) are run by
their vendor's software, which writes one result file per sample into a
folder. This driver waits for that file and reads it; it sends nothing::

    [[instruments]]
    name = "xrd"
    kind = "folder"
    address = "/data/xrd-drop"                    # the drop folder
    [instruments.options]
    pattern = "{sample_id}*.csv"                  # a glob below the folder; {sample_id} is filled in
    format = "csv"                                # csv | xy | json
    scalars = { peak_two_theta = "deg" }
    arrays = { two_theta = "deg", counts = "1" }
    axes = ["two_theta"]
    nominal_s = 600                               # how long a scan takes; the wait limit is 3× that + timeout

Formats:

- ``csv``: a header row of column names, then rows of numbers; each declared
  array is a column; a declared scalar is a column's first value or a
  metadata line ``# name = value`` (or ``# name: value``) before the header.
- ``xy``: two numeric columns (whitespace, comma or semicolon separated),
  named by ``xy_columns``; scalars from ``# name = value`` lines.
- ``json``: one object; scalars are numbers, arrays lists of numbers.

A file is read once it has stopped changing for ``settle_s`` (a half-written
file is never parsed); when several match, the newest is taken. Measuring
the same sample again reads the same file: the step is only a read. The
driver cannot say what became of a command id (``can_reconcile = False``).
In a dry run a drop-folder simulator (``python -m labpilot.simulators
folder``) writes such files for every sample the synthesizer makes.
"""

from __future__ import annotations

import csv
import glob
import io
import logging
import math
import re
import time
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping

import numpy as np
from pydantic import Field, model_validator

from labpilot.drivers.base import DriverBase, StandIn
from labpilot.drivers.generic.templates import check_templates, parse_float
from labpilot.drivers.options import DriverOptions, validated_options
from labpilot.errors import DriverError, ProtocolError, TransportTimeout
from labpilot.protocols.capabilities import CommandOutcome, Measurement, Sample

log = logging.getLogger("labpilot.drivers.folder")

#: Largest result file read (a runaway file is refused, not loaded).
MAX_FILE_BYTES = 64 * 1024 * 1024
_META_RE = re.compile(r"#\s*([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.*?)\s*")
_SAFE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+\-]{0,79}")


class FolderOptions(DriverOptions):
    """The ``folder`` driver's options: which file, how to read it, what it holds."""

    pattern: str = Field(min_length=1)
    """The result file's glob below the folder, with ``{sample_id}`` (required: how the instrument names files)."""
    format: Literal["csv", "xy", "json"] = "csv"
    """The result file's format: csv (header row), xy (two numeric columns) or json (an object)."""
    scalars: dict[str, str] = Field(default_factory=dict)
    """The scalars the file holds, name -> unit (a `# name = value` line, a column's first value, or a JSON key)."""
    arrays: dict[str, str] = Field(default_factory=dict)
    """The arrays the file holds, name -> unit (columns, or JSON lists)."""
    axes: list[str] = Field(default_factory=list)
    """Which of the arrays are an x axis (two_theta), not a signal."""
    xy_columns: list[str] = Field(default_factory=lambda: ["x", "y"], min_length=2, max_length=2)
    """The names of an xy file's two columns."""
    delimiter: str = Field(",", min_length=1, max_length=1)
    """The csv column separator."""
    nominal_s: float = Field(600.0, gt=0, allow_inf_nan=False)
    """How long the instrument takes for one sample (its own clock), seconds."""
    settle_s: float = Field(0.2, ge=0, allow_inf_nan=False)
    """A file must not change for this long (real seconds) before it is read."""
    simulator: str = "folder"
    """The simulator standing in for the instrument in a dry run."""

    @model_validator(mode="after")
    def _consistent(self) -> "FolderOptions":
        check_templates([self.pattern], ["sample_id"], "pattern")
        if self.pattern.startswith("/") or ".." in Path(self.pattern).parts:
            raise ValueError("pattern: must stay inside the drop folder (no leading / or ..)")
        if not self.scalars and not self.arrays:
            raise ValueError("scalars: a folder measurer must declare at least one scalar or array it reads")
        both = sorted(set(self.scalars) & set(self.arrays))
        if both:
            raise ValueError(f"arrays: {both} declared as both scalar and array")
        stray = [a for a in self.axes if a not in self.arrays]
        if stray:
            raise ValueError(f"axes: {stray} are not declared arrays")
        if self.format == "xy":
            missing = [a for a in self.arrays if a not in self.xy_columns]
            if missing:
                raise ValueError(f"arrays: {missing} are not among xy_columns {list(self.xy_columns)}")
        return self


def parse_options(options: Mapping[str, Any] | None) -> FolderOptions:
    """Validate ``options``; a ``ValueError`` naming each bad option as ``options.<path>``."""
    return validated_options(FolderOptions, options)


# ----------------------------------------------------------------------------- parsing


def _metadata(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        m = _META_RE.fullmatch(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def parse_result(text: str, opts: FolderOptions, source: str) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """A result file's text → the declared scalars and arrays; ``ValueError`` naming what is missing or bad."""
    if opts.format == "json":
        return _parse_json(text, opts, source)
    lines = text.splitlines()
    meta = _metadata([ln for ln in lines if ln.lstrip().startswith("#")])
    body = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    columns: dict[str, list[str]] = {}
    if opts.format == "csv":
        rows = list(csv.reader(io.StringIO("\n".join(body)), delimiter=opts.delimiter))
        if not rows:
            raise ValueError(f"{source}: no header row")
        header = [h.strip() for h in rows[0]]
        for i, name in enumerate(header):
            columns[name] = [r[i] for r in rows[1:] if i < len(r)]
    else:
        x, y = [], []
        for n, line in enumerate(body, 1):
            parts = [p for p in re.split(r"[\s,;]+", line.strip()) if p]
            if len(parts) != 2:
                raise ValueError(f"{source}: data line {n} {line[:60]!r} does not have two columns")
            x.append(parts[0])
            y.append(parts[1])
        columns = {opts.xy_columns[0]: x, opts.xy_columns[1]: y}
    scalars: dict[str, float] = {}
    for name in opts.scalars:
        if name in meta:
            scalars[name] = parse_float(meta[name], f"{source}: scalar {name}")
        elif columns.get(name):
            scalars[name] = parse_float(columns[name][0], f"{source}: scalar {name}")
        else:
            raise ValueError(f"{source}: no scalar {name!r} (neither a '# {name} = ...' line nor a column)")
    arrays: dict[str, np.ndarray] = {}
    for name in opts.arrays:
        if name not in columns:
            raise ValueError(f"{source}: no column {name!r} (columns: {sorted(columns)})")
        arrays[name] = np.array([parse_float(v, f"{source}: {name}[{i}]") for i, v in enumerate(columns[name])])
    return scalars, arrays


def _parse_json(text: str, opts: FolderOptions, source: str) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    from labpilot.protocols.json_codec import decode_json_object

    data = decode_json_object(text.encode("utf-8"), what=f"{source}", error=ValueError, max_bytes=MAX_FILE_BYTES)
    scalars, arrays = {}, {}
    for name in opts.scalars:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{source}: scalar {name!r} is {value!r}, not a finite number")
        scalars[name] = float(value)
    for name in opts.arrays:
        value = data.get(name)
        if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{source}: array {name!r} is not a list of numbers")
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{source}: array {name!r} holds non-finite values")
        arrays[name] = arr
    return scalars, arrays


# ----------------------------------------------------------------------------- the driver


class DropFolder:
    """The "transport": a directory that must exist."""

    def __init__(self, path: str, name: str) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise TransportTimeout(f"{name}: drop folder {path!r} does not exist or is not a directory")

    def close(self) -> None:
        """Nothing to release."""


class FolderDriver(DriverBase):
    """Reads one result file per sample from a drop folder."""

    kind = "folder"
    role = "measure"
    Options = FolderOptions
    can_reconcile: ClassVar[bool] = False
    #: Always a measurer; its quantities and limits come from the campaign's options (``for_options``).
    #: A dry run starts its simulator with ``--folder DIR``.
    dry_run_transport: ClassVar[str] = "folder"

    @classmethod
    def for_options(cls, options: Mapping[str, Any] | None = None) -> type["FolderDriver"]:
        """A subclass declaring this configuration's scalars, arrays and axes (no I/O)."""
        opts = parse_options(options)
        return type(cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                           **_declared(opts)})

    @classmethod
    def stand_in(cls, options: Mapping[str, Any] | None = None) -> StandIn | None:
        """A drop-folder simulator writing files this configuration reads."""
        opts = parse_options(options)
        columns = list(opts.xy_columns)
        if opts.format != "xy" and len(opts.arrays) == 2:  # the simulator's x and y columns, axis first
            columns = sorted(opts.arrays, key=lambda a: a not in opts.axes)
        args = ["--option", f"pattern={opts.pattern}", "--option", f"format={opts.format}",
                "--option", f"xy_columns={','.join(columns)}", "--option", f"nominal_s={opts.nominal_s:g}"]
        return StandIn(opts.simulator, "folder", tuple(args))

    def __init__(self, address: str, **kw: Any) -> None:
        self.opts = parse_options(kw.get("options"))
        for key, value in _declared(self.opts).items():
            setattr(self, key, value)
        super().__init__(address, **kw)

    def _open_transport(self, address: str, *, timeout_s: float, retries: int, backoff_s: float) -> DropFolder:
        return DropFolder(address, self.kind)

    def _handshake(self) -> str:
        return f"drop folder {self.transport.path}"

    def _connected(self, greeting: str) -> None:
        self.identity = greeting

    def identify(self) -> str:
        """``drop folder <path>``."""
        return self.identity

    def status(self) -> dict[str, Any]:
        """The folder and how many entries it holds."""
        path = self.transport.path
        return {"folder": str(path), "exists": path.is_dir(), "entries": len(list(path.iterdir())) if path.is_dir() else 0}

    def make_safe(self) -> None:
        """Nothing to do: the driver only reads."""

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """A drop folder cannot say what became of a command id: an operator must (``labpilot resolve``)."""
        raise DriverError(f"{self.kind}: a drop folder cannot say what became of command {command_id} "
                          "(can_reconcile = False); an operator must settle it")

    def glob_for(self, sample_id: str) -> str:
        """The glob (below the folder) of ``sample_id``'s result file; the id's own characters are literal."""
        if not _SAFE_ID_RE.fullmatch(sample_id):
            raise ValueError(f"{self.kind}: sample id {sample_id!r} cannot name a file safely")
        return self.opts.pattern.format(sample_id=glob.escape(sample_id))

    def find(self, sample_id: str) -> Path | None:
        """The newest file matching the sample's pattern, or ``None``."""
        matches = [Path(p) for p in glob.glob(str(self.transport.path / self.glob_for(sample_id)))]
        matches = [p for p in matches if p.is_file() and not p.name.startswith(".")]
        return max(matches, key=lambda p: p.stat().st_mtime_ns) if matches else None

    def measure(self, sample: Sample, command_id: str) -> Measurement:
        """Wait for the sample's result file (within the wait limit), let it settle, and read it."""
        pattern = self.glob_for(sample.sample_id)
        limit = self.wait_limit_s(self.opts.nominal_s)
        poll = self.opts.poll_s or min(0.5, max(0.01, self.opts.nominal_s / self.speed / 50.0))
        deadline = time.monotonic() + limit
        last_error: str | None = None
        seen: tuple[int, int] | None = None
        stable_since = 0.0
        while True:
            path = self.find(sample.sample_id)
            if path is not None:
                stat = path.stat()
                now = time.monotonic()
                if seen != (stat.st_size, stat.st_mtime_ns):
                    seen, stable_since = (stat.st_size, stat.st_mtime_ns), now
                if now - stable_since >= self.opts.settle_s:
                    try:
                        return self._read(path)
                    except ValueError as exc:  # perhaps still being written in place: retry until the limit
                        last_error = str(exc)
            if time.monotonic() >= deadline:
                if last_error:
                    raise ProtocolError(f"{self.kind}: {last_error}")
                raise TransportTimeout(f"{self.kind}: no file matching {pattern!r} in {self.transport.path} "
                                       f"within {limit:.1f}s (sample {sample.sample_id}, command {command_id})")
            time.sleep(poll)

    def _read(self, path: Path) -> Measurement:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ProtocolError(f"{self.kind}: {path} is {size} bytes, more than {MAX_FILE_BYTES}")
        text = path.read_text(encoding="utf-8-sig", errors="strict")
        scalars, arrays = parse_result(text, self.opts, str(path))
        log.info("%s: read %s", self.kind, path)
        return Measurement(scalars=scalars, arrays=arrays)


def _declared(opts: FolderOptions) -> dict[str, Any]:
    return {"scalars": dict(opts.scalars), "arrays": dict(opts.arrays), "axes": tuple(opts.axes)}


__all__ = ["FolderDriver", "FolderOptions", "parse_options", "parse_result"]
