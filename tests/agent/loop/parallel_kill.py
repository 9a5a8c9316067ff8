"""Kill a parallel dry run at progress-tied instants, resume it each time, and check that nothing was lost.

Shared by ``test_parallel_kill.py`` (a few kills) and ``benchmarks/parallel_soak.py`` (many).
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from labpilot.agent.dryrun import load_simulators, stop_simulators
from labpilot.agent.store import Store
from labpilot.simulators.ledger import read_ledger
from tests.conftest import REPO

SPUTTERS = ("sputter", "sputter2")


def start(campaign: Path, db: Path, ledgers: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
         "--speed", "2000", "--ledger-dir", str(ledgers), "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def commands(db: Path) -> tuple[int, int]:
    """(finished, sent and not finished) commands, read without the agent's help."""
    if not db.exists():
        return 0, 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = dict(conn.execute("SELECT status, COUNT(*) FROM commands GROUP BY status").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return 0, 0
    return rows.get("done", 0), rows.get("sent", 0)


def kill_and_resume(campaign: Path, db: Path, ledgers: Path, kills: int, seed: int,
                    progress: bool = False) -> list[int]:
    """SIGKILL the agent ``kills`` times, each after 2..6 more commands finished; then run it to the end.

    Returns how many commands were in flight (journaled sent, not finished) at each kill.
    """
    rng = random.Random(seed)
    in_flight_at_kill = []
    started = time.monotonic()
    try:
        for k in range(kills):
            target = commands(db)[0] + rng.randint(2, 6)
            proc = start(campaign, db, ledgers)
            deadline = time.monotonic() + 120
            while commands(db)[0] < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proc.poll() is None, "the campaign ended before it could be killed; lengthen it"
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            in_flight_at_kill.append(commands(db)[1])
            if progress:
                took = time.monotonic() - started
                print(f"kill {k + 1}/{kills}: {in_flight_at_kill[-1]} commands in flight; "
                      f"ETA {took / (k + 1) * (kills - k - 1):.0f} s", flush=True)
        final = start(campaign, db, ledgers)
        _, err = final.communicate(timeout=600)
        assert final.returncode == 0, err.decode()[-3000:]
    finally:
        if db.exists():
            stop_simulators(load_simulators(Store.open(db)))
    return in_flight_at_kill


def check_nothing_lost(db: Path, ledgers: Path, budget: int) -> dict[str, Any]:
    """Assert from the store and the simulators' ledgers: every experiment completed, nothing made or measured
    twice, nothing lost. Returns counts for a report."""
    store = Store.open(db)
    assert store.campaign()["state"] == "completed"
    exps = store.experiments()
    assert [e.status for e in exps] == ["completed"] * budget, [(e.id, e.status) for e in exps]
    # No sample made twice: one deposit per experiment over both sputter systems, one experiment per deposit.
    deposits = [r for name in SPUTTERS if (ledgers / f"{name}.jsonl").exists()
                for r in read_ledger(ledgers / f"{name}.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == budget
    assert len({r["command_id"].split("-")[1] for r in deposits}) == budget  # one per experiment (e<id>)
    assert {r["sample_id"] for r in deposits} == {e.sample_id for e in exps}
    for ledger, action in (("xrd", "scan"), ("magnetometer", "measure")):  # each sample measured once
        rows = [r for r in read_ledger(ledgers / f"{ledger}.jsonl") if r["action"] == action]
        assert len(rows) == len({r["command_id"] for r in rows}) == budget, ledger
    # No measurement lost; the journal is settled.
    for e in exps:
        assert "magnetization" in e.scalars and "peak_two_theta" in e.scalars
        assert store.arrays(e.id, "xrd")["counts"].size > 1000
    assert not store.commands("sent")
    return {"experiments": len(exps), "deposits": len(deposits),
            "by_sputter": {n: sum(1 for r in deposits if r["command_id"].endswith("-" + n)) for n in SPUTTERS},
            "reconciled": len(store.events(kind="reconciled"))}
