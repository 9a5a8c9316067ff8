"""Issue 10, item 10: a database that cannot be written stops the run with one message, resumable.

Needs a small file system to fill: a tmpfs mounted for the test (root only;
skipped otherwise, since a size limit in user space, e.g. RLIMIT_FSIZE, would
kill the process with SIGXFSZ rather than make SQLite report a full disk).
Everything through the real CLI (`labpilot run` as a subprocess).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labpilot.agent.store import Store
from labpilot.simulators.ledger import read_ledger
from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture
def small_fs(tmp_path: Path):  # noqa: ANN201
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _campaign(tmp_path: Path, alloy_campaign_file: Path) -> Path:
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "random"')
    text = text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", "initial_design = 2")
    path = tmp_path / "campaign.toml"
    path.write_text(text)
    return path


def _run(campaign: Path, db: Path, ledgers: Path, budget: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db",
                           str(db), "--max-experiments", str(budget), "--speed", "5000", "--quiet",
                           "--ledger-dir", str(ledgers)], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_disk_full_stops_with_one_message_and_resumes_losing_nothing(
        tmp_path: Path, alloy_campaign_file: Path, small_fs: Path) -> None:
    campaign, db, ledgers = _campaign(tmp_path, alloy_campaign_file), small_fs / "c.db", tmp_path / "ledgers"
    budget = 60
    r = _run(campaign, db, ledgers, budget)
    assert r.returncode == 4, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("labpilot run:")]
    assert errors == [errors[0]] and f"database {db}" in errors[0] and "disk is full" in errors[0]
    assert "instruments made safe: sputter, xrd, magnetometer" in r.stderr
    done_before = Store.open(db).counts()["completed"]
    assert done_before < budget

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_fs)], check=True)
    r = _run(campaign, db, ledgers, budget)
    assert r.returncode == 0, r.stderr[-3000:]
    store = Store.open(db)
    c = store.counts()
    assert store.campaign()["state"] == "completed" and c["completed"] + c["failed"] == budget
    for name, action in (("sputter", "deposit"), ("xrd", "scan"), ("magnetometer", "measure")):
        ids = [row["command_id"] for row in read_ledger(ledgers / f"{name}.jsonl") if row["action"] == action]
        assert len(ids) == len(set(ids)), name  # nothing made or measured twice
    assert len([e for e in store.experiments() if e.status == "completed"]) >= done_before  # nothing lost


def test_a_read_only_file_system_at_start_is_one_message(
        tmp_path: Path, alloy_campaign_file: Path, small_fs: Path) -> None:
    campaign, db = _campaign(tmp_path, alloy_campaign_file), small_fs / "c.db"
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    r = _run(campaign, db, tmp_path / "ledgers", 2)
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"labpilot run: database {db}: Read-only file system")
