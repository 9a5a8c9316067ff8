"""pyserial URL handler ``expect://<id>``: a port backed by an expected exchange (``labpilot.testing.exchange``).

pyserial's ``serial_for_url`` imports ``<package>.protocol_<scheme>`` for
every package in ``serial.protocol_handler_packages``; importing
``labpilot.testing`` adds this one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from labpilot.testing.exchange import Exchange, lookup


class Serial(SerialBase):
    """A serial port whose other end is a scripted ``Exchange``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.exchange: Exchange | None = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("port is already open")
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        parts = urlsplit(self._port)
        if parts.scheme != "expect" or not parts.netloc:
            raise SerialException(f"expected expect://<id>, got {self._port!r}")
        self.exchange = lookup(parts.netloc)
        self.is_open = True
        self._reconfigure_port()

    def _reconfigure_port(self) -> None:
        if self.exchange is not None:
            self.exchange.settings.update(
                baudrate=self._baudrate, bytesize=self._bytesize, parity=self._parity,
                stopbits=self._stopbits, timeout=self._timeout,
            )

    def close(self) -> None:
        self.is_open = False

    @property
    def in_waiting(self) -> int:
        if not self.is_open or self.exchange is None:
            raise PortNotOpenError()
        return len(self.exchange.readable)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open or self.exchange is None:
            raise PortNotOpenError()
        return self.exchange.read(size)  # nothing scripted to read: return at once, as after a timeout

    def write(self, data: bytes) -> int:
        if not self.is_open or self.exchange is None:
            raise PortNotOpenError()
        data = bytes(data)
        self.exchange.write(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        """Discard bytes not yet read (a reply arrives only after the request that asks for it)."""
        if self.exchange is not None:
            with self.exchange.lock:
                self.exchange.readable.clear()

    def reset_output_buffer(self) -> None:
        pass

    def flush(self) -> None:
        pass
