"""Driver of a differential scanning calorimeter over a serial line (``Measurer``).

``measure(sample, command_id)`` sets the heating scan (``options``
``t_start_c`` 30, ``t_stop_c`` 220, ``t_step_c`` 0.5; the stop temperature is
checked against the ``max_temperature_c`` limit before anything is sent),
runs it, and returns ``Measurement(scalars={"melting_point": °C,
"crystallinity": 0-1}, arrays={"temperature": °C, "heat_flow": W/g})``. The
curve is fetched in chunks of ``CHUNK`` points. Heating at 10 K/min, a
30-220 °C scan takes 19 minutes on the instrument's clock.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import model_validator

from labpilot.errors import ScpiProtocolError
from labpilot.drivers.options import DriverOptions, Number, PositiveNumber
from labpilot.drivers.params import LimitedOption
from labpilot.drivers.scpi_instrument import ScpiMeasurer, ScpiOptions
from labpilot.protocols.capabilities import Measurement, Sample
from labpilot.protocols.scpi import parse_numbers

CHUNK = 100
HEATING_RATE_K_PER_MIN = 10.0


class DscOptions(ScpiOptions):
    """The heating scan of a DSC measurement."""

    t_start_c: Number = 30.0
    """Scan start temperature, °C."""
    t_stop_c: Number = 220.0
    """Scan end temperature, °C (capped by the ``max_temperature_c`` limit)."""
    t_step_c: PositiveNumber = 0.5
    """Temperature step between curve points, °C."""

    @model_validator(mode="after")
    def _ordered(self) -> "DscOptions":
        if not self.t_stop_c > self.t_start_c:
            raise ValueError(f"t_stop_c ({self.t_stop_c:g}) must exceed t_start_c ({self.t_start_c:g})")
        return self


class DscDriver(ScpiMeasurer):
    """Heat-flow curve, melting point and crystallinity of a polymer sample."""

    Options: ClassVar[type[DriverOptions]] = DscOptions
    settings: DscOptions

    kind = "dsc"
    model_hint = "DSC"
    scalars = {"melting_point": "°C", "crystallinity": "1"}
    arrays = {"temperature": "°C", "heat_flow": "W/g"}
    axes = ("temperature",)
    known_limits = ("max_temperature_c",)

    def __init__(self, address: str, **kw: Any) -> None:
        super().__init__(address, **kw)
        s = self.settings
        self.scan = (s.t_start_c, s.t_stop_c, s.t_step_c)
        self.nominal_s = (s.t_stop_c - s.t_start_c) / HEATING_RATE_K_PER_MIN * 60.0

    @classmethod
    def limited_options(cls, settings: DriverOptions) -> list[LimitedOption]:
        assert isinstance(settings, DscOptions)
        return [LimitedOption("max_temperature_c", settings.t_stop_c, "DSC scan end temperature in °C", "t_stop_c")]

    def measure(self, sample: Sample, command_id: str) -> Measurement:
        """Check the scan against the limit, then measure (idempotent per command id)."""
        self.check_limited_options()
        return super().measure(sample, command_id)

    def prepare(self) -> None:
        """Set the heating scan before a new measurement starts."""
        self.set("DSC:RANG", *self.scan)

    def read_result(self, command_id: str) -> Measurement:
        cid = self._id(command_id)

        def head(text: str) -> tuple[float, float, int]:
            mp, cryst, n = parse_numbers(text, 3, "dsc result")
            if n != int(n) or n < 1:
                raise ScpiProtocolError(f"dsc result: point count {n!r} is not a positive integer")
            return mp, cryst, int(n)

        melting, crystallinity, n = self.ask("MEAS:RES?", cid, parse=head)
        temperature = np.empty(n)
        heat_flow = np.empty(n)
        for offset in range(0, n, CHUNK):
            count = min(CHUNK, n - offset)

            def chunk(text: str, count: int = count) -> list[float]:
                return parse_numbers(text, 2 * count, f"dsc curve points {offset}..{offset + count - 1}")

            values = self.ask("MEAS:CURV?", cid, offset, count, parse=chunk)
            temperature[offset : offset + count] = values[0::2]
            heat_flow[offset : offset + count] = values[1::2]
        return Measurement(
            scalars={"melting_point": melting, "crystallinity": crystallinity},
            arrays={"temperature": temperature, "heat_flow": heat_flow},
        )
