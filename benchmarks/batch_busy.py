"""Parallel execution against the sequential loop: throughput and how busy the bottleneck instrument is.

A dry run of a film campaign whose bottleneck is a slow ``command`` measurer
(``campaigns/sim/film_model.py --delay``) that takes ``max_parallel`` runs at
once, behind a fast ``python`` synthesizer. The same campaign runs with
``[execution] parallel = 1`` (the sequential loop: the baseline, same run)
and with ``parallel`` = the bottleneck's capacity and a little more.

Measured from the store's journal (``commands.sent`` / ``commands.finished``
of every command, written by the agent before it sends and when the result
is in): experiments per hour over the window from the first command sent to
the last command finished, and the bottleneck's busy fraction: the time its
slots are held by a command, over capacity x window (1.0: every slot always
busy). Planner: random, so planning time does not blur the comparison.

    nice python -m benchmarks.batch_busy [--experiments 24] [--delay 2.0] [--capacity 4]

Writes ``benchmarks/results/batch_busy.json`` and ``batch_busy.png`` (slot timelines, seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from labpilot.testing.campaigns import film_campaign, film_simulation

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BOTTLENECK = "simulation"
FILM_MODEL = REPO / "campaigns" / "sim" / "film_model.py"


def campaign_text(parallel: int, capacity: int, budget: int, delay: float) -> str:
    """The film campaign: python synthesizer, slow command measurer of ``capacity`` slots."""
    return film_campaign(FILM_MODEL, [film_simulation(FILM_MODEL, delay=delay, max_parallel=capacity, name=BOTTLENECK)],
                         name="batch-busy", parallel=parallel, budget=budget)


def run_one(parallel: int, capacity: int, budget: int, delay: float, tmp: Path) -> dict[str, Any]:
    """One dry run; its figures from the journal."""
    campaign = tmp / f"parallel{parallel}.toml"
    campaign.write_text(campaign_text(parallel, capacity, budget, delay))
    db = tmp / f"parallel{parallel}.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
                    "--quiet"], cwd=REPO, check=True, env=env)
    wall = time.perf_counter() - t0
    return {"parallel": parallel, **journal_figures(db, BOTTLENECK, capacity, wall)}


def journal_figures(db: Path, bottleneck: str, capacity: int, wall: float) -> dict[str, Any]:
    """Throughput and ``bottleneck``'s busy fraction from a finished run's journal (commands sent/finished)."""
    from labpilot.agent.store import Store

    store = Store.open(db)
    commands = [c for c in store.commands() if c["finished"] is not None]
    start = min(c["sent"] for c in commands)
    end = max(c["finished"] for c in commands)
    window = end - start
    busy = [(c["sent"] - start, c["finished"] - start) for c in commands if c["instrument"] == bottleneck]
    held = sum(b - a for a, b in busy)
    # steady state: from the first bottleneck command's end to the last one's start (no ramp-up or drain)
    lo, hi = min(b for _, b in busy), max(a for a, _ in busy)
    steady = sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in busy) / (capacity * (hi - lo)) if hi > lo else None
    completed = store.counts()["completed"]
    store.close()
    return {"completed": completed, "wall_s_with_startup": round(wall, 2),
            "window_s": round(window, 2), "experiments_per_hour": round(completed / window * 3600, 1),
            "bottleneck_busy_fraction": round(held / (capacity * window), 4),
            "steady_busy_fraction": None if steady is None else round(steady, 4),
            "bottleneck_commands": len(busy), "intervals": [(round(a, 4), round(b, 4)) for a, b in busy]}


def slots(intervals: list[tuple[float, float]]) -> list[int]:
    """A slot row for each interval (first free slot), for the timeline."""
    free_at: list[float] = []
    rows = []
    for a, b in intervals:
        row = next((i for i, t in enumerate(free_at) if t <= a), None)
        if row is None:
            free_at.append(b)
            row = len(free_at) - 1
        else:
            free_at[row] = b
        rows.append(row)
    return rows


def plot(runs: list[dict[str, Any]], capacity: int, out: Path, bottleneck: str = BOTTLENECK) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 1.2 + 1.0 * len(runs) * capacity / 2), sharex=True)
    for ax, run in zip(axes, runs):
        spans = sorted(run["intervals"])
        for (a, b), row in zip(spans, slots(spans)):
            ax.broken_barh([(a, b - a)], (row - 0.4, 0.8), color="tab:blue")
        ax.set_yticks(range(capacity), [f"slot {i + 1}" for i in range(capacity)])
        ax.set_ylim(-0.6, capacity - 0.4)
        ax.set_title(f"parallel = {run['parallel']}: {run['experiments_per_hour']:.0f} experiments/h, "
                     f"bottleneck busy {100 * run['bottleneck_busy_fraction']:.1f} %", fontsize=9)
    axes[-1].set_xlabel("time since the first command (s)")
    fig.suptitle(f"'{bottleneck}' (command, max_parallel = {capacity}): commands journaled sent -> finished",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=24)
    ap.add_argument("--delay", type=float, default=2.0, help="seconds one run of the bottleneck takes")
    ap.add_argument("--capacity", type=int, default=4, help="the bottleneck's max_parallel")
    a = ap.parse_args(argv)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
               "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    print(f"machine: {machine['platform']}, {machine['cpus']} CPUs, load average {machine['load_average_at_start']}")
    settings = [1, a.capacity, a.capacity + 2]
    runs = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        for i, parallel in enumerate(settings):
            run = run_one(parallel, a.capacity, a.experiments, a.delay, Path(d))
            runs.append(run)
            left = (time.monotonic() - started) / (i + 1) * (len(settings) - i - 1)
            print(f"parallel = {parallel:>2}: {run['experiments_per_hour']:8.0f} experiments/h, bottleneck busy "
                  f"{100 * run['bottleneck_busy_fraction']:5.1f} % ({run['completed']} experiments, window "
                  f"{run['window_s']:.1f} s; ETA {left:.0f} s)", flush=True)
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    base = runs[0]["experiments_per_hour"]
    report = {
        "benchmark": "batch_busy",
        "what": "parallel execution vs the sequential loop (parallel = 1, same run): experiments/hour and the "
                "bottleneck's busy fraction, from journaled command sent/finished times",
        "machine": machine,
        "setup": {"experiments": a.experiments, "bottleneck": f"command measurer, max_parallel = {a.capacity}, "
                  f"each run {a.delay:g} s (film_model.py --delay)", "synthesizer": "python (film deposit, ms)",
                  "planner": "random", "busy_goal": 0.95},
        "runs": [{k: v for k, v in r.items() if k != "intervals"} | {"speedup_vs_sequential":
                                                                     round(r["experiments_per_hour"] / base, 2)}
                 for r in runs],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batch_busy.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(runs, a.capacity, RESULTS / "batch_busy.png")
    print(f"wrote {RESULTS / 'batch_busy.json'} and batch_busy.png")
    return report


if __name__ == "__main__":
    main()
