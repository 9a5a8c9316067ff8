"""Hostile bytes against simulator processes (issue 14): each gets an error reply, the process serves on.

Real subprocesses (``python -m labpilot.simulators``), a real ZeroMQ socket on
loopback and a real pty opened with pyserial.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from labpilot.errors import SimulatorError
import serial
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labpilot.protocols.envelope import ERR_BAD_REQUEST, Reply, decode_reply
from labpilot.simulators.process import SimulatorProcess

pytestmark = pytest.mark.timeout(120)

#: Generous: before the fix a 60,000-digit number took 68 s; now it is answered at once.
REPLY_TIMEOUT_S = 15.0

ISSUE_FRAMES = [
    b'{"id": "r1", "cmd": "hello", "args": {"n": ' + b"9" * 4301 + b"}}",
    b'{"id": ' + b"1" * 5000 + b', "cmd": "hello"}',
    b'{"id": "r2", "cmd": "hello", "args": {"x": ' + b"[" * 1100 + b"]" * 1100 + b"}}",
    b'{"id": "r3", "cmd": "hello", "args": {"x": ' + b"[" * 200_000,
    b'{"id": "r4", "cmd": "hello", "args": {"x": NaN}}',
    b'{"id": "r5", "cmd": "hello", "args": {"x": 1e999}}',
    b'{"id": "r6", "id": "r7", "cmd": "hello"}',
    b'{"id": "r8", "cmd": "hello", "args": "' + b'\\"' * 100_000,
    b"\x00\xff" * 500,
    b"",
]


class Req:
    """A REQ socket to a simulator; each request must get a reply within the timeout."""

    def __init__(self, endpoint: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.REQ)
        self.sock.linger = 0
        self.sock.connect(endpoint)

    def __call__(self, frame: bytes) -> Reply:
        self.sock.send(frame)
        assert self.sock.poll(int(REPLY_TIMEOUT_S * 1000)), f"no reply to {frame[:80]!r}"
        return decode_reply(self.sock.recv())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def xrd() -> Iterator[tuple[SimulatorProcess, Req]]:
    with SimulatorProcess("xrd", "--zmq", "tcp://127.0.0.1:0") as sim:
        req = Req(sim.address)
        try:
            yield sim, req
        finally:
            req.close()


def hello(req: Req) -> dict[str, Any]:
    reply = req(json.dumps({"id": "h", "cmd": "hello"}).encode())
    assert reply.ok and reply.result is not None
    return reply.result


def test_each_frame_of_the_issue_gets_a_bad_request_reply_and_the_xrd_simulator_serves_on(xrd: Any) -> None:
    sim, req = xrd
    for frame in ISSUE_FRAMES:
        reply = req(frame)
        assert not reply.ok and reply.error is not None, frame[:60]
        assert reply.error.code == ERR_BAD_REQUEST and reply.error.message.startswith("bad request: ")
    assert hello(req)["instrument"] == "xrd"
    assert sim.proc is not None and sim.proc.poll() is None


def test_a_frame_that_parses_keeps_its_id_in_the_error_reply(xrd: Any) -> None:
    _, req = xrd
    reply = req(b'{"id": "r9", "cmd": "BAD CMD"}')
    assert reply.id == "r9" and not reply.ok


_NOISE = st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b":", b",", b"1", b"9" * 60, b"-", b"e", b".",
                          b"true", b"null", b"NaN", b'"id"', b'"r"', b'"cmd"', b'"hello"', b'"args"', b" "])


def test_fuzzed_frames_never_stop_the_xrd_simulator(xrd: Any) -> None:
    sim, req = xrd

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.binary(max_size=300), st.lists(_NOISE, max_size=120).map(b"".join),
                     st.integers(0, 5000).map(lambda d: b'{"id": "d", "cmd": "hello", "args": {"x": ' + b"[" * d + b"]" * d + b"}}"),
                     st.integers(1, 6000).map(lambda n: b'{"id": "n", "cmd": "hello", "args": {"x": ' + b"7" * n + b"}}")))
    def one(frame: bytes) -> None:
        reply = req(frame)
        assert reply.ok or (reply.error is not None and reply.error.message)

    one()
    assert hello(req)["instrument"] == "xrd"
    assert sim.proc is not None and sim.proc.poll() is None


def test_a_negative_seed_is_refused_with_a_clear_message() -> None:
    sim = SimulatorProcess("xrd", "--zmq", "tcp://127.0.0.1:0", "--seed", "-3")
    with pytest.raises(SimulatorError, match=r"--seed: must be >= 0, got -3"):
        sim.start()


# ----------------------------------------------------------------------- serial


@pytest.fixture
def sputter_pty() -> Iterator[serial.Serial]:
    with SimulatorProcess("sputter", "--pty") as sim:
        port = serial.Serial(sim.address, timeout=REPLY_TIMEOUT_S)
        try:
            yield port
        finally:
            port.close()


def ask(port: serial.Serial, line: bytes) -> str:
    port.write(line + b"\n")
    reply = port.readline()
    assert reply.endswith(b"\n"), f"no reply to {line[:60]!r}"
    return reply.decode("ascii").strip()


@pytest.mark.parametrize("tail", [b"x", b"", b".5", b"e5x"])
def test_a_60000_digit_number_over_a_pty_is_refused_and_the_line_serves_on(sputter_pty: serial.Serial, tail: bytes) -> None:
    sputter_pty.write(b"PRES " + b"1" * 60_000 + tail + b"\n")  # refused: no reply, the error is queued
    reply = ask(sputter_pty, b"SYST:ERR?")
    assert reply.startswith('-104,"Data type error; pressure: a field of 600')
    assert "too long for a number (limit 100)" in reply
    sputter_pty.write(b"PRES 0.5\n")
    assert float(ask(sputter_pty, b"PRES?")) == 0.5
    assert ask(sputter_pty, b"*IDN?").startswith("LABPILOT,SPUTTER-SIM,")


def test_an_error_reply_never_echoes_a_huge_line_back(sputter_pty: serial.Serial) -> None:
    sputter_pty.write(b"DEP:STAT? " + b"[" * 60_000 + b"\n")
    reply = ask(sputter_pty, b"SYST:ERR?")
    assert reply.startswith("-") and "is not a valid id" not in reply[300:]
    assert len(reply) < 300  # SCPI caps error strings at 255 characters
    assert ask(sputter_pty, b"SYST:ERR?") == '0,"No error"'
