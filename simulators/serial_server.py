"""Serve a line-oriented device on a pseudo-terminal (or a TCP port), with faults.

``serve_pty`` opens a pty pair, prints the slave's path as the first stdout
line, and answers each ``\\n``-terminated command line written to the slave
with the device's reply line. Any serial client (pyserial, ``screen``,
``minicom``) can open that path. The server keeps its own handle on the slave
so that clients may close and reopen the port at will.

Faults (see ``simulators.faults``) act on the link: ``disconnect`` makes the
device go silent and deaf for ``disconnect_s`` real seconds (the command that
triggered it is lost, as is everything sent meanwhile); ``drop`` processes
the command but sends no reply; ``garble`` corrupts the reply's bytes;
``slow`` delays the reply by ``slow_s``. Instrument ``error`` faults are the
device's business (an action fails).

The loop is single-threaded: the device's ``tick()`` runs between lines (at
least every ``tick_s``) so long actions finish on the virtual clock even when
no one is asking.

Whatever the cable carries, the loop goes on serving: a line is cut at
``MAX_LINE_BYTES`` (the device queues its overflow error), looking for the
end of a line is linear in the bytes received, and an exception from one line
(or from a clock tick) is logged and queued as an execution error (standard
SCPI: no reply) instead of ending the process. A line the device does not
answer (a set-command, a refused command) sends nothing.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import sys
import time
import tty
from typing import Callable, Iterable, Protocol

from labpilot.protocols.scpi import ERR_EXECUTION, MAX_LINE_BYTES
from labpilot.simulators.faults import FaultInjector

log = logging.getLogger("labpilot.sim.serial")


class LineDevice(Protocol):
    """What the server needs from a device: a reply per line, and a clock tick."""

    def handle_line(self, line: bytes) -> str | None: ...

    def tick(self) -> None: ...

    def overflow(self) -> str | None: ...


class LineServer:
    """Feeds received bytes to a ``LineDevice`` line by line and writes replies, applying link faults."""

    def __init__(self, device: LineDevice, faults: FaultInjector, tick_s: float = 0.02) -> None:
        self.device = device
        self.faults = faults
        self.tick_s = tick_s
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already known to hold no newline
        self._deaf_until = 0.0
        self.lines = 0
        self.internal_errors = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Take received bytes; return the reply bytes to send (possibly faulted), in order."""
        out: list[bytes] = []
        if time.monotonic() < self._deaf_until:
            self._clear()
            return out
        self._buf += data
        while True:
            nl = self._buf.find(b"\n", self._scanned)
            if nl < 0:
                self._scanned = len(self._buf)
                if len(self._buf) > MAX_LINE_BYTES:
                    self._clear()
                    reply = self._guarded(lambda: _line(self.device.overflow()))
                    if reply is not None:
                        out.append(reply)
                return out
            line = bytes(self._buf[: nl + 1])
            del self._buf[: nl + 1]
            self._scanned = 0
            if not line.strip():
                continue
            reply = self._guarded(lambda: self._one(line))
            if reply is not None:
                out.append(reply)
            if time.monotonic() < self._deaf_until:
                self._clear()
                return out

    def _clear(self) -> None:
        self._buf.clear()
        self._scanned = 0

    def _guarded(self, make_reply: Callable[[], bytes | None]) -> bytes | None:
        """Run one line's work; an exception becomes a queued error (no reply), never the end of the loop."""
        try:
            return make_reply()
        except Exception as exc:
            self.internal_errors += 1
            log.exception("line failed inside the simulator")
            push = getattr(self.device, "push_error", None)
            if push is not None:
                push(ERR_EXECUTION, f"Execution error; internal {type(exc).__name__}")
            return None

    def tick(self) -> None:
        """Advance the device's clock; a failing tick is logged, the loop goes on."""
        try:
            self.device.tick()
        except Exception:
            self.internal_errors += 1
            log.exception("device tick failed")

    def _one(self, line: bytes) -> bytes | None:
        self.lines += 1
        if self.faults.should("disconnect"):
            self._deaf_until = time.monotonic() + self.faults.disconnect_delay()
            log.info("fault: disconnect for %.2fs (lost %r)", self.faults.disconnect_delay(), line)
            return None
        reply = _line(self.device.handle_line(line))
        if reply is None:
            return None
        if self.faults.should("drop"):
            log.info("fault: dropped reply %r to %r", reply, line)
            return None
        if self.faults.should("garble"):
            reply = self.faults.garble(reply)
            log.info("fault: garbled reply to %r", line)
        if self.faults.should("slow"):
            log.info("fault: slow reply to %r", line)
            time.sleep(self.faults.slow_delay())
        return reply

    # ---------------------------------------------------------------- pty
    def serve_pty(self, announce=None) -> None:
        """Serve forever on a new pty; print its path first (or pass it to ``announce``)."""
        serve_on_pty(self.feed, self.tick, self.tick_s, announce)

    # ---------------------------------------------------------------- tcp
    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0, announce=None) -> None:
        """Serve one client at a time on TCP (for ``socket://host:port`` clients)."""
        srv = socket.create_server((host, port))
        try:
            _announce(f"socket://{host}:{srv.getsockname()[1]}", announce)
            while True:
                ready, _, _ = select.select([srv], [], [], self.tick_s)
                self.tick()
                if not ready:
                    continue
                conn, _ = srv.accept()
                with conn:
                    self._clear()
                    while True:
                        ready, _, _ = select.select([conn], [], [], self.tick_s)
                        self.tick()
                        if not ready:
                            continue
                        try:
                            data = conn.recv(65536)
                        except OSError as exc:  # reset by the peer: wait for the next client
                            log.info("client connection lost: %s", exc)
                            break
                        if not data:
                            break
                        try:
                            for reply in self.feed(data):
                                conn.sendall(reply)
                        except OSError as exc:
                            log.info("client connection lost while replying: %s", exc)
                            break
        finally:
            srv.close()


