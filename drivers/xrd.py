"""X-ray diffractometer driver (ZeroMQ): scan a 2θ range, return the pattern.

Options (from the campaign): ``two_theta_start`` / ``two_theta_stop`` /
``two_theta_step`` in degrees (default 20-90° every 0.02°, 3501 points, for
alloy films; a polymer campaign passes 5-35°), ``dwell_s`` per point
(default 0.3 s) and ``tube_power_w`` (default 1200 W). Limits checked before
anything is sent: ``max_scan_points``, ``max_tube_power_w``,
``max_two_theta_deg``.

``measure`` returns arrays ``two_theta`` and ``counts`` and the scalar
``peak_two_theta`` (the strongest peak of the lightly smoothed pattern).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import model_validator

from labpilot.errors import EnvelopeError, ProtocolError
from labpilot.drivers.options import DriverOptions, Number, PositiveNumber
from labpilot.drivers.params import LimitedOption
from labpilot.drivers.zmq_instrument import ZmqInstrumentDriver, ZmqOptions
from labpilot.protocols.capabilities import CommandOutcome, Measurement, Sample
from labpilot.protocols.envelope import decode_array

DEFAULTS = {
    "two_theta_start": 20.0,
    "two_theta_stop": 90.0,
    "two_theta_step": 0.02,
    "dwell_s": 0.3,
    "tube_power_w": 1200.0,
}


def scan_points(start: float, stop: float, step: float) -> int:
    """Number of points of an inclusive scan (the instrument uses the same rule)."""
    return int(math.floor((stop - start) / step + 1e-9)) + 1


def strongest_peak(two_theta: np.ndarray, counts: np.ndarray, window: int = 5) -> float:
    """2θ of the highest point of the pattern after a ``window``-point moving average."""
    if len(counts) == 0:
        raise ValueError("empty pattern has no peak")
    w = max(1, min(window, len(counts)))
    smooth = np.convolve(np.asarray(counts, dtype=float), np.ones(w) / w, mode="same")
    return float(two_theta[int(np.argmax(smooth))])


class XrdOptions(ZmqOptions):
    """The 2θ scan of an XRD measurement."""

    two_theta_start: Number = DEFAULTS["two_theta_start"]
    """Scan start, degrees 2θ."""
    two_theta_stop: Number = DEFAULTS["two_theta_stop"]
    """Scan end, degrees 2θ (capped by the ``max_two_theta_deg`` limit)."""
    two_theta_step: PositiveNumber = DEFAULTS["two_theta_step"]
    """Step between points, degrees (the point count is capped by ``max_scan_points``)."""
    dwell_s: PositiveNumber = DEFAULTS["dwell_s"]
    """Counting time per point, seconds."""
    tube_power_w: PositiveNumber = DEFAULTS["tube_power_w"]
    """X-ray tube power, W (capped by the ``max_tube_power_w`` limit)."""

    @model_validator(mode="after")
    def _ordered(self) -> "XrdOptions":
        if not self.two_theta_stop > self.two_theta_start:
            raise ValueError(f"two_theta_stop ({self.two_theta_stop:g}) must exceed "
                             f"two_theta_start ({self.two_theta_start:g})")
        return self

    @property
    def points(self) -> int:
        """Points of the scan (start and stop included)."""
        return scan_points(self.two_theta_start, self.two_theta_stop, self.two_theta_step)


class XrdDriver(ZmqInstrumentDriver):
    """A diffractometer on a ZeroMQ endpoint (``Measurer``)."""

    Options: ClassVar[type[DriverOptions]] = XrdOptions
    settings: XrdOptions

    kind = "xrd"
    role = "measure"
    scalars = {"peak_two_theta": "° 2θ"}
    arrays = {"two_theta": "° 2θ", "counts": "counts"}
    axes = ("two_theta",)
    known_limits = ("max_scan_points", "max_tube_power_w", "max_two_theta_deg")

    @classmethod
    def limited_options(cls, settings: DriverOptions) -> list[LimitedOption]:
        assert isinstance(settings, XrdOptions)
        return [
            LimitedOption("max_scan_points", settings.points, "scan points", "two_theta_step"),
            LimitedOption("max_tube_power_w", settings.tube_power_w, "X-ray tube power", "tube_power_w"),
            LimitedOption("max_two_theta_deg", settings.two_theta_stop, "scan end 2θ", "two_theta_stop"),
        ]

    def scan_settings(self) -> dict[str, float]:
        """The scan the campaign asked for, checked against the limits."""
        self.check_limited_options()
        return {name: float(getattr(self.settings, name)) for name in DEFAULTS}

    def measure(self, sample: Sample, command_id: str) -> Measurement:
        """Scan ``sample``; blocks until done. Idempotent per ``command_id``."""
        if not isinstance(sample, Sample) or not sample.sample_id:
            raise ValueError(f"xrd: measure needs a Sample with a sample_id, got {sample!r}")
        if not isinstance(command_id, str) or not command_id:
            raise ValueError("xrd: command_id must be a non-empty string")
        s = self.scan_settings()
        result = self.run_action(
            "scan",
            {
                "command_id": command_id,
                "sample_id": sample.sample_id,
                "start": s["two_theta_start"],
                "stop": s["two_theta_stop"],
                "step": s["two_theta_step"],
                "dwell_s": s["dwell_s"],
                "tube_power_w": s["tube_power_w"],
            },
        )
        return self._measurement(result)

    def _measurement(self, result: dict[str, Any]) -> Measurement:
        try:
            two_theta = decode_array(result.get("two_theta")).astype(float)
            counts = decode_array(result.get("counts")).astype(float)
        except EnvelopeError as exc:
            raise ProtocolError(f"xrd: scan result is malformed: {exc}") from None
        if two_theta.shape != counts.shape or two_theta.ndim != 1 or len(two_theta) == 0:
            raise ProtocolError(f"xrd: pattern arrays disagree: two_theta {two_theta.shape}, counts {counts.shape}")
        return Measurement(
            scalars={"peak_two_theta": strongest_peak(two_theta, counts)},
            arrays={"two_theta": two_theta, "counts": counts},
        )

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """Reconciliation; a done scan's ``result`` is ``{"scalars", "arrays"}`` (``Measurement(**result)``)."""
        reply = self.request("outcome", {"command_id": command_id})
        state = reply.get("state")
        if state == "done" and isinstance(reply.get("result"), dict):
            m = self._measurement(reply["result"])
            return CommandOutcome(command_id, "done", result={"scalars": m.scalars, "arrays": m.arrays})
        if state not in ("unknown", "running", "done", "failed"):
            raise ProtocolError(f"xrd: outcome of {command_id!r} has no valid state: {reply!r}")
        return CommandOutcome(command_id, state, error=reply.get("error"))
