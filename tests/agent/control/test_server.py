"""The control endpoint over real ZeroMQ sockets on loopback TCP."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from labpilot.errors import ControlBindError, ControlUnavailable, OperatorRefused
from labpilot.agent.control.client import ControlClient
from labpilot.agent.control.messages import ControlRequest
from labpilot.agent.control.server import ControlServer

pytestmark = pytest.mark.timeout(60)

TIMEOUT_S = 5.0  # generous: only dead endpoints ever wait for it


class MiniCampaign:
    """A small, real handler: a queue of proposals an operator can act on."""

    def __init__(self) -> None:
        self.state = "awaiting_approval"
        self.proposals: dict[int, dict[str, Any]] = {1: {"x": 0.1}, 2: {"x": 0.2}, 3: {"x": 0.3}}
        self.decisions: dict[int, tuple[str, Any]] = {}
        self.seen: list[ControlRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._count_lock = threading.Lock()

    def handle(self, request: ControlRequest) -> dict[str, Any]:
        with self._count_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.seen.append(request)
            return self._handle(request)
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def _pending(self, exp_id: int) -> dict[str, Any]:
        if exp_id not in self.proposals:
            raise OperatorRefused(f"no experiment with id {exp_id}")
        if exp_id in self.decisions:
            raise OperatorRefused(f"experiment {exp_id} is {self.decisions[exp_id][0]}, not awaiting approval")
        return self.proposals[exp_id]

    def _handle(self, req: ControlRequest) -> dict[str, Any]:
        match req.cmd:
            case "status":
                return {"state": self.state, "decided": len(self.decisions)}
            case "queue":
                waiting = [{"id": i, "params": p} for i, p in self.proposals.items() if i not in self.decisions]
                return {"proposals": waiting}
            case "pause":
                self.state = "paused" if req.args.now else "pausing"
                return {"state": self.state}
            case "resume":
                if self.state not in {"paused", "pausing"}:
                    raise OperatorRefused(f"cannot resume: campaign is {self.state}, not paused")
                self.state = "awaiting_approval"
                return {"state": self.state}
            case "abort":
                self.state = "aborted"
                return {"state": self.state, "reason": req.args.reason}
            case "approve":
                self._pending(req.args.id)
                self.decisions[req.args.id] = ("approved", None)
                return {"id": req.args.id, "status": "approved"}
            case "reject":
                self._pending(req.args.id)
                self.decisions[req.args.id] = ("rejected", req.args.reason)
                return {"id": req.args.id, "status": "rejected"}
            case "override":
                self._pending(req.args.id)
                x = req.args.values.get("x")
                if isinstance(x, (int, float)) and not 0 <= x <= 1:
                    raise OperatorRefused(f"x={x} is outside its bounds [0, 1]")
                self.decisions[req.args.id] = ("overridden", dict(req.args.values))
                return {"id": req.args.id, "status": "overridden", "values": dict(req.args.values)}
        raise AssertionError(f"unhandled {req.cmd}")


@pytest.fixture
def campaign() -> MiniCampaign:
    return MiniCampaign()


@pytest.fixture
def server(campaign: MiniCampaign) -> Iterator[ControlServer]:
    srv = ControlServer(campaign)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: ControlServer) -> Iterator[ControlClient]:
    assert server.endpoint is not None
    with ControlClient(server.endpoint, timeout_s=TIMEOUT_S) as c:
        yield c


def raw_exchange(endpoint: str, *frames: bytes) -> dict[str, Any]:
    """Send arbitrary frames on a plain REQ socket; return the decoded reply."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    try:
        sock.connect(endpoint)
        sock.send_multipart(list(frames))
        assert sock.poll(int(TIMEOUT_S * 1000)), "server did not answer"
        return json.loads(sock.recv())
    finally:
        sock.close()


# ------------------------------------------------------------------ startup


def test_start_binds_loopback_on_a_free_port_and_returns_it(server: ControlServer) -> None:
    assert server.endpoint is not None
    host, port = server.endpoint.removeprefix("tcp://").rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert server.running


