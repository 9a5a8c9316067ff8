"""Base of the simulated SCPI instruments: common commands, error queue, actions.

Standard SCPI behaviour (IEEE 488.2): only queries (headers ending in ``?``)
are answered, with exactly one line; a set-command is answered with nothing,
and so is a command the device refuses (unknown header, bad parameter, a
query it cannot execute): the error goes only to the error queue, read with
``SYST:ERR?``, and sets its bit of the standard event status register
(``*ESR?``). So a standard client (PyVISA: ``write`` then ``query``) never
reads an error line as the answer to its next query.

Every device understands ``*IDN?``, ``*OPC?`` (``1`` once every command sent
before it is processed: commands run in order, and long actions are
*overlapped*, tracked by ``<ACT>:STAT?``), ``*OPC``, ``*WAI``, ``*ESR?``,
``*TST?`` (``0``), ``*CLS`` (clears the error queue and the event register),
``*RST`` (safe state, aborts a running action), ``SYST:ERR?`` (also
``SYST:ERR:NEXT?``) and ``STAT?``; subclasses register their own headers in
``commands()``. Long
actions (``<ACT>:START <id>,...``) run on the virtual clock and are
de-duplicated by command id through ``CommandRegistry``; their status and
result stay queryable for the life of the process (``<ACT>:STAT? <id>``,
``<ACT>:RES? <id>``). A device runs one action at a time.

The ``error`` fault is drawn once per new action: the action then fails half
way with ``FAULT_CODE`` pushed onto the error queue.
"""

from __future__ import annotations

import argparse
import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from labpilot.errors import ScpiProtocolError, SimulatedFault
from labpilot.protocols.scpi import MAX_ERROR_MESSAGE_CHARS, ERR_COMMAND, ERR_EXECUTION, ERR_PARAMETER, ERR_QUEUE_OVERFLOW, ERR_SETTINGS_CONFLICT, NO_ERROR, PROTOCOL_VERSION, ActionStatus, Command, ErrorEntry, Identity, check_id, join_fields, parse_number
from labpilot.simulators.clock import VirtualClock
from labpilot.simulators.commands import CommandRegistry
from labpilot.simulators.faults import FaultInjector, FaultSpec
from labpilot.simulators.ledger import Ledger
from labpilot.simulators.seeds import check_seed
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds import WorldCache

log = logging.getLogger("labpilot.sim")

#: Instrument-specific code of an injected hardware fault.
FAULT_CODE = 250
#: A referenced sample is not in the rack.
ERR_NO_SAMPLE = 301
#: Length of the error queue (SCPI instruments keep a bounded queue).
QUEUE_LENGTH = 32


@dataclass
class RunningAction:
    """An action in flight on the virtual clock."""

    command_id: str
    started: float
    duration: float
    finish: Callable[[], dict[str, Any]]
    fail_at: float | None = None  # virtual time at which an injected fault strikes


#: A handler returns the reply of a query; what a set-command's handler returns is not sent.
Handler = Callable[[Command], str | None]

#: Standard event status register bits (IEEE 488.2).
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME = 1, 4, 8, 16, 32


def short_form(header: str) -> str:
    """``SYSTEM:ERROR?`` → ``SYST:ERR?``: each mnemonic cut to its SCPI short form.

    The SCPI rule (IEEE 488.2 / SCPI-99 §6.2.1): a mnemonic longer than four
    letters keeps its first four, or its first three when the fourth is a
    vowel; a numeric suffix and the ``*``/``?`` marks are kept. The simulators
    do not hold the long forms, so they are lenient: any spelling that cuts to
    a known short form is accepted (``PRESSURE`` and ``PRESSURES`` both mean
    ``PRES``), as many real instruments are.
    """
    def one(word: str) -> str:
        stem = word.rstrip("0123456789")
        suffix = word[len(stem):]
        if len(stem) > 4:
            stem = stem[:3] if stem[3] in "AEIOU" else stem[:4]
        return stem + suffix

    query = header.endswith("?")
    body = header[:-1] if query else header
    return ":".join(one(w) if not w.startswith("*") else w for w in body.split(":")) + ("?" if query else "")


def esr_bit(code: int) -> int:
    """The event-register bit an error of ``code`` sets (SCPI error classes)."""
    if -199 <= code <= -100:
        return ESR_CME
    if -299 <= code <= -200:
        return ESR_EXE
    if -499 <= code <= -400:
        return ESR_QYE
    return ESR_DDE

#: How a serial (SCPI) simulator can be reached: a new pty, or TCP as a serial-to-Ethernet converter.
SERIAL_TRANSPORTS: tuple[str, ...] = ("pty", "tcp")


