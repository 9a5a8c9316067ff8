"""Diagnosis: what ae-bo's autoencoder does to the OER plate's 6-element compositions.

The descriptors of a composition (mean, spread, min, max of element
properties: 36 columns) on a 6-element simplex have only 5 free coordinates.
An autoencoder trained on the whole plate reconstructs them well at 3 latent
dimensions, yet maps many distinct catalysts onto nearly the same latent
point, so the GP in the latent space cannot tell them apart. This measures,
at each latent size: the reconstruction error, the pairs of plate rows closer
than 1 % of the latent range, and the median difference of those pairs'
measured overpotentials (against the plate's standard deviation); and the
PCA variance profile of the descriptors. It is why ae-bo now falls back to
plain ``bo`` when there are at most 8 free parameters.

Run:  python -m benchmarks.ae_bo_latent [--latent 3 5] [--steps 1500]
Writes benchmarks/results/ae_bo_latent.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

from benchmarks.data import oer_plate
from benchmarks.machine import machine
from labpilot.planners import make_planner
from labpilot.planners.autoencoder import fit_autoencoder

OUT = Path(__file__).resolve().parent / "results" / "ae_bo_latent.json"
def pca_profile(desc: np.ndarray, k: int = 8) -> list[float]:
    """Cumulative variance fraction of the first ``k`` principal components of standardized descriptors."""
    std = desc.std(0)
    z = (desc - desc.mean(0)) / np.where(std > 0, std, 1.0)
    var = np.linalg.svd(z, compute_uv=False) ** 2
    return [round(float(v), 4) for v in (np.cumsum(var) / var.sum())[:k]]


def latent_collisions(desc: np.ndarray, y: np.ndarray, latent: int, steps: int) -> dict:
    """Reconstruction error and near-coincident latent pairs (within 1 % of the range) with their |Δy|."""
    ae = fit_autoencoder(desc, latent, seed=0, steps=steps)
    lat = ae.encode(desc)
    span = np.ptp(lat, 0)
    unit = (lat - lat.min(0)) / np.where(span > 0, span, 1.0)
    pairs = cKDTree(unit).query_pairs(0.01)
    dy = [abs(float(y[i] - y[j])) for i, j in pairs]
    return {
        "reconstruction_error": float(ae.reconstruction_error(desc)),
        "pairs_within_1pct": len(pairs),
        "median_abs_dy_of_those_V": float(np.median(dy)) if dy else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, nargs="+", default=[3, 5], help="latent sizes to try")
    parser.add_argument("--steps", type=int, default=1500, help="autoencoder training steps")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    table = oer_plate()
    planner = make_planner("ae-bo", table.space, [table.objective], seed=0)
    desc = planner.descriptors(table.x)
    out: dict = {"machine": machine(), "rows": int(len(table.y)), "descriptor_columns": int(desc.shape[1]),
                 "pca_variance_fraction_first_k": pca_profile(desc), "y_std_V": float(table.y.std())}
    for latent in args.latent:
        out[f"latent{latent}"] = latent_collisions(desc, table.y, latent, args.steps)
        print(f"latent {latent}: {out[f'latent{latent}']}", flush=True)
    OUT.write_text(json.dumps(out, indent=1))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
