"""The robot simulator process through a plain pyzmq REQ client: step order, busy arm, ledger, tray."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import zmq

from labpilot.simulators.ledger import read_ledger
from labpilot.simulators.tray import Tray


@pytest.fixture
def robot(tmp_path: Path, simulators):
    """Yields (start, paths): ``start(speed, *extra)`` launches a robot simulator and returns its address."""
    paths = {"tray": tmp_path / "tray.db", "ledger": tmp_path / "robot.jsonl"}

    def start(speed: str = "1e6", *extra: str) -> str:
        return simulators("robot", "--zmq", "tcp://127.0.0.1:0", "--tray", str(paths["tray"]),
                          "--ledger", str(paths["ledger"]), "--speed", speed, *extra).address

    return start, paths


class Client:
    def __init__(self, address: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 10_000)
        self.sock.connect(address)
        self.n = 0

    def ask(self, cmd: str, **args) -> dict:
        self.n += 1
        self.sock.send(json.dumps({"id": str(self.n), "cmd": cmd, "args": args}).encode())
        return json.loads(self.sock.recv())

    def done(self, command_id: str) -> dict:
        for _ in range(2000):
            st = self.ask("status", command_id=command_id)["result"]
            if st["state"] != "running":
                return st
            time.sleep(0.005)
        raise AssertionError(f"{command_id} never finished")

    def close(self) -> None:
        self.sock.close(linger=0)


def make_sample(c: Client, prefix: str) -> str:
    assert c.ask("load_substrate", command_id=f"{prefix}/load")["ok"]
    c.done(f"{prefix}/load")
    sample_id = c.ask("result", command_id=f"{prefix}/load")["result"]["sample_id"]
    steps = [
        ("dispense", {"molecular_weight": 300.0, "stereoregularity": 0.9, "volume_ml": 5.0}),
        ("mix", {}),
        ("anneal", {"cooling_temperature": 70.0}),
        ("transfer", {}),
    ]
    for step, args in steps:
        reply = c.ask(step, command_id=f"{prefix}/{step}", sample_id=sample_id, **args)
        assert reply["ok"], reply
        assert c.done(f"{prefix}/{step}")["state"] == "done"
    return sample_id


def test_a_full_sequence_fills_tray_and_ledger(robot) -> None:
    start, paths = robot
    c = Client(start())
    hello = c.ask("hello")["result"]
    assert hello["instrument"] == "robot" and hello["version"] == "1.0"
    sample_id = make_sample(c, "a")
    result = c.ask("result", command_id="a/transfer")["result"]
    assert result == {"sample_id": sample_id, "info": {"molecular_weight": 300.0, "stereoregularity": 0.9,
                                                        "cooling_temperature": 70.0, "world": "polymer"}}
    with Tray(paths["tray"]) as tray:
        assert tray.get(sample_id)[0] == "polymer"
    assert [e["action"] for e in read_ledger(paths["ledger"])] == ["load_substrate", "dispense", "mix", "anneal", "transfer"]
    c.close()


def test_steps_out_of_order_or_on_unknown_samples_are_refused(robot) -> None:
    start, paths = robot
    c = Client(start())
    reply = c.ask("mix", command_id="x/mix", sample_id="PP-99999")
    assert reply["error"]["code"] == 201 and "PP-99999" in reply["error"]["message"]
    c.ask("load_substrate", command_id="b/load")
    c.done("b/load")
    sample_id = c.ask("result", command_id="b/load")["result"]["sample_id"]
    reply = c.ask("anneal", command_id="b/anneal", sample_id=sample_id, cooling_temperature=50.0)
    assert reply["error"]["code"] == 220 and "after mix" in reply["error"]["message"]
    reply = c.ask("dispense", command_id="b/dispense", sample_id=sample_id, molecular_weight=300.0,
                  stereoregularity=0.9, volume_ml=80.0)
    assert reply["error"]["code"] == -222 and "volume_ml" in reply["error"]["message"]
    assert [e["action"] for e in read_ledger(paths["ledger"])] == ["load_substrate"]
    # refused commands left their ids unknown: a corrected resend goes through
    reply = c.ask("dispense", command_id="b/dispense", sample_id=sample_id, molecular_weight=300.0,
                  stereoregularity=0.9, volume_ml=5.0)
    assert reply["ok"] and reply["result"]["state"] == "running"
    c.close()


def test_one_arm_one_step_at_a_time(robot) -> None:
    start, _ = robot
    c = Client(start("1"))
    assert c.ask("load_substrate", command_id="p/load")["ok"]
    busy = c.ask("load_substrate", command_id="q/load")
    assert busy["error"]["code"] == 210 and "p/load" in busy["error"]["message"]
    again = c.ask("load_substrate", command_id="p/load")["result"]
    assert again["duplicate"] is True and again["state"] == "running"
    c.close()


def test_error_faults_refuse_actions_without_doing_them(robot) -> None:
    start, paths = robot
    c = Client(start("1e6", "--faults", "error=1.0"))
    reply = c.ask("load_substrate", command_id="e/load")
    assert reply["ok"] is False and reply["error"]["code"] == 301
    assert c.ask("outcome", command_id="e/load")["result"]["state"] == "unknown"
    assert c.ask("status")["ok"]  # queries are not refused
    assert read_ledger(paths["ledger"]) == []
    c.close()
