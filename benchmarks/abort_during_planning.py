"""How long `labpilot abort` (and `pause --now`) take during a long planning step.

A dry run (real simulator processes, the real runner and store) whose planner
takes ``--plan-s`` seconds (default 12) per step: after the first, space-filling
experiment the planner starts; ``--delay`` seconds later an operator command
goes through the real CLI (``labpilot abort`` / ``pause --now``) and the time
until the campaign's state says ``aborted`` / ``paused`` is measured. Baseline
in the same run: the planning step's own length, which is what the agent
waited before issue 10 (planning ran on the loop's thread).

Run: ``nice python -m benchmarks.abort_during_planning [--plan-s 12] [--n 3]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

from labpilot.agent.campaign import load_campaign
from labpilot.agent.cli.main import main
from labpilot.agent.loop.session import run_campaign
from labpilot.agent.store import Store
from labpilot.planners.random_planner import RandomPlanner

REPO = Path(__file__).resolve().parents[1]


def one(tmp: Path, plan_s: float, delay: float, command: list[str], target: str) -> float:
    text = (REPO / "campaigns" / "alloy_magnetization.toml").read_text().replace('name = "bo"', 'name = "random"')
    text = text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", "initial_design = 1")
    campaign = tmp / "c.toml"
    campaign.write_text(text)
    db = tmp / "c.db"
    started = threading.Event()
    original = RandomPlanner.propose

    def slow(self, history, k=1):  # noqa: ANN001, ANN202
        started.set()
        time.sleep(plan_s)
        return original(self, history, k)

    RandomPlanner.propose = slow  # type: ignore[method-assign]
    try:
        t = threading.Thread(target=lambda: run_campaign(load_campaign(campaign), text, db, dry_run=True,
                                                         speed=5000, quiet=True), daemon=True)
        t.start()
        started.wait(120)
        time.sleep(delay)
        t0 = time.monotonic()
        main([*command, "--db", str(db)])
        while Store.open(db).campaign()["state"] != target:
            time.sleep(0.01)
        took = time.monotonic() - t0
        if target == "paused":
            main(["abort", "--db", str(db)])
        t.join(plan_s + 60)
        return took
    finally:
        RandomPlanner.propose = original  # type: ignore[method-assign]


def main_(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan-s", type=float, default=12.0)
    ap.add_argument("--delay", type=float, default=2.0, help="seconds into the planning step")
    ap.add_argument("--n", type=int, default=3)
    a = ap.parse_args(argv)
    results: dict = {"machine": platform.platform(), "plan_s": a.plan_s, "delay_s": a.delay}
    for name, command, target in (("abort", ["abort", "--reason", "benchmark"], "aborted"),
                                  ("pause_now", ["pause", "--now"], "paused")):
        times = []
        for i in range(a.n):
            with tempfile.TemporaryDirectory() as d:
                times.append(one(Path(d), a.plan_s, a.delay, command, target))
        results[name] = {"median_s": statistics.median(times), "max_s": max(times), "runs": times}
        print(f"{name:<10} during a {a.plan_s:g}s planning step: median {statistics.median(times):.2f}s, "
              f"max {max(times):.2f}s over {a.n} runs (before: up to {a.plan_s - a.delay:g}s, the rest of the step)")
    out = REPO / "benchmarks" / "results" / "abort_during_planning.json"
    out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main_()
