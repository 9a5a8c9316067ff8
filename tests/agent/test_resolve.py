"""Recovery without the instrument's memory: `outcome_unknown`, a refused resume, and `labpilot resolve`.

The fast tests build the state a killed agent leaves (a command journaled as
sent, never finished, on instruments that cannot reconcile), let the real
runner's start-up recovery find it, and settle it through the real CLI on a
real database. The slow one kills a real dry run mid-deposition and lets an
honest operator answer.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from labpilot.agent import machine as sm
from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign
from labpilot.agent.cli.main import main
from labpilot.agent.dryrun import load_simulators, stop_simulators
from labpilot.agent.loop.runner import CampaignRunner, Stop
from labpilot.agent.store import Store
from labpilot.errors import StoreError
from labpilot.simulators.ledger import read_ledger
from tests.agent.honest_operator import cli, non_reconciling_campaign, resolve_unknown
from tests.conftest import REPO

SAMPLE = "SP00002"


@pytest.fixture
def faulted(tmp_path: Path, alloy_campaign_file: Path) -> tuple[Path, CampaignRunner]:
    """Experiment 1 killed mid-deposition, experiment 2 mid-measurement on the magnetometer; the runner restarted."""
    source = non_reconciling_campaign(tmp_path, alloy_campaign_file)
    campaign = load_campaign(source)
    db = tmp_path / "c.db"
    s = Store.create(db, campaign.name, campaign.model_dump(mode="json"), source.read_text())
    uid = s.campaign()["uid"]
    point = {"Fe": 0.5, "Co": 0.5, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}
    e1 = s.add_experiment(point, st.APPROVED, "initial", "space-filling")
    e2 = s.add_experiment({**point, "Fe": 0.4, "Co": 0.6}, st.APPROVED, "initial", "space-filling")
    s.add_experiment({**point, "Fe": 0.3, "Co": 0.7}, st.COMPLETED, "initial", "space-filling")
    # experiment 2: made, scanned by the (reconciling) XRD, then the magnetometer command went out
    s.update_experiment(e2, status=st.SYNTHESIZING)
    s.command_sent(f"{uid}-e{e2}-sputter", e2, "sputter", "synthesize")
    s.synthesis_done(f"{uid}-e{e2}-sputter", e2, SAMPLE, {})
    s.update_experiment(e2, status=st.MEASURING)
    s.command_sent(f"{uid}-e{e2}-xrd", e2, "xrd", "measure")
    s.measurement_done(f"{uid}-e{e2}-xrd", e2, "xrd", {"peak_two_theta": 44.7},
                       {"two_theta": np.linspace(20, 90, 8), "counts": np.ones(8)})
    s.command_sent(f"{uid}-e{e2}-magnetometer", e2, "magnetometer", "measure")
    # experiment 1: the deposition was sent
    s.update_experiment(e1, status=st.SYNTHESIZING)
    s.command_sent(f"{uid}-e{e1}-sputter", e1, "sputter", "synthesize")
    s.set_state(sm.PLANNING)
    s.set_state(sm.MEASURING)
    runner = CampaignRunner(campaign, s, {}, poll_s=0.01)
    with pytest.raises(Stop):
        runner._recover_unknown_outcomes()  # what `labpilot run` does right after connecting
    return db, runner


def test_restart_marks_unknown_outcomes_and_faults_naming_them(faulted, capsys) -> None:
    db, _ = faulted
    store = Store.open(db)
    assert store.campaign()["state"] == "faulted"
    assert [e.id for e in store.experiments((st.OUTCOME_UNKNOWN,))] == [1, 2]
    fault = store.fault()
    assert fault["outcome_unknown"] == [1, 2] and fault["error"].startswith("OutcomeUnknown: outcome unknown")
    assert "experiment 1 (synthesize on sputter" in fault["error"]
    assert {c["instrument"] for c in store.commands("unknown")} == {"sputter", "magnetometer"}
    assert not store.commands("sent")  # nothing left that a later start could resend
    assert [e["experiment_id"] for e in store.events(kind="outcome_unknown")] == [2, 1]
    assert not store.events(kind="reconciled")  # nobody asked instruments that cannot answer

    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "OUTCOME UNKNOWN: experiment 1 (synthesize on sputter" in out
    assert "labpilot resolve 1 --made --sample SAMPLE_ID | --not-made | --failed" in out
    assert "OUTCOME UNKNOWN: experiment 2 (measure on magnetometer" in out
    assert main(["queue", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "2 experiment(s) whose outcome is unknown" in out and "#2    measure on magnetometer" in out


def test_resume_is_refused_while_an_outcome_is_unknown(faulted, capsys) -> None:
    db, _ = faulted
    assert main(["resume", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "cannot resume: the outcome of experiment(s) 1, 2 is unknown" in err
    assert "labpilot resolve 2 --made --value NAME=NUMBER" in err and "\n" not in err.strip()
    assert not Store.open(db).resume_requested()


def test_made_synthesis_needs_its_sample_and_goes_on_to_be_measured(faulted, capsys) -> None:
    db, runner = faulted
    assert main(["resolve", "1", "--made", "--db", str(db)]) == 2
    assert "a synthesis that was made needs the sample's id: --made --sample SAMPLE_ID" in capsys.readouterr().err
    assert main(["resolve", "1", "--made", "--value", "magnetization=3", "--db", str(db)]) == 2
    assert "--value is for a measurement" in capsys.readouterr().err
    assert main(["resolve", "1", "--made", "--sample", "SP00001", "--reason", "film on the holder",
                 "--db", str(db)]) == 0
    assert "experiment 1 resolved made: now synthesized; still unknown: 2" in capsys.readouterr().out
    store = Store.open(db)
    exp = store.experiment(1)
    assert (exp.status, exp.sample_id) == ("synthesized", "SP00001")
    cmd = store.command(f"{runner.uid}-e1-sputter")
    assert cmd["status"] == "done" and cmd["result"]["sample_id"] == "SP00001"
    (said,) = store.events(kind="outcome_resolved")
    assert said["experiment_id"] == 1
    assert said["data"]["by"] == f"operator cli:{getpass.getuser()}@{socket.gethostname()}"  # the sender
    assert (said["data"]["resolution"], said["data"]["sample"], said["data"]["reason"]) == (
        "made", "SP00001", "film on the holder")
    assert runner._command_id(1, "magnetometer") == f"{runner.uid}-e1-magnetometer"


def test_made_measurement_records_the_operators_values_by_name(faulted, capsys) -> None:
    db, _ = faulted
    assert main(["resolve", "2", "--made", "--db", str(db)]) == 2
    assert "needs its values: --value NAME=NUMBER (magnetometer measures magnetization)" in capsys.readouterr().err
    assert main(["resolve", "2", "--made", "--value", "coercivity=3", "--db", str(db)]) == 2
    assert "values.coercivity: magnetometer does not measure 'coercivity'" in capsys.readouterr().err
    assert main(["resolve", "2", "--made", "--value", "magnetization=lots", "--db", str(db)]) == 2
    assert "values.magnetization" in capsys.readouterr().err
    assert main(["resolve", "2", "--made", "--sample", "SP9", "--value", "magnetization=1", "--db", str(db)]) == 2
    assert "--sample is for a synthesis" in capsys.readouterr().err
    assert main(["resolve", "2", "--made", "--value", "magnetization=812.25", "--db", str(db)]) == 0
    capsys.readouterr()
    store = Store.open(db)
    exp = store.experiment(2)
    assert exp.status == "measuring"  # the loop finishes it: every measurer is done, so it learns next
    assert exp.scalars == {"peak_two_theta": 44.7, "magnetization": 812.25}
    assert store.measured_instruments(2) == {"xrd", "magnetometer"}
    (said,) = store.events(kind="outcome_resolved")
    assert said["data"]["values"] == {"magnetization": 812.25}


def test_not_made_retries_the_step_under_a_new_command_id(faulted, capsys) -> None:
    db, runner = faulted
    assert main(["resolve", "1", "--not-made", "--sample", "SP1", "--db", str(db)]) == 2
    assert "they go with --made only" in capsys.readouterr().err
    assert main(["resolve", "1", "--not-made", "--reason", "target shutter never opened", "--db", str(db)]) == 0
    assert main(["resolve", "2", "--not-made", "--db", str(db)]) == 0
    assert "`labpilot resume` continues the campaign" in capsys.readouterr().out
    store = Store.open(db)
    assert store.experiment(1).status == "approved" and store.experiment(2).status == "measuring"
    assert store.command(f"{runner.uid}-e1-sputter")["status"] == "not_made"
    # the retry is a new command: an instrument that never got the old one cannot confuse the two
    assert runner._command_id(1, "sputter") == f"{runner.uid}-e1-sputter-r1"
    assert runner._command_id(2, "magnetometer") == f"{runner.uid}-e2-magnetometer-r1"
    assert runner._command_id(2, "xrd") == f"{runner.uid}-e2-xrd"


def test_failed_is_recorded_failed_with_the_reason(faulted, capsys) -> None:
    db, runner = faulted
    assert main(["resolve", "1", "--failed", "--reason", "arc in the chamber", "--db", str(db)]) == 0
    capsys.readouterr()
    store = Store.open(db)
    exp = store.experiment(1)
    assert exp.status == "failed" and exp.error == "sputter: operator said the synthesis failed: arc in the chamber"
    assert store.command(f"{runner.uid}-e1-sputter")["status"] == "failed"


def test_resolve_says_exactly_one_outcome_of_an_unknown_experiment(faulted, capsys) -> None:
    db, _ = faulted
    assert main(["resolve", "1", "--made", "--failed", "--db", str(db)]) == 2
    assert "say exactly one of 'made', 'not_made', 'failed'" in capsys.readouterr().err
    assert main(["resolve", "1", "--db", str(db)]) == 2
    assert "say exactly one of" in capsys.readouterr().err
    assert main(["resolve", "3", "--made", "--sample", "X", "--db", str(db)]) == 2
    assert "experiment 3 is completed; only an experiment whose outcome is unknown" in capsys.readouterr().err
    assert main(["resolve", "1", "--failed", "--db", str(db)]) == 0
    assert main(["resolve", "1", "--not-made", "--db", str(db)]) == 2  # settled once: no second word
    assert "experiment 1 is failed" in capsys.readouterr().err


def test_once_every_outcome_is_settled_the_campaign_resumes(faulted, capsys) -> None:
    db, runner = faulted
    store = runner.store
    store.request_resume("an old client")  # the desk refuses it; the runner must too
    held = threading.Thread(target=runner._wait_while_held, daemon=True)
    held.start()
    deadline = time.monotonic() + 30
    while not store.events(kind="resume_refused") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.events(kind="resume_refused")[0]["data"]["outcome_unknown"] == [1, 2]
    assert held.is_alive() and runner.state == "faulted"
    assert main(["resolve", "1", "--not-made", "--db", str(db)]) == 0
    assert main(["resolve", "2", "--made", "--value", "magnetization=700", "--db", str(db)]) == 0
    assert main(["resume", "--db", str(db)]) == 0
    held.join(30)
    assert not held.is_alive() and runner.state == "measuring"  # back where it stopped
    assert store.fault() is None


@pytest.mark.slow
def test_a_killed_deposition_waits_for_the_operator_and_is_never_made_twice(tmp_path: Path,
                                                                            alloy_campaign_file: Path) -> None:
    """A real dry run killed right after the deposition command is journaled; a restart must not resend it."""
    campaign = non_reconciling_campaign(tmp_path, alloy_campaign_file)
    db, ledgers = tmp_path / "kill.db", tmp_path / "ledgers"
    args = [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
            "--max-experiments", "2", "--speed", "2000", "--ledger-dir", str(ledgers), "--quiet"]
    first = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            try:
                if any(e["data"]["instrument"] == "sputter" for e in Store.open(db).events(kind="command_sent")):
                    break
            except StoreError:
                pass
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        again = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while len(Store.open(db).events(kind="recovery")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        store = Store.open(db)
        assert store.campaign()["state"] == "faulted" and store.fault()["outcome_unknown"] == [1]
        status = cli("status", "--db", str(db))
        assert "OUTCOME UNKNOWN: experiment 1 (synthesize on sputter" in status.stdout
        refused = cli("resume", "--db", str(db))
        assert refused.returncode == 2 and "cannot resume" in refused.stderr
        ((eid, cid, said),) = resolve_unknown(db, speed=2000)
        assert cli("resume", "--db", str(db)).returncode == 0
        _, err = again.communicate(timeout=180)
        assert again.returncode == 0, err.decode()[-2000:]
    finally:
        if db.exists():
            stop_simulators(load_simulators(Store.open(db)))
    store = Store.open(db)
    assert store.counts()["completed"] == 2
    deposits = [r for r in read_ledger(ledgers / "sputter.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == 2
    sent = [e["data"]["id"] for e in store.events(kind="command_sent") if e["data"]["instrument"] == "sputter"]
    assert len(sent) == len(set(sent)), "a command was sent twice to an instrument that cannot reconcile"
    if said == "--not-made":
        assert cid not in {r["command_id"] for r in deposits} and f"{cid}-r1" in sent
    else:
        assert cid in {r["command_id"] for r in deposits}


@pytest.mark.slow
def test_pause_now_then_resume_takes_the_finished_command_instead_of_resending_it(
        tmp_path: Path, alloy_campaign_file: Path) -> None:
    """Within one run nothing is unknown: a deposition left in flight by `pause --now` is taken when it ends."""
    campaign = non_reconciling_campaign(tmp_path, alloy_campaign_file)
    db, ledgers = tmp_path / "pause.db", tmp_path / "ledgers"
    args = [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
            "--max-experiments", "2", "--speed", "500", "--ledger-dir", str(ledgers), "--quiet"]
    agent = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and agent.poll() is None:
            try:
                if any(e["data"]["instrument"] == "sputter" for e in Store.open(db).events(kind="command_sent")):
                    break
            except StoreError:
                pass
            time.sleep(0.01)
        assert cli("pause", "--now", "--db", str(db)).returncode == 0
        while Store.open(db).campaign()["state"] != "paused" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cli("resume", "--db", str(db)).returncode == 0
        _, err = agent.communicate(timeout=180)
        assert agent.returncode == 0, err.decode()[-2000:]
    finally:
        if db.exists():
            stop_simulators(load_simulators(Store.open(db)))
    store = Store.open(db)
    assert store.counts()["completed"] == 2 and not store.events(kind="outcome_unknown")
    assert store.events(kind="paused_in_flight"), "the pause did not land while the deposition ran"
    deposits = [r for r in read_ledger(ledgers / "sputter.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == 2
    sent = [e["data"]["id"] for e in store.events(kind="command_sent") if e["data"]["instrument"] == "sputter"]
    assert len(sent) == len(set(sent)) == 2


@pytest.mark.slow
def test_lost_contact_with_an_instrument_without_memory_asks_the_operator(tmp_path: Path,
                                                                         alloy_campaign_file: Path) -> None:
    """In a running agent: the magnetometer stops answering mid-command; its outcome is unknown, not retried."""
    campaign = non_reconciling_campaign(tmp_path, alloy_campaign_file)
    campaign.write_text(campaign.read_text().replace("timeout_s = 2.0\nretries = 4", "timeout_s = 0.5\nretries = 1"))
    db, ledgers = tmp_path / "lost.db", tmp_path / "ledgers"
    args = [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
            "--max-experiments", "2", "--speed", "2000", "--ledger-dir", str(ledgers), "--quiet"]
    agent = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    magnetometer = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and agent.poll() is None:
            try:
                store = Store.open(db)
                if any(e["data"]["instrument"] == "xrd" for e in store.events(kind="command_sent")):
                    break
            except StoreError:
                pass
            time.sleep(0.01)
        magnetometer = next(s for s in load_simulators(Store.open(db)) if s.instrument == "magnetometer")
        os.kill(magnetometer.pid, signal.SIGSTOP)  # the magnetometer goes silent before its command
        while not Store.open(db).events(kind="outcome_unknown") and time.monotonic() < deadline:
            time.sleep(0.05)
        while Store.open(db).campaign()["state"] != "faulted" and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(magnetometer.pid, signal.SIGCONT)
        # the agent makes every instrument safe after a fault: let it finish before anyone else looks
        while (len(Store.open(db).events(kind="made_safe")) + len(Store.open(db).events(kind="make_safe_failed")) < 3
               and time.monotonic() < deadline):
            time.sleep(0.05)
        store = Store.open(db)
        fault = store.fault()
        assert fault["instrument"] == "magnetometer" and fault["outcome_unknown"] == [1], fault
        assert cli("resume", "--db", str(db)).returncode == 2
        ((_, cid, said),) = resolve_unknown(db, speed=2000)
        assert cli("resume", "--db", str(db)).returncode == 0
        _, err = agent.communicate(timeout=180)
        assert agent.returncode == 0, err.decode()[-2000:]
    finally:
        if magnetometer is not None and magnetometer.alive():
            os.kill(magnetometer.pid, signal.SIGCONT)
        if db.exists():
            stop_simulators(load_simulators(Store.open(db)))
    store = Store.open(db)
    assert store.counts()["completed"] == 2
    measured = [r for r in read_ledger(ledgers / "magnetometer.jsonl") if r["action"] == "measure"]
    assert len(measured) == len({r["command_id"] for r in measured}) == 2
    sent = [e["data"]["id"] for e in store.events(kind="command_sent") if e["data"]["instrument"] == "magnetometer"]
    assert len(sent) == len(set(sent)), "a command was resent to an instrument that cannot reconcile"
    assert (said == "--not-made") == (f"{cid}-r1" in sent)
