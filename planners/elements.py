"""A small table of element properties, shipped as code.

``ae-bo`` turns a composition into element-property descriptors (see
``planners.descriptors``); this is the table it reads. Values are rounded
figures from standard references (atomic masses: IUPAC; electronegativity:
Pauling scale; metallic radius: 12-coordinate metallic radius; covalent
radius: Cordero et al. 2008, low-spin where two are given; valence electrons:
outer s + d (+ f for Ce) electrons; melting point in kelvin; first ionization
energy in eV; density at room temperature in g/cm^3). They are descriptors for
a machine-learning model, not reference data for calculations.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

import numpy as np

#: The descriptor properties, in the column order of ``property_matrix``.
PROPERTIES: tuple[str, ...] = (
    "atomic_number",
    "atomic_mass",
    "electronegativity",
    "metallic_radius_pm",
    "covalent_radius_pm",
    "valence_electrons",
    "melting_point_k",
    "ionization_energy_ev",
    "density_g_cm3",
)

# symbol: (Z, mass, Pauling EN, metallic r, covalent r, valence e-, Tm [K], IE1 [eV], density)
_TABLE: dict[str, tuple[float, ...]] = {
    "Mg": (12, 24.305, 1.31, 160, 141, 2, 923.0, 7.646, 1.74),
    "Al": (13, 26.982, 1.61, 143, 121, 3, 933.5, 5.986, 2.70),
    "Ti": (22, 47.867, 1.54, 147, 160, 4, 1941.0, 6.828, 4.51),
    "V": (23, 50.942, 1.63, 134, 153, 5, 2183.0, 6.746, 6.11),
    "Cr": (24, 51.996, 1.66, 128, 139, 6, 2180.0, 6.767, 7.19),
    "Mn": (25, 54.938, 1.55, 127, 139, 7, 1519.0, 7.434, 7.21),
    "Fe": (26, 55.845, 1.83, 126, 132, 8, 1811.0, 7.902, 7.87),
    "Co": (27, 58.933, 1.88, 125, 126, 9, 1768.0, 7.881, 8.90),
    "Ni": (28, 58.693, 1.91, 124, 124, 10, 1728.0, 7.640, 8.91),
    "Cu": (29, 63.546, 1.90, 128, 132, 11, 1357.8, 7.726, 8.96),
    "Zn": (30, 65.38, 1.65, 134, 122, 12, 692.7, 9.394, 7.14),
    "Ga": (31, 69.723, 1.81, 135, 122, 3, 302.9, 5.999, 5.91),
    "Y": (39, 88.906, 1.22, 180, 190, 3, 1799.0, 6.217, 4.47),
    "Zr": (40, 91.224, 1.33, 160, 175, 4, 2128.0, 6.634, 6.51),
    "Nb": (41, 92.906, 1.60, 146, 164, 5, 2750.0, 6.759, 8.57),
    "Mo": (42, 95.95, 2.16, 139, 154, 6, 2896.0, 7.092, 10.28),
    "Ru": (44, 101.07, 2.20, 134, 146, 8, 2607.0, 7.361, 12.45),
    "Rh": (45, 102.906, 2.28, 134, 142, 9, 2237.0, 7.459, 12.41),
    "Pd": (46, 106.42, 2.20, 137, 139, 10, 1828.1, 8.337, 12.02),
    "Ag": (47, 107.868, 1.93, 144, 145, 11, 1234.9, 7.576, 10.49),
    "Sn": (50, 118.71, 1.96, 158, 139, 4, 505.1, 7.344, 7.29),
    "La": (57, 138.905, 1.10, 187, 207, 3, 1193.0, 5.577, 6.15),
    "Ce": (58, 140.116, 1.12, 182, 204, 4, 1068.0, 5.539, 6.77),
    "Hf": (72, 178.49, 1.30, 159, 175, 4, 2506.0, 6.825, 13.31),
    "Ta": (73, 180.948, 1.50, 146, 170, 5, 3290.0, 7.550, 16.69),
    "W": (74, 183.84, 2.36, 139, 162, 6, 3695.0, 7.864, 19.25),
    "Ir": (77, 192.217, 2.20, 136, 141, 9, 2719.0, 8.967, 22.56),
    "Pt": (78, 195.084, 2.28, 139, 136, 10, 2041.4, 8.959, 21.45),
    "Au": (79, 196.967, 2.54, 144, 136, 11, 1337.3, 9.226, 19.30),
}

#: Every element symbol the table knows, in atomic-number order.
SYMBOLS: tuple[str, ...] = tuple(sorted(_TABLE, key=lambda s: _TABLE[s][0]))

_BY_LOWER = {s.lower(): s for s in _TABLE}


def element(symbol: str) -> dict[str, float]:
    """Return the properties of one element as ``{property: value}``."""
    return dict(zip(PROPERTIES, _TABLE[canonical_symbol(symbol)]))


def canonical_symbol(symbol: str) -> str:
    """Return the table's spelling of ``symbol`` (case-insensitive), or raise KeyError."""
    try:
        return _BY_LOWER[symbol.strip().lower()]
    except KeyError:
        known = ", ".join(SYMBOLS)
        raise KeyError(f"element {symbol!r} is not in the element table; known: {known}") from None


def property_matrix(symbols: Sequence[str], properties: Iterable[str] | None = None) -> np.ndarray:
    """Return a ``(len(symbols), n_properties)`` array of element properties."""
    props = tuple(properties) if properties is not None else PROPERTIES
    unknown = [p for p in props if p not in PROPERTIES]
    if unknown:
        raise KeyError(f"unknown element properties {unknown}; known: {list(PROPERTIES)}")
    cols = [PROPERTIES.index(p) for p in props]
    rows = [_TABLE[canonical_symbol(s)] for s in symbols]
    return np.asarray(rows, dtype=float)[:, cols]


_NAME_PATTERN = re.compile(r"^([A-Za-z]{1,2})(?:[_\-\s.]|$)")


def symbol_for_name(name: str) -> str | None:
    """Guess the element a parameter name stands for, or None.

    ``"Fe"``, ``"fe"``, ``"ni_load"``, ``"Co-frac"`` map to Fe, Fe, Ni, Co; names
    that do not start with a known symbol followed by a separator give None.
    """
    stripped = name.strip()
    if stripped.lower() in _BY_LOWER:
        return _BY_LOWER[stripped.lower()]
    match = _NAME_PATTERN.match(stripped)
    if match and match.group(1).lower() in _BY_LOWER:
        return _BY_LOWER[match.group(1).lower()]
    return None


def element_mapping(names: Sequence[str], explicit: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map parameter names to element symbols.

    With ``explicit`` (name -> symbol), use exactly that mapping (every name must be
    a parameter and every symbol known); otherwise guess with ``symbol_for_name``.
    """
    if explicit:
        unknown = sorted(set(explicit) - set(names))
        if unknown:
            raise KeyError(f"elements option names {unknown}, which are not parameters {list(names)}")
        return {n: canonical_symbol(s) for n, s in explicit.items()}
    mapping = {}
    for n in names:
        sym = symbol_for_name(n)
        if sym is not None:
            mapping[n] = sym
    return mapping
