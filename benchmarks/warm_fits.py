"""Benchmark (f): warm-started GP fits against fits from the default start, time and sample efficiency.

1. **Fit time against n** (n = 50 ... 2,000, 6-D smooth function with noise):
   a fit from BoTorch's default start at n observations (``gp.fit_gp``, what
   every proposal did before) and a warm fit at n + 1 from its hyperparameters
   (``gp_warm.fit_with_state``, what a running campaign now does between full
   fits), with the per-observation log marginal likelihood each reaches.
2. **Sample efficiency**, warm (default) against ``warm_start = false``, same
   seeds: the alloy world in-process (``simulators.worlds.alloy``, continuous
   5-element simplex, the campaign's space; experiments until a measured film
   reaches 95 % of the best magnetization in the space, censored at the
   budget) and the OER plate replay (``planners.backtest``: 5 random rows,
   budget 50, enhancement factor on the top 5 %).

Run:  python -m benchmarks.warm_fits [--sizes 50,200,500,1000,2000] [--seeds 3]
Writes benchmarks/results/warm_fits.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from benchmarks.data import oer_plate, oer_plate_csv

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"


def fit_times(sizes: list[int], seed: int = 0) -> list[dict]:
    import torch

    from labpilot.planners.gp import fit_gp
    from labpilot.planners.gp_warm import FitPolicy, fit_with_state, hyper_params, mll_value

    rng = np.random.default_rng(seed)
    top = max(sizes) + 1
    x = rng.uniform(size=(top, 6))
    y = np.sin(3 * x[:, 0]) * np.cos(2 * x[:, 1]) + 0.5 * x[:, 2:].sum(1) + 0.05 * rng.standard_normal(top)
    tx, ty = torch.as_tensor(x), torch.as_tensor(y)
    bounds = torch.stack([torch.zeros(6), torch.ones(6)]).double()
    out = []
    for n in sizes:
        t = time.perf_counter()
        cold = fit_gp(tx[:n], ty[:n], bounds=bounds)
        cold_s = time.perf_counter() - t
        v = mll_value(cold)
        state = {"version": 1, "params": hyper_params(cold), "mll": v, "mll_ref": v, "since_full": 0}
        t = time.perf_counter()
        warm, _, kind = fit_with_state(tx[: n + 1], ty[: n + 1], state, FitPolicy(), bounds=bounds)
        warm_s = time.perf_counter() - t
        cold1 = fit_gp(tx[: n + 1], ty[: n + 1], bounds=bounds) if n <= 500 else None
        row = {"n": n, "default_start_fit_s": cold_s, "warm_fit_s": warm_s, "warm_kind": kind,
               "speedup": cold_s / warm_s, "warm_mll_per_obs": mll_value(warm),
               "default_start_mll_per_obs_at_n_plus_1": mll_value(cold1) if cold1 is not None else None,
               "load_1min": os.getloadavg()[0]}
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def alloy_run(job: tuple[bool, int, int]) -> dict:
    warm, seed, budget = job
    import torch

    torch.set_num_threads(1)
    from benchmarks.alloy_bo_vs_random import INITIAL, space
    from labpilot.planners import Objective, Trial, make_planner
    from labpilot.planners.random_planner import initial_design
    from labpilot.simulators.worlds.alloy import AlloyWorld

    world = AlloyWorld(7)
    sp = space()
    rng = np.random.default_rng([seed, 99])
    planner = make_planner("bo", sp, [Objective("magnetization")], seed=seed, options={"warm_start": warm})
    history, truths, times = [], [], []
    for p in initial_design(sp, INITIAL, seed=seed):
        truths.append(world.true_magnetization(p))
        history.append(Trial(p, "completed", {"magnetization": truths[-1] * (1 + 0.01 * rng.standard_normal())}))
    while len(history) < budget:
        t = time.perf_counter()
        p = planner.propose(history, 1)[0].params
        times.append(time.perf_counter() - t)
        truths.append(world.true_magnetization(p))
        history.append(Trial(p, "completed", {"magnetization": truths[-1] * (1 + 0.01 * rng.standard_normal())}))
    return {"kind": "alloy", "warm": warm, "seed": seed, "truths": truths, "propose_s": float(np.mean(times))}


def oer_run(job: tuple[bool, int, int]) -> dict:
    warm, repeat, budget = job
    import torch

    torch.set_num_threads(1)
    from labpilot.planners.backtest import simulate

    table = oer_plate()
    t = time.perf_counter()
    picked = simulate(table, "bo", budget, 5, 0, repeat, {"warm_start": warm})
    top = table.top_mask()
    return {"kind": "oer", "warm": warm, "seed": repeat, "ef": float(top[picked].sum() / top.sum() / (budget / len(table.y))),
            "found": (np.cumsum(top[picked]) / top.sum()).tolist(), "propose_s": (time.perf_counter() - t) / (budget - 5)}


def run(job):
    return alloy_run(job[1:]) if job[0] == "alloy" else oer_run(job[1:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,200,500,1000,2000")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--alloy-budget", type=int, default=40)
    ap.add_argument("--oer-budget", type=int, default=50)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    from labpilot.simulators.worlds.alloy import AlloyWorld

    from benchmarks.alloy_bo_vs_random import BOUNDS

    result: dict = {}
    jobs = [("alloy", w, s, args.alloy_budget) for s in range(args.seeds) for w in (True, False)]
    if oer_plate_csv().is_file():
        jobs += [("oer", w, s, args.oer_budget) for s in range(args.seeds) for w in (True, False)]
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        runs = []
        for r in pool.imap_unordered(run, jobs):
            runs.append(r)
            print(f"{r['kind']} warm={r['warm']} seed {r['seed']}: {r['propose_s']:.2f} s/proposal", flush=True)
    result["efficiency_wall_s"] = time.perf_counter() - start
    best = AlloyWorld(7).best_in_space(BOUNDS)[1]
    eff: dict = {}
    for warm in (True, False):
        key = "warm" if warm else "default_start"
        al = sorted((r for r in runs if r["kind"] == "alloy" and r["warm"] == warm), key=lambda r: r["seed"])
        reach = []
        for r in al:
            hit = np.nonzero(np.maximum.accumulate(r["truths"]) >= 0.95 * best)[0]
            reach.append(int(hit[0]) + 1 if hit.size else None)
        oer = sorted((r for r in runs if r["kind"] == "oer" and r["warm"] == warm), key=lambda r: r["seed"])
        eff[key] = {
            "alloy_experiments_to_95pct": reach,
            "alloy_mean_censored": float(np.mean([x if x else args.alloy_budget for x in reach])),
            "alloy_final_best_fraction": [float(max(r["truths"]) / best) for r in al],
            "alloy_s_per_proposal": float(np.mean([r["propose_s"] for r in al])),
            "oer_ef_per_repeat": [r["ef"] for r in oer],
            "oer_ef_mean": float(np.mean([r["ef"] for r in oer])) if oer else None,
            "oer_s_per_proposal": float(np.mean([r["propose_s"] for r in oer])) if oer else None,
            "oer_found_mean": np.mean([r["found"] for r in oer], axis=0).tolist() if oer else None,
        }
    result["efficiency"] = eff
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    result["fit_times"] = fit_times([int(s) for s in args.sizes.split(",")])
    result["machine"] = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "workers": args.workers,
                         "torch_threads_fit_times": torch.get_num_threads(), "load_average_1min": os.getloadavg()[0]}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "warm_fits.json").write_text(json.dumps(result, indent=1))
    plot(result, OUT / "warm_fits.png")
    print(json.dumps({k: v for k, v in eff.items()}, indent=1)[:3000])
    return 0


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 1, figsize=(6, 4.2))
    ft = result["fit_times"]
    n = [r["n"] for r in ft]
    ax.loglog(n, [r["default_start_fit_s"] for r in ft], "o-", label="default start (before)")
    ax.loglog(n, [r["warm_fit_s"] for r in ft], "s-", label="warm start from the last fit")
    ax.set_xlabel("observations n")
    ax.set_ylabel("GP fit seconds (wall, shared 2-core machine)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
