"""``python -m labpilot.simulators KIND (--pty | --tcp HOST:PORT | --zmq ENDPOINT | --folder DIR) [...]``: run one simulated instrument.

KIND is a registered instrument kind (entry-point group
``labpilot.simulators``, or a driver class naming its ``simulator``) or a
driver class path ``module:Class``. The first stdout line is the address to
connect to: a pty path, a ``socket://host:port`` URL for serial instruments
served over TCP (what a serial-to-Ethernet converter looks like), the bound
ZeroMQ endpoint, or the drop folder a folder-drop instrument writes into.
``--option KEY=VALUE`` (repeatable) passes simulator-specific settings
(checked by the simulator's ``check_options``).
SIGTERM and SIGINT stop the simulator cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Sequence

from labpilot import registry
from labpilot.errors import ConfigurationError
from labpilot.import_path import add_import_path


def _seed(text: str) -> int:
    """A random seed: a non-negative integer (what numpy accepts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _option(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` → ``(KEY, VALUE)``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface shared by every simulator."""
    p = argparse.ArgumentParser(prog="python -m labpilot.simulators", description=__doc__)
    p.add_argument("kind", help="instrument to simulate: " + ", ".join(registry.SIMULATORS.names())
                   + ", or a plugin's kind or driver class path")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal")
    where.add_argument("--tcp", metavar="HOST:PORT", help="serve a serial instrument on TCP (port 0: any free port)")
    where.add_argument("--zmq", metavar="ENDPOINT", help="serve ZeroMQ REP on ENDPOINT (tcp://127.0.0.1:0)")
    where.add_argument("--folder", metavar="DIR", help="a folder-drop instrument: write results into DIR")
    p.add_argument("--import-path", action="append", default=[], metavar="DIR",
                   help="a folder to import a class-path kind from (the campaign file's; repeatable)")
    p.add_argument("--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
                   help="a simulator-specific setting (repeatable)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of noise and fault draws (>= 0)")
    p.add_argument("--world-seed", type=_seed, default=0, help="seed of the hidden materials world (>= 0)")
    p.add_argument("--faults", default="", help="fault rates, e.g. drop=0.05,garble=0.05")
    p.add_argument("--ledger", default=None, help="JSON-lines file of physical actions")
    p.add_argument("--tray", default=None, help="SQLite sample rack shared by simulators")
    p.add_argument("--speed", type=float, default=1.0, help="virtual-clock speed factor")
    p.add_argument("--serial", default="0001", help="serial number reported by *IDN?")
    p.add_argument("--lease", default=None, metavar="FILE",
                   help="exit cleanly once FILE has not been touched for --idle-exit seconds "
                        "(a dry run's agent touches it with every heartbeat)")
    p.add_argument("--idle-exit", type=float, default=600.0, metavar="SECONDS",
                   help="with --lease: how stale the lease may get before the simulator exits (default 600)")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate arguments (transport supported by the kind, speed, faults)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    transport = "pty" if args.pty else "tcp" if args.tcp else "folder" if args.folder else "zmq"
    for folder in args.import_path:
        add_import_path(folder)
    try:
        module = registry.simulator(args.kind)
    except ConfigurationError as exc:
        parser.error(str(exc))
    served = module.TRANSPORTS
    if transport not in served:
        offered = " or ".join(f"--{t}" for t in served)
        parser.error(f"{args.kind} simulator does not serve --{transport}; use {offered}")
    if args.tcp is not None:
        host, sep, port = args.tcp.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            parser.error(f"--tcp wants HOST:PORT (e.g. 127.0.0.1:0), got {args.tcp!r}")
    for flag, value in (("--seed", args.seed), ("--world-seed", args.world_seed)):
        if value < 0:
            parser.error(f"{flag} must be a non-negative integer, got {value}")
    if not args.speed > 0:
        parser.error(f"--speed must be > 0, got {args.speed}")
    if not 0 < args.idle_exit < float("inf"):
        parser.error(f"--idle-exit must be a positive number of seconds, got {args.idle_exit}")
    check = getattr(module, "check_options", None)
    if args.option and check is None:
        parser.error(f"{args.kind} simulator takes no --option")
    if check is not None:
        try:
            check(dict(args.option))
        except ValueError as exc:
            parser.error(f"--option: {exc}")
    from labpilot.simulators.faults import FaultSpec

    try:
        FaultSpec.parse(args.faults)
    except ValueError as exc:
        parser.error(f"--faults: {exc}")
    return args


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def watch_lease(path: str, idle_exit_s: float) -> None:
    """Orphan reaping: SIGTERM this process (a clean stop) once ``path`` is stale for ``idle_exit_s``.

    A dry run's simulators outlive a SIGKILLed agent on purpose (a resume
    re-adopts them, as it would real instruments); the lease makes sure they
    do not outlive it for ever when no resume comes.
    """
    import os
    import threading
    import time

    started = time.time()

    def run() -> None:
        while True:
            try:
                touched = os.stat(path).st_mtime
            except OSError:
                touched = started
            if time.time() - max(touched, started) > idle_exit_s:
                print(f"no agent for {idle_exit_s:g}s (lease {path}): exiting", file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(min(5.0, idle_exit_s / 4))

    threading.Thread(target=run, name="lease", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: dispatch to the kind's simulator module, ``serve(args)``."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    module = registry.simulator(args.kind)
    if args.lease:
        watch_lease(args.lease, args.idle_exit)
    try:
        module.serve(args)
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
