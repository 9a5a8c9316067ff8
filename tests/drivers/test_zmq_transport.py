"""The Lazy Pirate client against a scripted ROUTER peer on real loopback TCP."""

from __future__ import annotations

import json
import logging
import threading
from typing import Callable

import pytest
import zmq


from labpilot.errors import InstrumentError, ProtocolError, TransportTimeout
from labpilot.drivers.zmq_transport import ZmqTransport

# A behaviour maps the decoded request to the frame to send back, or None (stay silent).
Behaviour = Callable[[dict], "bytes | None"]


def echo(req: dict) -> bytes:
    return json.dumps({"id": req["id"], "ok": True, "result": {"cmd": req["cmd"], "args": req["args"]}}).encode()


def silent(req: dict) -> None:
    return None


class ScriptedPeer:
    """A ROUTER on 127.0.0.1 that answers the n-th request with ``script[n]`` (then echoes)."""

    def __init__(self, script: list[Behaviour]) -> None:
        self.script = list(script)
        self.received: list[dict] = []
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind("tcp://127.0.0.1:0")
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._sock.poll(20):
                continue
            *envelope, data = self._sock.recv_multipart()
            req = json.loads(data)
            self.received.append(req)
            behaviour = self.script.pop(0) if self.script else echo
            frame = behaviour(req)
            if frame is not None:
                self._sock.send_multipart([*envelope, frame])
        self._sock.close(linger=0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def peer_factory():
    peers: list[ScriptedPeer] = []

    def make(*script: Behaviour) -> ScriptedPeer:
        peers.append(ScriptedPeer(list(script)))
        return peers[-1]

    yield make
    for p in peers:
        p.close()


def test_plain_request_reply(peer_factory) -> None:
    peer = peer_factory()
    with ZmqTransport(peer.endpoint, timeout_s=2, retries=0) as t:
        assert t.request("status", {"command_id": "c1"}) == {"cmd": "status", "args": {"command_id": "c1"}}
    assert peer.received[0]["version"] == "1.0"


def test_a_dropped_reply_is_resent_with_the_same_request_id_and_logged(peer_factory, caplog) -> None:
    peer = peer_factory(silent, silent)
    caplog.set_level(logging.DEBUG, logger="labpilot.zmq")
    with ZmqTransport(peer.endpoint, timeout_s=0.2, retries=3, backoff_s=0.01) as t:
        assert t.request("scan", {"command_id": "c1"})["cmd"] == "scan"
        assert t.stats["retries"] == 2 and t.stats["timeouts"] == 2 and t.stats["reopens"] == 2
    ids = {r["id"] for r in peer.received}
    assert len(peer.received) == 3 and len(ids) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("retry" in w and "timeout" in w for w in warnings)
    assert any(r.levelno == logging.DEBUG and "->" in r.getMessage() for r in caplog.records)


def test_a_garbled_reply_is_retried(peer_factory, caplog) -> None:
    peer = peer_factory(lambda req: echo(req)[:-3] + b"\xff\xfe}")
    with ZmqTransport(peer.endpoint, timeout_s=1, retries=2, backoff_s=0.01) as t:
        assert t.request("hello")["cmd"] == "hello"
        assert t.stats["garbled"] == 1 and t.stats["retries"] == 1
    assert any("garbled" in r.getMessage() for r in caplog.records)


def test_a_reply_with_another_id_is_discarded(peer_factory) -> None:
    peer = peer_factory(lambda req: echo({**req, "id": "someone-else"}))
    with ZmqTransport(peer.endpoint, timeout_s=1, retries=1, backoff_s=0.01) as t:
        assert t.request("hello")["cmd"] == "hello"
        assert t.stats["discarded"] == 1
    assert len(peer.received) == 2


def test_a_server_that_never_answers_gives_transport_timeout_after_bounded_retries(peer_factory) -> None:
    peer = peer_factory(*([silent] * 10))
    with ZmqTransport(peer.endpoint, timeout_s=0.1, retries=2, backoff_s=0.01) as t:
        with pytest.raises(TransportTimeout, match="after 3 attempts"):
            t.request("status")
    assert len(peer.received) == 3


def test_nobody_listening_is_a_transport_timeout_not_a_hang() -> None:
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.ROUTER)
    s.bind("tcp://127.0.0.1:0")
    endpoint = s.getsockopt_string(zmq.LAST_ENDPOINT)
    s.close(linger=0)  # the port is now closed
    with ZmqTransport(endpoint, timeout_s=0.1, retries=1, backoff_s=0.0) as t:
        with pytest.raises(TransportTimeout):
            t.request("hello")


