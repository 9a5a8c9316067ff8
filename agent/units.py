"""Units of the quantities labpilot's instruments report, for axes and headers.

Every instrument declares the units of what it measures: a built-in driver
on its class (``scalars = {"magnetization": "emu/cm³"}``), a generic one
(``command``, ``python``, ``manual``, ``scpi``, ``folder``) in its options
(``scalars = { hardness = "GPa" }``, ``"1"`` for dimensionless).
``campaign_units`` collects them from a stored campaign's configuration and
``label`` writes ``name (unit)``, so plots, the dashboard, the report,
``labpilot queue`` and exported CSV headers all say the same thing. The
table below labels a quantity no configured instrument declares (an
instrument kind not installed here, an old database).
"""

from __future__ import annotations

from typing import Any, Mapping

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


def unit(name: str, units: Mapping[str, str] | None = None) -> str:
    """The unit of ``name`` (``xrd.counts`` or ``counts``): the declared one in ``units`` (by full name,
    then bare name), else the shared table's, else ``""``."""
    bare = name.rsplit(".", 1)[-1]
    for table in (units or {}, UNITS):
        for key in (name, bare):
            if key in table:
                return table[key].strip()
    return ""


def label(name: str, units: Mapping[str, str] | None = None) -> str:
    """``hardness (GPa)``: a quantity with its unit (see ``unit``), for an axis, a header or a table.

    A dimensionless quantity (unit ``"1"``) says so: ``refractive_index (dimensionless)``; an empty
    unit, or one that only repeats the name (``counts``), shows none."""
    u = unit(name, units)
    if u == "1":
        return f"{name} (dimensionless)"
    return f"{name} ({u})" if u and u != name.rsplit(".", 1)[-1] else name


def campaign_units(config: Mapping[str, Any]) -> dict[str, str]:
    """Quantity -> unit for a campaign (its stored configuration): the shared table, overridden by what
    each configured instrument declares (scalars and arrays, under ``name`` and ``instrument.name``)."""
    from labpilot import registry
    from labpilot.errors import LabpilotError

    out = dict(UNITS)
    qualified: dict[str, str] = {}
    for inst in config.get("instruments") or []:
        try:
            cls = registry.configured_class(inst["kind"], inst.get("options") or {})
        except (LabpilotError, KeyError):
            continue  # a kind not installed here: the shared table labels its quantities
        for name, u in {**dict(getattr(cls, "arrays", {}) or {}), **dict(getattr(cls, "scalars", {}) or {})}.items():
            out[name] = u
            qualified[f"{inst.get('name', inst['kind'])}.{name}"] = u
    return {**out, **qualified}
