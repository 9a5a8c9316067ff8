"""Regenerate the small backtest tables here (deterministic; run from the repository root).

* ``solvents.csv``: a reaction screen, 3 solvents (categorical) x 6
  temperatures x 3 concentrations -> ``yield``; the solvent matters (DMF best).
* ``solvents_prior.csv``: an earlier screen of the same chemistry at other
  points, yields 10 points higher and noisier (a related prior).
* ``measured.csv``: 40 compositions (``a``, ``b``) with an 8-channel measured
  pattern ``z0..z7`` per row and the property ``p`` computed from the pattern.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SOLVENT_EFFECT = {"DMF": 12.0, "THF": 4.0, "toluene": 0.0}


def _yield(solvent: str, t: float, c: float) -> float:
    return 40 + SOLVENT_EFFECT[solvent] - 0.01 * (t - 80) ** 2 + 15 * c - 10 * c**2


def main() -> None:
    rng = np.random.default_rng(13)
    rows = ["solvent,temperature,concentration,yield"]
    for s in SOLVENT_EFFECT:
        for t in (40, 55, 70, 85, 100, 115):
            for c in (0.25, 0.5, 1.0):
                rows.append(f"{s},{t},{c},{_yield(s, t, c) + rng.normal(0, 0.3):.2f}")
    (HERE / "solvents.csv").write_text("\n".join(rows) + "\n")
    rows = ["solvent,temperature,concentration,yield"]
    for _ in range(30):
        s = str(rng.choice(list(SOLVENT_EFFECT)))
        t, c = float(rng.uniform(40, 115)), float(rng.uniform(0.25, 1.0))
        rows.append(f"{s},{t:.1f},{c:.3f},{_yield(s, t, c) + 10 + rng.normal(0, 1.0):.2f}")
    (HERE / "solvents_prior.csv").write_text("\n".join(rows) + "\n")
    rows = ["a,b," + ",".join(f"z{i}" for i in range(8)) + ",p"]
    grid = np.linspace(0, 1, 8)
    for a, b in rng.random((40, 2)):
        z = np.exp(-((grid - a) ** 2) / 0.05) + b * grid + rng.normal(0, 0.01, 8)
        rows.append(f"{a:.4f},{b:.4f}," + ",".join(f"{v:.4f}" for v in z) + f",{z[2] - z[6] + 0.5 * z.max():.4f}")
    (HERE / "measured.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
