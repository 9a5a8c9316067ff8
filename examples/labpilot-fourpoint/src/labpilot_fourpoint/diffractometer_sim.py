"""The drop diffractometer's dry-run twin: a CSV scan per sample, written into the drop folder.

Built on ``labpilot.testing.FolderSimulator``: every film the sputter
simulator leaves in the tray is "scanned" after the nominal scan time on
the virtual clock, with the pattern of ``AlloyWorld.xrd_pattern`` (Cu Kα,
20-90° 2θ).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labpilot.testing import FolderSimulator


class DropDiffractometerSimulator(FolderSimulator):
    """Writes ``<sample_id>.csv`` (``two_theta,intensity``) for each alloy film."""

    nominal_s = 900.0
    worlds_measured = ("alloy",)
    two_theta = np.round(np.arange(20.0, 90.0 + 1e-9, 0.05), 4)

    def result_name(self, sample_id: str) -> str:
        return f"{sample_id}.csv"

    def result_text(self, world: Any, truth: dict[str, Any]) -> str:
        counts = world.xrd_pattern(truth, self.two_theta, self.rng)
        rows = "".join(f"{t:.4f},{c:.0f}\n" for t, c in zip(self.two_theta, counts))
        return "# drop-xrd simulator scan, Cu Ka\ntwo_theta,intensity\n" + rows
