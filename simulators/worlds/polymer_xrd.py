"""Expected (noise-free) Cu Kα pattern of a polypropylene sample.

One concept: structure → expected counts per 2θ (degrees, 5-35° typical).
alpha-iPP (110)(040)(130)(111)(131/041)(060)(220), beta (300)(301), the
smectic mesophase's two broad humps, the amorphous halo, and a smooth
background. Crystalline peak widths follow Scherrer with a crystallite size
tied to the lamellar thickness.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labpilot.simulators.worlds.diffraction import CU_KA1_A, pseudo_voigt, scherrer_fwhm_deg, with_ka2

ALPHA_2THETA = np.array([14.1, 16.9, 18.6, 21.2, 21.9, 25.5, 28.5])
ALPHA_REL_I = np.array([1.00, 0.75, 0.60, 0.45, 0.55, 0.08, 0.08])
BETA_2THETA = np.array([16.1, 21.1])
BETA_REL_I = np.array([1.00, 0.25])
MESO_2THETA = np.array([14.8, 21.3])
MESO_FWHM = np.array([2.5, 3.0])
MESO_REL_I = np.array([1.00, 0.75])
HALO_2THETA, HALO_FWHM = 16.5, 6.0

CRYSTAL_AREA = 4000.0
"""Integrated counts·degree of all crystalline scattering from a fully ordered sample (1 s dwell)."""
AMORPHOUS_AREA = 3600.0
"""Integrated counts·degree of the amorphous halo of a fully amorphous sample."""
CRYSTALLITE_PER_LAMELLA = 1.3


def _d_spacing(two_theta_deg: np.ndarray) -> np.ndarray:
    return CU_KA1_A / (2.0 * np.sin(np.radians(two_theta_deg / 2.0)))


def _crystal_peaks(two_theta: np.ndarray, rel_i: np.ndarray, area: float, size_nm: float):
    areas = area * rel_i / rel_i.sum()
    centers, areas2 = with_ka2(_d_spacing(two_theta), areas)
    return centers, scherrer_fwhm_deg(centers, size_nm, strain=0.003, instrument_deg=0.08), areas2


def background(two_theta: np.ndarray) -> np.ndarray:
    """Air scatter rising toward low angle plus a constant."""
    return 40.0 + 1500.0 * np.exp(-two_theta / 3.0)


def polymer_xrd_expected(truth: dict[str, Any], two_theta: np.ndarray) -> np.ndarray:
    """Expected counts (1 s dwell) for a polymer truth dict."""
    xc = float(truth["crystallinity"])
    pf = truth["phase_fractions"]
    size = CRYSTALLITE_PER_LAMELLA * float(truth["lamellar_thickness_nm"])
    ca, cb, cm = (CRYSTAL_AREA * xc * float(pf[k]) for k in ("alpha", "beta", "mesophase"))
    parts = [_crystal_peaks(ALPHA_2THETA, ALPHA_REL_I, ca, size), _crystal_peaks(BETA_2THETA, BETA_REL_I, cb, size)]
    centers, fwhm, areas = (np.concatenate(p) for p in zip(*parts))
    sharp = pseudo_voigt(two_theta, centers, fwhm, areas, eta=0.4)
    broad = pseudo_voigt(
        two_theta,
        np.append(MESO_2THETA, HALO_2THETA),
        np.append(MESO_FWHM, HALO_FWHM),
        np.append(cm * MESO_REL_I / MESO_REL_I.sum(), AMORPHOUS_AREA * (1.0 - xc)),
        eta=0.0,
    )
    return background(two_theta) + sharp + broad
