"""Driver of a magnetometer over a serial line (``Measurer``).

``measure(sample, command_id)`` → ``Measurement(scalars={"magnetization":
emu/cm³})``. Nominal measurement time 5 minutes on the instrument's clock.
"""

from __future__ import annotations

from labpilot.drivers.scpi_instrument import ScpiMeasurer
from labpilot.protocols.capabilities import Measurement
from labpilot.protocols.scpi import parse_numbers


class MagnetometerDriver(ScpiMeasurer):
    """Saturation magnetization of a film."""

    kind = "magnetometer"
    model_hint = "MAGNETOMETER"
    scalars = {"magnetization": "emu/cm³"}
    nominal_s = 300.0

    def read_result(self, command_id: str) -> Measurement:
        (ms,) = self.ask(
            "MEAS:RES?", self._id(command_id), parse=lambda t: parse_numbers(t, 1, "magnetization")
        )
        return Measurement(scalars={"magnetization": ms})
