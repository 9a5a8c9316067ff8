"""Benchmark (c): USED and BOED against random on the Fe-Ga-Pd library (seed 000's study).

Setting: the composition (Fe, Ga, Pd) is what the operator controls; the XRD
pattern is the measured descriptor; the scanning-SQUID magnetization proxy is
the property. The 278 library samples are the candidate pool. Each run starts
from 10 random samples (the same 10 for every method in a repeat), then each
method picks one sample at a time up to ``--max-samples``. After every sample
the z -> y model (PCA + GP, ``planners.property_model``) is scored two ways:

* ``cv``: 5-fold cross-validated RMSE on the samples collected so far (the
  paper's metric);
* ``held_out``: RMSE of the model fitted on the collected samples, on every
  library sample not yet collected (the true generalization error, which the
  CV error on a hand-picked set can misstate).

Run:  python -m benchmarks.used_boed_fegapd [--repeats 20] [--max-samples 40] [--workers 2]
Writes benchmarks/results/used_boed_fegapd.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from benchmarks.data import shared_data

REPO = Path(__file__).resolve().parents[1]
DATA = shared_data() / "fe_ga_pd"
OUT = REPO / "benchmarks" / "results"
METHODS = ("random", "used", "boed")
ELEMENTS = ("Fe", "Ga", "Pd")


def load():
    comp = np.loadtxt(DATA / "FeGaPd_CMP.txt", skiprows=1)
    xrd = np.loadtxt(DATA / "FeGaPd_XRD.txt", delimiter=",")[1:]
    mag = np.loadtxt(DATA / "FeGaPd_Mag.txt", delimiter=",")[:, 0]
    return comp, xrd, mag


def one_run(job: tuple[str, int, int, int, str]) -> tuple[str, int, list[float], list[float]]:
    """One method, one repeat: the two error curves from n = initial to max_samples."""
    method, repeat, initial, max_samples, kind = job
    import torch

    torch.set_num_threads(1)  # one process per core; tiny GPs are slower with thread contention
    from labpilot.planners.base import Trial, make_planner
    from labpilot.planners.property_model import cross_validated_error, held_out_error
    from labpilot.planners.space import ContinuousParam, Objective, Space

    comp, xrd, mag = load()
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in ELEMENTS), pool=comp)
    lookup = {tuple(r): i for i, r in enumerate(comp.tolist())}
    picked = list(np.random.default_rng([repeat, 2021]).choice(len(comp), initial, replace=False))
    options = {"model": kind} if method != "random" else {}
    planner = make_planner(method, space, [Objective("mag")], seed=repeat, options=options)
    cv, held = [], []
    while True:
        idx = np.array(picked)
        rest = np.setdiff1d(np.arange(len(comp)), idx)
        cv.append(cross_validated_error(xrd[idx], mag[idx], kind, folds=5, seed=repeat))
        held.append(held_out_error(xrd[idx], mag[idx], xrd[rest], mag[rest], kind))
        if len(picked) >= max_samples:
            return method, repeat, cv, held
        hist = [Trial(dict(zip(ELEMENTS, comp[i])), "completed", {"mag": float(mag[i])}, {"xrd": xrd[i]}) for i in picked]
        (p,) = planner.propose(hist, 1)
        picked.append(lookup[tuple(p.params[n] for n in ELEMENTS)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--initial", type=int, default=10)
    ap.add_argument("--max-samples", type=int, default=40)
    ap.add_argument("--model", default="gp", choices=["gp", "kernel_ridge"])
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"data not found at {DATA}", file=sys.stderr)
        return 1
    jobs = [(m, r, args.initial, args.max_samples, args.model) for r in range(args.repeats) for m in METHODS]
    curves: dict[str, dict[str, list]] = {m: {"cv": [], "held_out": []} for m in METHODS}
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        for k, (m, r, cv, held) in enumerate(pool.imap_unordered(one_run, jobs), 1):
            curves[m]["cv"].append(cv)
            curves[m]["held_out"].append(held)
            print(f"[{k}/{len(jobs)}] {m} repeat {r}: cv {cv[0]:.2f} -> {cv[-1]:.2f}, "
                  f"held-out {held[0]:.2f} -> {held[-1]:.2f} ({time.perf_counter() - start:.0f} s)", flush=True)
    n = list(range(args.initial, args.max_samples + 1))
    summary = {
        "samples": n, "repeats": args.repeats, "initial": args.initial, "model": args.model,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.workers} workers",
        "seconds": time.perf_counter() - start, "methods": {},
    }
    for m in METHODS:
        entry = {}
        for metric in ("cv", "held_out"):
            a = np.array(curves[m][metric])
            entry[metric] = {"mean": a.mean(0).tolist(), "sem": (a.std(0, ddof=1) / np.sqrt(len(a))).tolist()}
        summary["methods"][m] = entry
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "used_boed_fegapd.json").write_text(json.dumps(summary, indent=1))
    plot(summary, OUT / "used_boed_fegapd.png")
    print(f"\n{'method':<8}" + "".join(f"{f'n={k}':>16}" for k in (n[0], n[len(n) // 2], n[-1])))
    for metric in ("cv", "held_out"):
        print(f"-- {metric} RMSE (mean +- s.e.m. over {args.repeats} repeats)")
        for m in METHODS:
            e = summary["methods"][m][metric]
            cells = "".join(f"{e['mean'][i]:>10.3f}+-{e['sem'][i]:.3f}" for i in (0, len(n) // 2, len(n) - 1))
            print(f"{m:<8}{cells}")
    print(f"wrote {OUT / 'used_boed_fegapd.png'} ({summary['seconds']:.0f} s on {summary['machine']})")
    return 0


def plot(summary, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    n = np.array(summary["samples"])
    styles = {"random": ("tab:orange", "o"), "used": ("tab:blue", "s"), "boed": ("tab:green", "^")}
    titles = {"cv": "5-fold CV error on the collected samples", "held_out": "error on the uncollected library samples"}
    for ax, metric in zip(axes, ("cv", "held_out")):
        for m, (color, marker) in styles.items():
            e = summary["methods"][m][metric]
            mean, sem = np.array(e["mean"]), np.array(e["sem"])
            ax.plot(n, mean, color=color, marker=marker, ms=3, label=m.upper() if m != "random" else "Random")
            ax.fill_between(n, mean - sem, mean + sem, color=color, alpha=0.2)
        ax.set_xlabel("number of samples")
        ax.set_ylabel("RMSE of magnetization from XRD")
        ax.set_title(titles[metric], fontsize=10)
        ax.legend()
    fig.suptitle(f"Fe-Ga-Pd: XRD -> magnetization ({summary['model']}), mean +- s.e.m., {summary['repeats']} repeats")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
