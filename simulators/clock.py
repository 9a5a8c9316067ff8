"""A virtual clock: simulated instruments run nominal durations faster than real time.

A 30-minute deposition at ``speed=1000`` takes 1.8 real seconds. ``now()``
reports *virtual* seconds since the clock was made, so a simulator can
compute an action's progress as ``(now - started) / nominal_duration``.
"""

from __future__ import annotations

import time


class VirtualClock:
    """Virtual time = real elapsed time × ``speed``."""

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0 or speed != speed or speed == float("inf"):
            raise ValueError(f"clock speed must be a positive finite number, got {speed!r}")
        self.speed = float(speed)
        self._t0 = time.monotonic()

    def now(self) -> float:
        """Virtual seconds since the clock started."""
        return (time.monotonic() - self._t0) * self.speed

    def real_seconds(self, virtual_s: float) -> float:
        """How many real seconds ``virtual_s`` virtual seconds take."""
        return max(0.0, float(virtual_s)) / self.speed

    def sleep(self, virtual_s: float) -> None:
        """Block for ``virtual_s`` virtual seconds."""
        time.sleep(self.real_seconds(virtual_s))
