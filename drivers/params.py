"""What a synthesizer accepts, and which option values its safety limits cap: declared, not discovered.

A synthesizer driver answers ``accepts(settings, limits)`` with the
parameters it takes (name, unit, bounds, required) and, for a composition,
which of them must add up to 1; ``labpilot validate`` compares the campaign's
``[[parameters]]`` and ``[[constraints]]`` with it, so a parameter the driver
would refuse at experiment 1 is refused before the campaign starts. Every
driver also lists ``limited_options(settings)``: option values a safety limit
caps (an XRD tube power, a DSC scan's end temperature). The driver checks
them before sending anything; ``validate`` checks the same list against the
campaign's limits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accepted:
    """One parameter a synthesizer accepts: its unit and the bounds it enforces."""

    name: str
    unit: str = ""
    #: Lowest accepted value (None: unbounded); ``low_open``: the value must exceed it.
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    #: The campaign must give it (the driver refuses a params dict without it).
    required: bool = False
    doc: str = ""

    def bounds_text(self) -> str:
        """``(0, 1000]``, ``[0, 1]``, ``> 0``... as a person reads it."""
        lo = "" if self.low is None else f"{'(' if self.low_open else '['}{self.low:g}"
        hi = "" if self.high is None else f"{self.high:g}]"
        if lo and hi:
            return f"{lo}, {hi}"
        if lo:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if hi:
            return f"<= {self.high:g}"
        return "any number"


@dataclass(frozen=True)
class Accepts:
    """Everything a synthesizer accepts, as the campaign must offer it."""

    params: tuple[Accepted, ...]
    #: Parameters that form a composition: those the campaign uses must sum to 1 (a simplex of total 1).
    fractions: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def get(self, name: str) -> Accepted | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass(frozen=True)
class LimitedOption:
    """An option value that the safety limit ``limit`` caps (checked before anything is sent)."""

    limit: str
    value: float
    #: What the value is, for the error ("X-ray tube power in W").
    what: str
    #: The option it comes from (or derives from, e.g. the scan's point count from its range).
    option: str


__all__ = ["Accepted", "Accepts", "LimitedOption"]
