"""A simulated many-element world with a hidden truth, for ``ae-bo`` vs ``bo``.

The setting of seed 004's autoencoder BO: a library of sparse compositions
drawn from many elements (default 18), each sample holding 3-5 of them in
steps of 5 at.% (like a combinatorial library's recipes). The hidden property
depends on the composition only through a few element-property descriptors,
the way alloy and catalyst properties are usually modelled:

* the mean valence-electron count (VEC) -- a volcano peaking at ``vec_peak``,
* the mean Pauling electronegativity -- a volcano peaking at ``en_peak``,
* the atomic-size mismatch ``delta = sqrt(sum c_i (1 - r_i / r_mean)^2)`` of
  the metallic radii (the Hume-Rothery / high-entropy-alloy criterion) -- a
  penalty,

plus Gaussian measurement noise drawn once per row (``noise`` in units of the
noiseless property's standard deviation over the pool). So the structure
lives in descriptor space, while the raw 18-column composition space is sparse
(each row has 13-15 zeros) and hard for a GP with 50 observations.

The world is a pure function of its arguments: the same ``seed`` gives the
same pool and the same values (``tests/planners/test_ae_bo_many_elements.py``).
Element properties come from ``planners.elements`` (public reference values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labpilot.planners.backtest import BacktestTable
from labpilot.planners.elements import property_matrix
from labpilot.planners.space import Objective

#: 18 metals from the element table, light and heavy, early and late transition metals.
ELEMENTS: tuple[str, ...] = (
    "Al", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
    "Zn", "Ga", "Zr", "Nb", "Mo", "Ru", "Pd", "Ag", "Sn",
)
#: Composition grid: fractions are multiples of 1 / STEPS (5 at.%).
STEPS = 20


@dataclass(frozen=True)
class ManyElementWorld:
    """A pool of compositions (``x``, rows sum to 1), the hidden truth and one noisy measurement per row."""

    elements: tuple[str, ...]
    x: np.ndarray  # (n, len(elements)) fractions
    truth: np.ndarray  # (n,) noiseless property (arbitrary units, higher is better)
    y: np.ndarray  # (n,) measured = truth + noise

    def table(self) -> BacktestTable:
        """The world as a backtest table (pool = the compositions, objective = the measured value, maximized)."""
        return BacktestTable(source="many-element world (simulated)", inputs=list(self.elements), x=self.x,
                             y=self.y, objective=Objective("activity", "maximize"), n_raw=len(self.y))


def hidden_truth(x: np.ndarray, elements: tuple[str, ...] = ELEMENTS, vec_peak: float = 7.0,
                 en_peak: float = 1.9) -> np.ndarray:
    """The noiseless property of compositions ``x`` (see the module docstring)."""
    props = property_matrix(elements, ("valence_electrons", "electronegativity", "metallic_radius_pm"))
    w = np.asarray(x, dtype=float)
    w = w / w.sum(axis=1, keepdims=True)
    vec, en, r = (w @ props).T
    delta = np.sqrt(np.clip(w @ props[:, 2] ** 2 / r**2 - 2 * (w @ props[:, 2]) / r + 1, 0.0, None))
    volcano = np.exp(-0.5 * ((vec - vec_peak) / 1.2) ** 2 - 0.5 * ((en - en_peak) / 0.12) ** 2)
    return volcano - 0.5 * (delta / 0.06) ** 2


def sample_compositions(n: int, n_elements: int, rng: np.random.Generator, sizes: tuple[int, ...] = (3, 4, 5)) -> np.ndarray:
    """``n`` distinct compositions, each of ``k`` in ``sizes`` elements, fractions on the 1/STEPS grid, all > 0."""
    rows: dict[tuple[int, ...], None] = {}
    while len(rows) < n:
        k = int(rng.choice(sizes))
        chosen = rng.choice(n_elements, k, replace=False)
        cuts = np.sort(rng.choice(np.arange(1, STEPS), k - 1, replace=False))  # stars and bars: k positive parts
        parts = np.diff(np.concatenate([[0], cuts, [STEPS]]))
        row = np.zeros(n_elements, dtype=int)
        row[chosen] = parts
        rows.setdefault(tuple(row.tolist()), None)
    return np.array(list(rows), dtype=float) / STEPS


def make_world(n: int = 3000, seed: int = 0, noise: float = 0.05, elements: tuple[str, ...] = ELEMENTS) -> ManyElementWorld:
    """Build the world: ``n`` compositions and their measured values, all from ``seed``."""
    if n < 10:
        raise ValueError(f"n must be at least 10, got {n}")
    rng = np.random.default_rng([seed, 4004])
    x = sample_compositions(n, len(elements), rng)
    truth = hidden_truth(x, elements)
    y = truth + noise * truth.std() * rng.standard_normal(n)
    return ManyElementWorld(tuple(elements), x, truth, y)
