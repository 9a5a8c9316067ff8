"""Soak parallel execution: many SIGKILLs of a dry run with a batch in flight, resumed each time.

The harness of ``tests/agent/loop/test_parallel_kill.py`` (alloy campaign,
two interchangeable sputter systems, ``parallel`` in flight), with more kills
and a bigger budget. Reports the kills, the commands in flight at each, and
what the ledgers show (duplicates and losses fail the run).

    nice python -m benchmarks.parallel_soak [--kills 20] [--budget 40] [--parallel 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.agent.loop.parallel_campaign import parallel_campaign
from tests.agent.loop.parallel_kill import check_nothing_lost, kill_and_resume
from tests.conftest import REPO


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(),
               "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    print(f"machine: {machine}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        campaign = parallel_campaign(REPO / "campaigns" / "alloy_magnetization.toml", tmp / "soak.toml",
                                     parallel=a.parallel, budget=a.budget)
        in_flight = kill_and_resume(campaign, tmp / "soak.db", tmp / "ledgers", a.kills, a.seed, progress=True)
        found = check_nothing_lost(tmp / "soak.db", tmp / "ledgers", a.budget)  # raises on a duplicate or a loss
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report = {"benchmark": "parallel_soak", "machine": machine, "kills": a.kills, "budget": a.budget,
              "parallel": a.parallel, "commands_in_flight_at_each_kill": in_flight,
              "minutes": round((time.monotonic() - started) / 60, 2), "duplicates": 0, "lost": 0, **found}
    print(json.dumps(report, indent=2))
    out = REPO / "benchmarks" / "results" / "parallel_soak.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
