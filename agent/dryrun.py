"""Dry runs: start one simulator process per instrument of a campaign.

The agent never imports a simulator. It starts them as separate
processes through the one launcher, ``labpilot.simulators.process``
(``python -m labpilot.simulators KIND``), on a pseudo-terminal (serial
instruments) or a loopback ZeroMQ port, reads the address each prints on its
first line, and then talks to them through the ordinary drivers, exactly as
to hardware. A simulator that fails to start is named with its own error.

Simulators are started in their own session so that they outlive an agent
killed with SIGKILL; their pids and addresses are recorded in the store, and
a restarted agent reconnects to the same processes (which remember every
command id they have seen). They are stopped when the campaign ends.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from labpilot.errors import DryRunError, SimulatorError
from labpilot.agent.campaign import Campaign, InstrumentSpec
from labpilot.agent.store import Store
from labpilot.simulators.process import SimulatorProcess

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
    """Start the simulator for one instrument (its own session, stderr to ``<name>.log``) and return its address.

    The simulator is the kind's own, or the one its driver names as its
    stand-in (a generic ``scpi`` instrument names a built-in simulator that
    speaks its commands; a ``folder`` instrument a drop-folder simulator).
    """
    from labpilot import registry

    stand_in = registry.driver_class(spec.kind).stand_in(spec.options)
    sim_kind = stand_in.kind if stand_in is not None else spec.kind
    how = stand_in.transport if stand_in is not None else spec.transport
    if how == "serial":
        how = "tcp" if spec.transport == "tcp" else "pty"
    transport = {
        "zmq": ["--zmq", "tcp://127.0.0.1:0"],
        "tcp": ["--tcp", "127.0.0.1:0"],
        "folder": ["--folder", str(log_dir / f"{spec.name}.drop")],
    }.get(how, ["--pty"])
    args = [
        *transport, *(stand_in.args if stand_in is not None else ()), "--seed", str(seed), "--world-seed", str(world_seed), "--speed", str(speed),
        "--tray", str(tray), "--ledger", str(ledger),
    ]
    faults = faults_for(faults, spec.name)
    if faults:
        args += ["--faults", faults]
    args += ["--lease", str(log_dir / "agent.lease"), "--idle-exit", str(orphan_exit_s())]
    sim = SimulatorProcess(sim_kind, *args, start_timeout_s=60.0, log_path=log_dir / f"{spec.name}.log", detach=True)
    try:
        sim.start()
    except SimulatorError as exc:
        raise DryRunError(f"instrument {spec.name!r}: {exc}") from None
    sim.release()
    return SimProcess(spec.name, sim_kind, sim.pid, sim.address, str(ledger))


def as_is(spec: InstrumentSpec) -> bool:
    """Whether a dry run uses this instrument as configured (generic drivers) instead of a simulator."""
    from labpilot.registry import driver_class

    return bool(getattr(driver_class(spec.kind), "dry_run_as_is", False))


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
            if as_is(spec):
                continue  # a program, a model or a manual step's stand-in: run as configured
            sims.append(start_simulator(
                spec, seed=campaign.seed * 1000 + i, world_seed=campaign.seed, speed=speed,
                tray=base / "tray.sqlite", ledger=ledger_dir / f"{spec.name}.jsonl",
                faults=faults, log_dir=base,
            ))
    except Exception:
        stop_simulators(sims)
        raise
    store.set_dry_run_simulators([asdict(s) for s in sims])
    store.log_event("simulators_started", simulators=[asdict(s) for s in sims], speed=speed, faults=faults)
    return sims


def load_simulators(store: Store) -> list[SimProcess]:
    """The simulators a dry run on this store started (empty if none)."""
    return [SimProcess(**d) for d in store.dry_run_simulators() or []]


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
