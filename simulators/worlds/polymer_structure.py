"""From processing knobs to the solid-state structure of polypropylene.

One concept: the hidden map (molecular weight, stereoregularity, cooling
temperature) → crystallinity, alpha/beta/mesophase shares, lamellar
thickness and melting point. Smooth textbook trends plus per-world hidden
variation (random smooth functions of the knobs drawn from the seed), so a
model of the knobs alone never matches the measured structure exactly.

Trends (iPP): crystallinity rises with isotacticity (mmmm) and with cooling
(mould) temperature, falls a little with molecular weight (slower
crystallization); quenching (low cooling temperature) freezes the smectic
mesophase; the beta form appears in a window of crystallization
temperatures, more with high isotacticity; lamellae thicken with cooling
temperature and isotacticity; the melting point follows Gibbs-Thomson,
Tm = Tm0 (1 - 2 σe / (ΔHv l)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOUNDS: dict[str, tuple[float, float]] = {
    "molecular_weight": (100.0, 800.0),
    "stereoregularity": (0.85, 0.99),
    "cooling_temperature": (20.0, 120.0),
}
"""Knob ranges: kg/mol, mmmm pentad fraction, °C."""

TM0_K = 458.0
"""Equilibrium melting point of iPP (K) before per-world variation."""
SIGMA_E_J_M2 = 0.065
"""Fold-surface free energy (J/m²)."""
DELTA_HV_J_M3 = 1.96e8
"""Heat of fusion per volume (207 J/g × 0.946 g/cm³)."""
BETA_MELT_OFFSET_K = 12.0
"""The beta form melts this much below the alpha form."""


def normalize_knobs(mw: float, mmmm: float, tc: float) -> np.ndarray:
    """Knobs scaled to [0, 1] each, in BOUNDS order."""
    lows = np.array([b[0] for b in BOUNDS.values()])
    highs = np.array([b[1] for b in BOUNDS.values()])
    return (np.array([mw, mmmm, tc], dtype=float) - lows) / (highs - lows)


@dataclass(frozen=True)
class SmoothField:
    """A random smooth function on [0, 1]³ with mean 0 and sd 1 (random Fourier features)."""

    omegas: np.ndarray
    phases: np.ndarray
    weights: np.ndarray
    offset: float = 0.0

    @classmethod
    def draw(
        cls, rng: np.random.Generator, n: int = 8, scales: tuple[float, float, float] = (5.0, 5.0, 5.0),
        max_slope: tuple[float, float, float] | None = None,
    ) -> "SmoothField":
        """Draw a field with unit sd over the knob cube.

        ``scales`` sets the typical frequency along (MW, mmmm, cooling T);
        ``max_slope`` caps |∂F/∂z| per axis (frequencies along an axis are
        shrunk until the cap holds on a dense probe), so that a textbook
        trend along that axis is never reversed.
        """
        omegas = rng.normal(0.0, 1.0, (n, 3)) * np.asarray(scales)
        phases = rng.uniform(0.0, 2.0 * np.pi, n)
        weights = rng.normal(0.0, 1.0, n)
        probe = np.random.default_rng(12345).uniform(size=(4096, 3))
        for _ in range(50):
            arg = probe @ omegas.T + phases
            values = np.cos(arg) @ weights
            sd = float(values.std())
            slopes = np.abs((np.sin(arg) * weights) @ omegas).max(axis=0) / sd
            if max_slope is None or np.all(slopes <= np.asarray(max_slope)):
                break
            omegas = omegas * np.minimum(1.0, 0.9 * np.asarray(max_slope) / slopes)
        return cls(omegas=omegas, phases=phases, weights=weights / sd, offset=float(values.mean()) / sd)

    def __call__(self, z: np.ndarray) -> float:
        return float(self.weights @ np.cos(self.omegas @ z + self.phases)) - self.offset


@dataclass(frozen=True)
class HiddenPolymer:
    """Per-world hidden parameters of the structure map."""

    xc_offset: float
    meso_mid_c: float
    beta_amp: float
    beta_center_c: float
    beta_width_c: float
    tm0_k: float
    xc_field: SmoothField
    beta_field: SmoothField
    lamella_field: SmoothField

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "HiddenPolymer":
        return cls(
            xc_offset=float(rng.normal(0.0, 0.015)),
            meso_mid_c=float(rng.uniform(38.0, 48.0)),
            beta_amp=float(rng.uniform(0.25, 0.45)),
            beta_center_c=float(rng.uniform(85.0, 105.0)),
            beta_width_c=float(rng.uniform(12.0, 18.0)),
            tm0_k=float(TM0_K + rng.uniform(-2.0, 2.0)),
            xc_field=SmoothField.draw(rng, scales=(5.0, 2.0, 5.0), max_slope=(np.inf, 2.5, 2.0)),
            beta_field=SmoothField.draw(rng),
            lamella_field=SmoothField.draw(rng),
        )


def _sigmoid(z: float) -> float:
    return float(0.5 * (1.0 + np.tanh(0.5 * z)))


def gibbs_thomson_c(lamella_nm: float, tm0_k: float) -> float:
    """Melting point (°C) of lamellae of the given thickness."""
    return tm0_k * (1.0 - 2.0 * SIGMA_E_J_M2 / (DELTA_HV_J_M3 * lamella_nm * 1e-9)) - 273.15


def structure(
    hidden: HiddenPolymer, mw: float, mmmm: float, tc: float, rng: np.random.Generator | None = None
) -> dict[str, float | dict[str, float]]:
    """Crystallinity, phase shares, lamellar thickness and melting points for one sample.

    ``rng``, if given, adds sample-to-sample process scatter.
    """
    z = normalize_knobs(mw, mmmm, tc)
    m, s, t = z
    jitter = (lambda sd: float(rng.normal(0.0, sd))) if rng is not None else (lambda sd: 0.0)

    xc = 0.33 + 0.24 * s + 0.15 * t - 0.06 * m + hidden.xc_offset + 0.05 * hidden.xc_field(z) + jitter(0.012)
    xc = float(np.clip(xc, 0.1, 0.85))
    meso = 0.65 * _sigmoid((hidden.meso_mid_c + 8.0 * m - tc) / 7.0) * (1.0 - 0.3 * s)
    window = np.exp(-(((tc - hidden.beta_center_c) / hidden.beta_width_c) ** 2))
    beta = hidden.beta_amp * (0.4 + 0.6 * s) * window * (1.0 + 0.4 * hidden.beta_field(z)) + jitter(0.005)
    beta = float(np.clip(beta, 0.0, 0.95 - meso))
    alpha = 1.0 - meso - beta

    lamella = (6.5 + 9.0 * t**1.3 + 4.0 * s - 1.0 * m + 1.5 * hidden.lamella_field(z)) * (1.0 - 0.15 * meso)
    lamella = float(max(lamella * (1.0 + jitter(0.03)), 3.0))
    tm = gibbs_thomson_c(lamella, hidden.tm0_k)
    return {
        "crystallinity": xc,
        "phase_fractions": {"alpha": float(alpha), "beta": beta, "mesophase": float(meso)},
        "lamellar_thickness_nm": lamella,
        "melting_point": tm,
        "melting_point_beta": tm - BETA_MELT_OFFSET_K,
    }
