"""Numbers for people: parameters and results printed the same way everywhere.

A planner working on a simplex returns compositions such as ``Ni=3.354e-16``:
numerically zero, but printed like that it reads as a real (tiny) amount.
``fmt_value`` prints values below ``ZERO`` in magnitude as ``0``.
"""

from __future__ import annotations

from typing import Any, Mapping

ZERO = 1e-9
"""Results below this in magnitude are printed as 0."""

PARAM_ZERO = 1e-6
"""Parameter values below this are optimizer round-off (a composition fraction of 3e-9 is no
element at all, far below what any synthesizer can dose): printed as 0."""


def fmt_value(v: Any, digits: int = 4, zero: float = ZERO) -> str:
    """A parameter or result value: ``0.7517``, ``0``, ``1995``, ``Fe`` (strings as they are)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, float) and abs(v) < zero:
        return "0"
    return f"{v:.{digits}g}"


def fmt_params(params: Mapping[str, Any], digits: int = 4, sep: str = ", ") -> str:
    """``Fe=0.7517, Co=0.1957, Ni=0``."""
    return sep.join(f"{k}={fmt_value(v, digits, PARAM_ZERO)}" for k, v in params.items())
