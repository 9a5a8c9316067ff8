"""Ohmtek FPP-4 four-point probe: a serial instrument with its own SCPI dialect.

The wire, as the FPP-4 manual describes it: 9600 baud, 8N1; commands end
with ``\\n``, replies with ``\\r\\n``; set-commands get no reply, errors go
to the ``SYST:ERR?`` queue (standard SCPI)::

    *IDN?            -> OHMTEK,FPP-4,<serial>,FW<version>
    *CLS             clear the error queue
    SAMP:LOAD <id>   move the sample changer to sample <id>
    SAMP:LOAD?       -> the loaded sample id, or NONE
    SOUR:CURR <A>    source current through the outer pins
    OUTP ON|OFF      current source on/off;  OUTP? -> 0|1
    MEAS:SRES?       -> sheet resistance, ohm/sq (9.91E+37 when it cannot measure)
    SYST:ERR?        -> <code>,"<message>"  (0,"No error" when empty)

The probe keeps no record of earlier measurements, so it cannot say what
became of a command id after a restart (``can_reconcile = False``);
measuring a sample again is harmless.
"""

from __future__ import annotations

from typing import Any, ClassVar

import serial
from pydantic import Field

from labpilot.drivers.base import DriverBase
from labpilot.drivers.options import DriverOptions

from labpilot_fourpoint.options import settings
from labpilot.errors import DriverError, InstrumentError, ProtocolError, TransportTimeout
from labpilot.protocols.capabilities import CommandOutcome, Measurement, Sample

#: SCPI's "not a number": what MEAS:SRES? answers when it could not measure.
SCPI_NAN = 9.91e37


class ProbeOptions(DriverOptions):
    """Settings of the FPP-4 (``[instruments.options]`` of a campaign)."""

    #: Current sourced through the outer pins, A.
    current_a: float = Field(1e-3, gt=0, le=0.1)
    #: Serial line speed; the FPP-4 ships at 9600.
    baudrate: int = Field(9600, gt=0)


class LineClient:
    """Lines over pyserial: ``write`` (no reply expected) and ``query`` (one reply line)."""

    def __init__(self, url: str, *, baudrate: int, timeout_s: float, name: str) -> None:
        self.url, self.name, self.timeout_s = url, name, timeout_s
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout_s, write_timeout=timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportTimeout(f"{name}: cannot open serial port {url!r}: {exc}") from None

    def write(self, line: str) -> None:
        self.port.reset_input_buffer()
        self.port.write(line.encode("ascii") + b"\n")
        self.port.flush()

    def query(self, line: str) -> str:
        self.write(line)
        raw = self.port.read_until(b"\n")
        if not raw.endswith(b"\n"):
            raise TransportTimeout(f"{self.name} at {self.url}: no reply to {line!r} within {self.timeout_s:g}s")
        try:
            return raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise ProtocolError(f"{self.name}: garbled reply to {line!r}: {raw[:40]!r}") from None

    def close(self) -> None:
        self.port.close()


class FourPointProbe(DriverBase):
    """Sheet resistance of a film, from a four-point probe with a sample changer."""

    kind = "fourpoint-probe"
    role = "measure"
    scalars = {"sheet_resistance": "ohm/sq"}
    known_limits = ("max_current_a",)
    Options = ProbeOptions
    can_reconcile: ClassVar[bool] = False
    #: Its dry-run twin, for a campaign that names this class directly (``kind = "labpilot_fourpoint.probe:FourPointProbe"``).
    simulator = "labpilot_fourpoint.probe_sim:FourPointProbeSimulator"

    def __init__(self, address: str, **kw: Any) -> None:
        self.settings = settings(ProbeOptions, kw.get("options"), self.kind)
        super().__init__(address, **kw)

    # -- connection ----------------------------------------------------------------
    def _open_transport(self, address: str, *, timeout_s: float, retries: int, backoff_s: float) -> LineClient:
        return LineClient(address, baudrate=self.settings.baudrate, timeout_s=timeout_s, name=self.kind)

    def _handshake(self) -> str:
        ident = self.transport.query("*IDN?")
        fields = ident.split(",")
        if len(fields) != 4 or fields[0] != "OHMTEK" or not fields[1].startswith("FPP"):
            raise ProtocolError(f"{self.kind} at {self.address}: not an Ohmtek FPP probe: {ident[:80]!r}")
        self.transport.write("*CLS")
        return ident

    def _connected(self, greeting: str) -> None:
        self.identity = greeting

    # -- Instrument -------------------------------------------------------------------
    def identify(self) -> str:
        return self.transport.query("*IDN?")

    def status(self) -> dict[str, Any]:
        loaded = self.transport.query("SAMP:LOAD?")
        return {"identity": self.identity, "output": self.transport.query("OUTP?") == "1",
                "sample": None if loaded == "NONE" else loaded}

    def make_safe(self) -> None:
        """Current source off (safe to repeat)."""
        self.transport.write("OUTP OFF")

    def command_outcome(self, command_id: str) -> CommandOutcome:
        raise DriverError(f"{self.kind}: the probe keeps no record of command {command_id!r} (can_reconcile is False)")

    # -- Measurer ---------------------------------------------------------------------
    def check_errors(self) -> None:
        """Pop ``SYST:ERR?``; a queued error becomes an ``InstrumentError``."""
        reply = self.transport.query("SYST:ERR?")
        code, _, message = reply.partition(",")
        try:
            number = int(code)
        except ValueError:
            raise ProtocolError(f"{self.kind}: SYST:ERR? answered {reply[:80]!r}") from None
        if number != 0:
            raise InstrumentError(self.kind, number, message.strip('"'))

    def measure(self, sample: Sample, command_id: str) -> Measurement:
        """Load the sample, source the current, read the sheet resistance; the source is off afterwards."""
        current = self.settings.current_a
        self.check_limit("max_current_a", current, "source current")
        sid = str(sample.sample_id)
        if not sid or not all(c.isalnum() or c in "-_." for c in sid):
            raise ValueError(f"{self.kind}: sample id {sid!r} cannot be sent (letters, digits, - _ . only)")
        self.transport.write(f"SAMP:LOAD {sid}")
        self.transport.write(f"SOUR:CURR {current:g}")
        self.transport.write("OUTP ON")
        try:
            reply = self.transport.query("MEAS:SRES?")
        finally:
            self.transport.write("OUTP OFF")
        self.check_errors()
        try:
            value = float(reply)
        except ValueError:
            raise ProtocolError(f"{self.kind}: MEAS:SRES? answered {reply[:80]!r}") from None
        if not 0 < value < SCPI_NAN:
            raise InstrumentError(self.kind, -230, f"no valid reading for sample {sid} ({reply})")
        return Measurement(scalars={"sheet_resistance": value})
