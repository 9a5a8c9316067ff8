"""Dry runs against a real PostgreSQL server: SIGKILL and resume lose nothing; two campaigns share it.

The same checks as the SQLite torture test (``test_crash_recovery``), the kills
aimed at each phase (``tests/agent/kill_points.py``): the
simulators' ledgers prove that no sample was made twice and no measurement
lost. Skips only when the PostgreSQL binaries are absent.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from labpilot.errors import StoreError
from labpilot.agent.dryrun import load_simulators, stop_simulators
from labpilot.agent.store_open import campaign_target, open_store
from labpilot.simulators.ledger import read_ledger
from tests.agent.kill_points import Killer, reap
from tests.soak import SOAK

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _campaign(tmp_path: Path, source: Path, name: str | None = None) -> Path:
    text = source.read_text().replace("initial_design = 6", "initial_design = 3").replace("initial_design = 5", "initial_design = 2")
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
    if name:
        text = re.sub(r'^name = "[^"]+"', f'name = "{name}"', text, count=1, flags=re.M)
    path = tmp_path / f"{name or source.stem}.toml"
    path.write_text(text)
    return path


def _start(campaign: Path, url: str, ledgers: Path, budget: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", url,
         "--max-experiments", str(budget), "--speed", "2000", "--ledger-dir", str(ledgers), "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


#: kills: one aimed at each required phase (kill_points.REQUIRED), more with LABPILOT_SOAK=1
PG_KILLS = 10 if SOAK else 4
PG_BUDGET = 14 if SOAK else 6


def test_sigkill_and_resume_on_postgresql_loses_nothing(pg_url: str, tmp_path: Path, alloy_campaign_file: Path,
                                                        request: pytest.FixtureRequest) -> None:
    rng = random.Random(7)
    campaign = _campaign(tmp_path, alloy_campaign_file)
    target = campaign_target(pg_url, "alloy-magnetization")
    ledgers, budget, kills, proc, final = tmp_path / "ledgers", PG_BUDGET, 0, None, None
    killer = Killer(lambda: open_store(target), rng)
    try:
        while kills < PG_KILLS + 6 and (kills < PG_KILLS or not killer.covered()):
            start = killer.started()
            proc = _start(campaign, pg_url, ledgers, budget)
            killer.aim(proc, killer.next_phase(), start)
            if killer.kill(proc, start) is None:
                break
            kills += 1
        final = _start(campaign, pg_url, ledgers, budget)
        _, err = final.communicate(timeout=300)
        assert final.returncode == 0, err.decode()[-3000:]
    finally:
        reap(proc, final)
        try:
            store = open_store(target)
        except StoreError:
            pass
        else:
            stop_simulators(load_simulators(store))
            store.close()
    print(f"kills {kills} ({killer.summary()})")
    assert kills >= PG_KILLS, f"the campaign finished after only {kills} kills"
    # the kills hit start-up and each instrument's command in flight (the resume must reconcile it)
    assert killer.covered(), f"the kills missed a phase: {killer.summary()}"
    store = open_store(target)
    request.addfinalizer(store.close)
    assert store.campaign()["state"] == "completed"
    exps = store.experiments()
    assert [e.status for e in exps] == ["completed"] * budget
    deposits = [r for r in read_ledger(ledgers / "sputter.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == budget
    assert {r["sample_id"] for r in deposits} == {e.sample_id for e in exps}
    scans = [r for r in read_ledger(ledgers / "xrd.jsonl") if r["action"] == "scan"]
    assert len(scans) == len({r["command_id"] for r in scans}) == budget
    for e in exps:
        assert "magnetization" in e.scalars and store.arrays(e.id, "xrd")["counts"].size > 1000
    assert not store.commands("sent")
    assert len(store.events(kind="reconciled")) >= 1


def test_two_campaigns_run_at_once_on_one_server_and_the_dashboard_lists_both(
        pg_url: str, tmp_path: Path, alloy_campaign_file: Path) -> None:
    polymer = _campaign(tmp_path, REPO / "campaigns" / "polymer_properties.toml")
    alloy = _campaign(tmp_path, alloy_campaign_file)
    runs = [_start(c, pg_url, tmp_path / f"ledgers-{c.stem}", 3) for c in (alloy, polymer)]
    for proc in runs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
    for name in ("alloy-magnetization", "polymer-properties"):
        store = open_store(campaign_target(pg_url, name))
        assert store.campaign()["state"] == "completed" and store.counts()["completed"] == 3
        store.close()
    # The same database name twice is refused, not merged.
    again = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "status", "--db", pg_url],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "holds 2 campaigns" in again.stderr
    serve = subprocess.Popen([sys.executable, "-m", "labpilot.agent.cli", "serve", "--db", pg_url, "--port", "0"],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert serve.stdout is not None
        url = re.search(r"(http://\S+)", serve.stdout.readline()).group(1)
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        assert "alloy-magnetization" in page and "polymer-properties" in page
        assert page.count("state-completed") == 2
        assert "postgresql://postgres@127.0.0.1" in page
    finally:
        serve.terminate()
        serve.communicate(timeout=30)


def test_a_server_password_is_never_printed_journaled_or_sent(
        pg_url: str, tmp_path: Path, alloy_campaign_file: Path) -> None:
    """``--db postgresql://user:PASSWORD@...``: the password reaches the server and nothing else."""
    import json

    secret = "Hunter2-not-for-any-log"
    url = pg_url.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@")
    assert secret in url
    marker = tmp_path / "notify.jsonl"
    campaign = _campaign(tmp_path, alloy_campaign_file)
    campaign.write_text(campaign.read_text() + f'\n[notify]\ncommand = "echo $LABPILOT_EVENT >> {marker}"\n')
    run = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", url,
                          "--max-experiments", "2", "--speed", "2000"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    target = campaign_target(url, "alloy-magnetization")
    cli = [sys.executable, "-m", "labpilot.agent.cli"]
    status = subprocess.run([*cli, "status", "--db", target], cwd=REPO, capture_output=True, text=True, timeout=60)
    status_json = subprocess.run([*cli, "status", "--db", target, "--json"], cwd=REPO, capture_output=True,
                                 text=True, timeout=60)
    events = subprocess.run([*cli, "events", "--db", target, "--json"], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    store = open_store(target)
    try:
        journal = json.dumps([*store.events(), store.campaign()], default=str)
    finally:
        store.close()
    sent = marker.read_text()
    assert "completed" in sent
    texts = {"run output": run.stdout + run.stderr, "status": status.stdout + status.stderr,
             "status --json": status_json.stdout, "events": events.stdout, "journal": journal, "notification": sent}
    for where, text in texts.items():
        assert secret not in text, where
    assert "postgres:***@127.0.0.1" in status.stdout
    assert json.loads(status_json.stdout)["db"].startswith("postgresql://postgres:***@127.0.0.1")
    assert '"db": "postgresql://postgres:***@' in sent