def test_stop_releases_the_port_and_a_new_server_can_bind_it(campaign: MiniCampaign) -> None:
    first = ControlServer(campaign)
    endpoint = first.start()
    first.stop()
    first.stop()  # idempotent
    assert not first.running and first.endpoint is None
    second = ControlServer(campaign, endpoint)
    try:
        assert second.start() == endpoint
        assert ControlClient(endpoint, timeout_s=TIMEOUT_S).request("ping")["pong"] is True
    finally:
        second.stop()


def test_binding_a_port_in_use_is_a_clear_error(server: ControlServer, campaign: MiniCampaign) -> None:
    assert server.endpoint is not None
    with pytest.raises(ControlBindError, match="cannot bind control endpoint .*Address already in use"):
        ControlServer(campaign, server.endpoint).start()


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [("127.0.0.1:5555", "must look like tcp://HOST:PORT"), ("udp://127.0.0.1:5", "'udp' is not supported"),
     ("tcp://127.0.0.1:99999", "port '99999'")],
)
def test_malformed_endpoints_are_refused(campaign: MiniCampaign, endpoint: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        ControlServer(campaign, endpoint)


def test_handler_without_handle_method_is_refused() -> None:
    with pytest.raises(TypeError, match="no handle"):
        ControlServer(object())  # type: ignore[arg-type]


def _ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback_works_without_credentials(campaign: MiniCampaign) -> None:
    with ControlServer(campaign, "tcp://[::1]:0") as srv:
        assert srv.endpoint is not None and srv.endpoint.startswith("tcp://[::1]:")
        assert ControlClient(srv.endpoint, timeout_s=TIMEOUT_S).request("status")["state"] == "awaiting_approval"


# --------------------------------------------------------------- round trips


def test_ping_is_answered_by_the_server_itself(client: ControlClient, campaign: MiniCampaign) -> None:
    assert client.request("ping") == {"pong": True, "v": 1}
    assert campaign.seen == []


def test_status_and_queue(client: ControlClient) -> None:
    assert client.request("status") == {"state": "awaiting_approval", "decided": 0}
    queue = client.request("queue")["proposals"]
    assert [p["id"] for p in queue] == [1, 2, 3]
    assert queue[0]["params"] == {"x": 0.1}


def test_approve_reject_override_reach_the_handler_typed(client: ControlClient, campaign: MiniCampaign) -> None:
    assert client.request("approve", id=1) == {"id": 1, "status": "approved"}
    assert client.request("reject", id=2, reason="duplicate of 1") == {"id": 2, "status": "rejected"}
    result = client.request("override", id=3, values={"x": 0.5, "phase": "fcc", "n": 2}, reason="my hunch")
    assert result == {"id": 3, "status": "overridden", "values": {"x": 0.5, "phase": "fcc", "n": 2}}
    assert campaign.decisions == {
        1: ("approved", None),
        2: ("rejected", "duplicate of 1"),
        3: ("overridden", {"x": 0.5, "phase": "fcc", "n": 2}),
    }
    override = campaign.seen[-1]
    assert override.cmd == "override" and override.args.reason == "my hunch"
    assert type(override.args.values["n"]) is int
    assert client.request("queue") == {"proposals": []}


def test_pause_resume_abort(client: ControlClient, campaign: MiniCampaign) -> None:
    assert client.request("pause") == {"state": "pausing"}
    assert campaign.seen[-1].args.now is False
    assert client.request("pause", now=True) == {"state": "paused"}
    assert client.request("resume") == {"state": "awaiting_approval"}
    assert client.request("abort", reason="end of shift") == {"state": "aborted", "reason": "end of shift"}
    assert client.request("status")["state"] == "aborted"


# ------------------------------------------------------------ refusals, errors


def test_refusals_carry_the_handler_reason_and_the_campaign_runs_on(client: ControlClient) -> None:
    with pytest.raises(OperatorRefused, match="no experiment with id 42"):
        client.request("approve", id=42)
    with pytest.raises(OperatorRefused, match=r"x=1.5 is outside its bounds \[0, 1\]"):
        client.request("override", id=1, values={"x": 1.5})
    client.request("approve", id=1)
    with pytest.raises(OperatorRefused, match="experiment 1 is approved, not awaiting approval"):
        client.request("approve", id=1)
    with pytest.raises(OperatorRefused, match="cannot resume: campaign is awaiting_approval"):
        client.request("resume")
    assert client.request("status") == {"state": "awaiting_approval", "decided": 1}


def test_invalid_arguments_are_refused_by_the_client_before_sending(client: ControlClient, campaign: MiniCampaign) -> None:
    with pytest.raises(OperatorRefused, match="args.id: Input should be a valid integer"):
        client.request("approve", id="one")
    with pytest.raises(OperatorRefused, match="unknown command 'frobnicate'"):
        client.request("frobnicate")
    assert campaign.seen == []


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ((b"\x80\x81garbage",), "not UTF-8"),
        ((b"pause now please",), "not valid JSON"),
        ((b"[]",), "must be a JSON object"),
        ((b'{"v": 1, "cmd": "detonate"}',), "unknown command 'detonate'"),
        ((b'{"v": 1, "cmd": "approve", "args": {"id": 1, "force": true}}',), "args.force: unexpected field"),
        ((b'{"v": 1, "cmd": "reject", "args": {}}',), "args: give experiment id(s) in 'id'/'ids', or 'all'"),
        ((b'{"v": 1, "cmd": "status"}', b"second frame"), "single ZeroMQ frame, got 2"),
        ((b"",), "empty"),
    ],
)
def test_malformed_bytes_on_a_raw_socket_get_a_clear_error_and_the_server_keeps_answering(
    server: ControlServer, client: ControlClient, campaign: MiniCampaign, frames: tuple[bytes, ...], expected: str
) -> None:
    assert server.endpoint is not None
    reply = raw_exchange(server.endpoint, *frames)
    assert reply["v"] == 1 and reply["ok"] is False and reply["result"] is None
    assert expected in reply["error"]
    assert campaign.seen == []  # nothing malformed reaches the campaign
    assert client.request("status")["state"] == "awaiting_approval"


