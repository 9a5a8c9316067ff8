"""Simulated mechanical tester (tensile + Charpy impact; serial, SCPI-style), backed by ``PolymerWorld``.

Command set (besides ``*IDN?``, ``SYST:ERR?``, ``*CLS``, ``*RST``, ``STAT?``):

====================================  =======================================
``MEAS:START <id>,<sample_id>``       test a sample from the rack (~5 virtual
                                      minutes); duplicate ids are ignored
``MEAS:STAT? <id>``                   ``RUNNING,p`` | ``DONE,<sample>`` |
                                      ``FAILED,c,"m"`` | ``UNKNOWN``
``MEAS:RES? <id>``                    ``<tensile modulus MPa>,<impact strength kJ/m²>``
``MEAS:ABOR``                         abort the running test
====================================  =======================================
"""

from __future__ import annotations

import argparse
from typing import Any

from labpilot.simulators.scpi_device import SERIAL_TRANSPORTS, MeasuringDevice
from labpilot.simulators.serial_server import serve_device

#: Transports this simulator serves (read by ``python -m labpilot.simulators``).
TRANSPORTS = SERIAL_TRANSPORTS


class TensileDevice(MeasuringDevice):
    """Tensile modulus and impact strength of polymer specimens."""

    kind = "tensile"
    model = "TENSILE-SIM"
    worlds = ("polymer",)
    nominal_s = 300.0

    def measure_truth(self, world: Any, truth: dict[str, Any]) -> dict[str, Any]:
        values = world.tensile(truth, self.rng)
        return {"tensile_modulus": float(values["tensile_modulus"]), "impact_strength": float(values["impact_strength"])}

    def result_fields(self, result: dict[str, Any]) -> list[Any]:
        return [float(result["tensile_modulus"]), float(result["impact_strength"])]


def serve(args: argparse.Namespace) -> None:
    """Run the simulator (``python -m labpilot.simulators tensile --pty ...``)."""
    device = TensileDevice.from_args(args)
    serve_device(device, args)
