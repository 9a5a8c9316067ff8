"""Benchmark (b): experiments that bo and random need to reach 95 % of the best magnetization.

The alloy world (``simulators.worlds.alloy.AlloyWorld``) is called in-process:
composition -> noise-free saturation magnetization, and a "measurement" adds
the magnetometer's 1 % noise. The space is the alloy campaign's
(``campaigns/alloy_magnetization.toml``): Fe, Co in [0, 1], Ni in [0, 0.5], Ir,
Pt in [0, 0.2], summing to 1; maximize magnetization. Each run starts with the
same 6-point space-filling design the agent uses (``initial_design``), then
one proposal per experiment.

Reported per planner and seed: the number of experiments until the *true*
magnetization of some measured film reaches 95 % of the best in the space
(``AlloyWorld.best_in_space``), censored at the budget. Random's expected
count is also computed exactly from the share of the space above the
threshold (a uniform draw hits it with probability p: 1/p experiments).

``--with-pool-default`` adds ``bo-ucb-rank``: bo with the default it has on a
pool (UCB, beta 1, on rank-warped values, chosen on ten public tables by
``benchmarks/bo_select.py``) on the same seeds. A continuous space keeps
log-EI on the values as measured because this comparison found it faster.

Run:  python -m benchmarks.alloy_bo_vs_random [--seeds 5] [--budget 40] [--random-budget 300] [--with-pool-default]
Writes benchmarks/results/alloy_bo_vs_random.{json,png}.
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

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"
ELEMENTS = ("Fe", "Co", "Ni", "Ir", "Pt")
BOUNDS = {"Fe": (0.0, 1.0), "Co": (0.0, 1.0), "Ni": (0.0, 0.5), "Ir": (0.0, 0.2), "Pt": (0.0, 0.2)}
INITIAL = 6
# method -> (planner, options); bo-ucb-rank is bo's pool default applied to this continuous space
PLANNERS: dict[str, tuple[str, dict]] = {"bo": ("bo", {}), "random": ("random", {}),
                                         "bo-ucb-rank": ("bo", {"acquisition": "ucb", "beta": 1.0, "output_warp": "rank"})}


def space():
    from labpilot.planners import ContinuousParam, SimplexConstraint, Space

    return Space(tuple(ContinuousParam(e, *BOUNDS[e]) for e in ELEMENTS), (SimplexConstraint(ELEMENTS),))


def run(job: tuple[str, int, int, int]) -> dict:
    """One campaign: planner name, seed, budget, world seed -> true best-so-far curve."""
    name, seed, budget, world_seed = job
    planner_name, options = PLANNERS[name]
    import torch

    torch.set_num_threads(1)
    from labpilot.planners import Objective, Trial, make_planner
    from labpilot.planners.random_planner import initial_design
    from labpilot.simulators.worlds.alloy import AlloyWorld

    world = AlloyWorld(world_seed)
    sp = space()
    rng = np.random.default_rng([seed, 99])
    planner = make_planner(planner_name, sp, [Objective("magnetization")], seed=seed, options=options)
    history: list = []
    truths: list[float] = []
    times: list[float] = []

    def measure(points: list[dict]) -> None:
        for p in points:
            true = world.true_magnetization(p)
            truths.append(true)
            history.append(Trial(p, "completed", {"magnetization": true * (1 + 0.01 * rng.standard_normal())}))

    measure(initial_design(sp, INITIAL, seed=seed))
    while len(history) < budget:
        t = time.perf_counter()
        props = planner.propose(history, k=1)
        times.append(time.perf_counter() - t)
        measure([p.params for p in props])
    return {"planner": name, "seed": seed, "truths": truths, "propose_s": float(np.mean(times)) if times else 0.0}


def first_reach(truths: list[float], threshold: float) -> int | None:
    best = np.maximum.accumulate(np.asarray(truths))
    hit = np.nonzero(best >= threshold)[0]
    return int(hit[0]) + 1 if hit.size else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--random-budget", type=int, default=300)
    ap.add_argument("--world-seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--with-pool-default", action="store_true", help="also run bo with its pool default (UCB on rank-warped values)")
    args = ap.parse_args(argv)
    bo_methods = ["bo", "bo-ucb-rank"] if args.with_pool_default else ["bo"]

    from labpilot.planners.random_planner import sample_space
    from labpilot.simulators.worlds.alloy import AlloyWorld

    world = AlloyWorld(args.world_seed)
    best_x, best = world.best_in_space(BOUNDS)
    threshold = 0.95 * best
    uniform = sample_space(space(), 400_000, np.random.default_rng(0))
    share = float(np.mean(world.true_magnetization_batch(uniform) >= threshold))
    print(f"best Ms in the space {best:.1f} emu/cm3 at {({k: round(v, 3) for k, v in best_x.items()})}; "
          f"threshold {threshold:.1f}; share of the space above it {share:.4%}", flush=True)

    jobs = [(m, s, args.budget, args.world_seed) for m in bo_methods for s in range(args.seeds)]
    jobs += [("random", s, args.random_budget, args.world_seed) for s in range(args.seeds)]
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        results = []
        for r in pool.imap_unordered(run, jobs):
            results.append(r)
            reach = first_reach(r["truths"], threshold)
            print(f"  {r['planner']:>6} seed {r['seed']}: reached 95 % after "
                  f"{reach if reach else '>' + str(len(r['truths']))} experiments "
                  f"(mean propose {r['propose_s']:.2f} s)", flush=True)
    wall = time.perf_counter() - start

    summary: dict = {}
    for name, budget in [(m, args.budget) for m in bo_methods] + [("random", args.random_budget)]:
        runs = sorted((r for r in results if r["planner"] == name), key=lambda r: r["seed"])
        reach = [first_reach(r["truths"], threshold) for r in runs]
        censored = sum(x is None for x in reach)
        counts = [x if x is not None else budget for x in reach]
        summary[name] = {
            "experiments_to_95pct": reach,
            "mean_experiments_censored_at_budget": float(np.mean(counts)),
            "median_experiments_censored_at_budget": float(np.median(counts)),
            "runs_not_reaching": censored,
            "budget": budget,
            "final_best_fraction": [float(max(r["truths"]) / best) for r in runs],
            "mean_propose_s": float(np.mean([r["propose_s"] for r in runs])),
        }
    expected_random = (1.0 / share if share > 0 else float("inf")) + INITIAL
    if "bo-ucb-rank" in summary:  # same seeds, same initial design: a paired comparison
        diff = [(x or args.budget) - (y or args.budget) for x, y in
                zip(summary["bo-ucb-rank"]["experiments_to_95pct"], summary["bo"]["experiments_to_95pct"])]
        sem = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
        summary["bo-ucb-rank"]["paired_minus_bo"] = {"mean": float(np.mean(diff)), "sem": sem}
        print(f"bo-ucb-rank - bo, experiments to 95 % (paired): {np.mean(diff):+.1f} +- {sem:.1f} SEM")
    ratio_empirical = summary["random"]["mean_experiments_censored_at_budget"] / summary["bo"]["mean_experiments_censored_at_budget"]
    ratio_exact = expected_random / summary["bo"]["mean_experiments_censored_at_budget"]
    result = {
        "world_seed": args.world_seed,
        "best_magnetization": best,
        "best_composition": best_x,
        "threshold": threshold,
        "share_of_space_above_threshold": share,
        "random_expected_experiments_exact": expected_random,
        "planners": summary,
        "ratio_random_over_bo_empirical": ratio_empirical,
        "ratio_random_expected_over_bo": ratio_exact,
        "wall_s": wall,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "workers": args.workers,
                    "load_average_1min": os.getloadavg()[0]},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "alloy_bo_vs_random.json").write_text(json.dumps(result, indent=2))
    plot(results, best, args, OUT / "alloy_bo_vs_random.png")
    print(json.dumps({k: v for k, v in result.items() if k != "planners"}, indent=2))
    for name, s in summary.items():
        print(f"{name}: experiments to 95 %: {s['experiments_to_95pct']} (mean {s['mean_experiments_censored_at_budget']:.1f}, "
              f"{s['runs_not_reaching']} censored at {s['budget']})")
    print(f"ratio random/bo: {ratio_empirical:.1f}x empirical (censored), {ratio_exact:.1f}x against random's exact expectation")
    return 0


def plot(results: list[dict], best: float, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, color in (("bo", "tab:blue"), ("bo-ucb-rank", "tab:orange"), ("random", "tab:gray")):
        curves = [np.maximum.accumulate(r["truths"]) / best for r in results if r["planner"] == name]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        n = min(n, max(args.budget, 60))
        arr = np.array([c[:n] for c in curves])
        x = np.arange(1, n + 1)
        ax.plot(x, arr.mean(0), color=color, label=f"{name} (mean of {len(curves)} seeds)")
        ax.fill_between(x, arr.min(0), arr.max(0), color=color, alpha=0.2, label=f"{name} min-max")
    ax.axhline(0.95, color="k", ls="--", lw=1, label="95 % of the best")
    ax.axvline(INITIAL + 0.5, color="k", ls=":", lw=1)
    ax.set_xlabel("experiments")
    ax.set_ylabel("best true magnetization so far\n/ best in space (dimensionless)")
    ax.set_title(f"Alloy world (seed {args.world_seed}): bo vs random, same seeds")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
