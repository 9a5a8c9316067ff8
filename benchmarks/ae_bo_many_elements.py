"""Benchmark: ``ae-bo`` vs ``bo`` vs ``random`` on a low-dimensional simplex and on a many-element world.

Two searches, protocol of Liang et al. (npj Comput. Mater. 7, 188, 2021):
2 uniformly random initial rows (the same for every planner in a repeat), then
one proposal at a time up to a budget of 50; the top set is the best 5 % of
the pool; the enhancement factor (EF) is the fraction of the top set found
divided by random's expectation (budget / pool size).

* ``oer``: the OER plate (``../shared/data/oer_plate_3496``, 2121 real
  Ni-Fe-Co-Mn-Ce-La oxide catalysts, a 6-element simplex: 5 free
  parameters), minimize the overpotential (V).
* ``world``: a simulated world with a hidden truth
  (``benchmarks/worlds/many_elements.py``): 3000 compositions of 3-5 of 18
  elements; the property is a smooth function of element-property
  descriptors (mean valence-electron count, mean electronegativity,
  atomic-size mismatch) plus noise; maximize it (arbitrary units).

Planners: ``random``; ``bo`` (GP on the raw fractions); ``ae-bo`` with its
default ``latent_dim = "auto"``; with ``--ablation``, on the world, also
``ae-bo latent 8`` (always an 8-d autoencoder latent: the published recipe). Per
task a diagnosis records what ``auto`` chose, the reconstruction error of
each latent size, and how well a GP fitted on 50 random rows predicts the
rest of the pool from each representation (R^2): what compression loses.

Each (task, planner, repeat) replay is one job; jobs run in ``--workers``
processes with torch on one thread each; a progress line with an ETA follows
each job, and the results JSON is rewritten after each, so a run cut short
still leaves its finished replays.

Run:  python -m benchmarks.ae_bo_many_elements [--repeats 5] [--workers 2] [--tasks oer,world]
Writes benchmarks/results/ae_bo_many_elements.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from functools import lru_cache
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import oer_plate, oer_plate_csv

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"
OER_CSV = oer_plate_csv()
UNITS = {"oer": "overpotential (V)", "world": "activity (arb. units)"}
#: label -> (planner name, options); which tasks run which label.
PLANNERS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", {}),
    "bo": ("bo", {}),
    "ae-bo": ("ae-bo", {}),
    "ae-bo latent 8": ("ae-bo", {"latent_dim": 8}),
}
TASK_PLANNERS = {"oer": ["random", "bo", "ae-bo"], "world": ["random", "bo", "ae-bo"]}
#: Add "ae-bo latent 8" to a task (--ablation) to replay the always-compress recipe too (slow).
ABLATION = "ae-bo latent 8"


@lru_cache(maxsize=None)
def load_task(task: str):
    """The task's backtest table (cached per process)."""
    if task == "oer":
        return oer_plate()
    if task == "world":
        from benchmarks.worlds.many_elements import make_world

        return make_world(n=3000, seed=0).table()
    raise ValueError(f"unknown task {task!r}")


def replay(job: tuple[str, str, int, int, int, int]) -> dict[str, Any]:
    """One replay; returns its picked rows and curves."""
    task, label, repeat, budget, initial, seed = job
    import torch

    torch.set_num_threads(1)
    from labpilot.planners.backtest import simulate

    table = load_task(task)
    name, options = PLANNERS[label]
    start = time.perf_counter()
    picked = simulate(table, name, budget, initial, seed, repeat, options)
    top = table.top_mask()
    sign = table.objective.sign
    found = np.cumsum(top[picked])
    best = np.maximum.accumulate(table.y[picked] * sign) * sign
    return {"task": task, "planner": label, "repeat": repeat, "picked": picked.tolist(),
            "top_found": found.tolist(), "best_so_far": best.tolist(), "seconds": time.perf_counter() - start}


