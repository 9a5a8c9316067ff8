"""The XRD simulator process, spoken to by a plain pyzmq REQ client that knows only the envelope."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from labpilot.errors import SimulatorError
from labpilot.simulators.ledger import read_ledger
from labpilot.simulators.process import SimulatorProcess
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds.alloy import AlloyWorld

ZMQ = ("--zmq", "tcp://127.0.0.1:0")


@pytest.fixture
def rack(tmp_path: Path) -> dict[str, Path]:
    tray_path = tmp_path / "tray.db"
    world = AlloyWorld(7)
    with Tray(tray_path) as tray:
        tray.put("AF-00001", "alloy", world.deposit({"Fe": 150.0, "Co": 50.0, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}, 600.0, 25.0, 0.5))
    return {"tray": tray_path, "ledger": tmp_path / "xrd.jsonl"}


@pytest.fixture
def xrd(rack, simulators):
    sim = simulators("xrd", *ZMQ, "--tray", str(rack["tray"]), "--ledger", str(rack["ledger"]),
                     "--world-seed", "7", "--speed", "20000")
    assert sim.address.startswith("tcp://127.0.0.1:"), sim.address
    return sim.address  # the fixture stops it with SIGTERM and requires a clean exit


class PlainClient:
    """A REQ socket and hand-written JSON: what a lab engineer's own script would do."""

    def __init__(self, address: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 10_000)
        self.sock.connect(address)
        self.n = 0

    def ask(self, cmd: str, **args) -> dict:
        self.n += 1
        self.sock.send(json.dumps({"id": f"q{self.n}", "cmd": cmd, "args": args}).encode())
        reply = json.loads(self.sock.recv())
        assert reply["id"] == f"q{self.n}"
        return reply

    def close(self) -> None:
        self.sock.close(linger=0)


def wait_done(client: PlainClient, command_id: str) -> dict:
    for _ in range(2000):
        st = client.ask("status", command_id=command_id)["result"]
        if st["state"] != "running":
            return st
        time.sleep(0.005)
    raise AssertionError("scan never finished")


def array(wire: dict) -> np.ndarray:
    spec = wire["__ndarray__"]
    return np.frombuffer(base64.b64decode(spec["data"]), dtype=spec["dtype"]).reshape(spec["shape"])


def test_hello_scan_status_result(xrd, rack) -> None:
    c = PlainClient(xrd)
    hello = c.ask("hello")["result"]
    assert hello["protocol"] == "labpilot-zmq" and hello["instrument"] == "xrd" and hello["idn"].startswith("LABPILOT,XRD-SIM,")
    started = c.ask("scan", command_id="m1", sample_id="AF-00001", start=20.0, stop=90.0, step=0.02)
    assert started["ok"] and started["result"]["state"] == "running"
    assert started["result"]["duration_s"] == pytest.approx(3501 * 0.3)  # nominal: points x dwell
    assert wait_done(c, "m1")["state"] == "done"
    result = c.ask("result", command_id="m1")["result"]
    two_theta, counts = array(result["two_theta"]), array(result["counts"])
    assert two_theta.shape == counts.shape == (3501,)
    assert two_theta[0] == 20.0 and two_theta[-1] == pytest.approx(90.0)
    # a bcc Fe-Co film: the strongest line is (110) near 44.7-45 degrees
    assert 44.0 < two_theta[np.argmax(counts)] < 46.0
    entries = read_ledger(rack["ledger"])
    assert [(e["action"], e["command_id"], e["sample_id"], e["points"]) for e in entries] == [("scan", "m1", "AF-00001", 3501)]
    c.close()


def test_a_repeated_command_id_returns_the_first_outcome_without_scanning_again(xrd, rack) -> None:
    c = PlainClient(xrd)
    c.ask("scan", command_id="m1", sample_id="AF-00001", start=30.0, stop=50.0, step=0.05)
    again = c.ask("scan", command_id="m1", sample_id="AF-00001", start=30.0, stop=50.0, step=0.05)["result"]
    assert again["duplicate"] is True
    wait_done(c, "m1")
    first = c.ask("result", command_id="m1")["result"]
    third = c.ask("scan", command_id="m1", sample_id="AF-00001", start=30.0, stop=50.0, step=0.05)["result"]
    assert third["state"] == "done" and third["result"] == first
    assert len(read_ledger(rack["ledger"])) == 1
    assert c.ask("outcome", command_id="m1")["result"]["state"] == "done"
    assert c.ask("outcome", command_id="never")["result"]["state"] == "unknown"
    c.close()


BAD_COMMANDS = [
        ("scan", {"command_id": "e1", "sample_id": "NOPE", "start": 20.0, "stop": 30.0, "step": 0.1}, 201, "NOPE"),
        ("scan", {"command_id": "e2", "sample_id": "AF-00001", "start": 30.0, "stop": 20.0, "step": 0.1}, -222, "above start"),
        ("scan", {"command_id": "e3", "sample_id": "AF-00001", "start": 20.0, "stop": 300.0, "step": 0.1}, -222, "stop"),
        ("scan", {"command_id": "e4", "sample_id": "AF-00001", "start": 20.0, "stop": 30.0}, -109, "step"),
        ("scan", {"command_id": "e5", "sample_id": "AF-00001", "start": "20", "stop": 30.0, "step": 0.1}, -222, "start"),
        ("fly", {}, -113, "unknown command 'fly'"),
        ("result", {"command_id": "zz"}, 202, "zz"),
]


def test_bad_commands_get_instrument_errors_that_say_why(xrd, rack) -> None:
    c = PlainClient(xrd)
    for cmd, args, code, words in BAD_COMMANDS:
        reply = c.ask(cmd, **args)
        assert reply["ok"] is False, (cmd, args)
        assert reply["error"]["code"] == code and words in reply["error"]["message"], reply
    assert read_ledger(rack["ledger"]) == []
    # a refused scan leaves its command id unknown, so it can be sent again once fixed
    assert c.ask("outcome", command_id="e2")["result"]["state"] == "unknown"
    c.close()


def test_an_incompatible_protocol_version_is_refused(xrd) -> None:
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(xrd)
    sock.send(b'{"id": "v", "cmd": "hello", "args": {}, "version": "2.0"}')
    reply = json.loads(sock.recv())
    assert reply["ok"] is False and reply["error"]["code"] == -300 and "2.0" in reply["error"]["message"]
    sock.send(b"\xff not json")
    reply = json.loads(sock.recv())
    assert reply["id"] is None and reply["error"]["code"] == -100 and "0xff" in reply["error"]["message"]
    sock.close(linger=0)


def test_make_safe_aborts_a_running_scan(rack, simulators) -> None:
    c = PlainClient(simulators("xrd", *ZMQ, "--tray", str(rack["tray"]), "--speed", "1").address)
    c.ask("scan", command_id="long", sample_id="AF-00001", start=20.0, stop=90.0, step=0.02)
    busy = c.ask("scan", command_id="other", sample_id="AF-00001", start=20.0, stop=30.0, step=0.1)
    assert busy["error"]["code"] == 210
    safe = c.ask("safe")["result"]
    assert safe["aborted"] == ["long"] and safe["tube_on"] is False
    assert c.ask("outcome", command_id="long")["result"]["state"] == "failed"
    c.close()


def test_a_bad_fault_spec_is_refused_at_start() -> None:
    with pytest.raises(SimulatorError, match=r"(?s)xrd simulator .* exited with code 2 .*--faults: fault .drop.: rate 2.0"):
        SimulatorProcess("xrd", *ZMQ, "--faults", "drop=2").start()
