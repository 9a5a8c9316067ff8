"""Issue 10, item 9: a SIGKILLed dry run's simulators live on for a resume, then exit by themselves.

The agent touches a lease file with each heartbeat; each simulator exits
cleanly once the lease is older than its idle time (600 s by default,
``LABPILOT_SIM_ORPHAN_S`` here 12 s so the test is short).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labpilot.agent.dryrun import load_simulators, stop_simulators
from labpilot.agent.store import Store
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_orphaned_simulators_exit_after_the_idle_time(tmp_path: Path, alloy_campaign_file: Path) -> None:
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "random"')
    campaign = tmp_path / "c.toml"
    campaign.write_text(text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", "initial_design = 1"))
    db = tmp_path / "c.db"
    env = {**os.environ, "LABPILOT_SIM_ORPHAN_S": "12"}
    proc = subprocess.Popen([sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db",
                             str(db), "--mode", "supervised", "--speed", "5000"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sims = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if Store.open(db).campaign()["state"] == "awaiting_approval":
                    break
            except Exception:  # not created yet
                pass
            time.sleep(0.2)
        time.sleep(14)  # longer than the idle time: a live agent keeps its simulators
        sims = load_simulators(Store.open(db))
        assert sims and all(s.alive() for s in sims)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        killed = time.monotonic()
        assert all(s.alive() for s in sims)  # not at once: a resume could still adopt them
        while any(s.alive() for s in sims) and time.monotonic() - killed < 60:
            time.sleep(0.5)
        assert not any(s.alive() for s in sims), "orphaned simulators never exited"
        assert time.monotonic() - killed >= 5  # they waited for the lease to go stale
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_simulators(sims)
