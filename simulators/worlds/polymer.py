"""The processed-polymer world: polypropylene grades × processes (seed 000).

``PolymerWorld(seed)`` hides how three controllable descriptors (molecular
weight in kg/mol, stereoregularity as mmmm fraction, cooling temperature in
°C) set the solid-state structure (crystallinity, alpha/beta/mesophase,
lamellar thickness, melting point), what XRD and DSC show of that structure,
and the mechanical properties, which depend mostly on the structure and only
weakly on the knobs: the setting of USED/BOED.

Everything about a sample is returned as a JSON-serializable ``truth``
dict. Pure numpy, no I/O; deterministic for a given seed and the ``rng``
passed to the noisy methods.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labpilot.simulators.worlds.diffraction import check_two_theta, poisson_counts
from labpilot.simulators.worlds.polymer_dsc import polymer_dsc_expected
from labpilot.simulators.worlds.polymer_properties import true_properties_from
from labpilot.simulators.worlds.polymer_structure import BOUNDS, HiddenPolymer, structure
from labpilot.simulators.worlds.polymer_xrd import polymer_xrd_expected

DEFAULT_COOLING_TEMPERATURES: tuple[float, ...] = (20.0, 45.0, 70.0, 95.0, 120.0)
"""Five processes, as in seed 000 (15 grades × 5 processes)."""

NOISE = {
    "dsc_heat_flow_w_per_g": 0.002,
    "dsc_offset_w_per_g": 0.01,
    "melting_point_c": 0.3,
    "crystallinity_rel": 0.02,
    "tensile_modulus_rel": 0.02,
    "impact_strength_rel": 0.05,
}
"""Measurement noise levels (sd), for readers who need to know them."""

_TRUTH_KEYS = (
    "molecular_weight", "crystallinity", "phase_fractions", "lamellar_thickness_nm",
    "melting_point", "melting_point_beta",
)


class PolymerWorld:
    """Hidden ground truth of a polypropylene processing lab; see the module docstring."""

    BOUNDS: dict[str, tuple[float, float]] = dict(BOUNDS)

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._hidden = HiddenPolymer.draw(np.random.default_rng([0, self.seed]))

    def synthesize(
        self,
        molecular_weight: float,
        stereoregularity: float,
        cooling_temperature: float,
        rng: np.random.Generator | None = None,
    ) -> dict[str, Any]:
        """Make a sample and return its truth. ``rng``, if given, adds process scatter."""
        knobs = {
            "molecular_weight": molecular_weight,
            "stereoregularity": stereoregularity,
            "cooling_temperature": cooling_temperature,
        }
        for name, value in knobs.items():
            low, high = BOUNDS[name]
            v = float(value)
            if not math.isfinite(v) or not low <= v <= high:
                raise ValueError(f"{name} must be within [{low:g}, {high:g}], got {value!r}")
            knobs[name] = v
        st = structure(self._hidden, knobs["molecular_weight"], knobs["stereoregularity"],
                       knobs["cooling_temperature"], rng)
        return {"world": "polymer", "world_seed": self.seed, **knobs, **st}

    def candidate_pool(
        self, n_grades: int = 15, cooling_temperatures: tuple[float, ...] = DEFAULT_COOLING_TEMPERATURES
    ) -> list[dict[str, float]]:
        """The seed-000 style pool: ``n_grades`` resin grades (Latin hypercube in MW × mmmm) × processes."""
        if n_grades < 1:
            raise ValueError(f"n_grades must be >= 1, got {n_grades}")
        rng = np.random.default_rng([0, self.seed, 1])
        cells = (np.stack([rng.permutation(n_grades), rng.permutation(n_grades)], axis=1)
                 + rng.uniform(size=(n_grades, 2))) / n_grades
        (mw_lo, mw_hi), (s_lo, s_hi) = BOUNDS["molecular_weight"], BOUNDS["stereoregularity"]
        pool = []
        for u, v in cells:
            for tc in cooling_temperatures:
                low, high = BOUNDS["cooling_temperature"]
                if not low <= tc <= high:
                    raise ValueError(f"cooling_temperature must be within [{low:g}, {high:g}], got {tc!r}")
                pool.append({
                    "molecular_weight": float(mw_lo + u * (mw_hi - mw_lo)),
                    "stereoregularity": float(s_lo + v * (s_hi - s_lo)),
                    "cooling_temperature": float(tc),
                })
        return pool

    # ---- measurements ---------------------------------------------------

    def xrd_pattern(
        self, truth: dict[str, Any], two_theta: np.ndarray, rng: np.random.Generator, dwell_s: float = 1.0
    ) -> np.ndarray:
        """Cu Kα counts at each 2θ (degrees) with Poisson noise."""
        x = check_two_theta(two_theta)
        if not (math.isfinite(dwell_s) and dwell_s > 0):
            raise ValueError(f"dwell_s must be > 0, got {dwell_s!r}")
        return poisson_counts(polymer_xrd_expected(_check_truth(truth), x) * dwell_s, rng)

    def dsc_curve(self, truth: dict[str, Any], temperature: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Heat flow (W/g, endotherm positive) at each temperature (°C), heating at 10 K/min."""
        t = np.asarray(temperature, dtype=float)
        if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
            raise ValueError("temperature must be a non-empty 1-D array of finite values (°C)")
        if t.min() < -100.0 or t.max() > 300.0:
            raise ValueError(f"temperature must lie within [-100, 300] °C, got {t.min():g}..{t.max():g}")
        expected = polymer_dsc_expected(_check_truth(truth), t)
        offset = rng.normal(0.0, NOISE["dsc_offset_w_per_g"])
        return expected + offset + rng.normal(0.0, NOISE["dsc_heat_flow_w_per_g"], t.size)

    def dsc_scalars(self, truth: dict[str, Any], rng: np.random.Generator) -> dict[str, float]:
        """Measured melting point (°C, main endotherm peak) and crystallinity (melting enthalpy / 207 J/g)."""
        tr = _check_truth(truth)
        return {
            "melting_point": float(tr["melting_point"] + rng.normal(0.0, NOISE["melting_point_c"])),
            "crystallinity": float(tr["crystallinity"] * (1.0 + rng.normal(0.0, NOISE["crystallinity_rel"]))),
        }

    def tensile(self, truth: dict[str, Any], rng: np.random.Generator) -> dict[str, float]:
        """Measured tensile modulus (MPa) and Charpy impact strength (kJ/m²), with noise."""
        true = self.true_properties(truth)
        return {
            "tensile_modulus": true["tensile_modulus"] * (1.0 + rng.normal(0.0, NOISE["tensile_modulus_rel"])),
            "impact_strength": true["impact_strength"] * (1.0 + rng.normal(0.0, NOISE["impact_strength_rel"])),
        }

    def true_properties(self, truth: dict[str, Any]) -> dict[str, float]:
        """Noise-free tensile modulus (MPa) and impact strength (kJ/m²) of a sample."""
        tr = _check_truth(truth)
        return true_properties_from(tr, float(tr["molecular_weight"]))


def _check_truth(truth: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in _TRUTH_KEYS if k not in truth]
    if missing:
        raise ValueError(f"truth is not a polymer sample: missing key(s) {missing}")
    return truth
