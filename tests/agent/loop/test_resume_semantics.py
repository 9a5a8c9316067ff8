"""Issue 10, items 2, 3, 6: on resume, a changed flag or file is applied and journaled, or refused by name.

Through the real CLI: `labpilot run` in-process (``main``) where it refuses
before any simulator starts, a subprocess where a campaign really runs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labpilot.agent import store as st
from labpilot.agent.cli.main import main
from labpilot.agent.store import Store
from tests.conftest import REPO


def _campaign(tmp_path: Path, alloy_campaign_file: Path, budget: int = 3, initial: int = 2) -> Path:
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "random"')
    text = text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", f"initial_design = {initial}")
    text = text.replace("timeout_s = 2.0", "timeout_s = 0.5")
    text = text.replace("max_experiments = 40", f"max_experiments = {budget}")
    path = tmp_path / "campaign.toml"
    path.write_text(text)
    return path


def _run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "labpilot.agent.cli", "run", *args, "--dry-run", "--speed", "5000"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_state(db: Path, states: tuple[str, ...], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Store.open(db).campaign()["state"]
            if state in states:
                return state
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{db} never reached {states}")


def _kill(proc: subprocess.Popen[str], db: Path) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    from labpilot.agent.dryrun import load_simulators, stop_simulators

    stop_simulators(load_simulators(Store.open(db)))


def _events(db: Path, kind: str) -> list[dict]:
    return Store.open(db).events(kind=kind)


def test_mode_and_budget_flags_on_resume_are_applied_journaled_and_reported(
        tmp_path: Path, alloy_campaign_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    campaign, db = _campaign(tmp_path, alloy_campaign_file), tmp_path / "c.db"
    proc = _run(str(campaign), "--db", str(db), "--mode", "supervised", "--max-experiments", "2")
    try:
        _wait_state(db, ("awaiting_approval",))
    finally:
        _kill(proc, db)
    # Resumed unattended with a bigger budget: both applied, nothing waits for approval forever.
    code = main(["run", str(campaign), "--db", str(db), "--dry-run", "--speed", "5000",
                 "--mode", "unattended", "--max-experiments", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "resuming with mode 'supervised' -> 'unattended' (from the command line)" in out
    assert "resuming with budget.max_experiments 2 -> 3" in out
    store = Store.open(db)
    assert store.campaign()["state"] == "completed"
    assert store.counts()[st.COMPLETED] + store.counts()[st.FAILED] == 3
    changed = _events(db, "settings_changed")
    assert changed and changed[0]["data"]["by"] == "command line"
    assert ["mode", "supervised", "unattended"] in changed[0]["data"]["changes"]
    assert _events(db, "approved_by_mode_switch")
    # status reports the new budget
    assert main(["status", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["budget"] == 3


def test_labpilot_mode_switches_a_running_campaign(tmp_path: Path, alloy_campaign_file: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    campaign, db = _campaign(tmp_path, alloy_campaign_file, budget=2), tmp_path / "c.db"
    proc = _run(str(campaign), "--db", str(db), "--mode", "supervised")
    try:
        _wait_state(db, ("awaiting_approval",))
        assert main(["mode", "unattended", "--db", str(db)]) == 0
        assert "mode: mode supervised -> unattended; approved the waiting proposal(s)" in capsys.readouterr().out
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    finally:
        if proc.poll() is None:
            _kill(proc, db)
    store = Store.open(db)
    assert store.campaign()["state"] == "completed"
    event = _events(db, "mode_changed")[0]
    assert event["data"]["by"].startswith("operator") and event["ts"] > 0


def _stored_campaign(tmp_path: Path, alloy_campaign_file: Path, started: bool) -> tuple[Path, Path]:
    """A campaign stored by an earlier run: with a command sent (started) or only proposals."""
    campaign, db = _campaign(tmp_path, alloy_campaign_file), tmp_path / "c.db"
    from labpilot.agent.campaign import load_campaign

    c = load_campaign(campaign)
    s = Store.create(db, c.name, c.model_dump(mode="json"), campaign.read_text())
    eid = s.add_experiment({"Fe": 0.5, "Co": 0.5, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}, st.AWAITING_APPROVAL, "initial", "x")
    if started:
        s.update_experiment(eid, status=st.SYNTHESIZING, event="synthesizing")
        s.command_sent("x-e1-sputter", eid, "sputter", "synthesize")
    s.set_state("faulted")
    s.close()
    return campaign, db


def test_a_changed_file_restarts_a_campaign_that_has_not_started(
        tmp_path: Path, alloy_campaign_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    campaign, db = _stored_campaign(tmp_path, alloy_campaign_file, started=False)
    campaign.write_text(campaign.read_text().replace("initial_design = 2", "initial_design = 1"))
    code = main(["run", str(campaign), "--db", str(db), "--dry-run", "--speed", "5000", "--quiet"])
    out = capsys.readouterr().out
    assert "the campaign file differs" in out and "initial_design: 2 -> 1" in out
    assert "restarts from the file" in out
    assert code == 0
    store = Store.open(db)
    assert store.campaign()["config"]["initial_design"] == 1
    assert store.experiment(1).status == st.ABANDONED
    assert _events(db, "restarted_from_file")


def test_a_changed_file_after_a_start_is_refused_naming_the_fields(
        tmp_path: Path, alloy_campaign_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    campaign, db = _stored_campaign(tmp_path, alloy_campaign_file, started=True)
    text = campaign.read_text()
    campaign.write_text(text.replace("initial_design = 2", "initial_design = 1").replace("max_experiments = 3", "max_experiments = 9"))
    assert main(["run", str(campaign), "--db", str(db), "--dry-run", "--accept-changes"]) == 2
    captured = capsys.readouterr()
    assert "budget.max_experiments: 3 -> 9" in captured.out
    assert captured.err.strip().startswith("labpilot run: initial_design cannot change once experiments have started")
    # Only the budget changed: refused without --accept-changes, applied with it.
    campaign.write_text(text.replace("max_experiments = 3", "max_experiments = 9"))
    assert main(["run", str(campaign), "--db", str(db), "--dry-run"]) == 2
    assert "pass --accept-changes" in capsys.readouterr().err
    store = Store.open(db)
    assert store.campaign()["config"]["budget"]["max_experiments"] == 3
    from labpilot.agent.loop.reconfigure import Flags, reconcile
    from labpilot.agent.campaign import load_campaign

    lines: list[str] = []
    effective = reconcile(store, load_campaign(campaign).model_dump(mode="json"), campaign.read_text(), Flags(),
                          accept_changes=True, say=lines.append)
    assert effective.budget.max_experiments == 9
    assert store.campaign()["config"]["budget"]["max_experiments"] == 9
    assert _events(db, "config_changed")[0]["data"]["changes"] == [["budget.max_experiments", 3, 9]]


def test_a_seed_flag_that_differs_mid_campaign_is_refused_by_name(
        tmp_path: Path, alloy_campaign_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    campaign, db = _stored_campaign(tmp_path, alloy_campaign_file, started=True)
    assert main(["run", str(campaign), "--db", str(db), "--dry-run", "--seed", "99"]) == 2
    err = capsys.readouterr().err
    assert "--seed 99" in err and "cannot change once experiments have started" in err


def test_bulk_approve_and_reject(tmp_path: Path, alloy_campaign_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    campaign, db = _stored_campaign(tmp_path, alloy_campaign_file, started=False)
    s = Store.open(db)
    for fe in (0.1, 0.2, 0.3, 0.4):
        s.add_experiment({"Fe": fe, "Co": 1 - fe, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}, st.AWAITING_APPROVAL, "planner", "x")
    assert main(["approve", "2", "3", "--db", str(db)]) == 0
    assert "experiments 2, 3 are now approved" in capsys.readouterr().out
    assert main(["approve", "2", "--db", str(db)]) == 2  # already approved: refused, by id
    assert "experiment 2 is approved" in capsys.readouterr().err
    assert main(["reject", "--all", "--reason", "wrong batch", "--db", str(db)]) == 0
    assert "experiments 1, 4, 5 are now rejected" in capsys.readouterr().out
    assert main(["approve", "--all", "--db", str(db)]) == 0
    assert "nothing waits for review" in capsys.readouterr().out
    assert main(["approve", "--db", str(db)]) == 2
    statuses = [e.status for e in Store.open(db).experiments()]
    assert statuses == [st.REJECTED, st.APPROVED, st.APPROVED, st.REJECTED, st.REJECTED]
