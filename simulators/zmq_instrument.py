"""Base of every ZeroMQ simulated instrument: dispatch, version check, actions by command id.

A subclass defines ``cmd_<name>(args) -> dict`` methods; ``handle`` turns a
``Request`` into a ``Reply``. Common commands every instrument answers:

- ``hello`` → ``{protocol, version, instrument, idn}``;
- ``status`` → the instrument's state; with ``args.command_id``, that
  command's outcome instead;
- ``outcome`` ``{command_id}`` → ``{command_id, state, result, error}`` where
  ``state`` is ``unknown | running | done | failed`` (reconciliation);
- ``result`` ``{command_id}`` → the result of a finished action;
- ``safe`` → bring the instrument to a safe state.

Physical actions go through ``start_action``: a new command id is performed
once (ledger line, then the result is scheduled on the virtual clock) and the
reply comes at once with ``state: running``; a repeated id returns the first
outcome and does nothing. The ``error`` fault fires before an action is
accepted, so a refused action leaves its command id unknown.
"""

from __future__ import annotations

import logging
import math
import random
import time
from typing import Any, Callable

import numpy as np

from labpilot.errors import EnvelopeError, SimulatedFault
from labpilot.protocols.envelope import ERR_BAD_REQUEST, ERR_BUSY, ERR_HARDWARE, ERR_MISSING_PARAMETER, ERR_OUT_OF_RANGE, ERR_UNKNOWN_COMMAND, ERR_UNKNOWN_COMMAND_ID, ERR_VERSION, PROTOCOL_NAME, PROTOCOL_VERSION, Reply, Request, check_version
from labpilot.simulators.clock import VirtualClock
from labpilot.simulators.commands import CommandRegistry
from labpilot.simulators.faults import FaultInjector, FaultSpec
from labpilot.simulators.ledger import Ledger
from labpilot.simulators.seeds import check_seed
from labpilot.simulators.tray import Tray

log = logging.getLogger("labpilot.sim")

#: How a ZeroMQ simulator can be reached.
ZMQ_TRANSPORTS: tuple[str, ...] = ("zmq",)