def diagnose(task: str) -> dict[str, Any]:
    """What ``auto`` chooses on the task, reconstruction errors, and GP R^2 from 50 random rows per representation."""
    import torch

    torch.set_num_threads(1)
    from labpilot.planners.autoencoder import fit_autoencoder
    from labpilot.planners.base import make_planner
    from labpilot.planners.gp import fit_gp, posterior_mean_std

    start = time.perf_counter()
    table = load_task(task)
    planner = make_planner("ae-bo", table.space, [table.objective], seed=0)
    chosen = planner.representation_choice()
    desc = planner.descriptors(table.x)
    std = (desc - desc.mean(0)) / np.where(desc.std(0) > 1e-12, desc.std(0), 1.0)
    reps: dict[str, np.ndarray] = {"raw fractions": table.x, "descriptors": std}
    errors = {}
    for size in (3, 5, 8):
        ae = fit_autoencoder(desc, size, seed=0)
        errors[size] = ae.reconstruction_error(desc)
        reps[f"latent {size}"] = ae.encode(desc)
    rng = np.random.default_rng(0)
    splits = [rng.choice(len(table.y), 50, replace=False) for _ in range(3)]
    r2: dict[str, list[float]] = {}
    for name, f in reps.items():
        span = np.ptp(f, axis=0)
        u = (f - f.min(0)) / np.where(span > 1e-12, span, 1.0)
        unit = torch.stack([torch.zeros(u.shape[1]), torch.ones(u.shape[1])]).double()
        r2[name] = []
        for train in splits:
            test = np.setdiff1d(np.arange(len(u)), train)
            model = fit_gp(torch.as_tensor(u[train]), torch.as_tensor(table.y[train]), bounds=unit)
            mean, _ = posterior_mean_std(model, torch.as_tensor(u[test]))
            resid = mean[:, 0].numpy() - table.y[test]
            r2[name].append(float(1 - np.mean(resid**2) / table.y[test].var()))
    return {"task": task, "diagnosis": {
        "auto_representation": chosen, "free_parameters": planner.free_params,
        "descriptor_columns": int(desc.shape[1]),
        "reconstruction_error": {str(k): round(v, 4) for k, v in errors.items()},
        "gp_r2_from_50_random_rows": {k: [round(v, 3) for v in vs] for k, vs in r2.items()},
        "gp_r2_mean": {k: round(float(np.mean(vs)), 3) for k, vs in r2.items()},
        "seconds": time.perf_counter() - start}}


def run_job(job: tuple) -> dict[str, Any]:
    return diagnose(job[1]) if job[0] == "diagnose" else replay(job)


def sem(values: list[float]) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def summarize(result: dict[str, Any], done: list[dict[str, Any]], budget: int) -> None:
    """Fill ``result['tasks'][task]['planners']`` from the finished replays."""
    for task, entry in result["tasks"].items():
        table = load_task(task)
        n_top, n = int(table.top_mask().sum()), len(table.y)
        entry["planners"] = {}
        for label in TASK_PLANNERS[task]:
            runs = sorted((d for d in done if d.get("task") == task and d.get("planner") == label),
                          key=lambda d: d["repeat"])
            if not runs:
                continue
            ef = [r["top_found"][-1] / n_top / (budget / n) for r in runs]
            best = np.array([r["best_so_far"] for r in runs])
            frac = np.array([r["top_found"] for r in runs]) / n_top
            k = len(runs)
            entry["planners"][label] = {
                "repeats_done": k,
                "enhancement_factor": float(np.mean(ef)), "enhancement_factor_sem": sem(ef),
                "enhancement_factor_per_repeat": [round(v, 3) for v in ef],
                "top_found_per_repeat": [r["top_found"][-1] for r in runs],
                "best_final_per_repeat": [r["best_so_far"][-1] for r in runs],
                "best_so_far_mean": best.mean(0).tolist(),
                "best_so_far_sem": (best.std(0, ddof=1) / math.sqrt(k)).tolist() if k > 1 else [0.0] * budget,
                "top_fraction_mean": frac.mean(0).tolist(),
                "top_fraction_sem": (frac.std(0, ddof=1) / math.sqrt(k)).tolist() if k > 1 else [0.0] * budget,
                "seconds_per_replay": float(np.mean([r["seconds"] for r in runs])),
                "picked": [r["picked"] for r in runs],
            }


