"""Benchmark: experiments to reach a target with a related prior, an unrelated prior, and none (issue 13, item 4).

A simulated world with a hidden truth, so "reached" is judged on the truth,
not on noisy measurements:

* **Target property** f(x) on [0, 1]^3: a sum of four Gaussian bumps with
  seeded centres, widths and heights (``bumps``). A measurement adds noise of
  2 % of f's range over the pool. The campaign is a pool of ``--pool`` (500)
  seeded random points; the target set is the pool's top ``--top`` (2 %) by
  the truth.
* **Related prior**: 40 earlier rows at other random points of a property
  that shares f's shape but not its units or offset: ``3 f + 10`` plus a
  smooth disagreement (0.15 x another bump function) and 5 % noise.
* **Unrelated prior**: 40 rows of an independent bump function (other seed).
* **Planner**: ``bo`` (labpilot's defaults, pool mode, analytic log-EI) with
  the prior passed as ``make_planner(priors=[...])``, or without. 3 random
  initial rows (the same for every condition of a seed), then one proposal
  at a time until a target row is measured or ``--budget`` (30) experiments;
  a run that never reaches the target counts as budget + 1 (censored, and
  reported as such).

Reported: experiments to target per condition and seed, mean ± sd over
seeds, the ratio of means against no prior, how many runs were censored,
and the machine.

Run:  python -m benchmarks.transfer_learning [--seeds 5] [--budget 30] [--pool 500] [--top 0.02] [--workers 1]
Writes benchmarks/results/transfer_learning.json.
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
DIM = 3
INITIAL = 3
PRIOR_ROWS = 40
CONDITIONS = ("none", "related", "unrelated")


def bumps(seed: int, n: int = 4):
    """A smooth random function on [0, 1]^DIM: a sum of ``n`` Gaussian bumps (seeded)."""
    rng = np.random.default_rng(seed)
    centres = rng.random((n, DIM))
    widths = rng.uniform(0.12, 0.3, n)
    heights = rng.uniform(0.5, 1.5, n)

    def f(x: np.ndarray) -> np.ndarray:
        d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        return (heights * np.exp(-d2 / (2 * widths**2))).sum(-1)

    return f


def run(job: tuple[str, int, int, int, float]) -> dict:
    """One campaign: condition, seed, budget, pool size, target fraction -> experiments to target."""
    condition, seed, budget, pool_n, top = job
    import torch

    torch.set_num_threads(1)
    from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner
    from labpilot.planners.prior import PriorData

    rng = np.random.default_rng([seed, 13])
    truth = bumps(1000 + seed)
    pool = rng.random((pool_n, DIM))
    true = truth(pool)
    noise = 0.02 * float(np.ptp(true))
    threshold = np.quantile(true, 1.0 - top)
    space = Space(tuple(ContinuousParam(f"x{i}", 0.0, 1.0) for i in range(DIM)), pool=pool)
    priors = None
    if condition != "none":
        px = rng.random((PRIOR_ROWS, DIM))
        if condition == "related":
            py = 3 * truth(px) + 10 + 0.15 * 3 * bumps(2000 + seed)(px)
        else:
            py = bumps(3000 + seed)(px)
        py = py + 0.05 * float(np.ptp(py)) * np.random.default_rng([seed, 17]).standard_normal(PRIOR_ROWS)
        priors = [PriorData(condition, "simulated", px, py[:, None], ("y",))]
    meas_rng = np.random.default_rng([seed, 29])
    init = np.random.default_rng([seed, 31]).choice(pool_n, INITIAL, replace=False)
    history, picked, notes = [], [], []
    planner = make_planner("bo", space, [Objective("y")], seed=seed, priors=priors)
    start = time.perf_counter()
    reached = None
    for step in range(budget):
        if step < INITIAL:
            i = int(init[step])
        else:
            prop = planner.propose(history, 1)[0]
            i = int(np.argmin(np.abs(pool - np.array([prop.params[f"x{j}"] for j in range(DIM)])).sum(1)))
            notes.append(prop.note)
        picked.append(i)
        history.append(Trial(space.to_point(pool[i]), "completed", {"y": float(true[i] + noise * meas_rng.standard_normal())}))
        if true[i] >= threshold:
            reached = step + 1
            break
    kept = sum("priors kept" in n for n in notes)
    return {"condition": condition, "seed": seed, "experiments": reached if reached else budget + 1,
            "censored": reached is None, "proposals_with_prior_kept": kept, "proposals": len(notes),
            "seconds": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--pool", type=int, default=500)
    ap.add_argument("--top", type=float, default=0.02, help="target set: this top fraction of the pool (default 0.02)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default=str(OUT / "transfer_learning.json"))
    args = ap.parse_args()
    jobs = [(c, s, args.budget, args.pool, args.top) for s in range(args.seeds) for c in CONDITIONS]
    t0 = time.perf_counter()
    if args.workers > 1:
        with Pool(args.workers) as p:
            runs = p.map(run, jobs)
    else:
        runs = []
        for j in jobs:
            runs.append(run(j))
            r = runs[-1]
            print(f"{r['condition']:>9} seed {r['seed']}: {r['experiments']} experiments"
                  f"{' (censored)' if r['censored'] else ''}, prior kept in {r['proposals_with_prior_kept']}/"
                  f"{r['proposals']} proposals, {r['seconds']:.0f} s", flush=True)
    summary = {}
    for c in CONDITIONS:
        e = np.array([r["experiments"] for r in runs if r["condition"] == c], dtype=float)
        summary[c] = {"mean": float(e.mean()), "sd": float(e.std(ddof=1)) if len(e) > 1 else 0.0,
                      "per_seed": e.astype(int).tolist(),
                      "censored": sum(r["censored"] for r in runs if r["condition"] == c)}
    for c in CONDITIONS:
        summary[c]["ratio_to_none"] = summary[c]["mean"] / summary["none"]["mean"]
    result = {
        "benchmark": "transfer_learning", "budget": args.budget, "pool": args.pool, "seeds": args.seeds,
        "initial": INITIAL, "prior_rows": PRIOR_ROWS, "target": f"top {100 * args.top:g} % of the pool by the hidden truth",
        "summary": summary, "runs": runs, "wall_s": time.perf_counter() - t0,
        "machine": {"platform": platform.platform(), "node": platform.node(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "workers": args.workers,
                    "note": "a shared 2-core machine (several other jobs running)"},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    for c in CONDITIONS:
        s = summary[c]
        print(f"{c:>9}: {s['mean']:.1f} ± {s['sd']:.1f} experiments to target ({s['ratio_to_none']:.2f}x none; "
              f"{s['censored']} censored at {args.budget})")


if __name__ == "__main__":
    main()
