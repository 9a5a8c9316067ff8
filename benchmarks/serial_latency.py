"""Serial query round trips through the labpilot stack, against a raw pyserial echo in the same run.

Measures on this machine, all over real pseudo-terminals:

1. ``raw echo``: plain pyserial ``write`` + ``readline`` of a 30-byte line
   against an echo process (no parsing at all): the floor set by the pty
   and two processes.
2. ``raw → sim``: plain pyserial ``*IDN?`` against the sputter simulator
   process: adds the simulator's parsing and reply.
3. ``transport → sim``: ``SerialTransport.query("*IDN?")`` (framing checks,
   input flush, debug logging hooks, retry bookkeeping).
4. ``driver → sim``: ``SputterDriver.identify()`` (plus the typed ``Identity``
   parse and the ``ERR`` check every driver call does).

Reports median and p95 in µs and each median's ratio to the raw echo's, and
saves a PNG of the latency distributions (``--out``, default
``out/benchmarks``). Run: ``python -m benchmarks.serial_latency [--n 2000]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import serial  # noqa: E402

from labpilot.drivers import open_instrument  # noqa: E402
from labpilot.simulators.process import SimulatorProcess  # noqa: E402
from benchmarks.timing import time_calls  # noqa: E402

ECHO_SERVER = """
import os, select, sys, tty
master, slave = os.openpty()
tty.setraw(slave)
print(os.ttyname(slave), flush=True)
buf = b""
while True:
    select.select([master], [], [])
    buf += os.read(master, 65536)
    while b"\\n" in buf:
        line, buf = buf.split(b"\\n", 1)
        os.write(master, line + b"\\n")
"""


class EchoProcess(SimulatorProcess):
    """The raw echo server as a child process (reuses SimulatorProcess' start/stop)."""

    def __init__(self) -> None:
        super().__init__("echo")
        self.argv = [sys.executable, "-c", ECHO_SERVER]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="round trips per path")
    parser.add_argument("--out", type=Path, default=Path("out/benchmarks"), help="folder for the PNG plot")
    args = parser.parse_args(argv)
    if args.n < 10:
        parser.error("--n must be at least 10")

    targets = ("Fe", "Co", "Ni", "Ir", "Pt")
    options = {"channels": {t: i + 1 for i, t in enumerate(targets)}, "rates": {t: 1.0 for t in targets}}
    line = b"LABPILOT,SPUTTER-SIM,0001,1.0\n"
    with EchoProcess() as echo, SimulatorProcess("sputter", "--pty") as sim, \
            serial.Serial(echo.address, timeout=5) as echo_port, serial.Serial(sim.address, timeout=5) as sim_port, \
            open_instrument("sputter", sim.address, options=options) as drv:

        def raw_echo() -> bytes:
            echo_port.write(line)
            return echo_port.readline()

        def raw_sim() -> bytes:
            sim_port.write(b"*IDN?\n")
            return sim_port.readline()

        assert raw_echo() == line and raw_sim() == line
        paths: dict[str, Callable[[], object]] = {
            "raw echo": raw_echo,
            "raw → sim": raw_sim,
            "transport → sim": lambda: drv.transport.query("*IDN?"),
            "driver → sim": drv.identify,
        }
        # Interleave the paths in rounds so that load from elsewhere hits them all alike.
        results: dict[str, list[float]] = {name: [] for name in paths}
        rounds = max(1, args.n // 100)
        for _ in range(rounds):
            for name, fn in paths.items():
                results[name] += time_calls(fn, args.n // rounds, warmup=5)

    base = statistics.median(results["raw echo"])
    print(f"serial round trips over a pty, n={args.n} each; {platform.platform()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, pyserial {serial.__version__}")
    print(f"{'path':<18}{'median µs':>12}{'p95 µs':>12}{'× raw echo':>12}")
    for name, xs in results.items():
        med = statistics.median(xs)
        p95 = statistics.quantiles(xs, n=20)[-1]
        print(f"{name:<18}{med * 1e6:>12.1f}{p95 * 1e6:>12.1f}{med / base:>12.2f}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        print("matplotlib missing: no plot")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.boxplot([[x * 1e6 for x in xs] for xs in results.values()], showfliers=False)
    ax.set_xticks(range(1, len(results) + 1), list(results))
    ax.set_ylabel("round trip (µs)")
    ax.set_title(f"Serial query round trip over a pty (n={args.n}, {os.cpu_count()} CPUs)")
    for i, xs in enumerate(results.values(), start=1):
        ax.annotate(f"×{statistics.median(xs) / base:.2f}", (i, statistics.median(xs) * 1e6),
                    textcoords="offset points", xytext=(18, 0), fontsize=8)
    fig.tight_layout()
    path = args.out / "serial_latency.png"
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
