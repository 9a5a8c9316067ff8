"""A diffractometer whose control software drops one CSV file per scan into a folder.

The instrument is run by its own software (an operator, or its sample
changer, starts the scans); labpilot only waits for the result file of the
sample and reads it. The address is the drop folder; the file is found with
the glob pattern ``options.pattern`` (``{sample_id}`` is replaced by the
sample id). The CSV has a header row ``two_theta,intensity`` (``#`` lines
are comments). A file is read only once it is complete: the software
writes it aside and renames it, or its size stops changing.

It keeps no record of command ids (``can_reconcile = False``); waiting for
the same sample's file again after a restart is harmless.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from labpilot.drivers.base import DriverBase
from labpilot.drivers.options import DriverOptions

from labpilot_fourpoint.options import settings
from labpilot.errors import DriverError, ProtocolError, TransportTimeout
from labpilot.protocols.capabilities import CommandOutcome, Measurement, Sample


class DropOptions(DriverOptions):
    """Settings of a folder-drop diffractometer."""

    #: Glob of the result file inside the folder; ``{sample_id}`` is the sample id.
    pattern: str = Field("{sample_id}.csv", min_length=1)
    #: Nominal duration of one scan on the instrument's clock, s (the wait is 3× this plus timeout_s).
    scan_s: float = Field(900.0, gt=0)


class DropFolder:
    """The "transport" of a folder instrument: the folder itself."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def close(self) -> None:
        pass


class DropDiffractometer(DriverBase):
    """2θ scans read from the files a diffractometer writes into a folder."""

    kind = "drop-xrd"
    role = "measure"
    scalars = {"peak_two_theta": "deg"}
    arrays = {"two_theta": "deg", "intensity": "counts"}
    axes = ("two_theta",)
    Options = DropOptions
    can_reconcile: ClassVar[bool] = False
    #: A dry run serves its twin with ``--folder`` (a drop folder, not a port).
    dry_run_transport: ClassVar[str] = "folder"
    simulator = "labpilot_fourpoint.diffractometer_sim:DropDiffractometerSimulator"
    min_poll_s = 0.02

    def __init__(self, address: str, **kw: Any) -> None:
        self.settings = settings(DropOptions, kw.get("options"), self.kind)
        super().__init__(address, **kw)

    def _open_transport(self, address: str, *, timeout_s: float, retries: int, backoff_s: float) -> DropFolder:
        return DropFolder(address)

    def _handshake(self) -> str:
        folder = self.transport.path
        if not folder.is_dir():
            raise TransportTimeout(f"{self.kind}: drop folder {str(folder)!r} does not exist (is the share mounted?)")
        return f"folder-drop diffractometer at {folder}"

    def _connected(self, greeting: str) -> None:
        self.identity = greeting

    def identify(self) -> str:
        return self.identity

    def status(self) -> dict[str, Any]:
        folder = self.transport.path
        return {"identity": self.identity, "reachable": folder.is_dir(),
                "files": sum(1 for _ in folder.glob("*")) if folder.is_dir() else 0}

    def make_safe(self) -> None:
        """Nothing to switch off: labpilot never drives this instrument."""

    def command_outcome(self, command_id: str) -> CommandOutcome:
        raise DriverError(f"{self.kind}: a drop folder keeps no record of command {command_id!r} (can_reconcile is False)")

    # -- Measurer -----------------------------------------------------------------------
    def find(self, sample_id: str) -> Path | None:
        """The sample's complete result file, if it is there yet."""
        pattern = self.settings.pattern.replace("{sample_id}", sample_id)
        found = sorted(p for p in self.transport.path.glob(pattern) if not p.name.startswith("."))
        return found[0] if found else None

    def measure(self, sample: Sample, command_id: str) -> Measurement:
        """Wait for the sample's file (3× the nominal scan time plus timeout_s), then parse it."""
        sid = str(sample.sample_id)
        if not sid or any(c in sid for c in "/\\*?[]"):
            raise ValueError(f"{self.kind}: sample id {sid!r} cannot name a file")
        limit = self.wait_limit_s(self.settings.scan_s)
        poll = self.settings.poll_s or max(self.min_poll_s, min(1.0, self.settings.scan_s / self.speed / 50.0))
        deadline = time.monotonic() + limit
        last_size = -1
        while True:
            path = self.find(sid)
            if path is not None:
                size = path.stat().st_size
                if size == last_size and size > 0:
                    return self.parse(path)
                last_size = size
            elif time.monotonic() >= deadline:
                raise TransportTimeout(
                    f"{self.kind}: no file {self.settings.pattern.replace('{sample_id}', sid)!r} "
                    f"in {self.transport.path} after {limit:.1f}s (command {command_id})"
                )
            time.sleep(poll)

    def parse(self, path: Path) -> Measurement:
        """Read ``two_theta,intensity`` rows; the peak position is the 2θ of the highest intensity."""
        text = path.read_text(encoding="utf-8", errors="replace")
        rows = csv.reader(io.StringIO("".join(ln for ln in text.splitlines(True) if not ln.startswith("#"))))
        header = [h.strip().lower() for h in next(rows, [])]
        if header[:2] != ["two_theta", "intensity"]:
            raise ProtocolError(f"{self.kind}: {path.name}: header must be two_theta,intensity, got {header}")
        values = []
        for n, row in enumerate(rows, start=2):
            try:
                values.append((float(row[0]), float(row[1])))
            except (ValueError, IndexError):
                raise ProtocolError(f"{self.kind}: {path.name}: data row {n} is not two numbers: {row}") from None
        if len(values) < 2:
            raise ProtocolError(f"{self.kind}: {path.name}: fewer than two data rows")
        data = np.array(values)
        two_theta, intensity = data[:, 0], data[:, 1]
        return Measurement(scalars={"peak_two_theta": float(two_theta[int(np.argmax(intensity))])},
                           arrays={"two_theta": two_theta, "intensity": intensity})