def plot(result: dict[str, Any], path: Path) -> None:
    """Best-so-far and top-5 % fraction vs experiments, mean +- sem, one row per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in result["tasks"] if result["tasks"][t].get("planners")]
    if not tasks:
        return
    budget = result["budget"]
    steps = np.arange(1, budget + 1)
    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 4.2 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        entry = result["tasks"][task]
        for label, r in entry["planners"].items():
            for ax, key in zip(row, ("best_so_far", "top_fraction")):
                m, s = np.array(r[f"{key}_mean"]), np.array(r[f"{key}_sem"])
                txt = f"{label} (EF {r['enhancement_factor']:.1f} ± {r['enhancement_factor_sem']:.1f}, n={r['repeats_done']})"
                (line,) = ax.plot(steps, m, label=txt)
                ax.fill_between(steps, m - s, m + s, color=line.get_color(), alpha=0.2)
        row[1].plot(steps, steps / entry["n_rows"], "k--", lw=1, label="random, expected")
        row[0].set_ylabel(f"best so far: {UNITS[task]}")
        row[1].set_ylabel(f"fraction of top-5 % found (of {entry['n_top']})")
        for ax in row:
            ax.set_xlabel("experiments")
            ax.set_title(f"{entry['title']}", fontsize=9)
            ax.legend(fontsize=7, loc="best")
    fig.suptitle("ae-bo vs bo vs random: 2 random initial rows, budget 50, mean ± sem over repeats", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="oer,world")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--initial", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--planners", default="", help="comma-separated labels to keep (default: all of each task's)")
    ap.add_argument("--no-diagnosis", action="store_true")
    ap.add_argument("--ablation", action="store_true", help=f"also replay {ABLATION!r} on the world")
    ap.add_argument("--out", default="ae_bo_many_elements")
    args = ap.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if args.ablation:
        TASK_PLANNERS["world"].append(ABLATION)
    keep = [p.strip() for p in args.planners.split(",") if p.strip()]
    for t in TASK_PLANNERS:
        TASK_PLANNERS[t] = [p for p in TASK_PLANNERS[t] if not keep or p in keep]
    if "oer" in tasks and not OER_CSV.is_file():
        print(f"OER plate not found at {OER_CSV}: skipping the oer task", file=sys.stderr)
        tasks.remove("oer")
    result: dict[str, Any] = {
        "protocol": "Liang et al. 2021: initial random rows, top set = best 5 % of the pool, EF at the budget",
        "budget": args.budget, "initial": args.initial, "repeats": args.repeats, "seed": args.seed,
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(), "workers": args.workers,
                    "torch_threads": 1, "load_at_start": os.getloadavg()},
        "tasks": {},
    }
    for task in tasks:
        table = load_task(task)
        result["tasks"][task] = {
            "title": ("OER plate, 2121 catalysts, 6-element simplex, minimize overpotential" if task == "oer"
                      else "simulated world, 3000 compositions of 3-5 of 18 elements, maximize activity"),
            "n_rows": len(table.y), "n_top": int(table.top_mask().sum()), "inputs": len(table.inputs)}
    # repeats outermost, so a run cut short has every planner at a similar count
    jobs: list[tuple] = [(t, p, r, args.budget, args.initial, args.seed)
                         for r in range(args.repeats) for t in tasks for p in TASK_PLANNERS[t]]
    if not args.no_diagnosis:  # after the first three repeats: a run cut short still has it
        at = sum(len(TASK_PLANNERS[t]) for t in tasks) * min(3, args.repeats)
        jobs[at:at] = [("diagnose", t) for t in tasks]
    OUT.mkdir(parents=True, exist_ok=True)
    done: list[dict[str, Any]] = []
    start = time.perf_counter()
    loads = []
    with Pool(args.workers) as pool:
        for i, res in enumerate(pool.imap_unordered(run_job, jobs), 1):
            loads.append(os.getloadavg()[0])
            elapsed = time.perf_counter() - start
            eta = elapsed / i * (len(jobs) - i)
            if "diagnosis" in res:
                result["tasks"][res["task"]]["diagnosis"] = res["diagnosis"]
                what = f"diagnosis {res['task']}: auto -> {res['diagnosis']['auto_representation']}"
            else:
                done.append(res)
                n_top = result["tasks"][res["task"]]["n_top"]
                what = (f"{res['task']} {res['planner']} repeat {res['repeat']}: {res['top_found'][-1]}/{n_top} top "
                        f"rows in {args.budget} ({res['seconds']:.0f} s)")
            print(f"[{i}/{len(jobs)}] {what}; elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min, "
                  f"load {loads[-1]:.1f}", flush=True)
            summarize(result, done, args.budget)
            result["machine"]["load_mean_during"] = float(np.mean(loads))
            result["seconds"] = elapsed
            (OUT / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    plot(result, OUT / f"{args.out}.png")
    for task, entry in result["tasks"].items():
        print(f"{task}: {entry['title']}")
        for label, r in entry.get("planners", {}).items():
            print(f"  {label:<16} EF {r['enhancement_factor']:5.2f} ± {r['enhancement_factor_sem']:.2f} (sem, "
                  f"n={r['repeats_done']})  per repeat {r['enhancement_factor_per_repeat']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
