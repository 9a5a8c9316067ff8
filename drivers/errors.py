"""Driver errors: one hierarchy the agent can catch as ``DriverError``.

- ``InstrumentError``: the instrument answered, and said something failed.
- ``TransportTimeout``: no usable reply after all retries.
- ``ProtocolError``: a reply that does not parse (garbled, wrong shape,
  incompatible protocol version).
- ``SafetyLimitError``: a command was refused *before* sending because a
  value exceeds a campaign safety limit.
"""

from __future__ import annotations


class DriverError(Exception):
    """Base class of every error a driver raises."""


class InstrumentError(DriverError):
    """The instrument reported an error (e.g. from its ``SYST:ERR?`` queue)."""

    def __init__(self, instrument: str, code: int, message: str) -> None:
        self.instrument = instrument
        self.code = int(code)
        self.message = message
        super().__init__(f"{instrument}: instrument error {code}: {message}")


class TransportTimeout(DriverError):
    """No valid reply arrived after the bounded retries were spent."""


class ProtocolError(DriverError):
    """A malformed frame or reply, or an incompatible protocol."""


class SafetyLimitError(DriverError):
    """A value exceeds a safety limit; nothing was sent to the instrument."""

    def __init__(self, limit: str, value: float, maximum: float, what: str = "") -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        detail = f" ({what})" if what else ""
        super().__init__(
            f"safety limit {limit}={maximum:g} exceeded: requested {value:g}{detail}; nothing was sent"
        )