def serve_device(device, args) -> None:
    """Serve ``device`` as the command line asked: ``--pty`` or ``--tcp HOST:PORT``."""
    server = LineServer(device, device.faults)
    if getattr(args, "tcp", None):
        host, _, port = args.tcp.rpartition(":")
        server.serve_tcp(host, int(port))
    else:
        server.serve_pty()


def _line(text: str | None) -> bytes | None:
    """A reply text → its ``\\n``-terminated bytes (``None``: nothing to send)."""
    return None if text is None else (text + "\n").encode("ascii")


def serve_on_pty(
    feed: Callable[[bytes], Iterable[bytes]], tick: Callable[[], None], tick_s: float, announce=None,
) -> None:
    """Serve forever on a new raw pseudo-terminal: announce its path, then feed it bytes and write the replies.

    ``tick`` runs at least every ``tick_s`` (an instrument's clock moves on
    without traffic). The slave end stays open here, so a client may close
    and reopen the port. A reply nobody reads, or a pty hiccup, drops that
    reply and keeps serving. Shared by the built-in serial simulators and
    the driver authors' ``labpilot.testing.LineSimulator``.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    try:
        _announce(os.ttyname(slave), announce)
        while True:
            ready, _, _ = select.select([master], [], [], tick_s)
            tick()
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:
                time.sleep(tick_s)
                continue
            for reply in feed(data):
                try:
                    _write_all(master, reply)
                except OSError as exc:  # the pty hiccuped: drop this reply, keep serving
                    log.warning("could not write a reply to the pty: %s", exc)
    finally:
        os.close(master)
        os.close(slave)


def _announce(address: str, announce) -> None:
    if announce is not None:
        announce(address)
        return
    sys.stdout.write(address + "\n")
    sys.stdout.flush()


def _write_all(fd: int, data: bytes, stall_s: float = 2.0) -> None:
    """Write to a non-blocking fd; give up (drop the rest) if no one reads for ``stall_s``."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            _, writable, _ = select.select([], [fd], [], stall_s)
            if not writable:
                log.warning("no reader for %.1fs: dropped %d reply bytes", stall_s, len(view))
                return
            continue
        view = view[n:]
