"""A folder-drop diffractometer: writes one result file per sample into a folder (``--folder DIR``).

``python -m labpilot.simulators folder --folder DIR --tray TRAY [--option KEY=VALUE ...]``

The stand-in for an instrument run by its vendor's software, read by the
``folder`` driver. It watches the shared tray (the samples the synthesizer
simulator makes); each new sample is "scanned" for ``nominal_s`` virtual
seconds, then its result is written atomically (a hidden temporary file,
then a rename) as the file the ``pattern`` names (``{sample_id}`` filled in,
glob wildcards dropped). The result is an X-ray pattern from the sample's
world: arrays ``two_theta`` (degrees) and ``counts``, and the scalar
``peak_two_theta`` (the 2θ of the strongest count) as a ``# name = value``
line (csv / xy) or a key (json).

Options: ``pattern`` (``{sample_id}.csv``), ``format`` (csv | xy | json),
``xy_columns`` (``two_theta,counts``), ``nominal_s`` (120), ``start``,
``stop``, ``step`` (2θ range, 20-90 every 0.1 degree). A sample whose file
already exists is not scanned again (a restarted simulator rewrites
nothing). The first stdout line is the folder's absolute path. Each scan is
one ``scan`` line in the ledger.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from labpilot.simulators.clock import VirtualClock
from labpilot.simulators.ledger import Ledger
from labpilot.simulators.seeds import check_seed
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds import WorldCache

log = logging.getLogger("labpilot.sim.folder")

#: Transports this simulator serves (read by ``python -m labpilot.simulators``).
TRANSPORTS = ("folder",)

DEFAULTS = {"pattern": "{sample_id}.csv", "format": "csv", "xy_columns": "two_theta,counts", "nominal_s": "120",
            "start": "20", "stop": "90", "step": "0.1"}


def file_name(pattern: str, sample_id: str) -> str:
    """The file a pattern names for one sample: ``{sample_id}`` filled in, glob wildcards dropped."""
    name = pattern.replace("{sample_id}", sample_id)
    for wild in "*?":
        name = name.replace(wild, "")
    name = name.replace("[", "").replace("]", "")
    if name.startswith("/") or ".." in Path(name).parts or not name.strip("/"):
        raise ValueError(f"pattern {pattern!r} does not name a file inside the folder")
    return name


def render(fmt: str, columns: tuple[str, str], two_theta: np.ndarray, counts: np.ndarray, sample_id: str) -> str:
    """One result file's text."""
    peak = float(two_theta[int(np.argmax(counts))])
    if fmt == "json":
        return json.dumps({"sample_id": sample_id, "peak_two_theta": peak,
                           columns[0]: [float(v) for v in two_theta], columns[1]: [float(v) for v in counts]})
    head = f"# sample_id = {sample_id}\n# peak_two_theta = {peak!r}\n"
    if fmt == "xy":
        return head + "".join(f"{x!r} {y!r}\n" for x, y in zip(two_theta.tolist(), counts.tolist()))
    return head + f"{columns[0]},{columns[1]}\n" + "".join(f"{x!r},{y!r}\n" for x, y in zip(two_theta.tolist(), counts.tolist()))


class FolderDrop:
    """Scans every new sample of the tray and drops its result file."""

    def __init__(self, folder: Path, tray: Tray | None, options: dict[str, str], *, clock: VirtualClock,
                 ledger: Ledger, seed: int, world_seed: int) -> None:
        opts = {**DEFAULTS, **options}
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown}; known: {sorted(DEFAULTS)}")
        if opts["format"] not in ("csv", "xy", "json"):
            raise ValueError(f"format={opts['format']!r}: use csv, xy or json")
        columns = tuple(c.strip() for c in opts["xy_columns"].split(","))
        if len(columns) != 2 or not all(columns):
            raise ValueError(f"xy_columns={opts['xy_columns']!r}: two names, comma-separated")
        self.folder, self.tray, self.clock, self.ledger = folder, tray, clock, ledger
        self.pattern, self.format, self.columns = opts["pattern"], opts["format"], columns
        file_name(self.pattern, "S1")  # a bad pattern fails at start
        try:
            self.nominal_s = float(opts["nominal_s"])
            start, stop, step = float(opts["start"]), float(opts["stop"]), float(opts["step"])
        except ValueError as exc:
            raise ValueError(f"nominal_s, start, stop and step must be numbers: {exc}") from None
        if not (0 < start < stop and step > 0 and self.nominal_s >= 0):
            raise ValueError("need 0 < start < stop, step > 0, nominal_s >= 0")
        self.two_theta = start + step * np.arange(int((stop - start) / step + 1e-9) + 1)
        self.rng = np.random.default_rng(check_seed(seed))
        self.worlds = WorldCache(check_seed(world_seed, "world seed"))
        self.due: dict[str, float] = {}

    def tick(self) -> None:
        """Schedule new samples; write the files whose scan has finished."""
        if self.tray is None:
            return
        now = self.clock.now()
        for sid in self.tray.ids():
            if sid not in self.due and not (self.folder / file_name(self.pattern, sid)).exists():
                self.due[sid] = now + self.nominal_s
        for sid, due in list(self.due.items()):
            if due is not None and now >= due:
                self.write(sid)
                self.due[sid] = float("inf")  # done: never again

    def write(self, sample_id: str) -> None:
        """Scan one sample and drop its file atomically."""
        world_name, truth = self.tray.get(sample_id)
        counts = np.asarray(self.worlds.get(world_name).xrd_pattern(truth, self.two_theta, self.rng), dtype=float)
        path = self.folder / file_name(self.pattern, sample_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.part"
        tmp.write_text(render(self.format, self.columns, self.two_theta, counts, sample_id), encoding="utf-8")
        os.replace(tmp, path)
        self.ledger.record("folder", "scan", None, sample_id, file=str(path), world=world_name)
        log.info("dropped %s", path)

    def serve(self, tick_s: float = 0.05) -> None:
        """Run until stopped (SIGTERM): a tick every ``tick_s`` real seconds."""
        while True:
            try:
                self.tick()
            except Exception:  # a locked tray, a world refusing a sample: log, keep serving
                log.exception("folder simulator tick failed")
            time.sleep(tick_s)


def check_options(options: dict[str, str]) -> None:
    """Refuse bad ``--option`` values before the simulator starts (``ValueError`` naming them)."""
    FolderDrop(Path("."), None, options, clock=VirtualClock(1.0), ledger=Ledger(None), seed=0, world_seed=0)


def serve(args: argparse.Namespace) -> None:
    """Entry point: print the folder, then drop files for ever."""
    folder = Path(args.folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    options = dict(args.option or [])
    drop = FolderDrop(folder, Tray(args.tray) if args.tray else None, options, clock=VirtualClock(args.speed),
                      ledger=Ledger(args.ledger), seed=args.seed, world_seed=args.world_seed)
    sys.stdout.write(str(folder) + "\n")
    sys.stdout.flush()
    drop.serve()


__all__ = ["FolderDrop", "check_options", "file_name", "render", "serve"]
