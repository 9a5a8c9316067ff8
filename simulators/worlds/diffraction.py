"""Powder-diffraction building blocks shared by the simulated worlds.

Bragg angles for Cu Kα, Scherrer widths, area-normalized pseudo-Voigt
profiles and Poisson counting. Pure numpy and vectorized, so that a pattern
of thousands of points costs well under a millisecond per peak.
"""

from __future__ import annotations

import numpy as np

CU_KA1_A = 1.5406
"""Cu Kα1 wavelength in ångström."""
CU_KA2_A = 1.54443
"""Cu Kα2 wavelength in ångström."""
KA2_RATIO = 0.5
"""Intensity of Kα2 relative to Kα1."""
SCHERRER_K = 0.9
"""Scherrer shape factor for roughly spherical crystallites."""


def check_two_theta(two_theta: np.ndarray) -> np.ndarray:
    """Validate a 2θ grid (degrees): 1-D, finite, strictly inside (0, 180)."""
    x = np.asarray(two_theta, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"two_theta must be a non-empty 1-D array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("two_theta contains NaN or infinite values")
    if x.min() <= 0.0 or x.max() >= 180.0:
        raise ValueError(
            f"two_theta must lie strictly between 0 and 180 degrees, got {x.min():g}..{x.max():g}"
        )
    return x


def bragg_two_theta(d_spacing_a: np.ndarray | float, wavelength_a: float = CU_KA1_A) -> np.ndarray:
    """2θ in degrees of reflections with the given d-spacings (NaN when unreachable)."""
    s = wavelength_a / (2.0 * np.asarray(d_spacing_a, dtype=float))
    with np.errstate(invalid="ignore"):
        return np.where(s < 1.0, 2.0 * np.degrees(np.arcsin(np.minimum(s, 1.0))), np.nan)


def cubic_d_spacing(lattice_a: float, hkl: np.ndarray) -> np.ndarray:
    """d-spacing in ångström of cubic reflections ``hkl`` (rows of h, k, l)."""
    hkl = np.asarray(hkl, dtype=float)
    return lattice_a / np.sqrt((hkl**2).sum(axis=-1))


def scherrer_fwhm_deg(
    two_theta_deg: np.ndarray,
    crystallite_nm: float,
    *,
    wavelength_a: float = CU_KA1_A,
    strain: float = 0.0,
    instrument_deg: float = 0.05,
) -> np.ndarray:
    """Peak FWHM in degrees 2θ: Scherrer size + microstrain + instrument, in quadrature."""
    theta = np.radians(np.asarray(two_theta_deg, dtype=float) / 2.0)
    size = SCHERRER_K * wavelength_a / (crystallite_nm * 10.0 * np.cos(theta))
    micro = 4.0 * strain * np.tan(theta)
    return np.sqrt(np.degrees(size) ** 2 + np.degrees(micro) ** 2 + instrument_deg**2)


def pseudo_voigt(
    x: np.ndarray, centers: np.ndarray, fwhm: np.ndarray, areas: np.ndarray, eta: float = 0.5
) -> np.ndarray:
    """Sum of area-normalized pseudo-Voigt peaks evaluated on ``x``.

    Each peak integrates (over x from -inf to inf) to its ``area``; ``eta`` is
    the Lorentzian share. NaN centers (unreachable reflections) are skipped.
    """
    c = np.asarray(centers, dtype=float)
    keep = np.isfinite(c)
    c, w, a = c[keep], np.asarray(fwhm, float)[keep], np.asarray(areas, float)[keep]
    if c.size == 0:
        return np.zeros_like(x, dtype=float)
    z = (x[None, :] - c[:, None]) / w[:, None]
    gauss = (2.0 / w[:, None]) * np.sqrt(np.log(2.0) / np.pi) * np.exp(-4.0 * np.log(2.0) * z * z)
    lorentz = (2.0 / (np.pi * w[:, None])) / (1.0 + 4.0 * z * z)
    return a @ (eta * lorentz + (1.0 - eta) * gauss)


def with_ka2(d_spacing_a: np.ndarray, areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kα1 and Kα2 peak positions and areas for reflections at ``d_spacing_a``."""
    centers = np.concatenate([bragg_two_theta(d_spacing_a, CU_KA1_A), bragg_two_theta(d_spacing_a, CU_KA2_A)])
    both = np.concatenate([areas, KA2_RATIO * np.asarray(areas, dtype=float)])
    return centers, both / (1.0 + KA2_RATIO)


def poisson_counts(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Counting noise: a Poisson draw per point, returned as float counts."""
    lam = np.clip(np.asarray(expected, dtype=float), 0.0, None)
    return rng.poisson(lam).astype(float)
