"""Issue 10, item 5: the heartbeat tells a running agent from a dead one; [notify] reaches a receiver.

Everything through the real CLI (`labpilot run` as a subprocess, `status`,
`mode`, `abort`), with simulator processes, and a loopback HTTP receiver
standing in for a chat or paging webhook.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from labpilot.agent.dryrun import load_simulators, stop_simulators
from labpilot.agent.store import Store
from tests.conftest import REPO

pytestmark = pytest.mark.slow


class Receiver:
    """A loopback HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]

    def wait(self, kind: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e["event"] == kind:
                    return e
            time.sleep(0.1)
        raise AssertionError(f"no {kind!r} notification; got {self.kinds()}")


@pytest.fixture
def receiver():  # noqa: ANN201
    r = Receiver()
    yield r
    r.server.shutdown()


def _campaign(tmp_path: Path, alloy_campaign_file: Path, notify: str) -> Path:
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "random"')
    text = text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", "initial_design = 1")
    path = tmp_path / "campaign.toml"
    path.write_text(text + "\n[notify]\n" + notify)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def _run(campaign: Path, db: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run",
                             "--db", str(db), "--speed", "5000", *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(predicate, timeout: float = 60, what: str = "") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out: {what}")


def test_approval_wait_stall_abort_and_liveness(tmp_path: Path, alloy_campaign_file: Path, receiver: Receiver) -> None:
    marker = tmp_path / "events.jsonl"
    campaign = _campaign(tmp_path, alloy_campaign_file,
                         f'url = "{receiver.url}"\ncommand = "echo $LABPILOT_EVENT >> {marker}"\n'
                         "approval_after_s = 1\nstalled_after_s = 2\n")
    db = tmp_path / "c.db"
    proc = _run(campaign, db, "--mode", "supervised", "--max-experiments", "3")
    sims: list = []
    try:
        event = receiver.wait("awaiting_approval")
        assert event["experiments"] == [1] and event["campaign"] == "alloy-magnetization"
        status = _cli("status", "--db", str(db))
        assert f"running, pid {proc.pid}" in status.stdout, status.stdout
        sims = load_simulators(Store.open(db))
        magnetometer = next(s for s in sims if s.instrument == "magnetometer")
        os.kill(magnetometer.pid, signal.SIGSTOP)  # the next measurement hangs: no progress
        assert _cli("mode", "unattended", "--db", str(db)).returncode == 0
        stalled = receiver.wait("stalled")
        assert stalled["state"] == "measuring"
        # Abort while the measurement still hangs (a state, not a race): resumed first, a 5000x dry run
        # could finish its budget before the abort arrived. The request is stored before the instrument
        # answers, so the loop sees it at its next checkpoint, whatever the machine's load.
        assert _cli("abort", "--reason", "test", "--db", str(db)).returncode == 0
        assert Store.open(db).events(kind="operator_abort")
        os.kill(magnetometer.pid, signal.SIGCONT)
        receiver.wait("aborted")
        proc.communicate(timeout=60)
        assert proc.returncode == 0
        status = _cli("status", "--db", str(db)).stdout
        assert "agent not running (last seen" in status, status
        lines = [json.loads(line)["event"] for line in marker.read_text().splitlines()]
        assert {"awaiting_approval", "stalled", "aborted"} <= set(lines)
    finally:
        for s in sims:
            try:
                os.kill(s.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        stop_simulators(load_simulators(Store.open(db)))


def test_faulted_then_completed_and_a_killed_agent_is_seen_as_not_running(
        tmp_path: Path, alloy_campaign_file: Path, receiver: Receiver) -> None:
    campaign = _campaign(tmp_path, alloy_campaign_file, f'url = "{receiver.url}"\nevents = ["faulted", "completed"]\n')
    db = tmp_path / "c.db"
    proc = _run(campaign, db, "--max-experiments", "2", "--faults", "xrd:error=0.5")
    try:
        fault = receiver.wait("faulted", timeout=90)
        assert fault["fault"]["instrument"] == "xrd"
        proc.kill()  # SIGKILL: no clean stop, the heartbeat just ends
        proc.communicate(timeout=30)
        _wait(lambda: "agent not running (last seen" in _cli("status", "--db", str(db)).stdout, 30,
              "status to see the agent gone")
        assert _cli("resume", "--db", str(db)).returncode == 0
        proc = _run(campaign, db, "--max-experiments", "2", "--faults", "xrd:error=0.5")
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if Store.open(db).campaign()["state"] == "faulted" and not Store.open(db).resume_requested():
                _cli("resume", "--db", str(db))
            time.sleep(0.3)
        receiver.wait("completed")
        assert "aborted" not in receiver.kinds()  # not in `events`: not sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        stop_simulators(load_simulators(Store.open(db)))
