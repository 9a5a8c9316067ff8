"""Dry runs: start one simulator process per instrument of a campaign.

The agent never imports the simulators. It starts them as separate processes
(``python -m labpilot.simulators KIND``) on a pseudo-terminal (serial instruments) or a
loopback ZeroMQ port, reads the address each prints on its first line, and
then talks to them through the ordinary drivers, exactly as to hardware.

Simulators are started in their own session so that they outlive an agent
killed with SIGKILL; their pids and addresses are recorded in the store, and
a restarted agent reconnects to the same processes (which remember every
command id they have seen). They are stopped when the campaign ends.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from labpilot.errors import DryRunError
from labpilot.agent.campaign import Campaign, InstrumentSpec
from labpilot.agent.store import Store

META_KEY = "dry_run_simulators"

#: Seconds a dry run's simulators wait for an agent (a stale lease) before they
#: exit by themselves; ``LABPILOT_SIM_ORPHAN_S`` overrides it. It must exceed the
#: heartbeat period (``loop/watch.py``), which touches the lease.
ORPHAN_EXIT_S = 600.0


def lease_path(db: Path | str) -> Path:
    """The file a dry run's agent touches with each heartbeat; its simulators exit when it goes stale."""
    return Path(str(db) + ".sim") / "agent.lease"


def touch_lease(db: Path | str) -> None:
    path = lease_path(db)
    if path.parent.is_dir():
        path.touch()


def orphan_exit_s() -> float:
    try:
        return float(os.environ.get("LABPILOT_SIM_ORPHAN_S", ORPHAN_EXIT_S))
    except ValueError:
        return ORPHAN_EXIT_S


@dataclass
class SimProcess:
    """One running simulator: which instrument, its pid and the address it serves."""

    instrument: str
    kind: str
    pid: int
    address: str
    ledger: str

    def alive(self) -> bool:
        """Whether the process still runs (a zombie, exited but not yet reaped, counts as dead)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # our own child: reap it if it has exited
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return False
        except ChildProcessError:
            pass
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return True
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _read_first_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            raise DryRunError(f"simulator pid {proc.pid} printed no address within {timeout_s:g}s")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise DryRunError(f"simulator exited with code {proc.wait()} before printing its address")
        buf += chunk
    return buf.split(b"\n", 1)[0].decode().strip()


def faults_for(faults: str | None, instrument: str) -> str | None:
    """The part of a dry run's ``--faults`` that applies to ``instrument``.

    Plain items (``error=0.1``) apply to every simulator; an item prefixed
    with an instrument name (``xrd:error=0.3``) applies to that one only, so a
    fault can be put in one phase (synthesis, one measurer).
    """
    if not faults:
        return faults
    mine = []
    for item in faults.split(","):
        item = item.strip()
        name, sep, rest = item.partition(":")
        if not sep:
            mine.append(item)
        elif name.strip() == instrument:
            mine.append(rest.strip())
    return ",".join(i for i in mine if i) or None


def start_simulator(
    spec: InstrumentSpec,
    *,
    seed: int,
    world_seed: int,
    speed: float,
    tray: Path,
    ledger: Path,
    faults: str | None,
    log_dir: Path,
) -> SimProcess:
    """Start the simulator for one instrument and return its address."""
    transport = ["--zmq", "tcp://127.0.0.1:0"] if spec.transport == "zmq" else ["--pty"]
    cmd = [
        sys.executable, "-m", "labpilot.simulators", spec.kind, *transport,
        "--seed", str(seed), "--world-seed", str(world_seed), "--speed", str(speed),
        "--tray", str(tray), "--ledger", str(ledger),
    ]
    faults = faults_for(faults, spec.name)
    if faults:
        cmd += ["--faults", faults]
    cmd += ["--lease", str(log_dir / "agent.lease"), "--idle-exit", str(orphan_exit_s())]
    stderr = open(log_dir / f"{spec.name}.log", "ab")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    stderr.close()
    try:
        address = _read_first_line(proc, timeout_s=60.0)
    except DryRunError:
        proc.kill()
        raise
    return SimProcess(spec.name, spec.kind, proc.pid, address, str(ledger))


def start_simulators(
    campaign: Campaign,
    store: Store,
    *,
    speed: float,
    faults: str | None = None,
    ledger_dir: Path | None = None,
) -> list[SimProcess]:
    """Start (or, after a crash, reattach to) a simulator for every instrument."""
    known = load_simulators(store)
    touch_lease(store.path)  # re-adopted simulators: the lease is fresh again
    if known and all(s.alive() for s in known):
        store.log_event("simulators_reattached", pids=[s.pid for s in known])
        return known
    stop_simulators(known)
    base = Path(str(store.path) + ".sim")
    base.mkdir(parents=True, exist_ok=True)
    touch_lease(store.path)
    ledger_dir = Path(ledger_dir) if ledger_dir else base
    ledger_dir.mkdir(parents=True, exist_ok=True)
    sims: list[SimProcess] = []
    try:
        for i, spec in enumerate(campaign.instruments):
            sims.append(start_simulator(
                spec, seed=campaign.seed * 1000 + i, world_seed=campaign.seed, speed=speed,
                tray=base / "tray.sqlite", ledger=ledger_dir / f"{spec.name}.jsonl",
                faults=faults, log_dir=base,
            ))
    except Exception:
        stop_simulators(sims)
        raise
    store.set_meta(META_KEY, json.dumps([asdict(s) for s in sims]))
    store.log_event("simulators_started", simulators=[asdict(s) for s in sims], speed=speed, faults=faults)
    return sims


def load_simulators(store: Store) -> list[SimProcess]:
    raw = store.get_meta(META_KEY)
    return [SimProcess(**d) for d in json.loads(raw)] if raw else []


def stop_simulators(sims: list[SimProcess], timeout_s: float = 5.0) -> None:
    """SIGTERM each simulator, then SIGKILL whatever is still alive."""
    for s in sims:
        try:
            os.kill(s.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    for s in sims:
        while s.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if s.alive():
            try:
                os.kill(s.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