def test_numpy_values_in_a_result_arrive_as_plain_json() -> None:
    import numpy as np

    class Numeric:
        def handle(self, request: ControlRequest) -> dict[str, Any]:
            return {"completed": np.int64(7), "best": np.float64(0.25), "x": np.array([0.1, 0.9])}

    with ControlServer(Numeric()) as srv:
        assert srv.endpoint is not None
        result = ControlClient(srv.endpoint, timeout_s=TIMEOUT_S).request("status")
    assert result == {"completed": 7, "best": 0.25, "x": [0.1, 0.9]}
    assert type(result["completed"]) is int


class Faulty:
    """A handler with bugs: the server must turn each into an ok=false reply."""

    def handle(self, request: ControlRequest) -> Any:
        match request.cmd:
            case "status":
                raise RuntimeError("database is locked")
            case "queue":
                return ["not", "a", "dict"]
            case "abort":
                return {"when": object()}
            case "resume":
                return None
        return {"fine": True}


def test_handler_bugs_become_error_replies_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with ControlServer(Faulty()) as srv:
        assert srv.endpoint is not None
        c = ControlClient(srv.endpoint, timeout_s=TIMEOUT_S)
        with pytest.raises(OperatorRefused, match="internal error while handling status: RuntimeError: database is locked"):
            c.request("status")
        with pytest.raises(OperatorRefused, match="handler returned list, expected a dict"):
            c.request("queue")
        with pytest.raises(OperatorRefused, match="internal error while handling abort: .*object is not JSON-serializable"):
            c.request("abort")
        assert c.request("resume") == {}
        assert c.request("pause") == {"fine": True}
    tracebacks = [r for r in caplog.records if r.exc_info and "database is locked" in str(r.exc_info[1])]
    assert tracebacks, "the handler's exception should be logged with its traceback"


# ------------------------------------------------------------- dead endpoints


def test_a_dead_endpoint_gives_control_unavailable_not_a_hang() -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ControlClient(f"tcp://127.0.0.1:{port}", timeout_s=0.2)
    with pytest.raises(ControlUnavailable, match="no reply from the campaign .* is the campaign running"):
        client.request("status")
    with pytest.raises(ControlUnavailable, match="'approve' command was not resent"):
        client.request("approve", id=1)


