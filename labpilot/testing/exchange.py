"""An in-memory expected exchange: test a serial driver against exact request/reply bytes, no device.

In the spirit of pymeasure's ``expected_protocol``: a test lists the bytes
the driver must write and the bytes the instrument answers, in order::

    from labpilot.testing import expected_protocol

    with expected_protocol(FourPointProbe, [
        (b"*IDN?\\n", b"OHMTEK,FPP-4,SN0001,FW2.3a\\r\\n"),
        (b"CURR 0.001\\n", None),            # a set-command: no reply
    ], options={"current_a": 1e-3}) as probe:
        probe.set_current(1e-3)

The driver opens the URL ``expect://<id>`` with ``serial.serial_for_url``
as it would any port (pyserial finds this package's ``protocol_expect``
handler); every write is compared with the next expected request, the
matching reply becomes readable, and a read with nothing to read returns
nothing at once (a timeout, without waiting). A write that differs, bytes
the test did not expect, or expected requests left unsent when the block
ends fail the test with both byte strings shown. The port also records the
settings it was opened with (``exchange.settings['baudrate']``).
"""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import serial

Pair = tuple[bytes | None, bytes | None]

#: This package holds pyserial's ``protocol_expect`` URL handler.
HANDLER_PACKAGE = "labpilot.testing"
if HANDLER_PACKAGE not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(HANDLER_PACKAGE)


class ExchangeMismatch(AssertionError):
    """The driver wrote bytes the expected exchange did not list (a test failure, not a runtime error)."""


@dataclass
class Exchange:
    """One scripted conversation: the expected (request, reply) pairs and what happened."""

    pairs: list[Pair]
    position: int = 0
    written: bytearray = field(default_factory=bytearray)
    readable: bytearray = field(default_factory=bytearray)
    #: Every write as the driver made it, in order.
    log: list[bytes] = field(default_factory=list)
    #: The serial settings of the last open (baudrate, bytesize, parity, stopbits, timeout).
    settings: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _advance(self) -> None:
        """Queue replies of pairs that need no request (unsolicited output) at the current position."""
        while self.position < len(self.pairs) and self.pairs[self.position][0] is None:
            self.readable += self.pairs[self.position][1] or b""
            self.position += 1

    def write(self, data: bytes) -> None:
        with self.lock:
            self.log.append(bytes(data))
            self.written += data
            while self.written:
                self._advance()
                if self.position >= len(self.pairs):
                    self._fail(f"unexpected write {bytes(self.written)!r} after the last expected exchange")
                request, reply = self.pairs[self.position]
                assert request is not None
                if len(self.written) < len(request):
                    if not request.startswith(bytes(self.written)):
                        self._fail(f"exchange {self.position}: expected {request!r}, got {bytes(self.written)!r}")
                    return
                if not bytes(self.written).startswith(request):
                    got = bytes(self.written[: max(len(request), 1)])
                    self._fail(f"exchange {self.position}: expected {request!r}, got {got!r}")
                del self.written[: len(request)]
                self.readable += reply or b""
                self.position += 1

    def read(self, size: int) -> bytes:
        with self.lock:
            self._advance()
            out = bytes(self.readable[:size])
            del self.readable[:size]
            return out

    def _fail(self, message: str) -> None:
        self.failure = self.failure or message
        raise ExchangeMismatch(message)

    def check_done(self) -> None:
        """Fail if a write went wrong, or if expected requests were never sent or replies never read."""
        if self.failure:
            raise ExchangeMismatch(self.failure)
        if self.written:
            raise ExchangeMismatch(f"partial write {bytes(self.written)!r} matches no expected request")
        left = self.pairs[self.position:]
        if left:
            raise ExchangeMismatch(f"{len(left)} expected exchange(s) never happened, next: {left[0]!r}")
        if self.readable:
            raise ExchangeMismatch(f"reply bytes never read: {bytes(self.readable)!r}")


_EXCHANGES: dict[str, Exchange] = {}
_ids = itertools.count(1)


def lookup(key: str) -> Exchange:
    """The exchange behind ``expect://<key>`` (used by the URL handler)."""
    try:
        return _EXCHANGES[key]
    except KeyError:
        raise serial.SerialException(f"no expected exchange is open under expect://{key}") from None


@contextmanager
def expected_exchange(pairs: Sequence[Pair]) -> Iterator[tuple[str, Exchange]]:
    """Yield ``(url, exchange)``: a port URL scripted with ``pairs``; checked complete when the block ends."""
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(p is None or isinstance(p, bytes) for p in pair)):
            raise TypeError(f"pairs[{i}] must be a (request bytes | None, reply bytes | None) tuple, got {pair!r}")
        if pair == (None, None):
            raise TypeError(f"pairs[{i}] is (None, None): give a request, a reply, or both")
    key = str(next(_ids))
    exchange = Exchange(list(pairs))
    _EXCHANGES[key] = exchange
    try:
        yield f"expect://{key}", exchange
        exchange.check_done()
    finally:
        del _EXCHANGES[key]


@contextmanager
def expected_protocol(driver_cls: type, pairs: Sequence[Pair], **kwargs: Any) -> Iterator[Any]:
    """Yield ``driver_cls("expect://...", **kwargs)`` talking to ``pairs``; the handshake is part of them."""
    with expected_exchange(pairs) as (url, _exchange):
        driver = driver_cls(url, **kwargs)
        try:
            yield driver
        finally:
            driver.close()


__all__ = ["Exchange", "ExchangeMismatch", "Pair", "expected_exchange", "expected_protocol", "lookup"]
