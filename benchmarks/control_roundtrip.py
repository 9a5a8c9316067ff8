"""How much the control channel adds to a bare ZeroMQ round trip.

Measures, in one run on this machine, the round-trip latency of:

- baseline: a raw ZeroMQ REQ/REP echo of the same request bytes on loopback
  TCP (a thread that echoes, no parsing);
- labpilot: ``ControlClient.request("status")`` against ``ControlServer``
  with a trivial handler (validation, dispatch, reply model, JSON both ways);
- labpilot with a shared token, and with CURVE encryption (when available).

Prints median and 95th-percentile latencies and their ratio to the baseline,
and saves a box plot. Run: ``python -m benchmarks.control_roundtrip [--n 2000]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any

import zmq

from labpilot.agent.control.auth import create_curve_keys, curve_available
from labpilot.agent.control.client import ControlClient
from labpilot.agent.control.messages import encode_request, make_request
from labpilot.agent.control.server import ControlServer
from benchmarks.timing import time_calls

TOKEN = "benchmark-token-0123456789abcdef"


class Trivial:
    def handle(self, request: Any) -> dict[str, Any]:
        return {"state": "measuring", "completed": 12, "budget": 40}


def raw_echo_baseline(n: int, payload: bytes) -> list[float]:
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.linger = 0
    rep.bind("tcp://127.0.0.1:0")
    endpoint = rep.last_endpoint.decode()
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            if rep.poll(100):
                rep.send(rep.recv())

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    req = ctx.socket(zmq.REQ)
    req.linger = 0
    req.connect(endpoint)

    def call() -> None:
        req.send(payload)
        req.recv()

    try:
        return time_calls(call, n)
    finally:
        stop.set()
        thread.join()
        req.close()
        rep.close()
        ctx.term()


def control_roundtrips(n: int, **server_kw: Any) -> list[float]:
    client_kw = server_kw.pop("client_kw", {})
    with ControlServer(Trivial(), **server_kw) as srv:
        assert srv.endpoint is not None
        with ControlClient(srv.endpoint, timeout_s=10, **client_kw) as client:
            return time_calls(lambda: client.request("status"), n)


def summarize(name: str, samples: list[float], baseline_median: float) -> str:
    med = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[-1]
    return (
        f"{name:<22} median {med * 1e6:8.1f} us   p95 {p95 * 1e6:8.1f} us   "
        f"ratio to baseline {med / baseline_median:5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="round trips per variant (default 2000)")
    parser.add_argument("--out", type=Path, default=Path("out/benchmarks"), help="folder for the PNG plot")
    args = parser.parse_args()

    payload = encode_request(make_request("status"))
    results: dict[str, list[float]] = {"raw zmq echo": raw_echo_baseline(args.n, payload)}
    results["control"] = control_roundtrips(args.n)
    results["control + token"] = control_roundtrips(
        args.n, endpoint="tcp://127.0.0.1:0", token=TOKEN, client_kw={"token": TOKEN}
    )
    if curve_available():
        with tempfile.TemporaryDirectory() as tmp:
            spub, ssec = create_curve_keys(Path(tmp) / "server", "server")
            cpub, csec = create_curve_keys(Path(tmp) / "client", "client")
            results["control + CURVE"] = control_roundtrips(
                args.n,
                curve_secret_file=ssec,
                curve_clients_dir=cpub.parent,
                client_kw={"curve_secret_file": csec, "curve_server_public_file": spub},
            )

    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"libzmq {zmq.zmq_version()}, pyzmq {zmq.pyzmq_version()}"
    )
    print(f"{args.n} round trips each on loopback TCP, request {len(payload)} bytes")
    base = statistics.median(results["raw zmq echo"])
    for name, samples in results.items():
        print(summarize(name, samples, base))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(results)
    ax.boxplot([[s * 1e6 for s in results[k]] for k in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("round-trip latency (us)")
    ax.set_title(f"Control channel vs raw ZeroMQ echo ({args.n} round trips, {os.cpu_count()} CPUs)")
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "control_roundtrip.png"
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
