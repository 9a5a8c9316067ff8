"""Benchmark (d): backtest every single-objective optimizer on the OER plate (2121 catalysts).

Each planner replays the plate (``planners.backtest``): 5 random rows, then
one proposal at a time up to the budget, picking only rows of the table, to
minimize the overpotential. Scores: the mean fraction of the plate's top-5 %
rows found after each experiment, and the enhancement factor over random's
expectation (budget / rows). Planners run in parallel processes, one per core.

Not included, and why: ``used``/``boed`` do not optimize a property (they make
a measured-descriptor model accurate and need measured descriptors the table
does not have); ``range`` seeks a target window, not an extreme; ``mobo`` needs
two objectives.

Run:  python -m benchmarks.oer_backtest [--planners random,bo,uncertainty,ae-bo]
        [--budget 50] [--repeats 5] [--workers 2]
Writes benchmarks/results/oer_backtest.{json,png}.
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

from benchmarks.data import oer_plate, oer_plate_csv

REPO = Path(__file__).resolve().parents[1]
DATA = oer_plate_csv()
OUT = REPO / "benchmarks" / "results"


def one_planner(job: tuple[str, int, int, int, int]) -> dict:
    name, budget, repeats, initial, seed = job
    import torch

    torch.set_num_threads(1)
    from labpilot.planners.backtest import run_backtest

    table = oer_plate()
    return run_backtest(table, [name], budget, repeats, initial, seed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--planners", default="random,bo,uncertainty,ae-bo")
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--initial", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", default="oer_backtest", help="file name (no suffix) under benchmarks/results/")
    args = ap.parse_args(argv)
    if not DATA.is_file():
        print(f"data not found at {DATA}", file=sys.stderr)
        return 1
    names = [n.strip() for n in args.planners.split(",") if n.strip()]
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        parts = pool.map(one_planner, [(n, args.budget, args.repeats, args.initial, args.seed) for n in names])
    result = dict(parts[0])
    result["planners"] = {n: p["planners"][n] for n, p in zip(names, parts)}
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {args.workers} workers"
    result["seconds"] = time.perf_counter() - start
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    from labpilot.planners.backtest import plot_backtest

    plot_backtest(result, OUT / f"{args.out}.png")
    print(f"{'planner':<14}{'top-5% found':>14}{'enhancement':>13}{'s/replay':>10}")
    for n, r in result["planners"].items():
        print(f"{n:<14}{r['top_fraction'][-1]:>13.1%}{r['enhancement_factor']:>13.2f}{r['seconds'] / args.repeats:>10.1f}")
    print(f"random expects {result['random_expected_fraction']:.2%} of {result['n_top']} top rows in {args.budget} "
          f"experiments; {result['seconds']:.0f} s on {result['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