class ScpiDevice:
    """A simulated SCPI-style instrument (no I/O: ``handle_line`` in, reply text out)."""

    kind = "device"
    model = "DEVICE-SIM"
    action = "MEAS"
    #: Keep finished outcomes in the tray too (synthesizers), so a restarted simulator remembers them.
    persist_outcomes = False

    def __init__(
        self,
        *,
        serial: str = "0001",
        clock: VirtualClock | None = None,
        faults: FaultInjector | None = None,
        ledger: Ledger | None = None,
        tray: Tray | None = None,
        seed: int = 0,
    ) -> None:
        check_seed(seed)
        self.identity = Identity(vendor="LABPILOT", model=self.model, serial=serial, version=PROTOCOL_VERSION)
        self.clock = clock or VirtualClock()
        self.faults = faults or FaultInjector(FaultSpec(), random.Random(seed))
        self.ledger = ledger or Ledger(None)
        self.rng = np.random.default_rng(seed)
        self.tray = tray if tray is not None else Tray(None)
        self.registry = CommandRegistry(store=self.tray if self.persist_outcomes else None, instrument=self.kind)
        self.errors: deque[ErrorEntry] = deque()
        self.esr = 0
        self.running: RunningAction | None = None
        self._handlers: dict[str, Handler] = {
            "*IDN?": lambda c: self.identity.text(),
            "SYST:ERR?": self._syst_err,
            "SYST:ERR:NEXT?": self._syst_err,
            "*CLS": self._cls,
            "*RST": self._rst,
            "*OPC?": lambda c: "1",
            "*OPC": self._opc,
            "*WAI": lambda c: None,
            "*ESR?": self._esr_query,
            "*TST?": lambda c: "0",
            "STAT?": lambda c: self.status_text(),
            f"{self.action}:STAT?": self._action_stat,
            f"{self.action}:RES?": self._action_res,
            f"{self.action}:ABOR": self._action_abort,
        }
        self._handlers.update(self.commands())
        # SCPI accepts each mnemonic in its short or long form (SYST:ERR? = SYSTEM:ERROR?)
        self._by_short_form = {short_form(h): f for h, f in self._handlers.items()}

    @classmethod
    def from_args(cls, args: argparse.Namespace, **extra: Any) -> "ScpiDevice":
        """Build from the ``python -m labpilot.simulators`` arguments."""
        return cls(
            serial=args.serial,
            clock=VirtualClock(args.speed),
            faults=FaultInjector(FaultSpec.parse(args.faults), random.Random(args.seed)),
            ledger=Ledger(args.ledger),
            tray=Tray(args.tray) if args.tray else None,
            seed=args.seed,
            **extra,
        )

    # ---------------------------------------------------------------- subclass hooks
    def commands(self) -> dict[str, Handler]:
        """Instrument-specific headers → handlers."""
        return {}

    def status_fields(self) -> dict[str, Any]:
        """Instrument-specific ``STAT?`` fields."""
        return {}

    def reset(self) -> None:
        """Bring settings to the safe state (``*RST``)."""

    def result_fields(self, result: dict[str, Any]) -> list[Any]:
        """The ``<ACT>:RES?`` reply fields of a finished action."""
        raise NotImplementedError

    # ---------------------------------------------------------------- line handling
    def handle_line(self, line: bytes) -> str | None:
        """One received line → the reply line of a query, or ``None`` (a set-command, a refused command).

        Never raises: a refused command's error goes to the error queue.
        """
        try:
            cmd = Command.parse(line)
        except ScpiProtocolError as exc:
            return self._refuse(ERR_COMMAND, f"Command error; {exc}")
        except ValueError as exc:
            return self._refuse(ERR_COMMAND, f"Command error; {exc}")
        handler = self._handlers.get(cmd.header) or self._by_short_form.get(short_form(cmd.header))
        if handler is None:
            return self._refuse(-113, f"Undefined header; {cmd.header}")
        try:
            self.tick()
            reply = handler(cmd)
            return reply if cmd.is_query else None
        except SimulatedFault as exc:
            return self._refuse(exc.code, exc.message)
        except ScpiProtocolError as exc:
            return self._refuse(-104, f"Data type error; {exc}")
        except Exception as exc:  # a simulator bug or a world refusing a value: answer, never die
            log.exception("%s: %s failed", self.kind, cmd.header)
            message = str(exc).replace("\n", " ")[:200].encode("ascii", "replace").decode()
            return self._refuse(ERR_EXECUTION, f"Execution error; {type(exc).__name__}: {message}")

    def overflow(self) -> None:
        """A line longer than the protocol allows: queued error, no reply."""
        return self._refuse(-363, "Input buffer overrun")

    def _refuse(self, code: int, message: str) -> None:
        """Queue the error of a refused command; a standard instrument sends no reply."""
        self.push_error(code, message)
        return None

    def push_error(self, code: int, message: str) -> None:
        """Append to the error queue; a full queue keeps a final overflow entry (SCPI)."""
        if len(message) > MAX_ERROR_MESSAGE_CHARS:  # never echo a 64 KiB line back
            message = message[: MAX_ERROR_MESSAGE_CHARS - 3] + "..."
        log.info("%s error %d: %s", self.kind, code, message)
        self.esr |= esr_bit(code)
        if len(self.errors) >= QUEUE_LENGTH - 1:
            if len(self.errors) == QUEUE_LENGTH - 1:
                self.errors.append(ErrorEntry(code=ERR_QUEUE_OVERFLOW, message="Queue overflow"))
            return
        self.errors.append(ErrorEntry(code=code, message=message))

    def _syst_err(self, cmd: Command) -> str:
        return (self.errors.popleft() if self.errors else NO_ERROR).text()

    def _cls(self, cmd: Command) -> None:
        self.errors.clear()
        self.esr = 0

    def _opc(self, cmd: Command) -> None:
        self.esr |= ESR_OPC  # every earlier command is processed: they run in order

    def _esr_query(self, cmd: Command) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _rst(self, cmd: Command) -> None:
        if self.faults.should("safe_error"):
            raise SimulatedFault(-300, "Device-specific error; reset refused (injected safe_error)")
        self._abort_running("reset")
        self.reset()

    def status_text(self) -> str:
        """``STAT?``: ``STATE=IDLE|BUSY,ACTION=<id>,ERRORS=<n>,...``."""
        fields: dict[str, Any] = {
            "STATE": "BUSY" if self.running else "IDLE",
            "ACTION": self.running.command_id if self.running else "NONE",
            "ERRORS": len(self.errors),
        }
        fields.update(self.status_fields())
        return ",".join(f"{k}={v}" for k, v in fields.items())

    # ---------------------------------------------------------------- helpers for handlers
    @staticmethod
    def need_args(cmd: Command, count: int) -> tuple[str, ...]:
        """The command's arguments, exactly ``count`` of them."""
        if len(cmd.args) != count:
            raise SimulatedFault(ERR_PARAMETER, f"Parameter not allowed; {cmd.header} takes {count} argument(s), got {len(cmd.args)}")
        return cmd.args

    @staticmethod
    def number(text: str, what: str, lo: float, hi: float) -> float:
        """A numeric argument within the instrument's hardware range."""
        try:
            x = parse_number(text, what)
        except ScpiProtocolError as exc:
            raise SimulatedFault(-104, f"Data type error; {exc}") from None
        if not lo <= x <= hi:
            raise SimulatedFault(-222, f"Data out of range; {what} {x:g} outside [{lo:g}, {hi:g}]")
        return x

    @staticmethod
    def ident(text: str, what: str = "command id") -> str:
        """An id argument."""
        try:
            return check_id(text, what)
        except ScpiProtocolError as exc:
            raise SimulatedFault(-224, f"Illegal parameter value; {exc}") from None

    # ---------------------------------------------------------------- actions
    def start_action(self, command_id: str, duration: float, begin: Callable[[], Callable[[], dict[str, Any]]]) -> None:
        """Start an action unless ``command_id`` was seen; ``begin`` does the physical start.

        ``begin`` runs only for a new id, after the busy check; it returns the
        function that completes the action and yields its result dict.
        """
        if self.registry.outcome(command_id) is not None:
            log.info("%s: duplicate %s suppressed", self.kind, command_id)
            return None
        if self.running is not None:
            raise SimulatedFault(
                ERR_SETTINGS_CONFLICT, f"Settings conflict; busy with command {self.running.command_id}"
            )
        finish = begin()
        self.registry.begin(command_id)
        now = self.clock.now()
        fail_at = now + duration * 0.5 if self.faults.should("error") else None
        self.running = RunningAction(command_id, now, duration, finish, fail_at)
        return None

    def tick(self) -> None:
        """Complete or fail the running action when its virtual time has come."""
        act = self.running
        if act is None:
            return
        now = self.clock.now()
        if act.fail_at is not None and now >= act.fail_at:
            self._fail(act, FAULT_CODE, f"Hardware fault during {self.action.lower()} {act.command_id}")
        elif now >= act.started + act.duration:
            self.running = None
            self.registry.finish(act.command_id, act.finish())

    def _fail(self, act: RunningAction, code: int, message: str, queue: bool = True) -> None:
        self.running = None
        self.registry.fail(act.command_id, f"{code} {message}")
        if queue:
            self.push_error(code, message)
        self.ledger.record(self.kind, "abort", act.command_id, None, code=code, reason=message)

    def _abort_running(self, reason: str) -> None:
        """An action ended by a command (abort, shutter closed, ``*RST``): its status says
        ``FAILED,210,...``; no error is queued, since the command that ended it succeeded."""
        if self.running is not None:
            self._fail(self.running, 210, f"Action {self.running.command_id} interrupted: {reason}", queue=False)

    def _action_abort(self, cmd: Command) -> None:
        self.need_args(cmd, 0)
        if self.faults.should("safe_error"):
            raise SimulatedFault(-300, "Device-specific error; abort refused (injected safe_error)")
        self._abort_running("aborted by command")

    def _action_stat(self, cmd: Command) -> str:
        (cid,) = self.need_args(cmd, 1)
        cid = self.ident(cid)
        rec = self.registry.outcome(cid)
        if rec is None:
            return ActionStatus(state="unknown").text()
        if rec.state == "running":
            act = self.running
            progress = 0.0
            if act is not None and act.command_id == cid and act.duration > 0:
                progress = min(1.0, max(0.0, (self.clock.now() - act.started) / act.duration))
            return ActionStatus(state="running", progress=round(progress, 4)).text()
        if rec.state == "failed":
            code, _, message = (rec.error or "").partition(" ")
            try:
                number = int(code)
            except ValueError:
                number, message = ERR_EXECUTION, rec.error or "failed"
            return ActionStatus(state="failed", code=number, message=message).text()
        return ActionStatus(state="done", sample_id=rec.result["sample_id"]).text()

    def _action_res(self, cmd: Command) -> str:
        (cid,) = self.need_args(cmd, 1)
        cid = self.ident(cid)
        rec = self.registry.outcome(cid)
        if rec is None or rec.state != "done":
            state = "unknown" if rec is None else rec.state
            raise SimulatedFault(-221, f"Settings conflict; no result for {cid} (state {state})")
        return join_fields(self.result_fields(rec.result))