def test_an_instrument_error_is_raised_with_its_code(peer_factory) -> None:
    peer = peer_factory(lambda req: json.dumps(
        {"id": req["id"], "ok": False, "error": {"code": 201, "message": "no sample S9"}}).encode())
    with ZmqTransport(peer.endpoint, timeout_s=1, retries=3, name="xrd") as t:
        with pytest.raises(InstrumentError) as info:
            t.request("scan")
    assert info.value.code == 201 and info.value.instrument == "xrd" and "S9" in str(info.value)
    assert len(peer.received) == 1  # an instrument error is an answer: not retried


def test_instrument_that_cannot_parse_our_request_is_a_protocol_error(peer_factory) -> None:
    peer = peer_factory(lambda req: b'{"id": null, "ok": false, "error": {"code": -100, "message": "bad request"}}')
    with ZmqTransport(peer.endpoint, timeout_s=1, retries=3) as t:
        with pytest.raises(ProtocolError, match="could not parse"):
            t.request("hello")


def test_bad_arguments_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        ZmqTransport("localhost:5555")
    with pytest.raises(ValueError, match="timeout_s"):
        ZmqTransport("tcp://127.0.0.1:1", timeout_s=0)
    with pytest.raises(ValueError, match="retries"):
        ZmqTransport("tcp://127.0.0.1:1", retries=-1)
    with ZmqTransport("tcp://127.0.0.1:1") as t:
        with pytest.raises(ProtocolError, match="cannot encode"):
            t.request("Not A Command")
        with pytest.raises(ProtocolError, match="cannot encode"):
            t.request("scan", {"x": float("nan")})
    t.close()
    with pytest.raises(ProtocolError, match="closed"):
        t.request("hello")


def test_two_threads_share_one_transport_without_crossing_replies() -> None:
    # The agent polls an action on its worker thread while an abort may call make_safe
    # from the main thread: each exchange must get its own reply.
    import threading

    import zmq

    ctx = zmq.Context.instance()
    rep = ctx.socket(zmq.REP)
    rep.setsockopt(zmq.LINGER, 0)
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def echo_server() -> None:
        from labpilot.protocols.envelope import Reply, decode_request, encode_reply

        while not stop.is_set():
            if rep.poll(50):
                req = decode_request(rep.recv())
                rep.send(encode_reply(Reply(id=req.id, ok=True, result={"echo": req.args["n"]})))

    server = threading.Thread(target=echo_server, daemon=True)
    server.start()
    transport = ZmqTransport(f"tcp://127.0.0.1:{port}", timeout_s=2.0, retries=1)
    errors: list[str] = []
    answered: list[int] = []

    def client(offset: int) -> None:
        for n in range(offset, offset + 100):
            try:
                got = transport.request("echo", {"n": n})["echo"]
            except Exception as exc:  # e.g. ZMQError: a REQ socket used by two threads at once
                errors.append(f"request {n}: {type(exc).__name__}: {exc}")
                return
            if got != n:
                errors.append(f"asked {n}, got {got}")
            answered.append(n)

    threads = [threading.Thread(target=client, args=(k * 1000,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    stop.set()
    server.join(timeout=5)
    transport.close()
    rep.close()
    assert not errors, errors[:3]
    assert len(answered) == 200 and not any(t.is_alive() for t in threads)
