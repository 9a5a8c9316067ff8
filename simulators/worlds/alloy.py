"""The alloy-film world: co-sputtered Fe-Co-Ni-Ir-Pt films (seed 004).

``AlloyWorld(seed)`` hides the ground truth that an alloy campaign must
discover: how target powers become a film (true deposition rates differ from
the lab's calibration by a few %), which phase and lattice constants the film
takes, what its XRD pattern looks like, and its saturation magnetization,
which has a Slater-Pauling peak near Fe75Co25 and a hidden region above it
(small Ir/Pt additions).

Everything about a film is returned as a JSON-serializable ``truth`` dict, so
a simulator process can store it (the sample tray) and another process can
measure it later. Pure numpy, no I/O; deterministic for a given seed and the
``rng`` passed to the noisy methods.

Composition model: atomic fraction ∝ true rate × power. Deposition rates
are quoted in nm/s per W of a reference film (as the lab calibrates them),
so molar-volume differences are folded into the rates consistently.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labpilot.simulators.worlds.alloy_magnetism import MagnetizationLandscape
from labpilot.simulators.worlds.alloy_phase import ELEMENTS, fcc_fraction, phase_label, vegard_lattices
from labpilot.simulators.worlds.alloy_xrd import alloy_xrd_expected
from labpilot.simulators.worlds.diffraction import check_two_theta, poisson_counts
from labpilot.simulators.worlds.simplex_search import best_on_simplex

NOMINAL_RATES_NM_PER_S_PER_W: dict[str, float] = {
    "Fe": 1.9e-3,
    "Co": 2.0e-3,
    "Ni": 2.2e-3,
    "Ir": 2.6e-3,
    "Pt": 3.4e-3,
}
"""The lab's calibration: deposition rate per watt of each target (nm/s/W)."""

RATE_OFFSET_SD = 0.025
"""Spread of the hidden per-target rate factors (relative, clipped at 2.5 sd)."""
MAGNETIZATION_NOISE = 0.01
"""Relative sd of a magnetometer reading."""
REFERENCE_PRESSURE_PA = 0.5


