"""Who may talk to the control endpoint: loopback only, or a token, or CURVE keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from labpilot.errors import ControlSecurityError, OperatorRefused
from labpilot.agent.control.auth import MIN_TOKEN_CHARS, CurveServerKeys, check_bind_policy, check_token, create_curve_keys, curve_available, generate_token, is_loopback_endpoint, read_token_file, token_from_env, token_matches
from labpilot.agent.control.client import ControlClient
from labpilot.agent.control.messages import ControlRequest
from labpilot.agent.control.server import ControlServer

pytestmark = pytest.mark.timeout(60)

TOKEN = "correct-horse-battery-staple-42"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[ControlRequest] = []

    def handle(self, request: ControlRequest) -> dict[str, Any]:
        self.seen.append(request)
        return {"state": "measuring"}


# ---------------------------------------------------------------- endpoints


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("tcp://127.0.0.1:0", True),
        ("tcp://127.3.2.1:5555", True),
        ("tcp://localhost:5555", True),
        ("tcp://LOCALHOST:5555", True),
        ("tcp://[::1]:5555", True),
        ("ipc:///tmp/labpilot-control", True),
        ("tcp://0.0.0.0:5555", False),
        ("tcp://*:5555", False),
        ("tcp://[::]:5555", False),
        ("tcp://192.168.1.20:5555", False),
        ("tcp://eth0:5555", False),
        ("tcp://labpc.example.org:5555", False),
    ],
)
def test_loopback_detection(endpoint: str, loopback: bool) -> None:
    assert is_loopback_endpoint(endpoint) is loopback


# -------------------------------------------------------------- bind policy


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:0", "tcp://*:0", "tcp://192.168.1.20:5555", "tcp://eth0:0"])
def test_binding_beyond_loopback_without_credentials_is_refused_at_construction(endpoint: str) -> None:
    with pytest.raises(ControlSecurityError, match="reachable from the network.*requires authentication"):
        ControlServer(Recorder(), endpoint)


def test_loopback_needs_no_credentials() -> None:
    check_bind_policy("tcp://127.0.0.1:0", token=None, curve=None)
    check_bind_policy("ipc:///tmp/x", token=None, curve=None)


def test_a_weak_token_is_refused_even_on_loopback() -> None:
    with pytest.raises(ControlSecurityError, match=f"too short \\(6 characters; at least {MIN_TOKEN_CHARS}"):
        ControlServer(Recorder(), "tcp://0.0.0.0:0", token="abc123")
    with pytest.raises(ControlSecurityError, match="whitespace"):
        check_token(" " + TOKEN)


def test_generated_tokens_are_strong_and_distinct() -> None:
    a, b = generate_token(), generate_token()
    assert a != b and check_token(a) == a and len(a) >= MIN_TOKEN_CHARS


def test_token_matching() -> None:
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN, TOKEN[:-1])
    assert not token_matches(TOKEN, None)
    assert not token_matches(TOKEN, 42)
    assert not token_matches(TOKEN, "")


def test_token_from_env() -> None:
    assert token_from_env({"LABPILOT_CONTROL_TOKEN": f" {TOKEN}\n"}) == TOKEN
    assert token_from_env({"LABPILOT_CONTROL_TOKEN": "  "}) is None
    assert token_from_env({}) is None


def test_token_files(tmp_path: Path) -> None:
    good = tmp_path / "token"
    good.write_text(TOKEN + "\n")
    good.chmod(0o600)
    assert read_token_file(good) == TOKEN
    with pytest.raises(ControlSecurityError, match="does not exist"):
        read_token_file(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(ControlSecurityError, match="is empty"):
        read_token_file(empty)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_token_file_others_can_read_draws_a_warning(tmp_path: Path) -> None:
    shared = tmp_path / "token"
    shared.write_text(TOKEN)
    shared.chmod(0o644)
    with pytest.warns(UserWarning, match="readable by other users.*chmod 600"):
        assert read_token_file(shared) == TOKEN


# ------------------------------------------------------------ token, end to end


@pytest.fixture
def token_server() -> Any:
    handler = Recorder()
    srv = ControlServer(handler, "tcp://0.0.0.0:0", token=TOKEN)
    endpoint = srv.start()
    port = endpoint.rsplit(":", 1)[1]
    yield srv, handler, f"tcp://127.0.0.1:{port}"
    srv.stop()


def test_a_token_protected_server_answers_the_right_token(token_server: Any) -> None:
    srv, handler, local = token_server
    assert srv.endpoint.startswith("tcp://0.0.0.0:")
    with ControlClient(local, token=TOKEN, timeout_s=5) as client:
        assert client.request("status") == {"state": "measuring"}
    assert handler.seen[0].token is None  # the handler never sees the secret


@pytest.mark.parametrize("token", [None, "wrong-token-but-long-enough", TOKEN + "x"])
def test_a_missing_or_wrong_token_is_refused_and_the_server_runs_on(token_server: Any, token: str | None) -> None:
    _, handler, local = token_server
    with ControlClient(local, token=token, timeout_s=5) as intruder:
        with pytest.raises(OperatorRefused, match="authentication failed"):
            intruder.request("abort", reason="mischief")
        with pytest.raises(OperatorRefused, match="authentication failed"):
            intruder.request("ping")
    assert handler.seen == []
    with ControlClient(local, token=TOKEN, timeout_s=5) as operator:
        assert operator.request("ping")["pong"] is True


def test_authentication_is_checked_before_the_request_is_parsed(token_server: Any) -> None:
    """An intruder learns nothing about the command set from validation errors."""
    _, _, local = token_server
    import zmq

    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.linger = 0
    try:
        sock.connect(local)
        sock.send(b'{"v": 1, "cmd": "no-such-command"}')
        assert sock.poll(5000)
        reply = sock.recv_json()
    finally:
        sock.close()
    assert reply["ok"] is False and reply["error"].startswith("authentication failed")


# -------------------------------------------------------------------- CURVE

needs_curve = pytest.mark.skipif(not curve_available(), reason="libzmq built without CURVE")


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    server_pub, server_sec = create_curve_keys(tmp_path / "server", "server")
    op_pub, op_sec = create_curve_keys(tmp_path / "operator", "operator")
    _, stranger_sec = create_curve_keys(tmp_path / "stranger", "stranger")
    admitted = tmp_path / "admitted"
    admitted.mkdir()
    (admitted / "operator.key").write_bytes(op_pub.read_bytes())
    return {
        "server_pub": server_pub,
        "server_sec": server_sec,
        "op_sec": op_sec,
        "stranger_sec": stranger_sec,
        "admitted": admitted,
    }


@needs_curve
def test_curve_admits_listed_clients_and_not_others(keys: dict[str, Path]) -> None:
    handler = Recorder()
    with ControlServer(
        handler, "tcp://127.0.0.1:0", curve_secret_file=keys["server_sec"], curve_clients_dir=keys["admitted"]
    ) as srv:
        assert srv.endpoint is not None
        with ControlClient(
            srv.endpoint, curve_secret_file=keys["op_sec"], curve_server_public_file=keys["server_pub"], timeout_s=5
        ) as operator:
            assert operator.request("status") == {"state": "measuring"}
        with ControlClient(
            srv.endpoint,
            curve_secret_file=keys["stranger_sec"],
            curve_server_public_file=keys["server_pub"],
            timeout_s=5,
        ) as stranger:
            with pytest.raises(OperatorRefused, match="authentication failed: .* refused this client's CURVE key"):
                stranger.request("abort")
        with ControlClient(srv.endpoint, timeout_s=5) as plain:
            with pytest.raises(OperatorRefused, match="security mismatch: .* requires CURVE keys"):
                plain.request("ping")
    assert [r.cmd for r in handler.seen] == ["status"]


@needs_curve
def test_a_client_with_curve_keys_is_told_when_the_endpoint_does_not_use_curve(keys: dict[str, Path]) -> None:
    with ControlServer(Recorder()) as srv:
        assert srv.endpoint is not None
        with ControlClient(
            srv.endpoint, curve_secret_file=keys["op_sec"], curve_server_public_file=keys["server_pub"], timeout_s=5
        ) as client:
            with pytest.raises(OperatorRefused, match="security mismatch: .* does not use CURVE"):
                client.request("status")


@needs_curve
def test_curve_with_a_client_allow_list_may_bind_beyond_loopback(keys: dict[str, Path]) -> None:
    with ControlServer(
        Recorder(), "tcp://0.0.0.0:0", curve_secret_file=keys["server_sec"], curve_clients_dir=keys["admitted"]
    ) as srv:
        assert srv.endpoint is not None
        port = srv.endpoint.rsplit(":", 1)[1]
        with ControlClient(
            f"tcp://127.0.0.1:{port}",
            curve_secret_file=keys["op_sec"],
            curve_server_public_file=keys["server_pub"],
            timeout_s=5,
        ) as operator:
            assert operator.request("ping")["pong"] is True


@needs_curve
def test_curve_without_an_allow_list_only_encrypts_so_it_is_not_enough_beyond_loopback(keys: dict[str, Path]) -> None:
    with pytest.raises(ControlSecurityError, match="only encrypts, it does not authenticate"):
        ControlServer(Recorder(), "tcp://0.0.0.0:0", curve_secret_file=keys["server_sec"])
    # with a token as well it is allowed: the token authenticates, CURVE encrypts
    ControlServer(Recorder(), "tcp://0.0.0.0:0", curve_secret_file=keys["server_sec"], token=TOKEN)


@needs_curve
def test_key_file_mistakes_are_named(keys: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ControlSecurityError, match="has no secret key; give the '.key_secret' file"):
        CurveServerKeys.load(keys["server_pub"], None)
    with pytest.raises(ControlSecurityError, match="does not exist"):
        CurveServerKeys.load(tmp_path / "nope.key_secret", None)
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    with pytest.raises(ControlSecurityError, match="holds no public '.key' files"):
        CurveServerKeys.load(keys["server_sec"], empty)
    garbage = tmp_path / "garbage.key_secret"
    garbage.write_text("hello\n")
    with pytest.raises(ControlSecurityError, match="garbage.key_secret"):
        CurveServerKeys.load(garbage, None)
    with pytest.raises(ValueError, match="needs both"):
        ControlClient("tcp://127.0.0.1:1", curve_secret_file=keys["op_sec"])
