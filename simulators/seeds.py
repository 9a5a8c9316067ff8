"""Seeds of the simulators: non-negative integers (what numpy's generators accept)."""

from __future__ import annotations

from labpilot.errors import SimulatorError


def check_seed(value: object, name: str = "seed") -> int:
    """``value`` if it can seed a simulator, else ``SimulatorError`` naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SimulatorError(f"{name} must be a non-negative integer, got {value!r}")
    return value
