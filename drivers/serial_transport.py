"""A line transport over ``serial.serial_for_url`` with bounded, logged retries.

One ``query`` = write one command line (optionally preceded, in the same
write, by set-commands that get no reply: standard SCPI), read one reply
line. A reply that
does not arrive within ``timeout_s`` (dropped, instrument silent) or that
does not parse (garbled bytes) is logged and the *same* line is re-sent after
flushing the input buffer, with exponential backoff, at most ``retries``
times. That is safe because every command of the protocol is idempotent or
carries a command id the instrument de-duplicates. When the port itself
fails (device unplugged, pty gone) it is closed and reopened before the next
attempt.

Every exchange is logged at DEBUG level on the ``labpilot.serial`` logger;
every retry at WARNING.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar

import serial


from labpilot.errors import ProtocolError, ScpiProtocolError, TransportTimeout
from labpilot.protocols.scpi import MAX_LINE_BYTES, Command, encode_line, parse_reply

log = logging.getLogger("labpilot.serial")

T = TypeVar("T")


class SerialTransport:
    """Query/reply lines on a serial URL (device path, pty path, ``socket://``, ``loop://``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.05,
        baudrate: int = 115200,
        name: str = "serial",
        port_factory: Callable[[], serial.SerialBase] | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.url = url
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.baudrate = baudrate
        self.name = name
        self._factory = port_factory or self._open_url
        #: counters a test or an operator can read: sent lines, retries, garbled and lost replies
        self.stats = {"queries": 0, "retries": 0, "garbled": 0, "timeouts": 0, "reopens": 0}
        self._port: serial.SerialBase | None = None
        # one exchange at a time: a status poll from another thread must not interleave with a command
        self._lock = threading.RLock()
        self._port = self._connect()

    # ---------------------------------------------------------------- port
    def _open_url(self) -> serial.SerialBase:
        try:
            return serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=self.timeout_s, write_timeout=self.timeout_s
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportTimeout(f"{self.name}: cannot open serial port {self.url!r}: {exc}") from exc

    def _connect(self) -> serial.SerialBase:
        port = self._factory()
        port.timeout = self.timeout_s
        return port

    def _reopen(self) -> None:
        self.stats["reopens"] += 1
        log.warning("%s: reopening %s", self.name, self.url)
        self._close_port()
        self._port = self._connect()

    def _close_port(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except (serial.SerialException, OSError):
                pass
            self._port = None

    @property
    def port(self) -> serial.SerialBase:
        """The open pyserial port (reopened if a previous attempt failed)."""
        if self._port is None:
            self._port = self._connect()
        return self._port

    # ---------------------------------------------------------------- I/O
    def _read_line(self) -> bytes:
        """Read up to the ``\\n`` terminator, or return what came before the timeout."""
        port = self.port
        deadline = time.monotonic() + self.timeout_s
        buf = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(buf)
            port.timeout = remaining
            chunk = port.read_until(b"\n", MAX_LINE_BYTES - len(buf))
            buf += chunk
            if buf.endswith(b"\n") or len(buf) >= MAX_LINE_BYTES:
                return bytes(buf)
            if not chunk:
                return bytes(buf)

    def exchange(
        self,
        line: str,
        parse: Callable[[str], T] | None = None,
        *,
        before: tuple[str, ...] = (),
        on_silence: Callable[[], None] | None = None,
    ) -> T | str:
        """Send ``line`` and return the reply text, retrying lost/garbled replies.

        ``parse`` (optional) turns the reply text into a value inside the retry
        loop: a reply it rejects with ``ScpiProtocolError`` counts as garbled
        and is retried like one. ``before`` are lines that get no reply (SCPI
        set-commands), written in the same attempt just before ``line`` and
        re-sent with it. ``on_silence`` runs after an attempt that got no
        reply, before the retry; it may raise to end the retries (a query the
        instrument refused is answered with silence, its error queued).

        Raises ``TransportTimeout`` when every attempt timed out or the port
        kept failing, ``ProtocolError`` when the last attempts only got
        garbled replies.
        """
        try:
            data = b"".join(encode_line(x) for x in (*before, line))
        except ScpiProtocolError as exc:
            raise ProtocolError(f"{self.name}: cannot send {line[:60]!r}: {exc}") from None
        shown = "; ".join((*before, line))
        with self._lock:
            return self._exchange(shown, data, parse, on_silence)

    def try_once(self, line: str, parse: Callable[[str], T]) -> T | None:
        """One attempt, no retry: the parsed reply, or ``None`` if it was lost, garbled or the port failed."""
        with self._lock:
            try:
                raw = self._attempt(encode_line(line))
            except (serial.SerialException, OSError, ScpiProtocolError):
                return None
            if not raw.endswith(b"\n"):
                return None
            try:
                return parse(parse_reply(raw))
            except ScpiProtocolError:
                return None

    def _attempt(self, data: bytes) -> bytes:
        port = self.port
        port.reset_input_buffer()
        log.debug("%s >> %r", self.name, data)
        port.write(data)
        port.flush()
        raw = self._read_line()
        log.debug("%s << %r", self.name, raw)
        return raw

    def _exchange(
        self, line: str, data: bytes, parse: Callable[[str], T] | None, on_silence: Callable[[], None] | None = None
    ) -> T | str:
        self.stats["queries"] += 1
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retries"] += 1
                delay = self.backoff_s * (2 ** (attempt - 1))
                log.warning("%s: retry %d/%d of %r after %s (backoff %.3fs)", self.name, attempt, self.retries, line, last, delay)
                time.sleep(delay)
            try:
                raw = self._attempt(data)
            except (serial.SerialException, OSError) as exc:
                last = TransportTimeout(f"port error: {exc}")
                log.warning("%s: port error on %r: %s", self.name, line, exc)
                try:
                    self._reopen()
                except TransportTimeout as reopen_exc:
                    last = reopen_exc
                continue
            if not raw.endswith(b"\n"):
                self.stats["timeouts"] += 1
                last = TransportTimeout(
                    f"no reply within {self.timeout_s:g}s" + (f" (partial {raw[:40]!r})" if raw else "")
                )
                if on_silence is not None and not raw:
                    on_silence()
                continue
            try:
                text = parse_reply(raw)
                return parse(text) if parse is not None else text
            except ScpiProtocolError as exc:
                self.stats["garbled"] += 1
                last = ProtocolError(f"garbled reply: {exc}")
                continue
        assert last is not None
        msg = f"{self.name} at {self.url}: {line!r} failed after {self.retries + 1} attempts: {last}"
        if isinstance(last, ProtocolError):
            raise ProtocolError(msg) from last
        raise TransportTimeout(msg) from last

    def query(
        self,
        header: str,
        *args: float | int | str,
        parse: Callable[[str], T] | None = None,
        before: tuple[str, ...] = (),
        on_silence: Callable[[], None] | None = None,
    ) -> T | str:
        """Build a command with the protocol's formatting rules and ``exchange`` it."""
        return self.exchange(self.build(header, *args), parse, before=before, on_silence=on_silence)

    def build(self, header: str, *args: float | int | str) -> str:
        """One command line's text, formatted by the protocol's rules (``ProtocolError`` if it cannot be)."""
        try:
            return Command.build(header, *args).text()
        except ScpiProtocolError as exc:
            raise ProtocolError(f"{self.name}: cannot encode {header}: {exc}") from exc

    def close(self) -> None:
        """Close the port."""
        self._close_port()

    def __enter__(self) -> "SerialTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
