"""Expected (noise-free) DSC heating curve of a polypropylene sample.

One concept: structure → heat flow (W/g) against temperature (°C) at
10 K/min. Sign convention: **endotherms are positive** (heat absorbed by the
sample). Components: a heat-capacity baseline (solid below melting, melt
above), a glass-transition step near -10 °C, a small exotherm near 95 °C
where mesophase reorganizes to alpha, and melting endotherms: alpha (and
reorganized mesophase) at the melting point, beta 12 K lower. The total
melting area is crystallinity × 207 J/g; each endotherm is a split normal
whose mode is exactly its melting point, with a longer low-temperature tail
(the distribution of thinner lamellae).
"""

from __future__ import annotations

from typing import Any

import numpy as np

HEATING_RATE_K_PER_S = 10.0 / 60.0
DELTA_H_100_J_PER_G = 207.0
"""Heat of fusion of 100 % crystalline iPP."""
TG_C = -10.0
MESO_EXOTHERM_C = 95.0
MESO_EXOTHERM_J_PER_G = 10.0
"""Heat released per gram of mesophase reorganizing to alpha on heating."""


def split_normal(t: np.ndarray, mode: float, sd_low: float, sd_high: float) -> np.ndarray:
    """Unit-area split normal density with mode ``mode``."""
    sd = np.where(t < mode, sd_low, sd_high)
    return 2.0 / (np.sqrt(2.0 * np.pi) * (sd_low + sd_high)) * np.exp(-0.5 * ((t - mode) / sd) ** 2)


def _logistic(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def baseline_w_per_g(truth: dict[str, Any], t: np.ndarray) -> np.ndarray:
    """Heat-capacity baseline: cp × heating rate, switching from solid to melt across melting."""
    xc = float(truth["crystallinity"])
    tm = float(truth["melting_point"])
    cp_solid = 1.45 + 0.0060 * (t - 25.0) + 0.15 * (1.0 - xc) * _logistic((t - TG_C) / 2.0)
    cp_melt = 2.00 + 0.0030 * (t - 25.0)
    melted = _logistic((t - (tm + 2.0)) / 2.5)
    return HEATING_RATE_K_PER_S * (cp_solid * (1.0 - melted) + cp_melt * melted)


def polymer_dsc_expected(truth: dict[str, Any], t: np.ndarray) -> np.ndarray:
    """Expected heat flow (W/g, endotherm positive) at temperatures ``t`` (°C)."""
    xc = float(truth["crystallinity"])
    pf = truth["phase_fractions"]
    alpha, beta, meso = (float(pf[k]) for k in ("alpha", "beta", "mesophase"))
    tm, tm_beta = float(truth["melting_point"]), float(truth["melting_point_beta"])
    h_alpha = DELTA_H_100_J_PER_G * xc * (alpha + meso)
    h_beta = DELTA_H_100_J_PER_G * xc * beta
    h_meso = MESO_EXOTHERM_J_PER_G * xc * meso
    enthalpy_density = (
        h_alpha * split_normal(t, tm, 5.0 + 3.0 * meso, 2.0)
        + h_beta * split_normal(t, tm_beta, 4.0, 2.0)
        - h_meso * split_normal(t, MESO_EXOTHERM_C, 8.0, 8.0)
    )
    return baseline_w_per_g(truth, t) + HEATING_RATE_K_PER_S * enthalpy_density
