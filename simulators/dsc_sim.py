"""Simulated differential scanning calorimeter (serial, SCPI-style), backed by ``PolymerWorld``.

Command set (besides ``*IDN?``, ``SYST:ERR?``, ``*CLS``, ``*RST``, ``STAT?``):

======================================  =====================================
``DSC:RANG <start>,<stop>,<step>``      heating scan in °C (within -100..300,
                                        at most ``MAX_POINTS`` points);
                                        ``DSC:RANG?``
``MEAS:START <id>,<sample_id>``         heat a sample from the rack at
                                        10 K/min (a 30-220 °C scan takes 19
                                        virtual minutes); duplicates ignored
``MEAS:STAT? <id>``                     ``RUNNING,p`` | ``DONE,<sample>`` |
                                        ``FAILED,c,"m"`` | ``UNKNOWN``
``MEAS:RES? <id>``                      ``<melting point °C>,<crystallinity 0-1>,<points>``
``MEAS:CURV? <id>,<offset>,<count>``    curve points ``T1,H1,T2,H2,...``
                                        (°C, W/g), at most ``CHUNK`` per line
``MEAS:ABOR``                           abort the running scan
======================================  =====================================

The heat-flow curve is fetched in chunks so that every reply line stays
short (a few kB) whatever the resolution.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from labpilot.errors import SimulatedFault
from labpilot.protocols.scpi import Command, join_fields
from labpilot.simulators.scpi_device import SERIAL_TRANSPORTS, Handler, MeasuringDevice
from labpilot.simulators.serial_server import serve_device

#: Transports this simulator serves (read by ``python -m labpilot.simulators``).
TRANSPORTS = SERIAL_TRANSPORTS

HEATING_RATE_K_PER_MIN = 10.0
MAX_POINTS = 20000
CHUNK = 100
T_MIN, T_MAX = -100.0, 300.0


class DscDevice(MeasuringDevice):
    """Heat-flow curve, melting point and crystallinity of polymer samples."""

    kind = "dsc"
    model = "DSC-SIM"
    worlds = ("polymer",)

    def __init__(self, **kw: Any) -> None:
        self.scan = (30.0, 220.0, 0.5)
        super().__init__(**kw)

    @property
    def nominal_s(self) -> float:  # type: ignore[override]
        start, stop, _ = self.scan
        return (stop - start) / HEATING_RATE_K_PER_MIN * 60.0

    def reset(self) -> None:
        self.scan = (30.0, 220.0, 0.5)

    def commands(self) -> dict[str, Handler]:
        return {
            **super().commands(),
            "DSC:RANG": self._set_range,
            "DSC:RANG?": lambda c: join_fields(list(self.scan)),
            "MEAS:CURV?": self._curve,
        }

    def _set_range(self, cmd: Command) -> None:
        a, b, s = self.need_args(cmd, 3)
        start = self.number(a, "start temperature", T_MIN, T_MAX)
        stop = self.number(b, "stop temperature", T_MIN, T_MAX)
        step = self.number(s, "temperature step", 1e-3, T_MAX - T_MIN)
        if stop <= start:
            raise SimulatedFault(-222, f"Data out of range; stop {stop:g} must exceed start {start:g}")
        if (stop - start) / step + 1 > MAX_POINTS:
            raise SimulatedFault(-222, f"Data out of range; more than {MAX_POINTS} points")
        self.scan = (start, stop, step)
        return None

    def measure_truth(self, world: Any, truth: dict[str, Any]) -> dict[str, Any]:
        start, stop, step = self.scan
        t = np.arange(start, stop + step / 2, step)
        heat = world.dsc_curve(truth, t, self.rng)
        scalars = world.dsc_scalars(truth, self.rng)
        return {
            "melting_point": float(scalars["melting_point"]),
            "crystallinity": float(scalars["crystallinity"]),
            "temperature": [float(v) for v in t],
            "heat_flow": [float(v) for v in heat],
        }

    def result_fields(self, result: dict[str, Any]) -> list[Any]:
        return [result["melting_point"], result["crystallinity"], len(result["temperature"])]

    def _curve(self, cmd: Command) -> str:
        cid, off, cnt = self.need_args(cmd, 3)
        cid = self.ident(cid)
        rec = self.registry.outcome(cid)
        if rec is None or rec.state != "done":
            raise SimulatedFault(-221, f"Settings conflict; no curve for {cid}")
        n = len(rec.result["temperature"])
        offset = int(self.number(off, "offset", 0, n - 1))
        count = int(self.number(cnt, "count", 1, CHUNK))
        t = rec.result["temperature"][offset : offset + count]
        h = rec.result["heat_flow"][offset : offset + count]
        return join_fields([v for pair in zip(t, h) for v in pair])


def serve(args: argparse.Namespace) -> None:
    """Run the simulator (``python -m labpilot.simulators dsc --pty ...``)."""
    device = DscDevice.from_args(args)
    serve_device(device, args)
