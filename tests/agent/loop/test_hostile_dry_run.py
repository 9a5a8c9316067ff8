"""Issue 14, end to end: hostile frames against a running `labpilot run --dry-run`.

Against the real CLI process and its simulator processes: each frame of the
issue gets an error reply from the control endpoint, `ping` answers
afterwards, with and without a token; the xrd simulator answers hostile
envelopes with errors and then `hello`; a 60,000-digit number on the sputter
system's pty is refused, and the line serves on. The campaign is supervised,
so nothing moves while the frames fly; an authenticated `abort` ends it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
import zmq

from labpilot.agent.control.client import ControlClient
from labpilot.agent.control.server import AUTH_FAILED
from labpilot.agent.dryrun import load_simulators
from labpilot.agent.store import Store
from labpilot.protocols.envelope import ERR_BAD_REQUEST, decode_reply
from tests.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
REPO = Path(__file__).resolve().parents[3]
TOKEN = "correct-horse-battery-staple-42"

CONTROL_FRAMES = [
    b'{"v": ' + b"1" * 4301 + b', "cmd": "ping"}',
    b'{"v": 1, "cmd": "ping", "id": ' + b"9" * 4301 + b"}",
    b'{"v": 1, "cmd": "approve", "args": {"id": ' + b"9" * 4301 + b"}}",
    b'{"v": 1, "cmd": "ping", "args": ' + b"[" * 1100 + b"]" * 1100 + b"}",
]
XRD_FRAMES = [
    b'{"id": "r1", "cmd": "hello", "args": {"n": ' + b"9" * 4301 + b"}}",
    b'{"id": "r2", "cmd": "hello", "args": {"x": ' + b"[" * 1100 + b"]" * 1100 + b"}}",
]



def endpoint_of(db: Path) -> str | None:
    if not db.exists():
        return None
    try:
        store = Store.open(db)
    except Exception:  # created but not initialised yet
        return None
    try:
        return store.control_endpoint()
    finally:
        store.close()


@pytest.fixture(params=[None, TOKEN], ids=["no-token", "token"])
def dry_run(request: pytest.FixtureRequest, tmp_path: Path, alloy_campaign_file: Path) -> Iterator[tuple[Path, str | None]]:
    token = request.param
    text = alloy_campaign_file.read_text().replace("initial_design = 6", "initial_design = 2")
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
    if token is not None:
        token_file = tmp_path / "token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        text += f'\n[control]\nendpoint = "tcp://127.0.0.1:0"\ntoken_file = "{token_file}"\n'
    campaign = tmp_path / "hostile.toml"
    campaign.write_text(text)
    db = tmp_path / "hostile.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labpilot", "run", str(campaign), "--dry-run", "--db", str(db),
         "--mode", "supervised", "--max-experiments", "3", "--speed", "5000"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: endpoint_of(db) or proc.poll() is not None, what="the control endpoint")
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        yield db, token
        with ControlClient(endpoint_of(db) or "", token=token, timeout_s=10) as client:
            client.request("abort", reason="hostile-frames test done")
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err[-3000:]
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=60)


def exchange(endpoint: str, frame: bytes) -> bytes:
    with zmq.Context.instance().socket(zmq.REQ) as sock:
        sock.linger = 0
        sock.connect(endpoint)
        sock.send(frame)
        assert sock.poll(10_000), f"no reply to {frame[:60]!r}"
        return sock.recv()


def test_hostile_frames_against_a_running_dry_run(dry_run: tuple[Path, str | None]) -> None:
    db, token = dry_run
    endpoint = endpoint_of(db)
    assert endpoint is not None
    with ControlClient(endpoint, token=token, timeout_s=10) as client:
        wait_for(lambda: client.request("status")["state"] == "awaiting_approval", what="the first proposal")

    for frame in CONTROL_FRAMES:
        reply = json.loads(exchange(endpoint, frame))
        assert reply["ok"] is False and reply["error"]
        assert reply["error"] == AUTH_FAILED if token else "too long" in reply["error"] or "nested" in reply["error"]
        ping = json.loads(exchange(endpoint, json.dumps({"v": 1, "cmd": "ping", "token": token}).encode()))
        assert ping["ok"] is True and ping["result"]["pong"] is True

    store = Store.open(db)
    try:
        sims = {s.instrument: s for s in load_simulators(store)}
    finally:
        store.close()
    for frame in XRD_FRAMES:
        reply = decode_reply(exchange(sims["xrd"].address, frame))
        assert not reply.ok and reply.error is not None and reply.error.code == ERR_BAD_REQUEST
    hello = decode_reply(exchange(sims["xrd"].address, b'{"id": "h", "cmd": "hello"}'))
    assert hello.ok and hello.result is not None and hello.result["instrument"] == "xrd"

    # The agent is waiting for approval, so the sputter system's line is idle.
    with serial.Serial(sims["sputter"].address, timeout=15) as line:
        line.write(b"PRES " + b"1" * 60_000 + b"x\n")  # refused: standard SCPI queues the error, no reply
        line.write(b"SYST:ERR?\n")
        reply_line = line.readline().decode("ascii")
        assert reply_line.startswith('-104,"Data type error; pressure: a field of 60001 characters is too long')
        line.write(b"*IDN?\n")
        assert line.readline().decode("ascii").startswith("LABPILOT,SPUTTER-SIM,")

    with ControlClient(endpoint, token=token, timeout_s=10) as client:
        status = client.request("status")
        assert status["state"] == "awaiting_approval" and status["control_dead"] is None
