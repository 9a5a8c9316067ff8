"""Simulated magnetometer (VSM-style, serial, SCPI-style), backed by ``AlloyWorld``.

Command set (besides ``*IDN?``, ``SYST:ERR?``, ``*CLS``, ``*RST``, ``STAT?``):

========================================  ===================================
``MEAS:START <id>,<sample_id>``           measure a sample from the rack
                                          (~5 virtual minutes); duplicate ids
                                          are ignored
``MEAS:STAT? <id>``                       ``RUNNING,p`` | ``DONE,<sample>`` |
                                          ``FAILED,c,"m"`` | ``UNKNOWN``
``MEAS:RES? <id>``                        saturation magnetization, emu/cm³
``MEAS:ABOR``                             abort the running measurement
========================================  ===================================

An unknown sample id is refused with error 301.
"""

from __future__ import annotations

import argparse
from typing import Any

from labpilot.simulators.scpi_device import SERIAL_TRANSPORTS, MeasuringDevice
from labpilot.simulators.serial_server import serve_device

#: Transports this simulator serves (read by ``python -m labpilot.simulators``).
TRANSPORTS = SERIAL_TRANSPORTS


class MagnetometerDevice(MeasuringDevice):
    """Measures the saturation magnetization of alloy films."""

    kind = "magnetometer"
    model = "MAGNETOMETER-SIM"
    worlds = ("alloy",)
    nominal_s = 300.0

    def measure_truth(self, world: Any, truth: dict[str, Any]) -> dict[str, Any]:
        return {"magnetization": float(world.magnetization(truth, self.rng))}

    def result_fields(self, result: dict[str, Any]) -> list[Any]:
        return [float(result["magnetization"])]


def serve(args: argparse.Namespace) -> None:
    """Run the simulator (``python -m labpilot.simulators magnetometer --pty ...``)."""
    device = MagnetometerDevice.from_args(args)
    serve_device(device, args)
