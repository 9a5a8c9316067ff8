"""Instrument drivers and the one factory the agent uses: ``open_instrument``.

The kinds and their driver classes are listed once, in ``labpilot.registry``.

Each driver implements ``protocols.capabilities.Instrument`` plus
``Synthesizer`` or ``Measurer``. Serial drivers open their port with
``serial.serial_for_url`` (a device, a pty path, ``socket://``, ``loop://``);
ZeroMQ drivers take a ``tcp://`` endpoint.
"""

from __future__ import annotations

from typing import Any, Mapping

from labpilot.errors import DriverError, InstrumentError, ProtocolError, SafetyLimitError, TransportTimeout
from labpilot.registry import DRIVERS, driver_class


def open_instrument(
    kind: str,
    address: str,
    *,
    limits: Mapping[str, float] | None = None,
    options: Mapping[str, Any] | None = None,
    timeout_s: float = 5.0,
    retries: int = 3,
    dry_run: bool = False,
) -> Any:
    """Connect to an instrument of ``kind`` at ``address`` and check its protocol.

    ``limits`` are the campaign's hard safety limits (checked before sending),
    ``options`` are driver settings (``speed`` scales wait limits for dry
    runs). ``timeout_s`` is the per-reply timeout, ``retries`` the number of
    re-sends after a lost or garbled reply. ``dry_run``: a kind that a dry
    run uses as configured (``dry_run_as_is``) opens its ``dry_run_class``
    (e.g. the manual step's stand-in that confirms by itself).
    """
    cls = driver_class(kind)
    if dry_run and getattr(cls, "dry_run_as_is", False):
        cls = cls.dry_run_class()
    if not isinstance(address, str) or not address:
        raise ValueError(f"instrument address must be a non-empty string, got {address!r}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries!r}")
    return cls(
        address,
        limits=dict(limits or {}),
        options=dict(options or {}),
        timeout_s=timeout_s,
        retries=retries,
    )


__all__ = [
    "DRIVERS",
    "DriverError",
    "InstrumentError",
    "ProtocolError",
    "SafetyLimitError",
    "TransportTimeout",
    "driver_class",
    "open_instrument",
]
