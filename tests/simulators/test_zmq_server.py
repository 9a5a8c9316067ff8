"""The simulator's ROUTER loop: link faults as a client sees them, over real loopback TCP."""

from __future__ import annotations

import random
import threading

import pytest


from labpilot.errors import TransportTimeout
from labpilot.drivers.zmq_transport import ZmqTransport
from labpilot.protocols.envelope import Reply, Request
from labpilot.simulators.faults import FaultInjector, FaultSpec
from labpilot.simulators.zmq_server import ZmqServer


class Counter:
    """A handler that counts the requests it acted on."""

    kind = "counter"

    def __init__(self) -> None:
        self.n = 0

    def handle(self, request: Request) -> Reply:
        self.n += 1
        return Reply.success(request.id, {"n": self.n})


@pytest.fixture
def serve():
    stops: list[tuple[threading.Event, threading.Thread]] = []

    def start(spec: str, seed: int = 0) -> tuple[ZmqServer, Counter]:
        handler = Counter()
        server = ZmqServer("tcp://127.0.0.1:0", handler, FaultInjector(FaultSpec.parse(spec), random.Random(seed)))
        server.bind()
        stop = threading.Event()
        thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
        thread.start()
        stops.append((stop, thread))
        return server, handler

    yield start
    for stop, thread in stops:
        stop.set()
        thread.join(10)


def test_bound_endpoint_has_the_real_port(serve) -> None:
    server, _ = serve("")
    assert server.endpoint.startswith("tcp://127.0.0.1:") and not server.endpoint.endswith(":0")


def test_dropped_replies_were_acted_on(serve) -> None:
    server, handler = serve("drop=0.5", seed=1)
    with ZmqTransport(server.endpoint, timeout_s=0.2, retries=15, backoff_s=0.0) as t:
        for _ in range(10):
            t.request("ping")
    assert server.stats["dropped"] > 0
    # every resend reached the instrument again: that is why actions need command ids
    assert handler.n == 10 + server.stats["dropped"]


def test_slow_replies_arrive_late_while_the_server_keeps_serving(serve) -> None:
    server, handler = serve("slow=1.0,slow_s=0.3")
    with ZmqTransport(server.endpoint, timeout_s=2.0, retries=0) as patient:
        assert patient.request("ping") == {"n": 1}
    with ZmqTransport(server.endpoint, timeout_s=0.05, retries=2, backoff_s=0.0) as hasty:
        with pytest.raises(TransportTimeout):
            hasty.request("ping")
    assert server.stats["slowed"] == 4 and handler.n == 4


def test_disconnects_close_and_rebind_the_same_endpoint(serve) -> None:
    server, handler = serve("disconnect=0.3,disconnect_s=0.1", seed=3)
    endpoint = server.endpoint
    with ZmqTransport(endpoint, timeout_s=0.3, retries=15, backoff_s=0.0) as t:
        for _ in range(10):
            t.request("ping")
    assert server.stats["disconnects"] > 0 and server.endpoint == endpoint


def test_garbled_replies_are_corrupt_on_the_wire(serve) -> None:
    server, _ = serve("garble=1.0")
    with ZmqTransport(server.endpoint, timeout_s=1.0, retries=1, backoff_s=0.0) as t:
        with pytest.raises(TransportTimeout, match="garbled"):
            t.request("ping")
        assert t.stats["garbled"] == 2
