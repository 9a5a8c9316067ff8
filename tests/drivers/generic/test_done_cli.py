"""`labpilot done` through the real CLI against a running dry run that waits for an operator."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labpilot.agent.store import Store
from tests.conftest import REPO
from tests.drivers.generic.manual_campaign import manual_campaign

pytestmark = pytest.mark.slow


def labpilot(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def _waiting(db: Path) -> list[dict]:
    if not db.exists():
        return []
    out = labpilot("status", "--db", str(db), "--json")
    return json.loads(out.stdout).get("waiting_for_operator") or [] if out.returncode == 0 else []


def test_a_dry_run_waits_for_done_and_refuses_incomplete_values(tmp_path: Path) -> None:
    campaign = tmp_path / "manual.toml"
    campaign.write_text(manual_campaign(dry_run="wait", budget=2))
    db = tmp_path / "manual.db"
    run = subprocess.Popen([sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run",
                            "--db", str(db)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        confirmed = []
        for _ in range(2):
            deadline = time.monotonic() + 120
            while not (waiting := _waiting(db)):
                assert run.poll() is None, run.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "no manual step was requested"
                time.sleep(0.2)
            step = waiting[0]
            eid = str(step["experiment"])
            assert step["instrument"] == "hand" and step["values"] == {"thickness": "nm", "defects": "count"}
            queue = labpilot("queue", "--db", str(db))
            assert f"WAITING FOR OPERATOR: experiment {eid} on hand (measure)" in queue.stdout

            missing = labpilot("done", eid, "--value", "thickness=120", "--db", str(db))
            assert missing.returncode == 2 and "missing defects" in missing.stderr
            assert "Traceback" not in missing.stderr
            word = labpilot("done", eid, "--value", "thickness=thick", "--value", "defects=1", "--db", str(db))
            assert word.returncode == 2 and "thickness='thick' is not a number" in word.stderr
            bad = labpilot("done", eid, "--value", "thickness", "--db", str(db))
            assert bad.returncode == 2 and "--value item 'thickness' must look like NAME=VALUE" in bad.stderr

            ok = labpilot("done", eid, "--value", f"thickness={150 + int(eid)}", "--value", "defects=0",
                          "--db", str(db))
            assert ok.returncode == 0, ok.stderr
            assert f"manual step measure of experiment {eid} on hand is done" in ok.stdout
            assert "agent not running" not in ok.stdout  # it reached the running agent
            confirmed.append(int(eid))
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-3000:]
    finally:
        if run.poll() is None:
            run.terminate()
            run.wait(30)
    assert "waiting for an operator: experiment" in err  # the log says what to do, and how

    status = json.loads(labpilot("status", "--db", str(db), "--json").stdout)
    assert status["state"] == "completed" and status["experiments"]["completed"] == 2
    assert status["waiting_for_operator"] == []
    store = Store.open(db)
    try:
        for eid in confirmed:
            assert store.experiment(eid).scalars == {"thickness": 150.0 + eid, "defects": 0.0}
        done = store.events(kind="manual_done")
        assert len(done) == 2 and all(e["data"]["by"].startswith("operator") for e in done)
        assert len(store.events(kind="manual_requested")) == 2  # asked once each
    finally:
        store.close()
    again = labpilot("done", str(confirmed[0]), "--value", "thickness=1", "--value", "defects=1", "--db", str(db))
    assert again.returncode == 2 and f"experiment {confirmed[0]} has no manual step waiting" in again.stderr


def test_done_on_the_database_while_the_agent_is_dead_is_taken_up_by_the_resume(tmp_path: Path) -> None:
    """SIGKILL while a manual step waits; `done` goes to the database; the resume uses it and asks nothing twice."""
    import os
    import signal

    campaign = tmp_path / "manual.toml"
    campaign.write_text(manual_campaign(dry_run="wait", budget=1))
    db = tmp_path / "manual.db"
    argv = [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db)]
    run = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (waiting := _waiting(db)):
            assert run.poll() is None and time.monotonic() < deadline, "no manual step was requested"
            time.sleep(0.2)
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait(30)
    eid = str(waiting[0]["experiment"])
    ok = labpilot("done", eid, "--value", "thickness=140", "--value", "defects=1", "--db", str(db), "--timeout", "1")
    assert ok.returncode == 0, ok.stderr
    assert "agent not running" in ok.stdout and "is done" in ok.stdout
    resumed = labpilot("run", str(campaign), "--dry-run", "--db", str(db))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    status = json.loads(labpilot("status", "--db", str(db), "--json").stdout)
    assert status["state"] == "completed" and status["experiments"]["completed"] == 1
    store = Store.open(db)
    try:
        assert store.experiment(int(eid)).scalars == {"thickness": 140.0, "defects": 1.0}
        assert len(store.events(kind="manual_requested")) == 1 and len(store.events(kind="manual_done")) == 1
    finally:
        store.close()
