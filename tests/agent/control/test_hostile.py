"""Hostile frames on the control endpoint, over a real ZeroMQ socket on loopback (issue 14).

Every frame gets a reply, nothing malformed or unauthenticated reaches the
handler, ``ping`` answers afterwards, and a watchdog reports a serving
thread that died anyway.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labpilot.agent.control.messages import COMMAND_NAMES, ControlRequest
from labpilot.agent.control.server import AUTH_FAILED, ControlServer

pytestmark = pytest.mark.timeout(120)

TOKEN = "correct-horse-battery-staple-42"
TIMEOUT_MS = 5000


class Recorder:
    def __init__(self) -> None:
        self.seen: list[ControlRequest] = []

    def handle(self, request: ControlRequest) -> dict[str, Any]:
        self.seen.append(request)
        return {"state": "measuring"}


class Exchange:
    """One REQ socket reused for every frame: a missing reply fails the test at once."""

    def __init__(self, endpoint: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.REQ)
        self.sock.linger = 0
        self.sock.connect(endpoint)

    def __call__(self, *frames: bytes) -> dict[str, Any]:
        self.sock.send_multipart(list(frames))
        assert self.sock.poll(TIMEOUT_MS), f"no reply to {frames[0][:80]!r}"
        reply = json.loads(self.sock.recv())
        assert set(reply) == {"v", "ok", "result", "error"} and reply["v"] == 1
        return reply

    def close(self) -> None:
        self.sock.close()


#: The frames of issue 14, and their kin.
ISSUE_FRAMES = [
    b'{"v": ' + b"1" * 4301 + b', "cmd": "ping"}',
    b'{"v": 1, "cmd": "ping", "id": ' + b"9" * 5000 + b"}",
    b'{"v": 1, "cmd": "approve", "args": {"id": ' + b"9" * 4301 + b"}}",
    b'{"v": 1, "cmd": "approve", "args": {"id": 99999999999999999999}}',
    b'{"v": 1, "cmd": "ping", "args": ' + b"[" * 1100 + b"]" * 1100 + b"}",
    b'{"v": 1, "cmd": "ping", "x": ' + b"[" * 60_000,
    b'{"v": 1, "cmd": "ping", "x": NaN}',
    b'{"v": 1, "cmd": "ping", "x": "' + b'\\"' * 30_000,
    b"\xff" * 1000,
]


def _template(depth: int, number: str, token: str | None) -> bytes:
    tok = "" if token is None else f', "token": {json.dumps(token)}'
    return f'{{"v": 1, "cmd": "approve"{tok}, "args": {{"id": {number}, "x": {"[" * depth}{"]" * depth}}}}}'.encode()


def hostile_frames(token: str | None) -> st.SearchStrategy[bytes]:
    valid = st.builds(
        lambda cmd, args, tok: json.dumps({"v": 1, "cmd": cmd, "args": args, **({"token": tok} if tok else {})}).encode(),
        st.sampled_from(COMMAND_NAMES),
        st.dictionaries(st.sampled_from(["id", "now", "reason", "values"]), st.integers(-5, 5) | st.text(max_size=5) | st.booleans(), max_size=2),
        st.sampled_from([None, token, "wrong-token-but-long-enough"]),
    )
    shaped = st.builds(
        _template,
        st.integers(0, 3000),
        st.sampled_from(["1", "-1", "9" * 4301, "1e999", "NaN", "0." + "0" * 500, "1" * 101, '"3"']),
        st.sampled_from([None, token]),
    )
    return st.one_of(st.binary(max_size=200), valid, shaped, st.sampled_from(ISSUE_FRAMES))


@pytest.fixture(params=[None, TOKEN], ids=["no-token", "token"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[ControlServer, Recorder, Exchange, str | None]]:
    token = request.param
    handler = Recorder()
    with ControlServer(handler, token=token) as srv:
        assert srv.endpoint is not None
        exchange = Exchange(srv.endpoint)
        try:
            yield srv, handler, exchange, token
        finally:
            exchange.close()


def ping(exchange: Exchange, token: str | None) -> dict[str, Any]:
    return exchange(json.dumps({"v": 1, "cmd": "ping", "token": token}).encode())


def test_each_frame_of_the_issue_gets_an_error_and_ping_still_answers(served: Any) -> None:
    srv, handler, exchange, token = served
    for frame in ISSUE_FRAMES:
        reply = exchange(frame)
        assert reply["ok"] is False and reply["error"], frame[:60]
        if token is not None:
            assert reply["error"] == AUTH_FAILED  # an outsider learns nothing else
    assert handler.seen == []
    assert ping(exchange, token)["result"] == {"pong": True, "v": 1}
    assert srv.running and srv.dead is None


def test_what_the_sender_is_told(served: Any) -> None:
    """Without a token: what is wrong. With one: a frame the decoder refuses cannot be
    authenticated (its token cannot be read), so it is an authentication failure;
    an authenticated frame that fails validation is told which field is wrong."""
    srv, handler, exchange, token = served
    tok = b"" if token is None else f', "token": "{token}"'.encode()
    undecodable = {
        b'{"v": 1' + tok + b', "cmd": "approve", "args": {"id": ' + b"9" * 4301 + b"}}": "too long",
        b'{"v": 1' + tok + b', "cmd": "ping", "x": ' + b"[" * 1100 + b"]" * 1100 + b"}": "nested 1101 deep",
    }
    for frame, words in undecodable.items():
        reply = exchange(frame)
        assert reply["ok"] is False and reply["error"] == (AUTH_FAILED if token else reply["error"])
        assert token is not None or words in reply["error"]
    reply = exchange(b'{"v": 1' + tok + b', "cmd": "approve", "args": {"id": 99999999999999999999}}')
    assert reply["ok"] is False and "args.id: Input should be less than or equal to" in reply["error"]
    assert handler.seen == [] and ping(exchange, token)["ok"] is True


def test_the_endpoint_survives_fuzzed_frames_and_only_authenticated_valid_requests_reach_the_handler(served: Any) -> None:
    srv, handler, exchange, token = served

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(frame=hostile_frames(token), split=st.booleans())
    def one(frame: bytes, split: bool) -> None:
        before = len(handler.seen)
        reply = exchange(frame, b"x") if split else exchange(frame)
        if reply["ok"]:
            obj = json.loads(frame)
            assert not split and (token is None or obj.get("token") == token)
        elif token is not None and (split or b'"token": "' + token.encode() + b'"' not in frame):
            assert reply["error"] == AUTH_FAILED
        if len(handler.seen) > before:
            assert reply["ok"] and handler.seen[-1].token is None

    one()
    assert ping(exchange, token)["ok"] is True
    assert srv.running and srv.dead is None


# ------------------------------------------------------------------ watchdog


class Fatal(BaseException):
    """Not an Exception: escapes every per-request guard and ends the serving thread."""


class Dying:
    def handle(self, request: ControlRequest) -> dict[str, Any]:
        raise Fatal("simulated death of the serving thread")


def _wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_a_watchdog_notices_a_dead_control_thread_and_reports_it_once() -> None:
    reports: list[str] = []
    with ControlServer(Dying(), on_dead=reports.append) as srv:
        assert srv.endpoint is not None
        exchange = Exchange(srv.endpoint)
        try:
            exchange.sock.send(b'{"v": 1, "cmd": "status"}')
            _wait_for(lambda: srv.dead is not None)
        finally:
            exchange.close()
        assert not srv.running
        assert "Fatal: simulated death" in srv.dead
        time.sleep(1.2)  # the watchdog reports once, not at every check
        assert reports == [srv.dead]


def test_labpilot_status_says_when_the_control_endpoint_died(tmp_path: Path, alloy_campaign_file: Path) -> None:
    from labpilot.agent.campaign import ControlSpec, load_campaign
    from labpilot.agent.control.bridge import start_control
    from labpilot.agent.report import campaign_status, format_status
    from labpilot.agent.loop.session import open_or_create

    store, _, _ = open_or_create(load_campaign(alloy_campaign_file), str(alloy_campaign_file), tmp_path / "c.db")
    try:
        server = start_control(store, ControlSpec())
        try:
            assert campaign_status(store)["control_dead"] is None
            server._handler = Dying()  # inject the fault: the next request kills the thread
            exchange = Exchange(server.endpoint or "")
            exchange.sock.send(b'{"v": 1, "cmd": "status"}')
            _wait_for(lambda: campaign_status(store)["control_dead"] is not None)
            exchange.close()
        finally:
            server.stop()
        status = campaign_status(store)
        assert "Fatal: simulated death" in status["control_dead"]
        assert "CONTROL ENDPOINT DEAD (Fatal: simulated death" in format_status(status)
        assert [e["data"]["reason"] for e in store.events(kind="control_dead")] == [status["control_dead"]]
    finally:
        store.close()
