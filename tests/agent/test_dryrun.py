"""End to end: `labpilot run --dry-run` against simulator processes, through the real CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from labpilot.simulators.ledger import read_ledger

pytestmark = pytest.mark.slow


def labpilot(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[2])


def test_alloy_dry_run_completes_and_reports(tmp_path: Path, alloy_campaign_file: Path) -> None:
    db = tmp_path / "alloy.db"
    ledgers = tmp_path / "ledgers"
    run = labpilot("run", str(alloy_campaign_file), "--dry-run", "--db", str(db), "--max-experiments", "8",
                   "--speed", "5000", "--ledger-dir", str(ledgers))
    assert run.returncode == 0, run.stderr[-3000:]
    progress = [line for line in run.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == 8 and progress[-1].startswith("[  8/8]")
    summary = [line for line in run.stdout.splitlines() if line.startswith("campaign 'alloy-magnetization'")]
    # The run's own closing summary: completed, and not "running, pid N" (this process was the agent).
    assert summary and "completed" in summary[-1] and "running" not in summary[-1], summary

    status = json.loads(labpilot("status", "--db", str(db), "--json").stdout)
    assert status["campaign"] == "alloy-magnetization"
    assert status["state"] == "completed"
    assert status["experiments"]["completed"] == 8
    best = status["best"]
    assert best["objective"] == "magnetization" and best["value"] > 0
    assert abs(sum(best["params"].values()) - 1.0) < 1e-6

    # Every sample was deposited once, scanned once, measured once.
    deposits = [r for r in read_ledger(ledgers / "sputter.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == 8 and len({r["command_id"] for r in deposits}) == 8
    scans = [r for r in read_ledger(ledgers / "xrd.jsonl") if r["action"] == "scan"]
    assert len({r["sample_id"] for r in scans}) == len(scans) == 8

    out_csv = tmp_path / "alloy.csv"
    assert labpilot("export", "--db", str(db), "--csv", str(out_csv)).returncode == 0
    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and all(float(r["magnetization"]) > 0 for r in rows)
    assert {r["chosen_by"] for r in rows} == {"initial", "planner"}

    png = tmp_path / "alloy.png"
    assert labpilot("plot", "--db", str(db), "--out", str(png)).returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Running it again finds the campaign finished and does nothing.
    again = labpilot("run", str(alloy_campaign_file), "--dry-run", "--db", str(db), "--max-experiments", "8")
    assert "already completed" in again.stderr


def test_run_with_a_foreign_database_is_refused(tmp_path: Path, alloy_campaign_file: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("not a database at all\n" * 100)
    run = labpilot("run", str(alloy_campaign_file), "--dry-run", "--db", str(db))
    assert run.returncode == 2
    assert "not a labpilot campaign database" in run.stderr and "Traceback" not in run.stderr
    assert db.read_text().startswith("not a database")


def test_a_simulator_that_cannot_start_is_named_with_its_own_error(tmp_path: Path, alloy_campaign_file: Path) -> None:
    run = labpilot("run", str(alloy_campaign_file), "--dry-run", "--db", str(tmp_path / "x.db"),
                   "--faults", "bogus=1", "--max-experiments", "1")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "instrument 'sputter': sputter simulator (pid " in run.stderr
    assert "unknown fault kind 'bogus'" in run.stderr  # the child's own message, not only its exit code


def test_status_of_missing_database(tmp_path: Path) -> None:
    r = labpilot("status", "--db", str(tmp_path / "none.db"))
    assert r.returncode == 2 and "no campaign database" in r.stderr


def test_polymer_dry_run_through_robot_xrd_dsc_and_tensile(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "campaigns" / "polymer_properties.toml").read_text()
    campaign = tmp_path / "polymer.toml"
    campaign.write_text(text.replace('name = "bo"', 'name = "random"'))
    db = tmp_path / "polymer.db"
    run = labpilot("run", str(campaign), "--dry-run", "--db", str(db), "--max-experiments", "3", "--speed", "5000")
    assert run.returncode == 0, run.stderr[-3000:]
    status = json.loads(labpilot("status", "--db", str(db), "--json").stdout)
    assert status["experiments"]["completed"] == 3
    from labpilot.agent.store import Store

    store = Store.open(db)
    for exp in store.experiments():
        assert {"impact_strength", "tensile_modulus", "melting_point", "crystallinity"} <= set(exp.scalars)
        arrays = store.arrays(exp.id)
        assert {"xrd.counts", "xrd.two_theta", "dsc.temperature", "dsc.heat_flow"} <= set(arrays)


def test_a_planner_that_reaches_its_goal_completes_the_campaign(tmp_path: Path, alloy_campaign_file: Path) -> None:
    # uncertainty sampling with a loose error target: once 5 results show the model is
    # accurate enough, the campaign completes early, with the reason journaled.
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "uncertainty"')
    text = text.replace('acquisition = "qlognei"', "stop_cv_error = 1e6\nstop_min_observations = 5")
    text = text.replace("initial_design = 6", "initial_design = 5")
    campaign = tmp_path / "uncertain.toml"
    campaign.write_text(text)
    db = tmp_path / "uncertain.db"
    run = labpilot("run", str(campaign), "--dry-run", "--db", str(db), "--max-experiments", "12", "--speed", "5000")
    assert run.returncode == 0, run.stderr[-3000:]
    from labpilot.agent.store import Store

    store = Store.open(db)
    assert store.campaign()["state"] == "completed"
    assert store.counts()["completed"] == 5
    (done,) = store.events(kind="planner_done")
    assert "done" in done["data"]["reason"]


def test_pipelined_run_synthesizes_the_next_sample_while_measuring(tmp_path: Path, alloy_campaign_file: Path) -> None:
    text = alloy_campaign_file.read_text().replace("pipeline = false", "pipeline = true")
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
    campaign = tmp_path / "pipelined.toml"
    campaign.write_text(text)
    db, ledgers = tmp_path / "pipelined.db", tmp_path / "ledgers"
    run = labpilot("run", str(campaign), "--dry-run", "--db", str(db), "--max-experiments", "6",
                   "--speed", "2000", "--ledger-dir", str(ledgers))
    assert run.returncode == 0, run.stderr[-3000:]
    from labpilot.agent.store import Store

    store = Store.open(db)
    assert store.counts()["completed"] == 6
    events = store.events()
    started = {e["experiment_id"]: e["ts"] for e in events
               if e["kind"] == "command_sent" and e["data"]["action"] == "synthesize"}
    measured = {e["experiment_id"]: e["ts"] for e in events
                if e["kind"] == "measured" and e["data"]["instrument"] == "magnetometer"}
    # Sample k+1 was already being made before sample k's last measurement ended.
    overlaps = [k for k in measured if k + 1 in started and started[k + 1] < measured[k]]
    assert len(overlaps) == 5, (started, measured)
    deposits = [r for r in read_ledger(ledgers / "sputter.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == 6
