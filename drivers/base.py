"""What every driver shares, whatever its transport: settings, safety limits, waits.

``DriverBase`` validates the campaign's safety limits at connect (an unknown
limit name is refused: a limit silently ignored is unsafe), checks values
against them before anything is sent, scales wait limits by a dry run's
virtual-clock speed, and opens the transport and handshakes once. The SCPI
(serial) and ZeroMQ driver bases add their protocol on top.
"""

from __future__ import annotations

from labpilot.errors import SafetyLimitError
import math
from typing import Any, Mapping


class DriverBase:
    """Common constructor and safety-limit logic of every instrument driver."""

    kind: str = "instrument"
    #: Safety-limit names this driver enforces; any other name is refused at connect.
    known_limits: tuple[str, ...] = ()

    def __init__(
        self,
        address: str,
        *,
        limits: Mapping[str, float] | None = None,
        options: Mapping[str, Any] | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
    ) -> None:
        self.address = address
        self.limits = self._check_limits(limits or {})
        self.options = dict(options or {})
        self.speed = float(self.options.get("speed", 1.0))
        if not self.speed > 0 or not math.isfinite(self.speed):
            raise ValueError(f"options['speed'] must be a positive number, got {self.speed!r}")
        self.timeout_s = float(timeout_s)
        self.transport = self._open_transport(
            address, timeout_s=timeout_s, retries=retries, backoff_s=float(self.options.get("backoff_s", 0.05)))
        try:
            self._connected(self._handshake())
        except BaseException:
            self.transport.close()
            raise

    # -- hooks for the protocol bases ------------------------------------------
    def _open_transport(self, address: str, *, timeout_s: float, retries: int, backoff_s: float) -> Any:
        raise NotImplementedError

    def _handshake(self) -> Any:
        """Check the protocol version and the kind of instrument; return what it said."""
        raise NotImplementedError

    def _connected(self, greeting: Any) -> None:
        """Keep what the handshake returned (subclasses name it)."""

    # -- lifecycle --------------------------------------------------------------
    def close(self) -> None:
        """Release the transport."""
        self.transport.close()

    def __enter__(self) -> "DriverBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- limits -----------------------------------------------------------------
    def _check_limits(self, limits: Mapping[str, float]) -> dict[str, float]:
        """Validate the campaign's limits: known names, finite numbers (an ignored limit is unsafe)."""
        out: dict[str, float] = {}
        for name, value in dict(limits).items():
            if name not in self.known_limits:
                known = ", ".join(self.known_limits) or "none"
                raise ValueError(f"{self.kind}: unknown safety limit {name!r}; this driver enforces: {known}")
            try:
                out[name] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self.kind}: safety limit {name!r} must be a number, got {value!r}") from None
            if not math.isfinite(out[name]):
                raise ValueError(f"{self.kind}: safety limit {name!r} must be finite, got {value!r}")
        return out

    def check_limit(self, name: str, value: float, what: str = "") -> None:
        """Raise ``SafetyLimitError`` if ``value`` exceeds ``limits[name]`` (when that limit is set)."""
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{self.kind}: {what or name} value {value!r} is not a finite number")
        maximum = self.limits.get(name)
        if maximum is not None and value > maximum:
            raise SafetyLimitError(name, float(value), maximum, what)

    def wait_limit_s(self, nominal_s: float) -> float:
        """Real seconds to wait for an action: nominal / speed × 3 + timeout."""
        return nominal_s / self.speed * 3.0 + self.timeout_s
