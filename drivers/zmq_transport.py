"""A ZeroMQ REQ client following the Lazy Pirate pattern, speaking the JSON envelope.

One ``request`` = send one envelope, wait for its reply with ``poll``. If no
reply arrives within ``timeout_s`` (dropped, slow, instrument disconnected),
or the reply is garbled, the REQ socket is closed with ``linger=0`` (a REQ
socket cannot send again before it has received) and a fresh one is
connected; the *same* request, with the same request id, is re-sent after an
exponential backoff, at most ``retries`` times, then ``TransportTimeout``.
Re-sending is safe because queries are idempotent and every physical action
carries a command id that the instrument de-duplicates. A reply whose id does
not match the request is discarded and waited past.

Every exchange is logged at DEBUG on the ``labpilot.zmq`` logger, every retry
at WARNING.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from typing import Any

import zmq


from labpilot.errors import EnvelopeError, InstrumentError, ProtocolError, TransportTimeout
from labpilot.protocols.envelope import PROTOCOL_VERSION, Reply, Request, decode_reply, encode_request

log = logging.getLogger("labpilot.zmq")

_MAX_BACKOFF_S = 2.0


class ZmqTransport:
    """Request/reply envelopes over a (re-created on failure) ZeroMQ REQ socket."""

    def __init__(
        self,
        endpoint: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.05,
        name: str = "zmq",
        context: zmq.Context | None = None,
    ) -> None:
        if not isinstance(endpoint, str) or "://" not in endpoint:
            raise ValueError(f"ZeroMQ endpoint must look like tcp://host:port, got {endpoint!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if backoff_s < 0:
            raise ValueError(f"backoff_s must be >= 0, got {backoff_s}")
        self.endpoint = endpoint
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.name = name
        self._ctx = context or zmq.Context.instance()
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid():x}-{id(self) & 0xFFFFFF:x}"
        #: counters a test or an operator can read
        self.stats = {"requests": 0, "retries": 0, "garbled": 0, "timeouts": 0, "discarded": 0, "reopens": 0}
        self._sock: zmq.Socket | None = None
        self._lock = threading.RLock()
        self._open()

    # -------------------------------------------------------------- socket
    def _open(self) -> None:
        sock = self._ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(self.endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            raise ValueError(f"{self.name}: cannot connect to {self.endpoint!r}: {exc}") from exc
        self._sock = sock

    def _reopen(self) -> None:
        self.stats["reopens"] += 1
        self._close_socket()
        self._open()

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def close(self) -> None:
        """Close the socket (the context is shared and stays), after any exchange in progress."""
        with self._lock:
            self._close_socket()

    # ------------------------------------------------------------ requests
    def new_request_id(self) -> str:
        """A request id unique to this client process."""
        return f"{self._prefix}-{next(self._ids)}"

    def request(self, cmd: str, args: dict[str, Any] | None = None, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Send ``cmd`` and return the reply's ``result`` (one exchange at a time, from any thread).

        ZeroMQ sockets are not thread-safe: the agent's worker may be polling
        an action while an abort sends ``safe`` from the main thread, so each
        whole exchange, retries included, holds the transport's lock.
        """
        with self._lock:
            return self._request(cmd, args, timeout_s=timeout_s)

    def _request(self, cmd: str, args: dict[str, Any] | None, *, timeout_s: float | None) -> dict[str, Any]:
        """Send ``cmd`` and return the reply's ``result``.

        Raises ``InstrumentError`` if the instrument answered ``ok: false``,
        ``TransportTimeout`` when every attempt went unanswered or garbled,
        ``ProtocolError`` when the instrument could not parse our request.
        """
        if self._sock is None:
            raise ProtocolError(f"{self.name}: transport to {self.endpoint} is closed")
        try:
            request = Request(id=self.new_request_id(), cmd=cmd, args=args or {}, version=PROTOCOL_VERSION)
            frame = encode_request(request)
        except (EnvelopeError, ValueError) as exc:
            raise ProtocolError(f"{self.name}: cannot encode {cmd!r}: {exc}") from exc
        reply = self._exchange(request, frame, self.timeout_s if timeout_s is None else timeout_s)
        if reply.ok:
            return reply.result or {}
        assert reply.error is not None
        raise InstrumentError(self.name, reply.error.code, reply.error.message)

    def _exchange(self, request: Request, frame: bytes, timeout_s: float) -> Reply:
        self.stats["requests"] += 1
        problems: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retries"] += 1
                delay = min(_MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1))
                log.warning(
                    "%s: retry %d/%d of %s id=%s after %s (backoff %.3fs)",
                    self.name, attempt, self.retries, request.cmd, request.id, problems[-1], delay,
                )
                time.sleep(delay)
                self._reopen()
            log.debug("%s -> %s %s", self.name, self.endpoint, frame[:300])
            assert self._sock is not None
            self._sock.send(frame)
            reply, problem = self._await_reply(request, timeout_s)
            if reply is not None:
                return reply
            problems.append(problem)
        raise TransportTimeout(
            f"{self.name}: no valid reply to {request.cmd!r} (request {request.id}) from {self.endpoint} "
            f"after {self.retries + 1} attempts of {timeout_s:g}s: {'; '.join(problems)}"
        )

    def _await_reply(self, request: Request, timeout_s: float) -> tuple[Reply | None, str]:
        """The matching reply, or ``(None, why)`` once the socket must be reopened."""
        assert self._sock is not None
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sock.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                self.stats["timeouts"] += 1
                return None, f"timeout {timeout_s:g}s"
            data = self._sock.recv()
            log.debug("%s <- %s %s", self.name, self.endpoint, data[:300])
            try:
                reply = decode_reply(data)
            except EnvelopeError as exc:
                self.stats["garbled"] += 1
                log.warning("%s: garbled reply to %s id=%s: %s", self.name, request.cmd, request.id, exc)
                return None, f"garbled reply ({exc})"
            if reply.id is None and not reply.ok:
                assert reply.error is not None
                raise ProtocolError(
                    f"{self.name}: instrument could not parse request {request.cmd!r}: "
                    f"{reply.error.code} {reply.error.message}"
                )
            if reply.id != request.id:
                # A REQ socket gets one reply per request; a mismatched one is
                # stale or corrupt. Discard it; the REQ state machine now needs
                # a new socket to send again, so treat it like a lost reply.
                self.stats["discarded"] += 1
                log.warning("%s: discarded reply with id %r (expected %r)", self.name, reply.id, request.id)
                return None, f"reply id {reply.id!r} did not match"
            return reply, ""

    def __enter__(self) -> "ZmqTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
