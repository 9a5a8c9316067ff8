"""Base class of the ZeroMQ drivers: handshake, limits, actions by command id.

A concrete driver sets ``kind`` and implements its capability method on top
of ``request`` and ``run_action``. The wire protocol is the JSON envelope of
``protocols.envelope``; long actions reply at once with ``state: running``
and the driver polls ``status`` by command id until done, then fetches the
``result``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from labpilot.errors import EnvelopeError, InstrumentError, ProtocolError, TransportTimeout
from labpilot.drivers.base import DriverBase

from labpilot.drivers.zmq_transport import ZmqTransport
from labpilot.protocols.capabilities import CommandOutcome
from labpilot.protocols.envelope import PROTOCOL_NAME, check_version, decode_arrays

log = logging.getLogger("labpilot.drivers")

_STATES = ("unknown", "running", "done", "failed")


class ZmqInstrumentDriver(DriverBase):
    """Common behaviour of every ZeroMQ driver (``Instrument`` capability)."""

    kind: str = "zmq"

    def _open_transport(self, address: str, *, timeout_s: float, retries: int, backoff_s: float) -> ZmqTransport:
        return ZmqTransport(address, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, name=self.kind)

    def _connected(self, greeting: dict[str, Any]) -> None:
        self.hello = greeting

    # ---------------------------------------------------------------- basics
    def _handshake(self) -> dict[str, Any]:
        """``hello``: check the protocol name and version, and that this is the right instrument."""
        hello = self.request("hello")
        if hello.get("protocol") != PROTOCOL_NAME:
            raise ProtocolError(f"{self.kind} at {self.address} speaks {hello.get('protocol')!r}, not {PROTOCOL_NAME}")
        try:
            check_version(str(hello.get("version")))
        except EnvelopeError as exc:
            raise ProtocolError(f"{self.kind} at {self.address}: {exc}") from None
        if hello.get("instrument") != self.kind:
            raise ProtocolError(
                f"{self.kind} driver at {self.address} found a {hello.get('instrument')!r} instrument"
            )
        log.info("%s: connected to %s at %s", self.kind, hello.get("idn"), self.address)
        return hello

    def request(self, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """One command, its result dict; errors raise ``DriverError`` subclasses."""
        return self.transport.request(cmd, args)

    def identify(self) -> str:
        """The instrument's identity string (``LABPILOT,MODEL,SERIAL,VERSION``)."""
        return str(self.request("hello").get("idn", ""))

    def status(self) -> dict[str, Any]:
        """A snapshot of the instrument's state."""
        return self.request("status")

    def make_safe(self) -> None:
        """Bring the instrument to a safe state."""
        self.request("safe")

    # ---------------------------------------------------------------- actions
    def run_action(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        """Start an action (``args["command_id"]`` required), wait until done, return its result.

        Safe to call again with the same command id: the instrument answers
        a known id with its first outcome and does not act again.
        """
        command_id = args["command_id"]
        started = self.request(cmd, args)
        state = started.get("state")
        if started.get("duplicate"):
            log.info("%s: %s %s was already known to the instrument (%s)", self.kind, cmd, command_id, state)
        if state not in _STATES:
            raise ProtocolError(f"{self.kind}: {cmd} reply has no valid state: {started!r}")
        self.wait(command_id, float(started.get("duration_s") or 0.0), started)
        return self.request("result", {"command_id": command_id})

    def wait(self, command_id: str, nominal_s: float, first: dict[str, Any] | None = None) -> None:
        """Poll ``status`` by command id until done; a failure raises ``InstrumentError``."""
        limit = self.wait_limit_s(nominal_s)
        poll = float(self.options.get("poll_s", min(1.0, max(0.0005, nominal_s / self.speed / 50.0))))
        deadline = time.monotonic() + limit
        st = first or self.request("status", {"command_id": command_id})
        while True:
            state = st.get("state")
            if state == "done":
                return
            if state == "failed":
                raise InstrumentError(self.kind, 301, f"{st.get('error')} (command id {command_id})")
            if state == "unknown":
                raise ProtocolError(f"{self.kind}: the instrument forgot command id {command_id!r} while it ran")
            if state != "running":
                raise ProtocolError(f"{self.kind}: status of {command_id!r} has no valid state: {st!r}")
            if time.monotonic() >= deadline:
                raise TransportTimeout(
                    f"{self.kind}: command {command_id} still running after {limit:.1f}s; "
                    f"nominal {nominal_s:g}s at speed {self.speed:g}"
                )
            time.sleep(poll)
            st = self.request("status", {"command_id": command_id})

    def raw_outcome(self, command_id: str) -> CommandOutcome:
        """The instrument's record of ``command_id``, result arrays decoded, without reshaping."""
        reply = self.request("outcome", {"command_id": command_id})
        state = reply.get("state")
        if state not in _STATES:
            raise ProtocolError(f"{self.kind}: outcome of {command_id!r} has no valid state: {reply!r}")
        result = reply.get("result")
        try:
            decoded = decode_arrays(result) if isinstance(result, dict) else None
        except EnvelopeError as exc:
            raise ProtocolError(f"{self.kind}: outcome of {command_id!r}: {exc}") from None
        return CommandOutcome(command_id, state, result=decoded, error=reply.get("error"))

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """What the instrument knows about ``command_id`` (subclasses shape ``result``)."""
        return self.raw_outcome(command_id)
