"""How much the control channel adds to a bare ZeroMQ round trip.

Measures, in one run on this machine, the round-trip latency of:

- baseline: a raw ZeroMQ REQ/REP echo of the same request bytes on loopback
  TCP (a thread that echoes, no parsing);
- labpilot: ``ControlClient.request("status")`` against ``ControlServer``
  with a trivial handler (validation, dispatch, reply model, JSON both ways);
- labpilot with a shared token, and with CURVE encryption (when available);
- the deployed case: echo and control endpoint each served by another
  process (the operator's CLI and the agent never share an interpreter).

All variants are taken in turn (interleaved), so a change of load hits them
alike; results also go to ``benchmarks/results/control_roundtrip.json``.

Prints median and 95th-percentile latencies and their ratio to the baseline,
and saves a box plot. Run: ``python -m benchmarks.control_roundtrip [--n 2000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import zmq

from labpilot.agent.control.auth import create_curve_keys, curve_available
from labpilot.agent.control.client import ControlClient
from labpilot.agent.control.messages import encode_request, make_request
from labpilot.agent.control.server import ControlServer

TOKEN = "benchmark-token-0123456789abcdef"
RESULTS = Path(__file__).resolve().parent / "results" / "control_roundtrip.json"


class Trivial:
    def handle(self, request: Any) -> dict[str, Any]:
        return {"state": "measuring", "completed": 12, "budget": 40}


@contextlib.contextmanager
def raw_echo(payload: bytes, separate_contexts: bool = False) -> Iterator[Callable[[], None]]:
    """A raw REQ/REP echo thread on loopback; yields one round trip of ``payload``.

    ``separate_contexts``: the two ends in their own ZeroMQ contexts (an I/O thread each), as the
    control client and server are (and as two processes would be).
    """
    ctx = zmq.Context()
    req_ctx = zmq.Context() if separate_contexts else ctx
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
    req = req_ctx.socket(zmq.REQ)
    req.linger = 0
    req.connect(endpoint)

    def call() -> None:
        req.send(payload)
        req.recv()

    try:
        yield call
    finally:
        stop.set()
        thread.join()
        req.close()
        rep.close()
        ctx.term()
        if req_ctx is not ctx:
            req_ctx.term()


@contextlib.contextmanager
def control(**server_kw: Any) -> Iterator[Callable[[], None]]:
    """A ``ControlServer`` with a trivial handler; yields one ``status`` request through ``ControlClient``."""
    client_kw = server_kw.pop("client_kw", {})
    with ControlServer(Trivial(), **server_kw) as srv:
        assert srv.endpoint is not None
        with ControlClient(srv.endpoint, timeout_s=10, **client_kw) as client:
            yield lambda: client.request("status")


def interleaved(calls: dict[str, Callable[[], None]], n: int,
                warmup: int = 100) -> tuple[dict[str, list[float]], dict[str, float]]:
    """``n`` round trips of each call, taken in turn, so that a load change hits every variant alike.

    Returns the wall times, and the CPU per round trip of this process (every thread: the in-process
    servers' too), which a loaded machine does not inflate the way it inflates wall time.
    """
    out: dict[str, list[float]] = {name: [] for name in calls}
    cpu = {name: 0.0 for name in calls}
    for i in range(warmup + n):
        for name, call in calls.items():
            c0, t0 = time.process_time(), time.perf_counter()
            call()
            if i >= warmup:
                out[name].append(time.perf_counter() - t0)
                cpu[name] += time.process_time() - c0
    return out, {name: c / n for name, c in cpu.items()}


def serve(kind: str) -> None:
    """Child process: serve a raw echo or a control endpoint, print where, stop when stdin closes."""
    if kind == "raw":
        ctx = zmq.Context()
        rep = ctx.socket(zmq.REP)
        rep.bind("tcp://127.0.0.1:0")
        print(rep.last_endpoint.decode(), flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
        while True:
            rep.send(rep.recv())
    with ControlServer(Trivial()) as srv:
        print(srv.endpoint, flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def in_other_process(kind: str, payload: bytes) -> Iterator[Callable[[], None]]:
    """A round trip to an endpoint served by another process (as the operator's CLI reaches the agent)."""
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.control_roundtrip", "--serve", kind],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().strip()
        if kind == "raw":
            ctx = zmq.Context.instance()
            req = ctx.socket(zmq.REQ)
            req.linger = 0
            req.connect(endpoint)

            def call() -> None:
                req.send(payload)
                req.recv()

            try:
                yield call
            finally:
                req.close()
        else:
            with ControlClient(endpoint, timeout_s=10) as client:
                yield lambda: client.request("status")
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


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
    parser.add_argument("--label", default="after", help="key of this run in the results JSON")
    parser.add_argument("--serve", choices=["raw", "control"], help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    payload = encode_request(make_request("status"))
    load_before = os.getloadavg()
    # Each variant is timed in turn with its own raw echo (interleaved, only their threads alive), so that
    # a change of load hits both alike; the ratio is taken within the pair.
    variants: dict[str, Callable[[contextlib.ExitStack], Callable[[], None]]] = {
        "control": lambda st: st.enter_context(control()),
        "control + token": lambda st: st.enter_context(control(endpoint="tcp://127.0.0.1:0", token=TOKEN,
                                                               client_kw={"token": TOKEN})),
    }
    if curve_available():
        def curve(st: contextlib.ExitStack) -> Callable[[], None]:
            tmp = Path(st.enter_context(tempfile.TemporaryDirectory()))
            spub, ssec = create_curve_keys(tmp / "server", "server")
            cpub, csec = create_curve_keys(tmp / "client", "client")
            return st.enter_context(control(
                curve_secret_file=ssec, curve_clients_dir=cpub.parent,
                client_kw={"curve_secret_file": csec, "curve_server_public_file": spub}))
        variants["control + CURVE"] = curve
    results: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    pairs: dict[str, str] = {}
    with contextlib.ExitStack() as stack:  # untimed: the process's first endpoints ran markedly slower here
        interleaved({"raw": stack.enter_context(raw_echo(payload, separate_contexts=True)),
                     "control": stack.enter_context(control())}, 1000)
    for name, make in variants.items():
        with contextlib.ExitStack() as stack:
            base_name = f"raw echo (pair of {name})"
            res, c = interleaved({base_name: stack.enter_context(raw_echo(payload, separate_contexts=True)),
                                  name: make(stack)}, args.n)
        results.update(res)
        cpu.update(c)
        pairs[name] = base_name
    with contextlib.ExitStack() as stack:  # the deployed case: the CLI and the agent are separate processes
        res, _ = interleaved({"raw echo, 2 processes": stack.enter_context(in_other_process("raw", payload)),
                              "control, 2 processes": stack.enter_context(in_other_process("control", payload))},
                             args.n)
    results.update(res)
    pairs["control, 2 processes"] = "raw echo, 2 processes"

    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"libzmq {zmq.zmq_version()}, pyzmq {zmq.pyzmq_version()}"
    )
    print(f"{args.n} round trips each on loopback TCP, interleaved, request {len(payload)} bytes; "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    ratio = {name: statistics.median(results[name]) / statistics.median(results[base]) for name, base in pairs.items()}
    for name, samples in results.items():
        line = summarize(name, samples, statistics.median(results[pairs.get(name, name)]))
        if name in cpu:
            base_cpu = cpu[pairs.get(name, name)]
            line += f"   CPU {cpu[name] * 1e6:6.1f} us ({cpu[name] / base_cpu:.2f}x)"
        print(line)

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
    summary = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                           "libzmq": zmq.zmq_version(), "pyzmq": zmq.pyzmq_version(),
                           "load_before": load_before, "load_after": os.getloadavg()},
               "n": args.n, "interleaved": True,
               "median_us": {k: statistics.median(v) * 1e6 for k, v in results.items()},
               "p95_us": {k: statistics.quantiles(v, n=20)[-1] * 1e6 for k, v in results.items()},
               "cpu_us_in_process": {k: c * 1e6 for k, c in cpu.items()},
               "pairs": pairs, "ratio_to_raw_echo": ratio}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    existing[args.label] = summary
    RESULTS.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"results: {RESULTS} [{args.label}]")


if __name__ == "__main__":
    main()
