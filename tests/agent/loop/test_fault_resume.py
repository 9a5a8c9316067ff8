"""Issue 10, item 1: a fault in any phase, then `labpilot resume`, completes the campaign.

Each case runs the real CLI (`labpilot run --dry-run` as a subprocess) with
faults injected into one instrument only (``INSTRUMENT:KIND=RATE``), answers
every fault with `labpilot resume` (a separate process, as an operator would),
and checks that the campaign completes, that the fault really happened in the
phase named, and that no physical action was repeated.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from labpilot.agent.store import Store
from labpilot.errors import StoreError
from labpilot.simulators.ledger import read_ledger
from tests.conftest import REPO

pytestmark = pytest.mark.slow

BUDGET = 5


def _campaign(tmp_path: Path, alloy_campaign_file: Path) -> Path:
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "random"')
    text = text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", "initial_design = 2")
    text = text.replace("timeout_s = 2.0", "timeout_s = 0.5")
    path = tmp_path / "campaign.toml"
    path.write_text(text)
    return path


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def _start(campaign: Path, db: Path, faults: str, ledgers: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
         "--max-experiments", str(BUDGET), "--speed", "5000", "--faults", faults, "--ledger-dir", str(ledgers)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _state(db: Path) -> str:
    try:
        return Store.open(db).campaign()["state"]
    except (StoreError, Exception):
        return ""


def _drive_to_the_end(proc: subprocess.Popen[str], db: Path, restart: tuple[Path, str, Path] | None,
                      timeout_s: float = 240) -> tuple[int, subprocess.Popen[str]]:
    """Answer every fault with `labpilot resume` until the agent exits; return (faults seen, last agent).

    With ``restart`` the first fault is answered the hard way: the agent is
    SIGKILLed, `labpilot resume` is given offline and a new `labpilot run` resumes.
    """
    faults = 0
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if _state(db) == "faulted" and Store.open(db).resume_requested() is False:
            faults += 1
            if restart is not None and faults == 1:
                proc.kill()
                proc.communicate(timeout=30)  # reaps it and closes its pipes
                assert _state(db) == "faulted"
                r = _cli("resume", "--db", str(db))
                assert r.returncode == 0, r.stderr
                proc = _start(*restart[:1], db, restart[1], restart[2])
            else:
                r = _cli("resume", "--db", str(db))
                assert r.returncode == 0, r.stderr
            while _state(db) == "faulted" and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
        time.sleep(0.1)
    return faults, proc


@pytest.mark.parametrize("faults, phase", [
    ("sputter:error=0.6", "sputter"),
    ("xrd:error=0.6", "xrd"),
    ("magnetometer:error=0.6", "magnetometer"),
    ("xrd:error=0.6,magnetometer:safe_error=1", "make_safe"),
], ids=["synthesis", "xrd", "magnetometer", "make_safe"])
@pytest.mark.parametrize("restart", [False, True], ids=["live", "sigkill-restart"])
def test_a_fault_in_every_phase_resumes_to_completion(tmp_path: Path, alloy_campaign_file: Path,
                                                      faults: str, phase: str, restart: bool) -> None:
    if restart and phase not in ("xrd", "make_safe"):
        pytest.skip("the restart path is phase-independent; two phases keep the suite short")
    campaign, db, ledgers = _campaign(tmp_path, alloy_campaign_file), tmp_path / "f.db", tmp_path / "ledgers"
    proc = _start(campaign, db, faults, ledgers)
    try:
        seen, proc = _drive_to_the_end(proc, db, (campaign, faults, ledgers) if restart else None)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err[-3000:]
        assert proc.returncode == 0, err[-3000:]
        store = Store.open(db)
        assert store.campaign()["state"] == "completed"
        c = store.counts()
        assert c["completed"] + c["failed"] == BUDGET
        assert seen >= 1, "no fault happened: the case tests nothing"
        events = store.events()
        fault_instruments = {e["data"]["instrument"] for e in events if e["kind"] == "fault"}
        if phase == "make_safe":
            assert any(e["kind"] == "make_safe_failed" for e in events)
        else:
            assert fault_instruments == {phase}
        # No physical action was repeated, whatever the faults.
        for name, action in (("sputter", "deposit"), ("xrd", "scan"), ("magnetometer", "measure")):
            ids = [r["command_id"] for r in read_ledger(ledgers / f"{name}.jsonl") if r["action"] == action]
            assert len(ids) == len(set(ids)), (name, ids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        if db.exists() and _state(db) not in ("completed", "aborted"):
            from labpilot.agent.dryrun import load_simulators, stop_simulators
            stop_simulators(load_simulators(Store.open(db)))