class AlloyWorld:
    """Hidden ground truth of a co-sputtering lab; see the module docstring."""

    ELEMENTS: tuple[str, ...] = ELEMENTS

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        rng = np.random.default_rng([4, self.seed])
        offsets = np.clip(rng.normal(0.0, RATE_OFFSET_SD, len(ELEMENTS)), -2.5 * RATE_OFFSET_SD, 2.5 * RATE_OFFSET_SD)
        self._rate_factors = 1.0 + offsets
        self._landscape = MagnetizationLandscape.draw(rng)
        self._texture = float(rng.uniform(1.2, 2.0))

    # ---- calibration and synthesis -------------------------------------

    @staticmethod
    def nominal_rates() -> dict[str, float]:
        """The lab's calibrated deposition rates (nm/s per W) per target."""
        return dict(NOMINAL_RATES_NM_PER_S_PER_W)

    def _true_rates(self) -> np.ndarray:
        nominal = np.array([NOMINAL_RATES_NM_PER_S_PER_W[e] for e in ELEMENTS])
        return nominal * self._rate_factors

    def deposit(
        self,
        powers_w: dict[str, float],
        duration_s: float,
        substrate_temp_c: float = 25.0,
        pressure_pa: float = 0.5,
        rng: np.random.Generator | None = None,
    ) -> dict[str, Any]:
        """Deposit a film and return its truth (composition, thickness, phase, lattice, grain).

        ``powers_w`` maps target element to power in W (missing targets are
        off). ``rng``, if given, adds run-to-run rate jitter (0.5 %); without
        it the result is fully deterministic.
        """
        powers = _check_powers(powers_w)
        duration_s = _check_range("duration_s", duration_s, 0.0, math.inf, low_open=True)
        temp = _check_range("substrate_temp_c", substrate_temp_c, -50.0, 900.0)
        pressure = _check_range("pressure_pa", pressure_pa, 0.0, 10.0, low_open=True)

        rates = self._true_rates()
        if rng is not None:
            rates = rates * (1.0 + rng.normal(0.0, 0.005, rates.size))
        flux = rates * powers
        nominal_flux = np.array([NOMINAL_RATES_NM_PER_S_PER_W[e] for e in ELEMENTS]) * powers
        composition = flux / flux.sum()
        # Higher pressure scatters sputtered atoms: slower growth, finer grains.
        pressure_factor = (REFERENCE_PRESSURE_PA / pressure) ** 0.3
        thickness = float(flux.sum() * duration_s * pressure_factor)
        grain = 18.0 * math.exp(temp / 350.0) * (REFERENCE_PRESSURE_PA / pressure) ** 0.15
        grain = float(min(grain, max(thickness, 1.0)))

        f_fcc = float(fcc_fraction(composition)[0])
        a_bcc, a_fcc = (float(v[0]) for v in vegard_lattices(composition))
        return {
            "world": "alloy",
            "world_seed": self.seed,
            "powers_w": {e: float(p) for e, p in zip(ELEMENTS, powers)},
            "duration_s": duration_s,
            "substrate_temp_c": temp,
            "pressure_pa": pressure,
            "nominal_composition": _as_dict(nominal_flux / nominal_flux.sum()),
            "composition": _as_dict(composition),
            "thickness_nm": thickness,
            "phase": phase_label(f_fcc),
            "phase_fractions": {"bcc": 1.0 - f_fcc, "fcc": f_fcc},
            "lattice_bcc_A": a_bcc,
            "lattice_fcc_A": a_fcc,
            "grain_nm": grain,
        }

    # ---- measurements ---------------------------------------------------

    def xrd_pattern(
        self, truth: dict[str, Any], two_theta: np.ndarray, rng: np.random.Generator, dwell_s: float = 1.0
    ) -> np.ndarray:
        """Cu Kα counts at each 2θ (degrees) for a film, with Poisson noise.

        bcc (110)(200)(211)(220) and fcc (111)(200)(220)(311) reflections at
        their Bragg angles, Scherrer-broadened pseudo-Voigt peaks with a
        Kα2 doublet, mild fibre texture, a substrate/air background.
        """
        x = check_two_theta(two_theta)
        dwell = _check_range("dwell_s", dwell_s, 0.0, math.inf, low_open=True)
        expected = alloy_xrd_expected(_film_view(truth), x, texture=self._texture) * dwell
        return poisson_counts(expected, rng)

    def magnetization(self, truth: dict[str, Any], rng: np.random.Generator) -> float:
        """A magnetometer reading of Ms (emu/cm³) with ~1 % noise."""
        film = _film_view(truth)
        true = float(self._landscape(film["x"], film["f_fcc"])[0])
        return float(true * (1.0 + MAGNETIZATION_NOISE * rng.standard_normal()))

    def true_magnetization(self, composition: dict[str, float], phase: str | None = None) -> float:
        """Noise-free Ms (emu/cm³) of a composition.

        ``phase`` None uses the equilibrium phase of that composition;
        "bcc" or "fcc" forces a single phase; "bcc+fcc" uses the equilibrium
        two-phase shares.
        """
        x = composition_vector(composition)
        if phase is None or phase == "bcc+fcc":
            f = None
        elif phase in ("bcc", "fcc"):
            f = 0.0 if phase == "bcc" else 1.0
        else:
            raise ValueError(f"phase must be 'bcc', 'fcc', 'bcc+fcc' or None, got {phase!r}")
        return float(self._landscape(x, f)[0])

    def true_magnetization_batch(self, fractions: np.ndarray) -> np.ndarray:
        """Noise-free Ms of many compositions at once: rows of fractions in ELEMENTS order."""
        return self._landscape(np.asarray(fractions, dtype=float))

    def best_in_space(
        self, bounds: dict[str, tuple[float, float]] | None = None, n: int = 200000, seed: int = 0
    ) -> tuple[dict[str, float], float]:
        """(Approximately) best composition and its noise-free Ms, within per-element bounds.

        A dense random search of ``n`` points over the simplex followed by a
        local refinement; for benchmarks that need to know the optimum.
        """
        lo, hi = _bounds_arrays(bounds)
        x, value = best_on_simplex(self._landscape, lo, hi, n=n, seed=seed)
        return _as_dict(x), float(value)


