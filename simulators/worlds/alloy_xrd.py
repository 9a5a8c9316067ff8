"""Expected (noise-free) Cu Kα diffraction pattern of an alloy film.

One concept: turn a film's structure (phase shares, lattice constants,
grain size, thickness, composition) into expected counts per 2θ point. The
world adds the Poisson noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labpilot.simulators.worlds.diffraction import cubic_d_spacing, pseudo_voigt, scherrer_fwhm_deg, with_ka2

BCC_HKL = np.array([[1, 1, 0], [2, 0, 0], [2, 1, 1], [2, 2, 0]])
BCC_REL_I = np.array([1.00, 0.20, 0.30, 0.10])
"""Powder intensities of α-Fe (ICDD-like), strongest (110) = 1."""
FCC_HKL = np.array([[1, 1, 1], [2, 0, 0], [2, 2, 0], [3, 1, 1]])
FCC_REL_I = np.array([1.00, 0.45, 0.25, 0.25])
"""Powder intensities of fcc Ni/Pt (ICDD-like), strongest (111) = 1."""

ATOMIC_NUMBER = np.array([26.0, 27.0, 28.0, 77.0, 78.0])
AREA_PER_NM = 6.0
"""Integrated counts·degree of the strongest reflection per nm of an Fe film, per second of dwell."""
ABSORPTION_NM = 1500.0
"""Effective information depth for Cu Kα in a 3d-metal film (symmetric scan)."""
MICROSTRAIN = 0.0015
PV_ETA = 0.5


def _phase_peaks(lattice_a: float, hkl: np.ndarray, rel_i: np.ndarray, scale: float, grain_nm: float,
                 texture: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    areas = scale * rel_i.copy()
    areas[0] *= texture  # fibre texture of sputtered films favours the close-packed planes
    centers, areas2 = with_ka2(cubic_d_spacing(lattice_a, hkl), areas)
    fwhm = scherrer_fwhm_deg(centers, grain_nm, strain=MICROSTRAIN)
    return centers, fwhm, areas2


def background(two_theta: np.ndarray) -> np.ndarray:
    """Smooth background: constant + low-angle air scatter + amorphous substrate hump near 22°."""
    hump = 400.0 * np.exp(-4.0 * np.log(2.0) * ((two_theta - 21.5) / 8.0) ** 2) * (2.0 / 8.0) * np.sqrt(np.log(2.0) / np.pi)
    return 30.0 + 250.0 * np.exp(-two_theta / 9.0) + hump


def alloy_xrd_expected(film: dict[str, Any], two_theta: np.ndarray, texture: float = 1.5) -> np.ndarray:
    """Expected counts (1 s dwell) at each 2θ for a film view (see ``alloy._film_view``)."""
    x = film["x"][0]
    scatter = (float(x @ ATOMIC_NUMBER) / 26.0) ** 2
    t_eff = ABSORPTION_NM * (1.0 - np.exp(-film["thickness_nm"] / ABSORPTION_NM))
    scale = AREA_PER_NM * t_eff * scatter
    f_fcc = film["f_fcc"]
    parts = []
    if f_fcc < 1.0:
        parts.append(_phase_peaks(film["a_bcc"], BCC_HKL, BCC_REL_I, scale * (1.0 - f_fcc), film["grain_nm"], texture))
    if f_fcc > 0.0:
        parts.append(_phase_peaks(film["a_fcc"], FCC_HKL, FCC_REL_I, scale * f_fcc, film["grain_nm"], texture))
    centers, fwhm, areas = (np.concatenate(p) for p in zip(*parts))
    return background(two_theta) + pseudo_voigt(two_theta, centers, fwhm, areas, eta=PV_ETA)
