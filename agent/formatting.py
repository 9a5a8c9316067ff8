"""Numbers for people: parameters and results printed the same way everywhere.

A planner working on a simplex returns compositions such as ``Ni=3.354e-16``:
numerically zero, but printed like that it reads as a real (tiny) amount.
``fmt_value`` prints values below ``ZERO`` in magnitude as ``0``.
"""

from __future__ import annotations

from typing import Any, Mapping

ZERO = 1e-9
"""Magnitudes below this are printed as 0 (far below any instrument's resolution)."""


def fmt_value(v: Any, digits: int = 4) -> str:
    """A parameter or result value: ``0.7517``, ``0``, ``1995``, ``Fe`` (strings as they are)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, float) and abs(v) < ZERO:
        return "0"
    return f"{v:.{digits}g}"


def fmt_params(params: Mapping[str, Any], digits: int = 4, sep: str = ", ") -> str:
    """``Fe=0.7517, Co=0.1957, Ni=0``."""
    return sep.join(f"{k}={fmt_value(v, digits)}" for k, v in params.items())
