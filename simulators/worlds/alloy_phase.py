"""Crystal structure of Fe-Co-Ni-Ir-Pt films: phase fractions and lattice constants.

Why a separate module: both the deposition truth (what the diffractometer
sees) and the magnetization landscape (bcc is more magnetic than fcc) need the
same phase model, evaluated on many compositions at once.

Model (documented simplification of the room-temperature phase diagrams of
sputtered films): an "fcc-stabilizer score" adds each element's fraction
divided by the fraction at which it alone, alloyed with Fe, makes the film
fcc: Co ~75 %, Ni ~35 %, Ir ~20 %, Pt ~25 %. Score below 0.9 → bcc; above
1.1 → fcc; in between a two-phase film whose fcc share rises smoothly.
Lattice constants follow Vegard's law, using hypothetical bcc (or fcc)
constants of equal atomic volume for elements that are not stable in that
structure.
"""

from __future__ import annotations

import numpy as np

ELEMENTS: tuple[str, ...] = ("Fe", "Co", "Ni", "Ir", "Pt")

FCC_ONSET: np.ndarray = np.array([np.inf, 0.75, 0.35, 0.20, 0.25])
"""Fraction of each element (in Fe) at which the film turns fcc; Fe never does."""
MIXED_LOW, MIXED_HIGH = 0.9, 1.1
"""Score range of the two-phase (bcc+fcc) region."""

LATTICE_BCC_A: np.ndarray = np.array([2.866, 2.817, 2.797, 3.047, 3.115])
"""bcc constants: Fe measured; Co, Ni, Ir, Pt hypothetical (same atomic volume as their fcc)."""
LATTICE_FCC_A: np.ndarray = np.array([3.590, 3.544, 3.524, 3.839, 3.924])
"""fcc constants: Co, Ni, Ir, Pt measured (Co fcc film); Fe is γ-Fe extrapolated to room temperature."""


def as_fraction_matrix(x: np.ndarray) -> np.ndarray:
    """Coerce to an (n, 5) array of atomic fractions in ELEMENTS order."""
    arr = np.atleast_2d(np.asarray(x, dtype=float))
    if arr.shape[-1] != len(ELEMENTS):
        raise ValueError(f"compositions need {len(ELEMENTS)} columns {ELEMENTS}, got shape {arr.shape}")
    return arr


def fcc_fraction(x: np.ndarray) -> np.ndarray:
    """Volume share of fcc phase (0 = pure bcc, 1 = pure fcc) for each row of fractions."""
    arr = as_fraction_matrix(x)
    score = (arr / FCC_ONSET).sum(axis=1)
    t = np.clip((score - MIXED_LOW) / (MIXED_HIGH - MIXED_LOW), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def phase_label(f_fcc: float) -> str:
    """"bcc", "fcc" or "bcc+fcc" for a given fcc share."""
    if f_fcc <= 0.0:
        return "bcc"
    if f_fcc >= 1.0:
        return "fcc"
    return "bcc+fcc"


def vegard_lattices(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """bcc and fcc lattice constants (Å) of each composition row, by Vegard's law."""
    arr = as_fraction_matrix(x)
    return arr @ LATTICE_BCC_A, arr @ LATTICE_FCC_A
