"""Driver of a mechanical tester over a serial line (``Measurer``).

``measure(sample, command_id)`` → ``Measurement(scalars={"tensile_modulus":
MPa, "impact_strength": kJ/m²})``. Nominal test time 5 minutes.
"""

from __future__ import annotations

from labpilot.drivers.scpi_instrument import ScpiMeasurer
from labpilot.protocols.capabilities import Measurement
from labpilot.protocols.scpi import parse_numbers


class TensileDriver(ScpiMeasurer):
    """Tensile modulus and Charpy impact strength of a specimen."""

    kind = "tensile"
    model_hint = "TENSILE"
    scalars = {"tensile_modulus": "MPa", "impact_strength": "kJ/m²"}
    nominal_s = 300.0

    def read_result(self, command_id: str) -> Measurement:
        modulus, impact = self.ask(
            "MEAS:RES?", self._id(command_id), parse=lambda t: parse_numbers(t, 2, "tensile result")
        )
        return Measurement(scalars={"tensile_modulus": modulus, "impact_strength": impact})
