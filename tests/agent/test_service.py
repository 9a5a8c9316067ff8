"""The systemd unit in docs/: start, stop (SIGTERM mid-command) and restart, with the real CLI.

The unit is not run under systemd here: its ``ExecStart`` is taken from the
file, pointed at a temporary directory and a dry run, and driven as systemd
would (start, SIGTERM while an instrument command is in flight, start again
as after a reboot). Its exit-status settings are checked against the
documented exit codes.
"""

from __future__ import annotations

import configparser
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labpilot.agent.cli import exit_codes
from labpilot.agent.store import Store
from labpilot.simulators.ledger import read_ledger
from tests.conftest import REPO

pytestmark = pytest.mark.slow

UNIT = REPO / "docs" / "labpilot.service"


def _unit() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(UNIT.read_text())
    return cp


def test_the_unit_agrees_with_the_exit_codes() -> None:
    service = _unit()["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert str(exit_codes.EXIT_SIGTERM) in service["SuccessExitStatus"].split()
    prevent = set(service["RestartPreventExitStatus"].split())
    assert {str(exit_codes.EXIT_ERROR), str(exit_codes.EXIT_STOPPED), str(exit_codes.EXIT_STORE_UNAVAILABLE)} <= prevent


def _exec_start(tmp_path: Path, campaign: Path) -> list[str]:
    words = shlex.split(_unit()["Service"]["ExecStart"].replace("%i", "alloy"))
    assert words[0].endswith("/bin/labpilot")
    words = [w.replace("/srv/labpilot", str(tmp_path)).replace("/var/log/labpilot", str(tmp_path)) for w in words]
    i = words.index("run")
    # the test's only change: a dry run (simulators instead of hardware), small budget
    return ([sys.executable, "-m", "labpilot.agent.cli", *words[1:i + 2], "--dry-run", "--speed", "400",
             "--max-experiments", "3", "--ledger-dir", str(tmp_path / "ledgers")] + words[i + 2:])


def test_start_stop_mid_command_and_restart(tmp_path: Path, alloy_campaign_file: Path) -> None:
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "random"')
    campaign = tmp_path / "alloy.toml"
    campaign.write_text(text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", "initial_design = 2"))
    cmd = _exec_start(tmp_path, campaign)
    db = tmp_path / "alloy.db"

    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until an instrument command is in flight
            try:
                if Store.open(db).commands(status="sent"):
                    break
            except Exception:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("no instrument command was ever in flight")
        proc.send_signal(signal.SIGTERM)  # `systemctl stop`
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == exit_codes.EXIT_SIGTERM, err[-2000:]
    assert "Traceback" not in err and "stopped by SIGTERM" in err
    assert [e for e in Store.open(db).events(kind="interrupted")]
    assert (tmp_path / "alloy.log").exists()  # --log-file from the unit

    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)  # restart / after a reboot
    assert r.returncode == 0, r.stderr[-2000:]
    store = Store.open(db)
    c = store.counts()
    assert store.campaign()["state"] == "completed" and c["completed"] + c["failed"] == 3
    for name, action in (("sputter", "deposit"), ("xrd", "scan"), ("magnetometer", "measure")):
        ids = [row["command_id"] for row in read_ledger(tmp_path / "ledgers" / f"{name}.jsonl") if row["action"] == action]
        assert len(ids) == len(set(ids)), name


def test_log_file_rotates_by_size(tmp_path: Path) -> None:
    import logging

    from labpilot.agent.cli.main import _setup_logging, build_parser

    log = tmp_path / "agent.log"
    args = build_parser().parse_args(["--log-file", str(log), "--log-max-bytes", "2000", "--log-backups", "2",
                                      "status"])
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        _setup_logging(args)
        for i in range(200):
            logging.getLogger("labpilot.progress").info("progress line %d with some padding text", i)
    finally:
        for h in root.handlers[:]:
            if h not in before:
                h.close()
                root.removeHandler(h)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["agent.log", "agent.log.1", "agent.log.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert "progress line 199" in log.read_text()