class MeasuringDevice(ScpiDevice):
    """A simulated measurer: ``MEAS:START <id>,<sample_id>`` reads the sample from the tray.

    Subclasses set ``worlds`` (world names they can measure), ``nominal_s``
    and implement ``measure_truth(world, truth) -> dict`` (the result fields,
    computed at start and revealed when the measurement finishes).
    """

    action = "MEAS"
    worlds: tuple[str, ...] = ("alloy",)
    nominal_s = 300.0

    def __init__(self, *, world_seed: int = 0, **kw: Any) -> None:
        self.world_seed = check_seed(world_seed, "world seed")
        self._worlds = WorldCache(self.world_seed)
        super().__init__(**kw)

    @classmethod
    def from_args(cls, args: argparse.Namespace, **extra: Any) -> "ScpiDevice":
        return super().from_args(args, world_seed=args.world_seed, **extra)

    def commands(self) -> dict[str, Handler]:
        return {"MEAS:START": self._start}

    def world(self, name: str) -> Any:
        """The world object of a tray row (built once, from ``--world-seed``)."""
        try:
            return self._worlds.get(name)
        except KeyError:
            raise SimulatedFault(ERR_NO_SAMPLE + 1, f"Sample from unknown world {name!r}") from None

    def measure_truth(self, world: Any, truth: dict[str, Any]) -> dict[str, Any]:
        """The measurement of one sample (noise drawn from ``self.rng``)."""
        raise NotImplementedError

    def _start(self, cmd: Command) -> None:
        cid, sid = self.need_args(cmd, 2)
        cid = self.ident(cid)
        sid = self.ident(sid, "sample id")
        return self.start_action(cid, self.nominal_s, lambda: self._begin(cid, sid))

    def _begin(self, cid: str, sid: str) -> Callable[[], dict[str, Any]]:
        try:
            world_name, truth = self.tray.get(sid)
        except KeyError:
            raise SimulatedFault(ERR_NO_SAMPLE, f"No sample {sid!r} in the rack") from None
        if world_name not in self.worlds:
            raise SimulatedFault(
                ERR_NO_SAMPLE + 1,
                f"Sample {sid!r} comes from the {world_name} world; this {self.kind} measures {'/'.join(self.worlds)} samples",
            )
        values = self.measure_truth(self.world(world_name), truth)
        self.ledger.record(self.kind, "measure", cid, sid)
        result = {"sample_id": sid, **values}
        return lambda: result
