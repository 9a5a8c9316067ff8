"""Operators at work: a supervised dry run driven through the real CLI and control socket."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import zmq

from labpilot.agent.dryrun import load_simulators
from labpilot.agent.store import Store

pytestmark = pytest.mark.slow
from tests.conftest import REPO
from tests.waiting import wait_for


def labpilot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)



def queue(db: Path) -> list[dict]:
    r = labpilot("queue", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    return [q for q in json.loads(r.stdout)["queue"] if q["status"] == "awaiting_approval"]


@pytest.fixture
def supervised_run(tmp_path: Path, alloy_campaign_file: Path):  # noqa: ANN201
    text = alloy_campaign_file.read_text().replace("initial_design = 6", "initial_design = 2")
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', '')
    campaign = tmp_path / "supervised.toml"
    campaign.write_text(text)
    db = tmp_path / "sup.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
         "--mode", "supervised", "--max-experiments", "4", "--speed", "5000"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield db, proc
    if proc.poll() is None:
        proc.terminate()  # a graceful stop: the agent stops its simulators
    proc.communicate(timeout=60)
    sims = load_simulators(Store.open(db))
    wait_for(lambda: not [s for s in sims if s.alive()], timeout=15, what="the simulators to stop")


def test_supervised_approve_reject_override_and_bad_commands(supervised_run) -> None:  # noqa: ANN001
    db, proc = supervised_run
    first = wait_for(lambda: queue(db) if db.exists() else None, what="first proposal")
    assert labpilot("status", "--db", str(db), "--json").stdout.count('"state": "awaiting_approval"') == 1

    # Bad commands get clear errors; the campaign runs on.
    r = labpilot("approve", "999", "--db", str(db))
    assert r.returncode == 2 and "no experiment with id 999" in r.stderr
    r = labpilot("override", str(first[0]["id"]), "--set", "Fe=1.5", "--db", str(db))
    assert r.returncode == 2 and "above the upper bound" in r.stderr and "Fe" in r.stderr
    r = labpilot("override", str(first[0]["id"]), "--set", "Cu=0.1", "--db", str(db))
    assert r.returncode == 2 and "unknown parameter" in r.stderr
    r = labpilot("override", str(first[0]["id"]), "--set", "Fe", "--db", str(db))
    assert r.returncode == 2 and "Fe" in r.stderr
    endpoint = Store.open(db).control_endpoint()
    with zmq.Context() as ctx, ctx.socket(zmq.REQ) as raw:
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(endpoint)
        raw.send(b"\x00\xffnot json")
        assert raw.poll(5000), "the control socket did not answer a malformed request"
        reply = json.loads(raw.recv())
        assert reply["ok"] is False and reply["error"]

    # Reject the first proposal: it is recorded and never made.
    rejected = first[0]
    r = labpilot("reject", str(rejected["id"]), "--reason", "too much Pt", "--db", str(db))
    assert r.returncode == 0, r.stderr
    r = labpilot("approve", str(rejected["id"]), "--db", str(db))
    assert r.returncode == 2 and "rejected" in r.stderr

    # Override the next one with the operator's own composition.
    nxt = wait_for(lambda: [q for q in queue(db) if q["id"] != rejected["id"]], what="second proposal")
    mine = {"Fe": 0.7, "Co": 0.3, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}
    sets = [x for k, v in mine.items() for x in ("--set", f"{k}={v}")]
    r = labpilot("override", str(nxt[0]["id"]), *sets, "--reason", "known good", "--db", str(db))
    assert r.returncode == 0, r.stderr
    overridden = nxt[0]["id"]

    # Approve everything else until the budget is spent.
    def approve_all() -> bool:
        for q in queue(db):
            labpilot("approve", str(q["id"]), "--db", str(db))
        return proc.poll() is not None

    wait_for(approve_all, timeout=120, what="campaign end")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]

    store = Store.open(db)
    exps = {e.id: e for e in store.experiments()}
    assert exps[rejected["id"]].status == "rejected" and exps[rejected["id"]].reason == "too much Pt"
    assert exps[rejected["id"]].sample_id is None
    op = exps[overridden]
    assert op.chosen_by == "operator" and op.reason == "known good" and op.status == "completed"
    assert op.params == mine
    assert sum(e.status == "completed" for e in exps.values()) == 4
    kinds = [e["kind"] for e in store.events()]
    assert "operator_rejected" in kinds and "operator_override" in kinds and "operator_approved" in kinds


def test_pause_resume_and_abort(supervised_run) -> None:  # noqa: ANN001
    db, proc = supervised_run
    first = wait_for(lambda: queue(db) if db.exists() else None, what="first proposal")
    assert labpilot("pause", "--db", str(db)).returncode == 0
    wait_for(lambda: json.loads(labpilot("status", "--db", str(db), "--json").stdout)["state"] == "paused",
             what="paused")
    r = labpilot("pause", "--db", str(db))
    assert "already paused" in r.stdout
    assert labpilot("resume", "--db", str(db)).returncode == 0
    wait_for(lambda: json.loads(labpilot("status", "--db", str(db), "--json").stdout)["state"] == "awaiting_approval",
             what="back to awaiting_approval")
    r = labpilot("resume", "--db", str(db))
    assert r.returncode == 2 and "not paused" in r.stderr
    assert labpilot("approve", str(first[0]["id"]), "--db", str(db)).returncode == 0
    assert labpilot("abort", "--reason", "end of shift", "--db", str(db)).returncode == 0
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    status = json.loads(labpilot("status", "--db", str(db), "--json").stdout)
    assert status["state"] == "aborted"
    store = Store.open(db)
    assert "made_safe" in [e["kind"] for e in store.events()]
    assert all(e.status in ("completed", "abandoned", "rejected") for e in store.experiments())


def test_a_second_run_on_the_same_database_is_refused(supervised_run, alloy_campaign_file: Path) -> None:  # noqa: ANN001
    db, proc = supervised_run
    wait_for(lambda: queue(db) if db.exists() else None, what="first proposal")
    r = labpilot("run", str(alloy_campaign_file), "--dry-run", "--db", str(db))
    assert r.returncode == 2 and "already being run by another labpilot" in r.stderr
    assert proc.poll() is None  # the first run goes on
    assert labpilot("abort", "--db", str(db)).returncode == 0
