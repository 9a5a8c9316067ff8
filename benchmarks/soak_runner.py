"""Soak the runner with the model of ``tests/agent/loop/runner_model.py`` for a while.

Runs the Hypothesis state machine (real agent processes, simulators, faults in
every phase, operator commands, SIGKILL + restart) for ``--minutes`` or
``--examples``, whichever ends first, and reports how many steps, kills and
faults it survived, and the duplicates and lost experiments it found (both
must be 0). A failing example is printed by Hypothesis, shrunk.

Run: ``nice python -m benchmarks.soak_runner --minutes 5``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.agent.loop import runner_model


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=12, help="rules per example")
    a = ap.parse_args(argv)
    started = time.monotonic()
    failure = None
    # One Hypothesis run of many examples: each later example is drawn at random (a run of one
    # example is always the simplest one). The example count stands in for the time limit:
    # an example takes about 6-10 s here.
    examples = min(a.examples, max(2, int(a.minutes * 60 / 7)))
    try:
        run_state_machine_as_test(runner_model.RunnerModel, settings=settings(
            max_examples=examples, stateful_step_count=a.steps, deadline=None, database=None,
            suppress_health_check=list(HealthCheck)))
    except Exception as exc:  # a broken invariant (shrunk by Hypothesis): report it
        failure = f"{type(exc).__name__}: {exc}"
    stats = dict(runner_model.STATS)
    report = {"machine": platform.platform(), "minutes": round((time.monotonic() - started) / 60, 2),
              "examples": stats.get("examples", 0), "steps": stats.get("steps", 0), "kills": stats.get("kills", 0),
              "faults_resumed": stats.get("faults", 0), "kill_rules": stats.get("kill_rules", 0), "duplicates": stats.get("duplicates", 0),
              "lost": stats.get("lost", 0),
              "finished": {k.removeprefix("finished_"): v for k, v in stats.items() if k.startswith("finished_")},
              "failure": failure}
    print(json.dumps(report, indent=2))
    out = Path(__file__).resolve().parent / "results" / "soak_runner.json"
    out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
