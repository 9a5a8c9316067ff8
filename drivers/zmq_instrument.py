"""Base class of the ZeroMQ drivers: handshake, limits, actions by command id.

A concrete driver sets ``kind`` and implements its capability method on top
of ``request`` and ``run_action``. The wire protocol is the JSON envelope of
``protocols.envelope``; long actions reply at once with ``state: running``
and the driver polls ``status`` by command id until done, then fetches the
``result``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from labpilot.errors import EnvelopeError, ProtocolError
from labpilot.drivers.base import ACTION_STATES, ActionState, DriverBase
from labpilot.drivers.options import DriverOptions

from labpilot.drivers.zmq_transport import ZmqTransport
from labpilot.protocols.capabilities import CommandOutcome
from labpilot.protocols.envelope import PROTOCOL_NAME, check_version, decode_arrays

log = logging.getLogger("labpilot.drivers")


class ZmqOptions(DriverOptions):
    """Options of every ZeroMQ driver: the common ones (the endpoint is the instrument's address)."""


class ZmqInstrumentDriver(DriverBase):
    """Common behaviour of every ZeroMQ driver (``Instrument`` capability)."""

    Options: ClassVar[type[DriverOptions]] = ZmqOptions

    #: Labpilot's own instruments keep each command id's outcome.
    can_reconcile: ClassVar[bool] = True

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

        ``perform`` where one request is both status and start: the
        envelope protocol's actions are idempotent per command id, so the
        instrument answers a known id with its state (and nominal duration)
        and does not act again; only an unknown id starts an action.
        """
        command_id = args["command_id"]
        nominal = [0.0]

        def status_or_start() -> ActionState:
            started = self.request(cmd, args)
            if started.get("duplicate"):
                log.info("%s: %s %s was already known to the instrument", self.kind, cmd, command_id)
            nominal[0] = float(started.get("duration_s") or 0.0)
            return self._state(started, cmd)

        def unknown() -> ActionState:
            raise ProtocolError(f"{self.kind}: {cmd} {command_id!r} left the command id unknown")

        return self.perform(
            command_id,
            status=status_or_start,
            start=unknown,
            wait=lambda first: self.wait(command_id, nominal[0], first),
            fetch=lambda: self.request("result", {"command_id": command_id}),
        )

    def _state(self, reply: dict[str, Any], what: str) -> ActionState:
        state = reply.get("state")
        if state not in ACTION_STATES:
            raise ProtocolError(f"{self.kind}: {what} reply has no valid state: {reply!r}")
        return ActionState(state, 301, str(reply.get("error")))

    def _status(self, command_id: str) -> ActionState:
        return self._state(self.request("status", {"command_id": command_id}), f"status of {command_id!r}")

    def wait(self, command_id: str, nominal_s: float, first: ActionState | None = None) -> ActionState:
        """Poll ``status`` by command id until done; a failure raises ``InstrumentError``."""
        return self.wait_for(command_id, lambda: self._status(command_id), nominal_s, first)

    def raw_outcome(self, command_id: str) -> CommandOutcome:
        """The instrument's record of ``command_id``, result arrays decoded, without reshaping."""
        reply = self.request("outcome", {"command_id": command_id})
        state = reply.get("state")
        if state not in ACTION_STATES:
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
