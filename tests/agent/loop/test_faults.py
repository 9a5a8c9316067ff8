"""Faults: noisy links are retried without repeating anything; a dead instrument faults the campaign."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labpilot.errors import StoreError
from labpilot.agent.dryrun import load_simulators
from labpilot.agent.store import Store
from labpilot.simulators.ledger import read_ledger

pytestmark = pytest.mark.slow
from tests.soak import SOAK
from tests.conftest import REPO


def _random_campaign(tmp_path: Path, alloy_campaign_file: Path, extra: str = "") -> Path:
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "random"')
    text = text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", "initial_design = 2")
    text = text.replace("timeout_s = 2.0", "timeout_s = 0.5")  # a dropped reply costs one timeout
    path = tmp_path / "campaign.toml"
    path.write_text(text + extra)
    return path


#: enough experiments for dozens of dropped and garbled replies at these rates (about 40 retries in 12);
#: LABPILOT_SOAK=1 runs the 30 of a longer night
FAULTY_EXPERIMENTS = 30 if SOAK else 12


def test_many_experiments_through_dropped_and_garbled_replies(tmp_path: Path, alloy_campaign_file: Path) -> None:
    campaign = _random_campaign(tmp_path, alloy_campaign_file)
    db, ledgers = tmp_path / "faulty.db", tmp_path / "ledgers"
    n = FAULTY_EXPERIMENTS
    run = subprocess.run(
        [sys.executable, "-m", "labpilot.agent.cli", "-v", "run", str(campaign), "--dry-run", "--db", str(db),
         "--max-experiments", str(n), "--speed", "5000", "--faults", "drop=0.05,garble=0.05",
         "--ledger-dir", str(ledgers)],
        cwd=REPO, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    store = Store.open(db)
    assert store.counts()["completed"] == n
    # Faults happened and every one was retried (and logged), never silently swallowed.
    retries = [line for line in run.stderr.splitlines() if "retry" in line.lower() or "retrying" in line.lower()]
    assert len(retries) >= 5, run.stderr[-2000:]
    # both kinds: a reply that never came, and a garbled one
    assert any("garbled" in line for line in retries), run.stderr[-2000:]
    assert any("no reply" in line or "timeout" in line for line in retries), run.stderr[-2000:]
    # No physical action was repeated.
    for name, action in (("sputter", "deposit"), ("xrd", "scan"), ("magnetometer", "measure")):
        rows = [r for r in read_ledger(ledgers / f"{name}.jsonl") if r["action"] == action]
        ids = [r["command_id"] for r in rows]
        assert len(ids) == len(set(ids)) == n, (name, len(ids), len(set(ids)))


def _state(db: Path) -> str:
    try:
        return Store.open(db).campaign()["state"]
    except StoreError:
        return ""


def _wait(predicate, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_instrument_that_stops_answering_faults_the_campaign(tmp_path: Path, alloy_campaign_file: Path) -> None:
    marker = tmp_path / "fault-hook.json"
    hook = f'\n[faults]\nwatchdog_s = 3600\non_fault = "echo $LABPILOT_FAULT > {marker}"\n'
    text = _random_campaign(tmp_path, alloy_campaign_file).read_text().replace(
        '[faults]\nwatchdog_s = 3600            # no reply and no progress for this long: fault\n', "")
    campaign = tmp_path / "hung.toml"
    campaign.write_text(text + hook)
    db = tmp_path / "hung.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
         "--max-experiments", "6", "--speed", "5000"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sims: list = []
    try:
        _wait(lambda: db.exists() and Store.open(db).counts()["completed"] >= 2 if _state(db) else False,
              120, "two completed experiments")
        sims = load_simulators(Store.open(db))
        magnetometer = next(s for s in sims if s.instrument == "magnetometer")
        os.kill(magnetometer.pid, signal.SIGSTOP)  # the instrument hangs: no reply, no progress
        _wait(lambda: _state(db) == "faulted", 120, "faulted")
        status = json.loads(subprocess.run(
            [sys.executable, "-m", "labpilot.agent.cli", "status", "--db", str(db), "--json"],
            cwd=REPO, capture_output=True, text=True, timeout=60).stdout)
        assert status["fault"]["instrument"] == "magnetometer"
        assert status["state"] == "faulted" and proc.poll() is None  # waiting, not crashed, not hung
        _wait(marker.exists, 30, "the on_fault hook")
        assert json.loads(marker.read_text())["instrument"] == "magnetometer"
        assert "made_safe" in [e["kind"] for e in Store.open(db).events()]

        os.kill(magnetometer.pid, signal.SIGCONT)  # the fault is cleared
        r = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "resume", "--db", str(db)],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        store = Store.open(db)
        assert store.campaign()["state"] == "completed"
        assert store.counts()["completed"] == 6
    finally:
        for s in sims:
            try:
                os.kill(s.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=60)