class ZmqInstrument:
    """Shared behaviour of simulated ZeroMQ instruments."""

    kind = "instrument"
    model = "SIM"
    uses_tray_for_outcomes = False

    def __init__(
        self,
        *,
        seed: int = 0,
        world_seed: int = 0,
        faults: FaultInjector | None = None,
        ledger: Ledger | None = None,
        tray: Tray | None = None,
        clock: VirtualClock | None = None,
        serial: str = "0001",
    ) -> None:
        self.seed = check_seed(seed)
        self.world_seed = check_seed(world_seed, "world seed")
        self.faults = faults or FaultInjector(FaultSpec(), random.Random(seed))
        self.ledger = ledger or Ledger(None)
        self.tray = tray or Tray(None)
        self.clock = clock or VirtualClock()
        self.serial = serial
        self.rng = np.random.default_rng(seed)
        store = self.tray if self.uses_tray_for_outcomes else None
        self.registry = CommandRegistry(store=store, instrument=self.kind)

    # ------------------------------------------------------------- dispatch
    def idn(self) -> str:
        """Identity string, same shape as SCPI ``*IDN?``."""
        return f"LABPILOT,{self.model},{self.serial},{PROTOCOL_VERSION}"

    def handle(self, request: Request) -> Reply:
        """One reply for one request (never raises)."""
        if request.version is not None:
            try:
                check_version(request.version)
            except EnvelopeError as exc:
                return Reply.failure(request.id, ERR_VERSION, str(exc))
        method: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(self, f"cmd_{request.cmd}", None)
        if method is None:
            known = ", ".join(sorted(n[4:] for n in dir(self) if n.startswith("cmd_")))
            return Reply.failure(request.id, ERR_UNKNOWN_COMMAND, f"unknown command {request.cmd!r}; known: {known}")
        try:
            return Reply.success(request.id, method(dict(request.args)))
        except SimulatedFault as exc:
            return Reply.failure(request.id, exc.code, exc.message)
        except Exception as exc:  # a simulator bug must not kill the instrument loop
            log.exception("%s: %s failed", self.kind, request.cmd)
            return Reply.failure(request.id, ERR_BAD_REQUEST, f"{request.cmd} failed: {type(exc).__name__}: {exc}")

    # -------------------------------------------------------- common commands
    def cmd_hello(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"protocol": PROTOCOL_NAME, "version": PROTOCOL_VERSION, "instrument": self.kind, "idn": self.idn()}

    def cmd_status(self, args: dict[str, Any]) -> dict[str, Any]:
        if "command_id" in args:
            return self.cmd_outcome(args)
        running = [r.command_id for r in self.registry.running()]
        return {"instrument": self.kind, "busy": bool(running), "running": running, **self.state()}

    def cmd_outcome(self, args: dict[str, Any]) -> dict[str, Any]:
        command_id = self.arg_str(args, "command_id")
        record = self.registry.outcome(command_id)
        if record is None:
            return {"command_id": command_id, "state": "unknown", "result": None, "error": None}
        return record.as_dict()

    def cmd_result(self, args: dict[str, Any]) -> dict[str, Any]:
        command_id = self.arg_str(args, "command_id")
        record = self.registry.outcome(command_id)
        if record is None:
            raise SimulatedFault(ERR_UNKNOWN_COMMAND_ID, f"unknown command id {command_id!r}")
        if record.state == "running":
            raise SimulatedFault(ERR_BUSY, f"command {command_id!r} is still running")
        if record.state == "failed":
            raise SimulatedFault(ERR_HARDWARE, f"command {command_id!r} failed: {record.error}")
        return dict(record.result or {})

    def cmd_safe(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.faults.should("safe_error"):
            raise SimulatedFault(ERR_HARDWARE, f"{self.kind}: safe refused (injected safe_error)")
        aborted = [r.command_id for r in self.registry.running()]
        for command_id in aborted:
            self.registry.fail(command_id, "aborted: instrument was made safe")
        self.make_safe()
        return {"instrument": self.kind, "aborted": aborted, **self.state()}

    # ------------------------------------------------------- for subclasses
    def state(self) -> dict[str, Any]:
        """Instrument-specific status fields."""
        return {}

    def make_safe(self) -> None:
        """Bring the hardware to a safe state."""

    def replay(self, command_id: str) -> dict[str, Any] | None:
        """The first outcome of a command id already seen (a resend), else ``None``.

        Call it before validating an action's arguments: a resend must get
        the first answer even if the world changed since (sample moved on).
        """
        if self.registry.outcome(command_id) is None:
            return None
        return self.start_action(command_id, 0.0, _never)

    def start_action(
        self,
        command_id: str,
        duration_s: float,
        perform: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run a physical action once per command id; reply at once.

        ``perform`` does the physical thing (and writes its ledger line) and
        returns the result, which becomes visible once ``duration_s`` virtual
        seconds have passed.
        """
        if self.registry.outcome(command_id) is None and self.faults.should("error"):
            raise SimulatedFault(ERR_HARDWARE, f"{self.kind}: hardware fault, command {command_id!r} not started")
        existing = self.registry.begin(command_id)
        if existing is not None:
            reply = existing.as_dict()
            reply.update(duplicate=True, duration_s=existing.info.get("duration_s", 0.0))
            return reply
        try:
            result = perform()
        except SimulatedFault as exc:
            self.registry.fail(command_id, exc.message)
            raise
        ready_at = time.monotonic() + self.clock.real_seconds(duration_s)
        record = self.registry.outcome(command_id)
        assert record is not None
        record.info["duration_s"] = duration_s
        self.registry.schedule(command_id, result, ready_at)
        return {"command_id": command_id, "state": "running", "duplicate": False, "duration_s": duration_s}

    def busy_check(self) -> None:
        """Refuse a new action while another one runs (one arm, one goniometer)."""
        running = [r.command_id for r in self.registry.running()]
        if running:
            raise SimulatedFault(ERR_BUSY, f"{self.kind} is busy with {running[0]!r}")

    # ------------------------------------------------------- argument helpers
    @staticmethod
    def arg_str(args: dict[str, Any], name: str) -> str:
        """A required non-empty string argument."""
        if name not in args:
            raise SimulatedFault(ERR_MISSING_PARAMETER, f"missing parameter {name!r}")
        value = args[name]
        if not isinstance(value, str) or not value:
            raise SimulatedFault(ERR_OUT_OF_RANGE, f"parameter {name!r} must be a non-empty string, got {value!r}")
        return value

    @staticmethod
    def arg_float(
        args: dict[str, Any], name: str, low: float, high: float, default: float | None = None
    ) -> float:
        """A required (or defaulted) finite number within ``[low, high]``."""
        if name not in args:
            if default is None:
                raise SimulatedFault(ERR_MISSING_PARAMETER, f"missing parameter {name!r}")
            return default
        value = args[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SimulatedFault(ERR_OUT_OF_RANGE, f"parameter {name!r} must be a finite number, got {value!r}")
        if not low <= value <= high:
            raise SimulatedFault(ERR_OUT_OF_RANGE, f"parameter {name!r}={value:g} outside [{low:g}, {high:g}]")
        return float(value)


def _never() -> dict[str, Any]:
    raise AssertionError("a replayed command must not act again")


def serve_zmq_instrument(cls: type[ZmqInstrument], args: Any) -> None:
    """Entry point shared by the ZeroMQ simulators: build from the command line, print the endpoint, serve."""
    from labpilot.simulators.zmq_server import ZmqServer

    instrument = cls(
        seed=args.seed,
        world_seed=args.world_seed,
        faults=FaultInjector(FaultSpec.parse(args.faults), random.Random(args.seed)),
        ledger=Ledger(args.ledger),
        tray=Tray(args.tray),
        clock=VirtualClock(args.speed),
        serial=getattr(args, "serial", "0001"),
    )
    server = ZmqServer(args.zmq, instrument, instrument.faults)
    print(server.bind(), flush=True)
    server.serve()
