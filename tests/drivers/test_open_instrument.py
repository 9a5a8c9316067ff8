"""The driver factory: dispatch, clear errors for bad requests."""

from __future__ import annotations

import pytest

from labpilot.errors import DriverError, InstrumentError, ProtocolError, SafetyLimitError, TransportTimeout
from labpilot.drivers import DRIVERS, driver_class, open_instrument


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown instrument kind 'laser'; known kinds: command, dsc, folder, magnetometer, manual, python, robot"):
        open_instrument("laser", "loop://")


@pytest.mark.parametrize("kind", ["sputter", "magnetometer", "tensile", "dsc"])
def test_serial_kinds_resolve_to_their_driver(kind):
    assert driver_class(kind).kind == kind and kind in DRIVERS


@pytest.mark.parametrize(
    "kwargs, message",
    [({"timeout_s": 0}, "timeout_s must be > 0"), ({"retries": -1}, "retries must be >= 0")],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        open_instrument("sputter", "loop://", **kwargs)


def test_silent_port_times_out_at_connect():
    # loop:// echoes, so *IDN? comes back as "*IDN?" which is not an identity: a protocol error
    with pytest.raises(ProtocolError, match=r"\*IDN\?.*failed after 2 attempts"):
        open_instrument("magnetometer", "loop://", timeout_s=0.2, retries=1)


def test_error_hierarchy():
    for cls in (InstrumentError, ProtocolError, SafetyLimitError, TransportTimeout):
        assert issubclass(cls, DriverError)
    err = InstrumentError("sputter", -222, "Data out of range")
    assert (err.instrument, err.code, err.message) == ("sputter", -222, "Data out of range")
    limit = SafetyLimitError("max_pressure_pa", 2.0, 1.0, "process pressure")
    assert "max_pressure_pa=1 exceeded: requested 2" in str(limit)


@pytest.mark.parametrize("kind", ["sputter", "magnetometer", "tensile", "dsc", "robot", "xrd"])
def test_every_driver_refuses_an_unknown_safety_limit_before_connecting(kind: str) -> None:
    # A misspelled limit would be silently ignored, which is unsafe: refused before any I/O.
    with pytest.raises(ValueError, match="unknown safety limit 'max_tempreature_c'"):
        open_instrument(kind, "tcp://127.0.0.1:9" if kind in ("robot", "xrd") else "loop://",
                        limits={"max_tempreature_c": 100.0})
