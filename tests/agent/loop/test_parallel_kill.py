"""Parallel execution survives SIGKILL: a batch in flight on two sputter systems, killed and resumed.

A real dry run (simulators as subprocesses, the agent as a subprocess) with
four experiments in flight is killed at instants tied to its progress (after
a random number of further commands finished), and resumed each time. The
simulators' ledgers and the store then show that no sample was made twice, no
measurement was lost and every experiment completed.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labpilot.agent.dryrun import load_simulators, stop_simulators
from labpilot.agent.store import Store
from labpilot.simulators.ledger import read_ledger
from tests.agent.loop.parallel_campaign import parallel_campaign
from tests.conftest import REPO

pytestmark = pytest.mark.slow
BUDGET = 12
KILLS = 4


def _start(campaign: Path, db: Path, ledgers: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
         "--speed", "2000", "--ledger-dir", str(ledgers), "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _commands(db: Path) -> tuple[int, int]:
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


def test_sigkill_with_a_batch_in_flight_loses_nothing(tmp_path: Path, alloy_campaign_file: Path) -> None:
    rng = random.Random(20261202)
    campaign = parallel_campaign(alloy_campaign_file, tmp_path / "parallel.toml", parallel=4, budget=BUDGET)
    db, ledgers = tmp_path / "parallel.db", tmp_path / "ledgers"
    in_flight_at_kill = []
    try:
        for _ in range(KILLS):
            done, _sent = _commands(db)
            target = done + rng.randint(2, 6)  # a few more commands finished: then kill
            proc = _start(campaign, db, ledgers)
            deadline = time.monotonic() + 120
            while _commands(db)[0] < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proc.poll() is None, "the campaign ended before it could be killed; lengthen it"
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            in_flight_at_kill.append(_commands(db)[1])
        final = _start(campaign, db, ledgers)
        _, err = final.communicate(timeout=300)
        assert final.returncode == 0, err.decode()[-3000:]
    finally:
        if db.exists():
            stop_simulators(load_simulators(Store.open(db)))
    # The kills really hit a batch: several commands journaled as sent and not yet finished.
    assert max(in_flight_at_kill) >= 2, in_flight_at_kill

    store = Store.open(db)
    assert store.campaign()["state"] == "completed"
    exps = store.experiments()
    assert [e.status for e in exps] == ["completed"] * BUDGET, [(e.id, e.status) for e in exps]

    # No sample made twice: one deposit per experiment over both sputter systems, one experiment per deposit.
    deposits = [r for name in ("sputter", "sputter2") if (ledgers / f"{name}.jsonl").exists()
                for r in read_ledger(ledgers / f"{name}.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == BUDGET
    assert len({r["command_id"].split("-")[1] for r in deposits}) == BUDGET  # one per experiment (e<id>)
    assert {r["sample_id"] for r in deposits} == {e.sample_id for e in exps}
    assert {r["command_id"].rsplit("-", 1)[1] for r in deposits} == {"sputter", "sputter2"}  # both used
    for ledger, action in (("xrd", "scan"), ("magnetometer", "measure")):  # each sample measured once
        rows = [r for r in read_ledger(ledgers / f"{ledger}.jsonl") if r["action"] == action]
        assert len(rows) == len({r["command_id"] for r in rows}) == BUDGET, ledger

    # No measurement lost; the journal is settled.
    for e in exps:
        assert "magnetization" in e.scalars and "peak_two_theta" in e.scalars
        assert store.arrays(e.id, "xrd")["counts"].size > 1000
    assert not store.commands("sent")
    assert store.events(kind="reconciled")
