"""Fault injection for simulators: dropped, garbled, slow replies, disconnects, errors.

A fault spec is a comma-separated list of ``kind=rate`` pairs, e.g.
``drop=0.05,garble=0.05,slow=0.02,disconnect=0.01,error=0.01``. Each rate is a
probability in [0, 1] drawn independently per reply (or per action for
``error``). The injector draws from a seeded ``random.Random`` so a faulty dry
run is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: Known fault kinds and what they mean to a simulator.
FAULT_KINDS: dict[str, str] = {
    "drop": "the reply is never sent",
    "garble": "some bytes of the reply are corrupted",
    "slow": "the reply is delayed (see slow_delay)",
    "disconnect": "the instrument goes silent / drops the link for a while",
    "error": "the physical action fails with an instrument error code",
    "safe_error": "making the instrument safe (*RST / safe) is refused with an instrument error",
}


@dataclass(frozen=True)
class FaultSpec:
    """Per-kind fault rates (missing kinds are 0)."""

    rates: dict[str, float] = field(default_factory=dict)
    slow_s: float = 0.5
    disconnect_s: float = 1.0

    @classmethod
    def parse(cls, text: str | None) -> "FaultSpec":
        """Parse ``"drop=0.05,garble=0.1"``; an empty/None spec means no faults.

        Besides rates, ``slow_s=SECONDS`` and ``disconnect_s=SECONDS`` set how
        long a slow reply or a disconnect lasts (real seconds).
        """
        rates: dict[str, float] = {}
        extra: dict[str, float] = {}
        if not text or not text.strip():
            return cls()
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"fault spec item {part!r} is not KIND=RATE (in {text!r})")
            key, _, raw = part.partition("=")
            key = key.strip()
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"fault {key!r}: {raw.strip()!r} is not a number") from None
            if key in ("slow_s", "disconnect_s"):
                if not value >= 0 or value == float("inf"):
                    raise ValueError(f"fault {key!r}: duration {value} must be >= 0 and finite")
                extra[key] = value
                continue
            if key not in FAULT_KINDS:
                known = ", ".join(sorted(FAULT_KINDS) + ["slow_s", "disconnect_s"])
                raise ValueError(f"unknown fault kind {key!r}; known: {known}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {key!r}: rate {value} is outside [0, 1]")
            rates[key] = value
        return cls(rates=rates, **extra)

    def rate(self, kind: str) -> float:
        """The rate of ``kind`` (0 if absent); an unknown kind is a ValueError."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
        return self.rates.get(kind, 0.0)


class FaultInjector:
    """Decides, reproducibly, when a fault fires, and applies it to bytes."""

    def __init__(self, spec: FaultSpec, rng: random.Random | int | None = None) -> None:
        self.spec = spec
        self.rng = rng if isinstance(rng, random.Random) else random.Random(rng)
        self.counts: dict[str, int] = {k: 0 for k in FAULT_KINDS}

    def should(self, kind: str) -> bool:
        """Draw whether a fault of ``kind`` fires now (and count it)."""
        rate = self.spec.rate(kind)
        if rate <= 0.0:
            return False
        fired = self.rng.random() < rate
        if fired:
            self.counts[kind] += 1
        return fired

    def garble(self, data: bytes) -> bytes:
        """Corrupt ``data``: flip 1-3 bytes to non-ASCII noise (terminator kept).

        The trailing newline is preserved so that the reader sees a complete,
        but corrupt, line; the corruption always includes a byte >= 0x80 so a
        strict ASCII codec can detect it.
        """
        if not data:
            return data
        body, tail = (data[:-1], data[-1:]) if data.endswith(b"\n") else (data, b"")
        if not body:
            return bytes([0x80 | self.rng.randrange(128)]) + tail
        buf = bytearray(body)
        for _ in range(self.rng.randint(1, min(3, len(buf)))):
            i = self.rng.randrange(len(buf))
            buf[i] = 0x80 | self.rng.randrange(128)
        return bytes(buf) + tail

    def slow_delay(self) -> float:
        """Real seconds to delay a slow reply."""
        return self.spec.slow_s

    def disconnect_delay(self) -> float:
        """Real seconds a disconnect lasts."""
        return self.spec.disconnect_s
