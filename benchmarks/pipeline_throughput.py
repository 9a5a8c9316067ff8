"""Throughput of a dry run, pipelined against sequential, in the same run.

Both run the alloy campaign (random planner, so planning time does not blur
the comparison) against the same simulators' virtual clock; the ratio of wall
time per experiment is what pipelining buys when the synthesizer and the
measuring instruments take comparable time.

    python -m benchmarks.pipeline_throughput [--experiments 12] [--speed 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(pipeline: bool, n: int, speed: float, tmp: Path) -> float:
    text = (REPO / "campaigns" / "alloy_magnetization.toml").read_text()
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
    text = text.replace("pipeline = false", f"pipeline = {'true' if pipeline else 'false'}")
    campaign = tmp / f"campaign_{pipeline}.toml"
    campaign.write_text(text)
    db = tmp / f"run_{pipeline}.db"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
                    "--max-experiments", str(n), "--speed", str(speed), "--quiet"], cwd=REPO, check=True)
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=12)
    ap.add_argument("--speed", type=float, default=1000.0)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; {args.experiments} experiments at speed {args.speed:g}")
    with tempfile.TemporaryDirectory() as d:
        seq = run(False, args.experiments, args.speed, Path(d))
        pipe = run(True, args.experiments, args.speed, Path(d))
    print(f"sequential: {seq:.2f} s per experiment (wall, start-up included)")
    print(f"pipelined:  {pipe:.2f} s per experiment")
    print(f"  speed-up: {seq / pipe:.2f}x")


if __name__ == "__main__":
    main()
