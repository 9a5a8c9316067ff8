"""The CLI's side of the control channel: a Lazy Pirate ZeroMQ REQ client.

``ControlClient(endpoint).request("approve", id=3)`` sends one validated
request and returns the reply's ``result``; it raises ``OperatorRefused`` when
the campaign answers ``ok=false`` (the message is the campaign's reason),
and ``ControlUnavailable`` when nothing answers within ``timeout_s``. A
refused CURVE key or a security mismatch (CURVE on one side only) is a
``OperatorRefused`` saying so, seen on the handshake, not a timeout. It
never hangs: the REQ socket is polled with a timeout and, on timeout, closed
with linger 0 (a REQ socket that lost its reply cannot be reused).

Only the commands registered as idempotent (``status``, ``queue``, ``ping``;
see ``control.commands``) are resent once after a timeout. A command that changes the campaign (``approve``,
``override``, ``abort``...) may have been carried out even though its reply
was lost; resending it blindly could act twice (approve the *next* proposal
after the first one moved on, for instance). So it is sent once, and a
timeout says that the outcome is unknown and how to find it out.

Not thread-safe: use one client per thread.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from labpilot.errors import ControlProtocolError, ControlUnavailable, OperatorRefused
from labpilot.agent.control.auth import CurveClientKeys, parse_endpoint
from labpilot.agent.control.commands import COMMANDS
from labpilot.agent.control.messages import MAX_REPLY_BYTES, decode_reply, encode_request, make_request

log = logging.getLogger("labpilot.control")


class ControlClient:
    """Send control requests to the campaign listening on ``endpoint``."""

    def __init__(
        self,
        endpoint: str,
        *,
        token: str | None = None,
        timeout_s: float = 5.0,
        curve_secret_file: str | os.PathLike[str] | None = None,
        curve_server_public_file: str | os.PathLike[str] | None = None,
        actor: str | None = None,
    ) -> None:
        self._parsed = parse_endpoint(endpoint)  # ValueError naming a malformed endpoint
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        if (curve_secret_file is None) != (curve_server_public_file is None):
            raise ValueError("CURVE needs both curve_secret_file (the client's) and curve_server_public_file")
        self.endpoint = endpoint
        self.timeout_s = float(timeout_s)
        self._token = token
        self._actor = actor
        self._curve = (
            CurveClientKeys.load(curve_secret_file, curve_server_public_file)
            if curve_secret_file is not None and curve_server_public_file is not None
            else None
        )
        self._ctx = zmq.Context.instance()
        self._socket: zmq.Socket[Any] | None = None
        self._monitor: zmq.Socket[Any] | None = None
        self._pollers: tuple[zmq.Poller, zmq.Poller] | None = None  # (sendable, readable) of the socket

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send ``cmd`` with ``args``; return the result or raise (see module doc)."""
        try:
            payload = encode_request(make_request(cmd, args, self._token, self._actor))
        except ControlProtocolError as exc:
            raise OperatorRefused(str(exc)) from None
        attempts = 2 if COMMANDS.is_idempotent(cmd) else 1
        for attempt in range(1, attempts + 1):
            raw = self._exchange(payload)
            if raw is not None:
                break
            log.debug("no control reply from %s (attempt %d/%d)", self.endpoint, attempt, attempts)
        else:
            raise ControlUnavailable(self._unavailable_message(cmd, attempts))
        try:
            reply = decode_reply(raw)
        except ControlProtocolError as exc:
            raise OperatorRefused(f"malformed reply from {self.endpoint}: {exc}") from None
        if not reply.ok:
            raise OperatorRefused(reply.error or "refused")
        return reply.result or {}

    def _exchange(self, payload: bytes) -> bytes | None:
        """One send and one bounded wait; None (and a fresh socket next time) on timeout.

        Meanwhile a socket monitor watches the security handshake, so that a
        refused CURVE key or a security mismatch is reported as such at once
        instead of as a silent timeout.
        """
        sock = self._socket or self._connect()
        assert self._monitor is not None and self._pollers is not None
        # Never a blocking send: with no peer to send to (a handshake that failed and dropped
        # the connection, a server not up yet) a REQ socket's send would wait forever.
        sendable, poller = self._pollers
        deadline = time.monotonic() + self.timeout_s
        try:
            try:  # a connected peer takes it at once (no poll); else wait for one below, watching the handshake
                sock.send(payload, zmq.NOBLOCK)
                sent = True
            except zmq.Again:
                sent = False
            while not sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._drop_socket()
                    return None
                ready = dict(sendable.poll(max(1, int(left * 1000))))
                if self._monitor in ready:
                    self._check_handshake(recv_monitor_message(self._monitor))
                if ready.get(sock, 0) & zmq.POLLOUT:
                    sock.send(payload, zmq.NOBLOCK)
                    sent = True
            while (left := deadline - time.monotonic()) > 0:
                ready = dict(poller.poll(max(1, int(left * 1000))))
                if sock in ready:
                    frames = sock.recv_multipart()
                    return frames[0] if len(frames) == 1 else b"".join(frames)
                if self._monitor in ready:
                    self._check_handshake(recv_monitor_message(self._monitor))
        except zmq.ZMQError as exc:
            log.debug("control exchange with %s failed: %s", self.endpoint, exc)
        except OperatorRefused:
            self._drop_socket()
            raise
        self._drop_socket()
        return None

    def _check_handshake(self, event: dict[str, Any]) -> None:
        if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            raise OperatorRefused(
                f"authentication failed: the campaign at {self.endpoint} refused this client's CURVE key"
                if self._curve is not None
                else f"authentication failed: the campaign at {self.endpoint} refused this client"
            )
        if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            if event["value"] == getattr(zmq, "PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH", None):
                need = "does not use CURVE; drop the CURVE keys" if self._curve else "requires CURVE keys"
                raise OperatorRefused(f"security mismatch: the control endpoint at {self.endpoint} {need}")
            raise OperatorRefused(f"handshake with {self.endpoint} failed (protocol error {event['value']}): is it a labpilot control endpoint?")

    def _connect(self) -> zmq.Socket[Any]:
        sock = self._ctx.socket(zmq.REQ)
        sock.linger = 0
        sock.maxmsgsize = MAX_REPLY_BYTES  # a peer sending more is dropped by libzmq
        if self._parsed.is_ipv6:
            sock.ipv6 = True
        if self._curve is not None:
            sock.curve_secretkey = self._curve.secret
            sock.curve_publickey = self._curve.public
            sock.curve_serverkey = self._curve.server_public
        self._monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
        sock.connect(self.endpoint)
        self._socket = sock
        sendable, readable = zmq.Poller(), zmq.Poller()  # made once per socket, not per request
        sendable.register(sock, zmq.POLLOUT)
        sendable.register(self._monitor, zmq.POLLIN)
        readable.register(sock, zmq.POLLIN)
        readable.register(self._monitor, zmq.POLLIN)
        self._pollers = (sendable, readable)
        return sock

    def _drop_socket(self) -> None:
        self._pollers = None
        if self._socket is not None:
            self._socket.disable_monitor()
            self._socket.close(linger=0)
            self._socket = None
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None

    def _unavailable_message(self, cmd: str, attempts: int) -> str:
        tries = "twice" if attempts == 2 else "once"
        msg = (
            f"no reply from the campaign at {self.endpoint} within {self.timeout_s:g} s (sent {tries}): "
            "is the campaign running?"
        )
        if self._curve is not None:
            msg += " With CURVE, also check that the server admits this client's key."
        if not COMMANDS.is_idempotent(cmd):
            msg += f" The {cmd!r} command was not resent; it may or may not have taken effect: check `labpilot status`."
        return msg

    def close(self) -> None:
        """Release the socket (the shared ZeroMQ context stays)."""
        self._drop_socket()

    def __del__(self) -> None:
        # a one-shot ``ControlClient(ep).request(...)`` must not leak its socket
        try:
            self._drop_socket()
        except Exception:  # interpreter shutdown: the context may be gone already
            pass

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
