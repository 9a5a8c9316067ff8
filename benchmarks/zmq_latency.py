"""ZeroMQ instrument round trips and XRD pattern throughput, against baselines in the same run.

Measures on this machine:

1. Round-trip latency of one command (``status``) through ``XrdDriver`` to
   the XRD simulator process, and through the bare ``ZmqTransport``, against
   a raw pyzmq REQ → REP echo of a same-sized frame served by another process
   (no parsing, no envelope). Reported: median and p95 in µs and the ratio
   to the raw echo.
2. XRD patterns per second: ``XrdDriver.measure`` of a 3501-point alloy scan
   (20-90°, 0.02°) through the simulator at a virtual-clock speed of 1e9 (so
   the scan's nominal 17.5 minutes cost nothing), against computing the same
   pattern straight from the world (``AlloyWorld.xrd_pattern``) in-process.

Prints a table and saves a PNG (``--out``, default ``out/benchmarks``).
Run: ``python -m benchmarks.zmq_latency [--n 2000] [--patterns 100]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import zmq

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from labpilot.drivers import open_instrument  # noqa: E402
from labpilot.drivers.zmq_transport import ZmqTransport  # noqa: E402
from labpilot.protocols.capabilities import Sample  # noqa: E402
from labpilot.simulators.tray import Tray  # noqa: E402
from labpilot.simulators.worlds.alloy import AlloyWorld  # noqa: E402
from benchmarks.timing import time_calls  # noqa: E402

ECHO_SERVER = """
import sys, zmq
s = zmq.Context().socket(zmq.REP)
s.bind("tcp://127.0.0.1:0")
print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
while True:
    s.send(s.recv())
"""
FILM = {"Fe": 150.0, "Co": 50.0, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}


def spawn(argv: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    if not ready:
        proc.kill()
        raise RuntimeError(f"{argv} printed no endpoint")
    return proc, proc.stdout.readline().strip()


def summary(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s), s[int(0.95 * (len(s) - 1))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="round trips per latency series")
    parser.add_argument("--patterns", type=int, default=100, help="XRD scans through the driver")
    parser.add_argument("--out", type=Path, default=Path("out/benchmarks"), help="folder for the PNG plot")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="zmq_latency_"))
    world = AlloyWorld(0)
    with Tray(tmp / "tray.db") as tray:
        tray.put("AF-00001", "alloy", world.deposit(FILM, 600.0, 25.0, 0.5))
    echo_proc, echo_ep = spawn([sys.executable, "-c", ECHO_SERVER])
    sim_proc, sim_ep = spawn([sys.executable, "-m", "labpilot.simulators", "xrd", "--zmq", "tcp://127.0.0.1:0",
                              "--tray", str(tmp / "tray.db"), "--speed", "1e9"])
    latencies: dict[str, list[float]] = {}
    try:
        driver = open_instrument("xrd", sim_ep, options={"speed": 1e9})
        status_frame_len = len(b'{"id":"1234-abcdef-99","cmd":"status","args":{},"version":"1.0"}')
        payload = b"x" * status_frame_len

        ctx = zmq.Context.instance()
        req = ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.connect(echo_ep)

        def raw() -> None:
            req.send(payload)
            req.recv()

        transport = ZmqTransport(sim_ep)
        series: dict[str, Callable[[], object]] = {
            "raw pyzmq REQ/REP echo": raw,
            "ZmqTransport.request('status')": lambda: transport.request("status"),
            "XrdDriver.status()": driver.status,
        }
        # interleave the series in rounds so that load from other processes hits all alike
        rounds = 20
        for name, call in series.items():
            time_calls(call, 0, warmup=200)
            latencies[name] = []
        for _ in range(rounds):
            for name, call in series.items():
                latencies[name] += time_calls(call, max(1, args.n // rounds), warmup=0)
        req.close(linger=0)
        transport.close()

        two_theta = 20.0 + 0.02 * np.arange(3501)
        truth = Tray(tmp / "tray.db").get("AF-00001")[1]
        rng = np.random.default_rng(0)
        n_world = max(args.patterns, 50)
        t0 = time.perf_counter()
        for _ in range(n_world):
            world.xrd_pattern(truth, two_theta, rng, dwell_s=0.3)
        world_rate = n_world / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(args.patterns):
            m = driver.measure(Sample("AF-00001"), f"bench-{i}")
        driver_rate = args.patterns / (time.perf_counter() - t0)
        assert len(m.arrays["counts"]) == 3501
        driver.close()
    finally:
        for proc in (echo_proc, sim_proc):
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()

    cpu = platform.processor() or platform.machine()
    print(f"machine: {platform.node()} {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}")
    base_med, base_p95 = summary(latencies["raw pyzmq REQ/REP echo"])
    print(f"\nround trip over loopback TCP, n={args.n}")
    print(f"{'series':34s} {'median µs':>10s} {'p95 µs':>10s} {'× raw (median)':>15s}")
    for name, samples in latencies.items():
        med, p95 = summary(samples)
        print(f"{name:34s} {med * 1e6:10.1f} {p95 * 1e6:10.1f} {med / base_med:15.2f}")
    print("\nXRD 3501-point patterns per second")
    print(f"{'straight from AlloyWorld':34s} {world_rate:10.1f}")
    print(f"{'XrdDriver.measure via simulator':34s} {driver_rate:10.1f}   ({driver_rate / world_rate:.2f} × world)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    names = list(latencies)
    ax1.boxplot([np.asarray(latencies[k]) * 1e6 for k in names], showfliers=False)
    ax1.set_xticks(range(1, len(names) + 1), [n.replace(" ", "\n", 1) for n in names], fontsize=8)
    ax1.set_ylabel("round trip (µs)")
    ax1.set_title(f"ZeroMQ command round trip (n={args.n}, whiskers 1.5 IQR)")
    ax2.bar(["AlloyWorld\n(in process)", "XrdDriver.measure\n(via simulator)"], [world_rate, driver_rate], color=["grey", "tab:blue"])
    ax2.set_ylabel("patterns / s (3501 points)")
    ax2.set_title("XRD pattern throughput")
    fig.suptitle(f"{platform.node()}, {os.cpu_count()} cores", fontsize=9)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "zmq_latency.png"
    fig.savefig(path, dpi=120)
    print(f"\nplot: {path}")


if __name__ == "__main__":
    main()
