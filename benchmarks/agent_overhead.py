"""The agent's own cost: loop overhead per experiment and journal write latency.

Both against a raw baseline measured in the same run: one ``INSERT`` plus
``COMMIT`` through ``sqlite3`` on a WAL database with ``synchronous=FULL``
(the durability the store uses). Instrument and planner time are excluded:
the instruments here answer at once, in-process, and time spent inside them
and inside ``propose`` is subtracted.

    python -m benchmarks.agent_overhead [--experiments 200] [--events 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from labpilot.agent.campaign import load_campaign
from labpilot.agent.loop.runner import CampaignRunner
from labpilot.agent.store import Store
from labpilot.protocols.capabilities import CommandOutcome, Measurement, Sample

REPO = Path(__file__).resolve().parents[1]


class _Clocked:
    """Accumulates the time spent inside instrument and planner calls."""

    spent = 0.0

    @classmethod
    def timed(cls, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                cls.spent += time.perf_counter() - t

        return wrapper


class InstantInstrument:
    """An in-process instrument that answers at once (benchmark only: isolates the agent's cost)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.n = 0
        self.pattern = np.random.default_rng(0).random(3501)

    def identify(self) -> str:
        return f"BENCH,{self.kind}"

    def status(self) -> dict[str, Any]:
        return {}

    def make_safe(self) -> None:
        pass

    def command_outcome(self, command_id: str) -> CommandOutcome:
        return CommandOutcome(command_id, "unknown")

    def close(self) -> None:
        pass

    @_Clocked.timed
    def synthesize(self, params: dict[str, Any], command_id: str) -> Sample:
        self.n += 1
        return Sample(f"S{self.n}", {"powers_w": [100.0] * 5})

    @_Clocked.timed
    def measure(self, sample: Sample, command_id: str) -> Measurement:
        if self.kind == "xrd":
            return Measurement({"peak_two_theta": 44.7}, {"two_theta": self.pattern, "counts": self.pattern})
        return Measurement({"magnetization": float(len(sample.sample_id))})


def loop_overhead(n: int, tmp: Path) -> tuple[float, float]:
    """Seconds per experiment of agent overhead; and the total per experiment."""
    campaign = load_campaign(REPO / "campaigns" / "alloy_magnetization.toml")
    data = campaign.model_dump(mode="json")
    data["budget"]["max_experiments"] = n
    data["initial_design"] = n
    data["planner"] = {"name": "random", "batch_size": 1, "options": {}}
    from labpilot.agent.campaign import parse_campaign

    campaign = parse_campaign(data)
    store = Store.create(tmp / "loop.db", campaign.name, data, "")
    instruments = {s.name: InstantInstrument(s.kind) for s in campaign.instruments}
    runner = CampaignRunner(campaign, store, instruments, poll_s=0.001)
    import labpilot.agent.loop.runner as runner_module

    runner_module.initial_design = _Clocked.timed(runner_module.initial_design)  # type: ignore[assignment]
    _Clocked.spent = 0.0
    t0 = time.perf_counter()
    state = runner.run()
    total = time.perf_counter() - t0
    assert state == "completed" and store.counts()["completed"] == n, state
    return (total - _Clocked.spent) / n, total / n


def journal_latency(n: int, tmp: Path) -> tuple[list[float], list[float]]:
    """Per-event latency of ``Store.log_event`` and of a raw sqlite3 insert+commit."""
    store = Store.create(tmp / "journal.db", "bench", {}, "")
    raw = sqlite3.connect(str(tmp / "raw.db"), isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    raw.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, ts REAL, kind TEXT, data TEXT)")
    ours, base = [], []
    for i in range(n):  # interleaved, so background load hits both alike
        t = time.perf_counter()
        store.log_event("bench", None, i=i, note="x")
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw.execute("BEGIN")
        raw.execute("INSERT INTO events (ts, kind, data) VALUES (?, ?, ?)", (time.time(), "bench", '{"i": 1}'))
        raw.execute("COMMIT")
        base.append(time.perf_counter() - t)
    return ours, base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=200)
    ap.add_argument("--events", type=int, default=2000)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ours, base = journal_latency(args.events, tmp)
        m_ours, m_base = statistics.median(ours), statistics.median(base)
        print(f"journal write (Store.log_event): median {m_ours * 1e6:.0f} µs, p95 "
              f"{np.percentile(ours, 95) * 1e6:.0f} µs")
        print(f"raw sqlite3 insert+commit:       median {m_base * 1e6:.0f} µs, p95 "
              f"{np.percentile(base, 95) * 1e6:.0f} µs")
        print(f"  ratio journal / raw insert: {m_ours / m_base:.2f}x")
        overhead, total = loop_overhead(args.experiments, tmp)
        print(f"agent overhead per experiment ({args.experiments} experiments, instruments and planner excluded): "
              f"{overhead * 1e3:.1f} ms (total {total * 1e3:.1f} ms)")
        print(f"  = {overhead / m_base:.0f} raw inserts' worth per experiment "
              "(each experiment journals ~15 events and stores a 3501-point pattern)")


if __name__ == "__main__":
    main()
