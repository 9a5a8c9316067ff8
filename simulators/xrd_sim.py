"""Simulated X-ray diffractometer on ZeroMQ (``python -m labpilot.simulators xrd --zmq ENDPOINT``).

Commands (besides the common ``hello``, ``status``, ``outcome``, ``result``,
``safe`` of ``simulators.zmq_instrument``):

``scan`` ``{command_id, sample_id, start, stop, step, dwell_s?, tube_power_w?}``
    Scan 2θ from ``start`` to ``stop`` (degrees, inclusive, within
    ``TWO_THETA_RANGE``) every ``step`` degrees, counting ``dwell_s``
    (default 0.3 s) per point: nominal duration = points × dwell. Replies at
    once ``{state: running, duration_s}``; the result, once done, is
    ``{sample_id, two_theta, counts}`` with the arrays in the envelope's
    base64 form. The sample's hidden truth comes from the tray; its world
    (``alloy`` / ``polymer``) picks the physics. An unknown sample is
    instrument error 201, a bad range -222.

Each scan writes one ``scan`` ledger line.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from labpilot.errors import SimulatedFault
from labpilot.protocols.envelope import ERR_OUT_OF_RANGE, ERR_UNKNOWN_SAMPLE, encode_array
from labpilot.simulators.zmq_instrument import ZMQ_TRANSPORTS, ZmqInstrument, serve_zmq_instrument
from labpilot.simulators.worlds import WorldCache

#: Transports this simulator serves (read by ``python -m labpilot.simulators``).
TRANSPORTS = ZMQ_TRANSPORTS

#: Goniometer range (degrees 2θ) and the largest scan accepted.
TWO_THETA_RANGE = (2.0, 150.0)
MAX_POINTS = 200_000
DEFAULT_DWELL_S = 0.3
DEFAULT_TUBE_POWER_W = 1200.0
MAX_TUBE_POWER_W = 3000.0


def scan_points(start: float, stop: float, step: float) -> int:
    """Number of points of an inclusive scan (the same rule on both sides of the wire)."""
    return int(math.floor((stop - start) / step + 1e-9)) + 1


def scan_axis(start: float, stop: float, step: float) -> np.ndarray:
    """The 2θ positions of a scan."""
    return start + step * np.arange(scan_points(start, stop, step))


class XrdSim(ZmqInstrument):
    """A diffractometer that measures samples from the tray with the world's physics."""

    kind = "xrd"
    model = "XRD-SIM"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._worlds = WorldCache(self.world_seed)
        self.tube_on = True
        self.scans = 0

    def world(self, name: str) -> Any:
        """The world object (built once) for a tray row's world name."""
        try:
            return self._worlds.get(name)
        except KeyError:
            raise SimulatedFault(ERR_UNKNOWN_SAMPLE, f"sample belongs to unknown world {name!r}") from None

    def state(self) -> dict[str, Any]:
        return {"tube_on": self.tube_on, "scans": self.scans}

    def make_safe(self) -> None:
        self.tube_on = False

    def cmd_scan(self, args: dict[str, Any]) -> dict[str, Any]:
        command_id = self.arg_str(args, "command_id")
        replayed = self.replay(command_id)
        if replayed is not None:  # a resend: the first outcome, nothing validated or done again
            return replayed
        sample_id = self.arg_str(args, "sample_id")
        lo, hi = TWO_THETA_RANGE
        start = self.arg_float(args, "start", lo, hi)
        stop = self.arg_float(args, "stop", lo, hi)
        step = self.arg_float(args, "step", 1e-4, 10.0)
        dwell = self.arg_float(args, "dwell_s", 1e-4, 100.0, DEFAULT_DWELL_S)
        power = self.arg_float(args, "tube_power_w", 0.0, MAX_TUBE_POWER_W, DEFAULT_TUBE_POWER_W)
        if stop <= start:
            raise SimulatedFault(ERR_OUT_OF_RANGE, f"scan stop {stop:g} must be above start {start:g}")
        points = scan_points(start, stop, step)
        if points > MAX_POINTS:
            raise SimulatedFault(ERR_OUT_OF_RANGE, f"scan of {points} points exceeds the instrument's {MAX_POINTS}")
        try:
            world_name, truth = self.tray.get(sample_id)
        except KeyError:
            raise SimulatedFault(ERR_UNKNOWN_SAMPLE, f"sample {sample_id!r} is not in the tray") from None
        world = self.world(world_name)
        self.busy_check()

        def perform() -> dict[str, Any]:
            two_theta = scan_axis(start, stop, step)
            counts = np.asarray(world.xrd_pattern(truth, two_theta, self.rng, dwell_s=dwell), dtype=float)
            self.tube_on = True
            self.scans += 1
            self.ledger.record(
                self.kind, "scan", command_id, sample_id,
                start=start, stop=stop, step=step, points=points, tube_power_w=power, world=world_name,
            )
            return {"sample_id": sample_id, "two_theta": encode_array(two_theta), "counts": encode_array(counts)}

        return self.start_action(command_id, points * dwell, perform)


def serve(args: argparse.Namespace) -> None:
    """Entry point of ``python -m labpilot.simulators xrd``: print the endpoint, then serve."""
    serve_zmq_instrument(XrdSim, args)