class SilentEndpoint:
    """A real ZeroMQ peer that receives requests and never answers."""

    def __init__(self) -> None:
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.bind("tcp://127.0.0.1:0")
        self.endpoint = self.sock.last_endpoint.decode()

    def received(self) -> list[dict[str, Any]]:
        out = []
        while self.sock.poll(0):
            frames = self.sock.recv_multipart()
            out.append(json.loads(frames[-1]))
        return out

    def close(self) -> None:
        self.sock.close()


def test_only_read_only_commands_are_resent_after_a_lost_reply() -> None:
    silent = SilentEndpoint()
    try:
        client = ControlClient(silent.endpoint, timeout_s=0.3)
        with pytest.raises(ControlUnavailable, match="sent twice"):
            client.request("queue")
        assert [r["cmd"] for r in silent.received()] == ["queue", "queue"]
        for cmd, args in [("approve", {"id": 1}), ("override", {"id": 1, "values": {"x": 1}}), ("abort", {})]:
            with pytest.raises(ControlUnavailable, match="may or may not have taken effect"):
                client.request(cmd, **args)
            assert [r["cmd"] for r in silent.received()] == [cmd]
    finally:
        silent.close()


def test_client_recovers_when_the_campaign_comes_back(campaign: MiniCampaign) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    client = ControlClient(endpoint, timeout_s=0.2)
    with pytest.raises(ControlUnavailable):
        client.request("ping")
    client.timeout_s = TIMEOUT_S
    with ControlServer(campaign, endpoint):
        assert client.request("status")["state"] == "awaiting_approval"


# ---------------------------------------------------------------- concurrency


class SlowCampaign(MiniCampaign):
    """Holds each call briefly so that overlapping calls would be seen."""

    def __init__(self) -> None:
        super().__init__()
        self.proposals = {i: {"x": i / 1000} for i in range(1, 81)}
        self._gate = threading.Event()

    def handle(self, request: ControlRequest) -> dict[str, Any]:
        self._gate.wait(0.002)
        return super().handle(request)


def test_two_clients_at_once_each_get_their_own_answers_and_calls_never_overlap() -> None:
    campaign = SlowCampaign()
    errors: list[BaseException] = []
    results: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}

    def operator(name: str, ids: range) -> None:
        try:
            with ControlClient(endpoint, timeout_s=TIMEOUT_S) as c:
                for i in ids:
                    results[name].append(c.request("approve", id=i))
                    c.request("status")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    with ControlServer(campaign) as srv:
        endpoint = srv.endpoint
        threads = [
            threading.Thread(target=operator, args=("a", range(1, 41))),
            threading.Thread(target=operator, args=("b", range(41, 81))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors, errors
    assert [r["id"] for r in results["a"]] == list(range(1, 41))
    assert [r["id"] for r in results["b"]] == list(range(41, 81))
    assert len(campaign.decisions) == 80
    assert campaign.max_in_flight == 1


def test_the_server_holds_the_agents_lock_while_handling() -> None:
    lock = threading.Lock()
    observed: list[bool] = []

    class LockChecker:
        def handle(self, request: ControlRequest) -> dict[str, Any]:
            observed.append(lock.locked())
            return {}

    with ControlServer(LockChecker(), lock=lock) as srv:
        assert srv.endpoint is not None
        ControlClient(srv.endpoint, timeout_s=TIMEOUT_S).request("status")
    assert observed == [True]
    assert not lock.locked()


def test_a_client_that_leaves_before_its_reply_does_not_disturb_the_next() -> None:
    entered, release = threading.Event(), threading.Event()

    class Blocking(MiniCampaign):
        def handle(self, request: ControlRequest) -> dict[str, Any]:
            if request.cmd == "abort":
                entered.set()
                release.wait(TIMEOUT_S)
            return super().handle(request)

    campaign = Blocking()
    with ControlServer(campaign) as srv:
        assert srv.endpoint is not None
        quitter = zmq.Context.instance().socket(zmq.REQ)
        quitter.linger = 0
        quitter.connect(srv.endpoint)
        quitter.send(b'{"v": 1, "cmd": "abort", "args": {"reason": "walked away"}}')
        assert entered.wait(TIMEOUT_S)
        quitter.close()  # gone before the reply exists
        release.set()
        with ControlClient(srv.endpoint, timeout_s=TIMEOUT_S) as client:
            assert client.request("status")["state"] == "aborted"
            assert client.request("queue")["proposals"][0]["id"] == 1