# ---- helpers ------------------------------------------------------------


def composition_vector(composition: dict[str, float]) -> np.ndarray:
    """Fractions dict → (1, 5) row in ELEMENTS order; must be non-negative and sum to 1."""
    unknown = set(composition) - set(ELEMENTS)
    if unknown:
        raise ValueError(f"unknown element(s) {sorted(unknown)}; expected a subset of {ELEMENTS}")
    x = np.array([float(composition.get(e, 0.0)) for e in ELEMENTS])
    if not np.all(np.isfinite(x)) or np.any(x < 0.0):
        raise ValueError(f"composition fractions must be finite and >= 0, got {composition}")
    if abs(x.sum() - 1.0) > 1e-6:
        raise ValueError(f"composition fractions must sum to 1, got sum {x.sum():.6g}")
    return x[None, :]


def _as_dict(x: np.ndarray) -> dict[str, float]:
    return {e: float(v) for e, v in zip(ELEMENTS, np.ravel(x))}


def _check_range(name: str, value: float, low: float, high: float, low_open: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < low or v > high or (low_open and v == low):
        rng = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g}]"
        raise ValueError(f"{name} must be in {rng}, got {value!r}")
    return v


def _check_powers(powers_w: dict[str, float]) -> np.ndarray:
    unknown = set(powers_w) - set(ELEMENTS)
    if unknown:
        raise ValueError(f"unknown target(s) {sorted(unknown)}; targets are {ELEMENTS}")
    powers = np.array([float(powers_w.get(e, 0.0)) for e in ELEMENTS])
    bad = [e for e, p in zip(ELEMENTS, powers) if not math.isfinite(p) or p < 0.0]
    if bad:
        raise ValueError(f"target power must be finite and >= 0 W; bad for {bad}: {powers_w}")
    if powers.sum() <= 0.0:
        raise ValueError("total target power is zero: at least one target must be powered to deposit a film")
    return powers


def _film_view(truth: dict[str, Any]) -> dict[str, Any]:
    """Pull what the measurements need out of a truth dict, with clear errors."""
    needed = ("composition", "phase_fractions", "lattice_bcc_A", "lattice_fcc_A", "grain_nm", "thickness_nm")
    missing = [k for k in needed if k not in truth]
    if missing:
        raise ValueError(f"truth is not an alloy film: missing key(s) {missing}")
    return {
        "x": composition_vector(truth["composition"]),
        "f_fcc": float(truth["phase_fractions"]["fcc"]),
        "a_bcc": float(truth["lattice_bcc_A"]),
        "a_fcc": float(truth["lattice_fcc_A"]),
        "grain_nm": float(truth["grain_nm"]),
        "thickness_nm": float(truth["thickness_nm"]),
    }


def _bounds_arrays(bounds: dict[str, tuple[float, float]] | None) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.zeros(len(ELEMENTS)), np.ones(len(ELEMENTS))
    for name, pair in (bounds or {}).items():
        if name not in ELEMENTS:
            raise ValueError(f"bounds name unknown element {name!r}; expected one of {ELEMENTS}")
        a, b = (float(v) for v in pair)
        if not (0.0 <= a <= b <= 1.0):
            raise ValueError(f"bounds for {name} must satisfy 0 <= low <= high <= 1, got {pair}")
        i = ELEMENTS.index(name)
        lo[i], hi[i] = a, b
    if lo.sum() > 1.0 + 1e-12 or hi.sum() < 1.0 - 1e-12:
        raise ValueError(f"bounds leave no composition summing to 1 (sum of lows {lo.sum():g}, highs {hi.sum():g})")
    return lo, hi
