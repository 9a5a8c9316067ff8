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

Headline figure: the samples each method needs for its mean held-out RMSE to
reach random's at ``--max-samples`` (``samples_to_reach_random``). The
property's unit is the scanning-SQUID voltage of ``FeGaPd_Mag.txt`` (column
1, "SQUID voltage"; the data set does not state the scale), so RMSEs are in
that unit.

Run:  python -m benchmarks.used_boed_fegapd [--repeats 20] [--max-samples 40] [--workers 2] [--methods random,used,boed]
Writes benchmarks/results/used_boed_fegapd.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one process per core: BLAS threads on top only contend (set before numpy)
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


def one_run(job: tuple[str, int, int, int, str]) -> tuple[str, int, list[float], list[float], float]:
    """One method, one repeat: the two error curves from n = initial to max_samples, and its seconds."""
    method, repeat, initial, max_samples, kind = job
    t0 = time.perf_counter()
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
            return method, repeat, cv, held, time.perf_counter() - t0
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
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default="used_boed_fegapd")
    ap.add_argument("--first-repeat", type=int, default=0, help="repeats first..first+repeats-1 (to split a run)")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="combine the per-repeat held-out curves of runs (each repeat is deterministic) into --out")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    methods = [m for m in args.methods.split(",") if m]
    if "random" not in methods:
        methods.insert(0, "random")  # the baseline is always measured in the same run
    if not DATA.is_dir():
        print(f"data not found at {DATA}", file=sys.stderr)
        return 1
    reps = range(args.first_repeat, args.first_repeat + args.repeats)
    jobs = [(m, r, args.initial, args.max_samples, args.model) for r in reps for m in methods]
    done: dict[str, dict[int, tuple]] = {m: {} for m in methods}
    start = time.perf_counter()
    load_start = os.getloadavg()
    n = list(range(args.initial, args.max_samples + 1))
    OUT.mkdir(parents=True, exist_ok=True)
    with Pool(args.workers) as pool:
        for k, (m, r, cv, held, secs) in enumerate(pool.imap_unordered(one_run, jobs), 1):
            done[m][r] = (cv, held, secs)
            el = time.perf_counter() - start
            print(f"[{k}/{len(jobs)}] {m} repeat {r}: cv {cv[0]:.2f} -> {cv[-1]:.2f}, "
                  f"held-out {held[0]:.2f} -> {held[-1]:.2f} ({secs:.0f} s; elapsed {el:.0f} s, "
                  f"ETA {el / k * (len(jobs) - k):.0f} s, load {os.getloadavg()[0]:.1f})", flush=True)
            complete = sorted(set.intersection(*(set(done[x]) for x in methods)))
            if len(complete) >= 2 and k < len(jobs):  # partial results survive an interrupted run
                part = summarize(done, methods, complete, n, args, start, load_start)
                (OUT / f"{args.out}.partial.json").write_text(json.dumps(part, indent=1))
    summary = summarize(done, methods, sorted(done["random"]), n, args, start, load_start)
    target = summary["random_held_out_at_max"]
    (OUT / f"{args.out}.json").write_text(json.dumps(summary, indent=1))
    (OUT / f"{args.out}.partial.json").unlink(missing_ok=True)
    plot(summary, OUT / f"{args.out}.png")
    print(f"\n{'method':<8}" + "".join(f"{f'n={k}':>16}" for k in (n[0], n[len(n) // 2], n[-1])))
    for metric in ("cv", "held_out"):
        print(f"-- {metric} RMSE (mean +- s.e.m. over {summary['repeats']} repeats)")
        for m in methods:
            e = summary["methods"][m][metric]
            cells = "".join(f"{e['mean'][i]:>10.3f}+-{e['sem'][i]:.3f}" for i in (0, len(n) // 2, len(n) - 1))
            print(f"{m:<8}{cells}")
    print(f"samples to reach random's held-out RMSE at n={n[-1]} ({target:.3f}): {summary['samples_to_reach_random']}")
    print(f"wrote {OUT / args.out}.png ({summary['seconds']:.0f} s on {summary['machine']})")
    return 0


def summarize(done: dict, methods: list[str], repeats: list[int], n: list[int], args, start: float,
              load_start: tuple) -> dict:
    """Mean +- s.e.m. curves over ``repeats``, per-repeat held-out curves, and samples to reach random's error."""
    summary = {
        "samples": n, "repeats": len(repeats), "initial": args.initial, "model": args.model,
        "unit": "scanning-SQUID voltage (FeGaPd_Mag.txt column 1)",
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(), "workers": args.workers,
                    "torch_threads_per_worker": 1, "load_average_1_5_15_start": list(load_start),
                    "load_average_1_5_15_end": list(os.getloadavg())},
        "seconds": time.perf_counter() - start, "methods": {},
    }
    for m in methods:
        entry: dict = {"seconds_per_run_mean": float(np.mean([done[m][r][2] for r in repeats]))}
        for j, metric in enumerate(("cv", "held_out")):
            a = np.array([done[m][r][j] for r in repeats])
            entry[metric] = {"mean": a.mean(0).tolist(), "sem": (a.std(0, ddof=1) / np.sqrt(len(a))).tolist()}
        entry["held_out_per_repeat"] = {str(r): done[m][r][1] for r in repeats}
        entry["cv_per_repeat"] = {str(r): done[m][r][0] for r in repeats}
        summary["methods"][m] = entry
    target = summary["methods"]["random"]["held_out"]["mean"][-1]
    summary["random_held_out_at_max"] = target
    summary["samples_to_reach_random"] = {m: samples_to_reach(n, summary["methods"][m]["held_out"]["mean"], target)
                                          for m in methods}
    return summary


def merge(paths: list[str], out: str) -> int:
    """Held-out curves per (method, repeat) from several runs -> one summary (a repeat is the same in every run:
    seeded initial samples and planners). Runs on different load: their machine entries are all kept."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    n = runs[0]["samples"]
    methods = list(runs[0]["methods"])
    per: dict[str, dict[str, list]] = {m: {} for m in methods}
    for run in runs:
        if run["samples"] != n:
            raise SystemExit(f"runs have different sample ranges: {run['samples'][0]}..{run['samples'][-1]}")
        for m, e in run["methods"].items():
            per.setdefault(m, {}).update(e["held_out_per_repeat"])
    common = sorted(set.intersection(*(set(per[m]) for m in per)), key=int)
    summary: dict = {"samples": n, "repeats": len(common), "repeat_ids": [int(r) for r in common],
                     "initial": runs[0]["initial"], "model": runs[0]["model"], "unit": runs[0]["unit"],
                     "merged_from": [Path(p).name for p in paths], "machine": [r["machine"] for r in runs],
                     "seconds": sum(r["seconds"] for r in runs), "methods": {}}
    for m in per:
        a = np.array([per[m][r] for r in common])
        summary["methods"][m] = {"held_out": {"mean": a.mean(0).tolist(), "sem": (a.std(0, ddof=1) / np.sqrt(len(a))).tolist()},
                                 "held_out_per_repeat": {r: per[m][r] for r in common}}
    target = summary["methods"]["random"]["held_out"]["mean"][-1]
    summary["random_held_out_at_max"] = target
    summary["samples_to_reach_random"] = {m: samples_to_reach(n, summary["methods"][m]["held_out"]["mean"], target)
                                          for m in per}
    (OUT / f"{out}.json").write_text(json.dumps(summary, indent=1))
    plot(summary, OUT / f"{out}.png")
    for m in per:
        e = summary["methods"][m]["held_out"]
        print(f"{m:<8}" + "".join(f"  n={k}: {e['mean'][i]:.3f}+-{e['sem'][i]:.3f}" for i, k in enumerate(n) if k in (15, 20, 25, 30, 40)))
    print(f"{len(common)} repeats; samples to reach random's held-out RMSE at n={n[-1]} ({target:.3f}): "
          f"{summary['samples_to_reach_random']}")
    return 0


def samples_to_reach(n: list[int], mean: list[float], target: float) -> int | None:
    """The first sample count whose mean error is at or below ``target`` (None: never within the run)."""
    hit = [k for k, v in zip(n, mean) if v <= target]
    return hit[0] if hit else None


def plot(summary, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [x for x in ("cv", "held_out") if all(x in e for e in summary["methods"].values())]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    axes = axes[0]
    n = np.array(summary["samples"])
    styles = {"random": ("tab:orange", "o"), "used": ("tab:blue", "s"), "boed": ("tab:green", "^")}
    titles = {"cv": "5-fold CV error on the collected samples", "held_out": "error on the uncollected library samples"}
    for ax, metric in zip(axes, metrics):
        for m, (color, marker) in styles.items():
            if m not in summary["methods"]:
                continue
            e = summary["methods"][m][metric]
            mean, sem = np.array(e["mean"]), np.array(e["sem"])
            ax.plot(n, mean, color=color, marker=marker, ms=3, label=m.upper() if m != "random" else "Random")
            ax.fill_between(n, mean - sem, mean + sem, color=color, alpha=0.2)
        ax.set_xlabel("number of samples")
        ax.set_ylabel("RMSE of magnetization from XRD (SQUID voltage)")
        if metric == "held_out":
            ax.axhline(summary["random_held_out_at_max"], color="grey", ls=":", lw=1, label=f"random at n={n[-1]}")
        ax.set_title(titles[metric], fontsize=10)
        ax.legend()
    fig.suptitle(f"Fe-Ga-Pd: XRD -> magnetization ({summary['model']}), mean +- s.e.m., {summary['repeats']} repeats")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
