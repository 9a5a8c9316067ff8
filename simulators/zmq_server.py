"""The ZeroMQ side of a simulated instrument: a ROUTER loop with fault injection.

A ROUTER (not REP) socket, because a REP socket must answer every request
before it can read the next one, and a simulator that *drops* a reply must
keep serving. The server decodes each request frame, hands it to the
instrument's ``handle`` (``simulators.zmq_instrument.ZmqInstrument``) and
sends back the reply, unless a fault fires. Faults are applied *after* the
instrument acted, which is what makes them hard for a client:

- ``drop``: the reply is never sent;
- ``garble``: bytes of the reply frame are corrupted;
- ``slow``: the reply is sent ``slow_delay()`` seconds late (the server keeps
  serving meanwhile);
- ``disconnect``: the socket is closed, the server stays deaf for
  ``disconnect_delay()`` seconds, then binds the same endpoint again;
- ``error`` is drawn by the instrument itself, before it accepts an action.

Hostile frames do not stop it: the socket drops a peer that sends more than
``MAX_WIRE_BYTES``; a frame is decoded by the bounded strict decoder, so a
malformed one gets an ``ERR_BAD_REQUEST`` reply; and any exception from one
request (decoding, the instrument, encoding its reply) is logged and answered
with an error reply, and the loop goes on.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from typing import Protocol

import zmq

from labpilot.errors import EnvelopeError
from labpilot.protocols.envelope import ERR_BAD_REQUEST, ERR_HARDWARE, MAX_WIRE_BYTES, Reply, Request, decode_request, encode_reply, peek_request_id
from labpilot.simulators.faults import FaultInjector, FaultSpec

log = logging.getLogger("labpilot.sim.zmq")


class RequestHandler(Protocol):
    """What the server needs from an instrument: one reply per request."""

    kind: str

    def handle(self, request: Request) -> Reply: ...


class ZmqServer:
    """Serve one instrument on a ZeroMQ endpoint (``tcp://127.0.0.1:0`` picks a free port)."""

    def __init__(
        self,
        endpoint: str,
        handler: RequestHandler,
        faults: FaultInjector | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        self.requested_endpoint = endpoint
        self.handler = handler
        self.faults = faults or FaultInjector(FaultSpec())
        self._ctx = context or zmq.Context.instance()
        self._sock: zmq.Socket | None = None
        self._delayed: list[tuple[float, int, list[bytes]]] = []
        self._seq = 0
        self.endpoint = ""
        #: counters: requests served and faults applied
        self.stats = {
            "requests": 0, "dropped": 0, "garbled": 0, "slowed": 0, "disconnects": 0, "bad_requests": 0,
            "internal_errors": 0,
        }

    def bind(self) -> str:
        """Bind and return the real endpoint (with the chosen port)."""
        self._bind(self.requested_endpoint)
        return self.endpoint

    def _bind(self, endpoint: str) -> None:
        sock = self._ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_WIRE_BYTES)
        for attempt in range(50):
            try:
                sock.bind(endpoint)
                break
            except zmq.ZMQError:
                if attempt == 49:
                    sock.close(linger=0)
                    raise
                time.sleep(0.05)  # the old listener of a rebind may still hold the port
        self._sock = sock
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def serve(self, stop: threading.Event | None = None, poll_ms: int = 50) -> None:
        """Serve until ``stop`` is set (or forever); binds first if needed."""
        if self._sock is None:
            self.bind()
        stop = stop or threading.Event()
        try:
            while not stop.is_set():
                self._send_due()
                timeout = poll_ms
                if self._delayed:
                    timeout = max(0, min(poll_ms, int((self._delayed[0][0] - time.monotonic()) * 1000) + 1))
                assert self._sock is not None
                if self._sock.poll(timeout, zmq.POLLIN):
                    parts = self._sock.recv_multipart()
                    try:
                        self._serve_one(parts)
                    except Exception:  # one request must never end the simulator
                        self.stats["internal_errors"] += 1
                        log.exception("%s: request could not be served", self.handler.kind)
        finally:
            self.close()

    def _serve_one(self, parts: list[bytes]) -> None:
        if len(parts) < 3 or parts[-2] != b"":
            log.warning("%s: ignoring a message that is not from a REQ client (%d parts)", self.handler.kind, len(parts))
            return
        envelope, data = parts[:-1], parts[-1]
        self.stats["requests"] += 1
        frame = self._reply_frame(data)
        log.debug("%s: %s -> %s", self.handler.kind, data[:200], frame[:200])
        self._deliver(envelope, frame)

    def _reply_frame(self, data: bytes) -> bytes:
        """The reply frame to one request frame: the instrument's, or an error; never raises."""
        request_id: str | None = None
        try:
            request = decode_request(data)
        except EnvelopeError as exc:
            self.stats["bad_requests"] += 1
            log.warning("%s: %s", self.handler.kind, exc)
            return encode_reply(Reply.failure(peek_request_id(data), ERR_BAD_REQUEST, f"bad request: {exc}"))
        request_id = request.id
        try:
            return encode_reply(self.handler.handle(request))
        except Exception as exc:
            self.stats["internal_errors"] += 1
            log.exception("%s: %s failed", self.handler.kind, request.cmd)
            message = f"{request.cmd} failed: {type(exc).__name__}: {str(exc)[:200]}"
            return encode_reply(Reply.failure(request_id, ERR_HARDWARE, message))

    def _deliver(self, envelope: list[bytes], frame: bytes) -> None:
        f = self.faults
        if f.should("disconnect"):
            self.stats["disconnects"] += 1
            log.info("%s: fault: disconnect for %.2fs", self.handler.kind, f.disconnect_delay())
            self._disconnect(f.disconnect_delay())
            return
        if f.should("drop"):
            self.stats["dropped"] += 1
            log.info("%s: fault: reply dropped", self.handler.kind)
            return
        if f.should("garble"):
            self.stats["garbled"] += 1
            frame = f.garble(frame)
            log.info("%s: fault: reply garbled", self.handler.kind)
        if f.should("slow"):
            self.stats["slowed"] += 1
            self._seq += 1
            heapq.heappush(self._delayed, (time.monotonic() + f.slow_delay(), self._seq, envelope + [frame]))
            return
        self._send(envelope + [frame])

    def _send(self, parts: list[bytes]) -> None:
        assert self._sock is not None
        try:
            self._sock.send_multipart(parts, zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # the peer went away meanwhile: its problem, not ours
            log.info("%s: reply not sent: %s", self.handler.kind, exc)

    def _send_due(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            self._send(heapq.heappop(self._delayed)[2])

    def _disconnect(self, pause_s: float) -> None:
        endpoint = self.endpoint
        self.close()
        self._delayed.clear()
        time.sleep(pause_s)
        self._bind(endpoint)
