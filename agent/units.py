"""Units of the quantities labpilot's instruments report, for axes and headers.

The drivers document their units in their docstrings (magnetization in
emu/cm³, impact strength in kJ/m², ...); this table is the one place the
agent looks them up, so plots, the dashboard, the report and exported CSV
headers all say the same thing. A quantity not listed has no unit shown.
"""

from __future__ import annotations

UNITS: dict[str, str] = {
    # magnetometer
    "magnetization": "emu/cm³",
    # mechanical tester
    "tensile_modulus": "MPa",
    "impact_strength": "kJ/m²",
    # DSC
    "melting_point": "°C",
    "crystallinity": "fraction",
    "temperature": "°C",
    "heat_flow": "W/g",
    # XRD
    "peak_two_theta": "° 2θ",
    "two_theta": "° 2θ",
    "counts": "counts",
}

#: Arrays that are the x axis of a measured curve (the others are signals).
AXES: tuple[str, ...] = ("two_theta", "temperature", "time", "strain")


def unit(name: str) -> str:
    """The unit of ``name`` (``xrd.counts`` or ``counts``), or ``""``."""
    return UNITS.get(name.rsplit(".", 1)[-1], "")


def label(name: str) -> str:
    """``magnetization (emu/cm³)``: a quantity with its unit, for an axis or a header."""
    u = unit(name)
    return f"{name} ({u})" if u and u != name.rsplit(".", 1)[-1] else name
