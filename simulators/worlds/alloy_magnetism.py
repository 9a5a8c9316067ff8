"""The hidden saturation-magnetization landscape of Fe-Co-Ni-Ir-Pt films.

What the alloy campaign is trying to discover (seed 004). Noise-free,
vectorized over compositions, in emu/cm³.

Model, built to reproduce the textbook facts and then hide something:

* **Slater-Pauling base.** Ms follows the valence-electron count beyond Fe,
  ``e = x_Co + 2 x_Ni + x_Ir + 2 x_Pt`` (Ir is isoelectronic to Co, Pt to
  Ni). bcc: rises from Fe (1710) to a peak of 1950 at e = 0.25 (Fe75Co25),
  then falls with about one Bohr magneton per electron (790 emu/cm³ per
  electron), so bcc Co-rich ≈ 1430; Ni also dilutes the bcc moment. fcc:
  the Ni-Co branch (Ni 485, permalloy ≈ 800, Co ≈ 1275) that collapses for
  Fe-rich fcc (Invar, antiferromagnetic γ-Fe). Two-phase films average the
  two by volume.
* **Hidden region beyond the Slater-Pauling limit.** Small Ir (optimum a few
  %) and Pt additions to an Fe-rich base multiply Ms by up to a few %
  (more with both: an Ir-Pt synergy); larger amounts decrease it sharply.
  Because Ir and Pt also add electrons, the best films have *less* Co than
  Fe75Co25, so the optimum is not at a corner nor on an edge.
* **Per-world texture.** A few small smooth bumps (≲1 %) drawn from the seed,
  so no two worlds share exactly the same optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labpilot.simulators.worlds.alloy_phase import as_fraction_matrix, fcc_fraction

MS_FE = 1710.0
MS_PEAK = 1950.0
E_PEAK = 0.25
SP_SLOPE = 790.0
"""emu/cm³ lost per extra valence electron on the falling Slater-Pauling branch."""
SP_KNEE = 0.1
NI_DILUTION_BCC = 300.0
FCC_NI_MS = 485.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def electron_excess(x: np.ndarray) -> np.ndarray:
    """Valence electrons per atom beyond Fe's 8 (Ir counted as Co, Pt as Ni)."""
    arr = as_fraction_matrix(x)
    return arr @ np.array([0.0, 1.0, 2.0, 1.0, 2.0])


def ms_bcc_base(x: np.ndarray) -> np.ndarray:
    """Slater-Pauling Ms of the bcc phase, before the Ir/Pt effect."""
    arr = as_fraction_matrix(x)
    e = electron_excess(arr)
    rising = MS_PEAK - (MS_PEAK - MS_FE) / E_PEAK**2 * (e - E_PEAK) ** 2
    falling = MS_PEAK - SP_SLOPE * (np.sqrt((e - E_PEAK) ** 2 + SP_KNEE**2) - SP_KNEE)
    return np.where(e <= E_PEAK, rising, falling) - NI_DILUTION_BCC * arr[:, 2]


def ms_fcc_base(x: np.ndarray) -> np.ndarray:
    """Ms of the fcc phase: Ni-Co branch, collapsing for Fe-rich fcc (Invar)."""
    e = electron_excess(x)
    branch = FCC_NI_MS + SP_SLOPE * (2.0 - e)
    return np.clip(branch, 0.0, None) * _sigmoid((e - 0.55) / 0.12)


@dataclass(frozen=True)
class HiddenRegion:
    """Parameters of the Ir/Pt enhancement (drawn per world from its seed)."""

    x0_ir: float
    x0_pt: float
    gain_ir: float
    gain_pt: float
    synergy: float
    fe_share_mid: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "HiddenRegion":
        """Draw a plausible hidden region: Ir optimum 3-5 %, Pt 2-4 %, gains 1.5-4.5 %."""
        return cls(
            x0_ir=float(rng.uniform(0.03, 0.05)),
            x0_pt=float(rng.uniform(0.02, 0.04)),
            gain_ir=float(rng.uniform(0.03, 0.045)),
            gain_pt=float(rng.uniform(0.015, 0.025)),
            synergy=float(rng.uniform(0.005, 0.012)),
            fe_share_mid=float(rng.uniform(0.5, 0.6)),
        )

    def factor(self, x: np.ndarray) -> np.ndarray:
        """Multiplier on Ms: >1 for small Ir/Pt on an Fe-rich base, ≪1 for large amounts."""
        arr = as_fraction_matrix(x)
        u, v = arr[:, 3] / self.x0_ir, arr[:, 4] / self.x0_pt
        base = arr[:, :3].sum(axis=1)
        fe_share = np.divide(arr[:, 0], base, out=np.zeros_like(base), where=base > 0)
        weight = _sigmoid((fe_share - self.fe_share_mid) / 0.06)
        gain = weight * (2.0 * self.gain_ir * u + 2.0 * self.gain_pt * v + self.synergy * u * v)
        loss = self.gain_ir * u * u + self.gain_pt * v * v
        return (1.0 + gain) * np.exp(-loss)


@dataclass(frozen=True)
class Ripples:
    """Small smooth per-world bumps on the composition simplex."""

    centers: np.ndarray
    amplitudes: np.ndarray
    width: float

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int = 6) -> "Ripples":
        """Draw ``n`` bumps of ±(5..15) emu/cm³ at random compositions."""
        centers = rng.dirichlet(np.ones(5), size=n)
        amplitudes = rng.uniform(5.0, 15.0, size=n) * rng.choice([-1.0, 1.0], size=n)
        return cls(centers=centers, amplitudes=amplitudes, width=0.15)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        arr = as_fraction_matrix(x)
        d2 = ((arr[:, None, :] - self.centers[None, :, :]) ** 2).sum(axis=2)
        return np.exp(-d2 / (2.0 * self.width**2)) @ self.amplitudes


@dataclass(frozen=True)
class MagnetizationLandscape:
    """Noise-free Ms (emu/cm³) as a function of composition and phase share."""

    hidden: HiddenRegion
    ripples: Ripples

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "MagnetizationLandscape":
        return cls(hidden=HiddenRegion.draw(rng), ripples=Ripples.draw(rng))

    def __call__(self, x: np.ndarray, f_fcc: np.ndarray | None = None) -> np.ndarray:
        """Ms of each composition row; ``f_fcc`` overrides the equilibrium fcc share."""
        arr = as_fraction_matrix(x)
        f = fcc_fraction(arr) if f_fcc is None else np.broadcast_to(np.asarray(f_fcc, float), arr.shape[:1])
        base = (1.0 - f) * ms_bcc_base(arr) + f * ms_fcc_base(arr)
        return np.clip(base * self.hidden.factor(arr) + self.ripples(arr), 0.0, None)
