"""``scpi``: any SCPI or line-based instrument through PyVISA, configured in the campaign TOML.

No Python needed: the campaign says what the instrument does (``role``),
which commands start a step (templated from the parameters, the command id
and the sample id), how to tell it finished, and which queries give the
measured scalars (with units)::

    [[instruments]]
    name = "probe"
    kind = "scpi"
    address = "ASRL/dev/ttyUSB0::INSTR"        # or TCPIP::192.168.1.20::5025::SOCKET
    limits = { max_current_a = 0.01 }
    [instruments.options]
    role = "measure"
    baud_rate = 9600
    idn_contains = "PROBE"
    start = ["CURR {current_a}", "MEAS:START {command_id},{sample_id}"]
    wait = { query = "MEAS:STAT? {command_id}", done = "^DONE", failed = "^FAILED", nominal_s = 300 }
    scalars.sheet_resistance = { query = "MEAS:RES? {command_id}", unit = "ohm/sq", field = 0 }

Every set-command is written (PyVISA ``write``), optionally followed by
``*OPC?`` (``opc = true``: wait until the instrument processed it), then the
error queue is polled (``error_query``, ``SYST:ERR?`` by default; an error
raises ``InstrumentError`` with the instrument's code and message, naming
the command). A query that times out is followed by the error query, so a
refused query is reported with its error. Parameters are checked against
the campaign's limits (``parameters.NAME.limit``) and every template is
rendered before anything is sent.

I/O happens only at connect: describing or validating the instrument
(``for_options``) never opens the port. The driver cannot tell what became
of a command id after a restart (``can_reconcile = False``). In a dry run,
``simulator`` names the built-in simulator that stands in for the instrument
(it must understand the configured commands).

Addresses: VISA resource strings (``ASRL<device>::INSTR``,
``TCPIP::HOST::PORT::SOCKET``); a device path (``/dev/ttyUSB0``) or
``socket://HOST:PORT`` (what the simulators print) is turned into one.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from labpilot.drivers.base import ActionState, DriverBase, StandIn
from labpilot.drivers.generic.templates import check_regex, check_templates, extract, parse_float, render
from labpilot.drivers.options import DriverOptions, validated_options
from labpilot.errors import DriverError, InstrumentError, ProtocolError, TransportTimeout
from labpilot.protocols.capabilities import CommandOutcome, Measurement, Sample

log = logging.getLogger("labpilot.drivers.scpi")

_ERROR_RE = re.compile(r"\s*([+-]?\d{1,9})\s*(?:,\s*(.*?))?\s*")
#: Bound on the error entries read after one failure (a queue never drains if the instrument misbehaves).
MAX_ERRORS_DRAINED = 32


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuerySpec(_Spec):
    """A query whose reply gives one value: a comma-separated ``field``, then a ``regex`` (group ``value`` or 1)."""

    query: str = Field(min_length=1)
    unit: str = ""
    regex: str | None = None
    field: int | None = Field(None, ge=0)


class WaitSpec(_Spec):
    """Poll ``query`` until its reply matches ``done``; a reply matching ``failed`` fails the step."""

    query: str = Field(min_length=1)
    done: str = Field(min_length=1)
    failed: str | None = None
    #: The step's nominal duration on the instrument, seconds (the wait limit is nominal / speed × 3 + timeout).
    nominal_s: float = Field(60.0, gt=0, allow_inf_nan=False)


class ParameterSpec(_Spec):
    """A parameter the instrument accepts: its unit, and the campaign limit (a maximum) checked before sending."""

    unit: str = ""
    limit: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class ScpiOptions(DriverOptions):
    """The ``scpi`` driver's options: the line, the handshake, and the command sequences."""

    role: Literal["synthesize", "measure"]
    """What the instrument does in the loop (required: a generic instrument must say)."""
    # -- the line (serial settings apply to ASRL resources only)
    baud_rate: int = Field(9600, gt=0, le=10_000_000)
    """Serial line speed (ASRL resources)."""
    data_bits: int = Field(8, ge=5, le=8)
    """Data bits per character (ASRL)."""
    parity: Literal["none", "odd", "even", "mark", "space"] = "none"
    """Serial parity (ASRL)."""
    stop_bits: Literal[1, 1.5, 2] = 1
    """Stop bits (ASRL)."""
    read_termination: str = "\n"
    """What ends a reply line."""
    write_termination: str = "\n"
    """What the driver appends to each command."""
    query_timeout_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    """Seconds to wait for one reply (default: the instrument's ``timeout_s``)."""
    # -- handshake and error handling
    idn_query: str = "*IDN?"
    """The identity query sent at connect ("" for none)."""
    idn_contains: str | None = None
    """Text the identity reply must contain (refuses the wrong instrument); case-insensitive."""
    opc: bool = False
    """Follow every set-command with ``*OPC?`` and wait for its ``1``."""
    error_query: str = "SYST:ERR?"
    """Polled after each command; ``""`` for an instrument without an error queue."""
    setup: list[str] = Field(default_factory=list)
    """Commands sent once at connect (e.g. ``*CLS``, a remote-mode switch)."""
    # -- what a step does
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    """Synthesizer: the parameters it accepts, each with its unit and the campaign limit that caps it."""
    start: list[str] = Field(default_factory=list)
    """Commands that start a step, templated ({param}, {command_id}, {sample_id})."""
    wait: WaitSpec | None = None
    """How to tell the step finished: a query polled until its reply matches `done` (or `failed`)."""
    finish: list[str] = Field(default_factory=list)
    """Commands sent after the step (even after a failed wait), templated like `start`."""
    sample_id: QuerySpec | None = None
    """Synthesizer: the query that names the new sample (default: the command id)."""
    scalars: dict[str, QuerySpec] = Field(default_factory=dict)
    """Measurer: the measured scalars, by name."""
    safe: list[str] = Field(default_factory=list)
    """Commands that bring the instrument to a safe state (``make_safe``)."""
    simulator: str | None = None
    """The built-in simulator kind that stands in for this instrument in a dry run."""

    @model_validator(mode="after")
    def _consistent(self) -> "ScpiOptions":
        for name in self.parameters:
            if not name.isidentifier() or name in ("command_id", "sample_id"):
                raise ValueError(f"parameters.{name}: a parameter name must be a plain name other than command_id/sample_id")
        if self.role == "synthesize":
            known = [*self.parameters, "command_id"]
            if self.scalars:
                raise ValueError("scalars: a synthesizer measures nothing (role = \"synthesize\")")
        else:
            known = ["command_id", "sample_id"]
            if self.parameters:
                raise ValueError("parameters: a measurer accepts no parameters (role = \"measure\")")
            if not self.scalars:
                raise ValueError("scalars: a measurer must name at least one measured scalar")
            if self.sample_id is not None:
                raise ValueError("sample_id: only a synthesizer names a new sample")
        for where in ("setup", "safe"):
            check_templates(getattr(self, where), [], where)
        for where in ("start", "finish"):
            check_templates(getattr(self, where), known, where)
        if self.wait is not None:
            check_templates([self.wait.query], known, "wait.query")
            check_regex(self.wait.done, "wait.done")
            check_regex(self.wait.failed, "wait.failed")
        queries = {f"scalars.{k}": q for k, q in self.scalars.items()}
        if self.sample_id is not None:
            queries["sample_id"] = self.sample_id
        for where, q in queries.items():
            check_templates([q.query], known, f"{where}.query")
            check_regex(q.regex, f"{where}.regex")
        if not self.start and self.wait is None and self.role == "synthesize":
            raise ValueError("start: a synthesizer needs commands that make the sample")
        return self


def parse_options(options: Mapping[str, Any] | None) -> ScpiOptions:
    """Validate ``options``; a ``ValueError`` naming each bad option as ``options.<path>``."""
    return validated_options(ScpiOptions, options)


def visa_resource(address: str) -> str:
    """A VISA resource string for ``address`` (device paths and ``socket://`` URLs are converted)."""
    if "::" in address:
        return address
    if address.startswith("socket://"):
        host, _, port = address[len("socket://"):].rstrip("/").rpartition(":")
        return f"TCPIP::{host}::{port}::SOCKET"
    if address.startswith("/") or re.fullmatch(r"COM\d{1,3}", address):
        return f"ASRL{address}::INSTR"
    raise ValueError(f"{address!r} is not a VISA resource (ASRL/dev/ttyUSB0::INSTR, TCPIP::HOST::PORT::SOCKET)")


class VisaLine:
    """One PyVISA (pyvisa-py) message-based resource: ``write`` and ``query`` with labpilot's errors."""

    def __init__(self, resource: str, opts: ScpiOptions, timeout_s: float, name: str) -> None:
        import pyvisa
        from pyvisa import constants

        self.resource = resource
        self.name = name
        self.timeout_s = timeout_s
        kwargs: dict[str, Any] = {
            "read_termination": opts.read_termination,
            "write_termination": opts.write_termination,
            "timeout": int(timeout_s * 1000),
        }
        if resource.upper().startswith("ASRL"):
            kwargs.update(
                baud_rate=opts.baud_rate,
                data_bits=opts.data_bits,
                parity=getattr(constants.Parity, opts.parity),
                stop_bits={1: constants.StopBits.one, 1.5: constants.StopBits.one_and_a_half,
                           2: constants.StopBits.two}[opts.stop_bits],
            )
        self._errors = (pyvisa.errors.VisaIOError, OSError, ValueError)
        self._rm = pyvisa.ResourceManager("@py")
        try:
            self._inst = self._rm.open_resource(resource, **kwargs)
        except Exception as exc:  # pyvisa raises several types for a bad or absent resource
            self._rm.close()
            raise TransportTimeout(f"{name}: cannot open {resource}: {exc}") from None
        self.stats = {"writes": 0, "queries": 0, "timeouts": 0}

    def write(self, line: str) -> None:
        """Send one line (no reply expected)."""
        log.debug("%s >> %r", self.name, line)
        self.stats["writes"] += 1
        try:
            self._inst.write(line)
        except self._errors as exc:
            raise TransportTimeout(f"{self.name} at {self.resource}: cannot send {line!r}: {exc}") from None

    def query(self, line: str) -> str:
        """Send one line and return its reply line; ``TransportTimeout`` when none comes in time."""
        log.debug("%s >> %r", self.name, line)
        self.stats["queries"] += 1
        try:
            reply = self._inst.query(line)
        except self._errors as exc:
            self.stats["timeouts"] += 1
            raise TransportTimeout(f"{self.name} at {self.resource}: no reply to {line!r} within "
                                   f"{self.timeout_s:g}s ({exc})") from None
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{self.name}: reply to {line!r} is not text: {exc}") from None
        log.debug("%s << %r", self.name, reply)
        return reply.strip()

    def close(self) -> None:
        """Close the resource and its resource manager."""
        try:
            self._inst.close()
        finally:
            self._rm.close()


class ScpiDriver(DriverBase):
    """A SCPI / line-based instrument described entirely by its options."""

    kind = "scpi"
    Options = ScpiOptions
    can_reconcile: ClassVar[bool] = False
    #: Role, measured quantities and limits come from the campaign's options (``for_options``), not the class.
    role_from_options: ClassVar[bool] = True
    #: Parameters a synthesizer accepts, name -> unit (from ``options.parameters``).
    parameters: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def for_options(cls, options: Mapping[str, Any] | None = None) -> type["ScpiDriver"]:
        """A subclass declaring this configuration's role, scalars, parameters and limits (no I/O)."""
        opts = parse_options(options)
        return type(cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__, **_declared(opts)})

    @classmethod
    def stand_in(cls, options: Mapping[str, Any] | None = None) -> StandIn | None:
        """The built-in serial simulator named by ``options.simulator`` (on a pty, or TCP for a TCPIP address)."""
        opts = parse_options(options)
        if opts.simulator is None:
            return None
        return StandIn(opts.simulator, "serial")

    @classmethod
    def accepts(cls, settings: Any, limits: Mapping[str, float]) -> Any:
        """The declared ``parameters`` (a measurer: none); those its templates use are required, a limit caps each."""
        from labpilot.drivers.generic.templates import template_fields
        from labpilot.drivers.params import Accepted, Accepts

        if not isinstance(settings, ScpiOptions) or settings.role != "synthesize":
            return None
        used = {f for t in [*settings.start, *settings.finish] for f in template_fields(t)}
        for q in (settings.wait, settings.sample_id):
            if q is not None:
                used.update(template_fields(q.query))
        return Accepts(tuple(
            Accepted(name, p.unit, high=limits.get(p.limit) if p.limit else None, required=name in used)
            for name, p in settings.parameters.items()))

    def __init__(self, address: str, **kw: Any) -> None:
        self.opts = parse_options(kw.get("options"))
        for key, value in _declared(self.opts).items():
            setattr(self, key, value)  # an instance configured directly describes itself too
        super().__init__(visa_resource(address), **kw)

    # -- DriverBase hooks --------------------------------------------------------
    def _open_transport(self, address: str, *, timeout_s: float, retries: int, backoff_s: float) -> VisaLine:
        self.retries = retries
        return VisaLine(address, self.opts, self.opts.query_timeout_s or timeout_s, self.kind)

    def _handshake(self) -> str:
        ident = ""
        if self.opts.idn_query:
            ident = self.transport.query(self.opts.idn_query)
            wanted = self.opts.idn_contains
            if wanted and wanted.upper() not in ident.upper():
                raise ProtocolError(f"{self.kind} at {self.address}: identity {ident[:80]!r} does not contain {wanted!r}")
        self.drain_errors()  # old errors are logged, never blamed on our commands
        for line in self.opts.setup:
            self.command(line)
        log.info("%s: connected to %r at %s", self.kind, ident, self.address)
        return ident

    def _connected(self, greeting: str) -> None:
        self.identity = greeting

    # -- the exchanges -------------------------------------------------------------
    def command(self, line: str) -> None:
        """A set-command: write it, ``*OPC?`` if asked, then poll the error queue."""
        self.transport.write(line)
        if self.opts.opc:
            reply = self.transport.query("*OPC?")
            if reply.lstrip("+") != "1":
                raise ProtocolError(f"{self.kind}: *OPC? after {line!r} answered {reply[:40]!r}, not 1")
        self.check_errors(line)

    def ask(self, line: str) -> str:
        """A query's reply; a query that times out is followed by the error query (a refused query raises its error)."""
        try:
            return self.transport.query(line)
        except TransportTimeout:
            self.check_errors(line)
            raise

    def check_errors(self, after: str) -> None:
        """Poll the error queue once; an error raises ``InstrumentError`` (after draining the rest)."""
        if not self.opts.error_query:
            return
        code, message = self._error_entry()
        if code != 0:
            self.drain_errors()
            raise InstrumentError(self.kind, code, f"{message} (after {after!r})")

    def _error_entry(self) -> tuple[int, str]:
        reply = self.transport.query(self.opts.error_query)
        m = _ERROR_RE.fullmatch(reply)
        if m is None:
            raise ProtocolError(f"{self.kind}: {self.opts.error_query} answered {reply[:80]!r}, not <code>,\"<message>\"")
        return int(m.group(1)), (m.group(2) or "").strip().strip('"')

    def drain_errors(self) -> list[tuple[int, str]]:
        """Read the error queue until it says no error (bounded); each entry is logged."""
        entries: list[tuple[int, str]] = []
        if not self.opts.error_query:
            return entries
        for _ in range(MAX_ERRORS_DRAINED):
            try:
                code, message = self._error_entry()
            except DriverError as exc:
                log.warning("%s: could not read the error queue: %s", self.kind, exc)
                break
            if code == 0:
                break
            log.warning("%s: instrument error %d: %s", self.kind, code, message)
            entries.append((code, message))
        return entries

    # -- a step --------------------------------------------------------------------
    def _values(self, params: Mapping[str, Any], command_id: str) -> dict[str, Any]:
        """The template values: parameters (declared, within limits) and the command id."""
        unknown = sorted(set(params) - set(self.opts.parameters))
        if unknown:
            raise ValueError(f"{self.kind}: parameter(s) {unknown} not accepted; this instrument takes "
                             f"{sorted(self.opts.parameters)} (options.parameters)")
        for name, spec in self.opts.parameters.items():
            if spec.limit is not None and name in params:
                value = params[name]
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    raise ValueError(f"{self.kind}: parameter {name} = {value!r} must be a number (it has a limit)") from None
                self.check_limit(spec.limit, number, f"parameter {name}" + (f" in {spec.unit}" if spec.unit else ""))
        return {**params, "command_id": command_id}

    def _run(self, values: Mapping[str, Any]) -> None:
        """Render everything first, then send ``start``, wait, send ``finish`` (even after a failed wait)."""
        start = [render(t, values) for t in self.opts.start]
        finish = [render(t, values) for t in self.opts.finish]
        wait_query = render(self.opts.wait.query, values) if self.opts.wait else None
        for line in start:
            self.command(line)
        try:
            if wait_query is not None:
                self._wait(str(values["command_id"]), wait_query)
        finally:
            for line in finish:
                try:
                    self.command(line)
                except DriverError as exc:
                    log.error("%s: finishing command %r failed: %s", self.kind, line, exc)

    def _wait(self, command_id: str, query: str) -> None:
        spec = self.opts.wait
        assert spec is not None
        lost = [0]

        def status() -> ActionState:
            try:
                reply = self.ask(query)
            except TransportTimeout:
                lost[0] += 1
                if lost[0] > self.retries:
                    raise
                return ActionState("running")
            lost[0] = 0
            if spec.failed and re.search(spec.failed, reply):
                return ActionState("failed", 0, f"{query} answered {reply[:120]!r}")
            if re.search(spec.done, reply):
                return ActionState("done")
            return ActionState("running")

        self.wait_for(command_id, status, spec.nominal_s)

    def action_failed(self, command_id: str, st: ActionState) -> InstrumentError:
        """The failure, with the instrument's first queued error code when it has one."""
        errors = self.drain_errors()
        code, extra = (errors[0][0], f"; error {errors[0][0]}: {errors[0][1]}") if errors else (st.code, "")
        return InstrumentError(self.kind, code, f"{st.message}{extra} (command id {command_id})")

    def _value(self, spec: QuerySpec, values: Mapping[str, Any], what: str) -> str:
        reply = self.ask(render(spec.query, values))
        try:
            return extract(reply, regex=spec.regex, field=spec.field, what=what)
        except ValueError as exc:
            raise ProtocolError(f"{self.kind}: {exc}") from None

    def synthesize(self, params: dict[str, Any], command_id: str) -> Sample:
        """Make one sample: limits checked and templates rendered, then the commands; not idempotent."""
        if self.role != "synthesize":
            raise DriverError(f"{self.kind}: configured as a measurer (options.role), cannot synthesize")
        values = self._values(params, command_id)
        self._run(values)
        sample_id = command_id
        if self.opts.sample_id is not None:
            sample_id = self._value(self.opts.sample_id, values, "sample_id").strip()
            if not sample_id:
                raise ProtocolError(f"{self.kind}: the instrument named an empty sample id")
        self.check_errors("the synthesis")
        return Sample(sample_id, info={"params": dict(params)})

    def measure(self, sample: Sample, command_id: str) -> Measurement:
        """Measure ``sample``: the commands, the wait, then one query per scalar; not idempotent."""
        if self.role != "measure":
            raise DriverError(f"{self.kind}: configured as a synthesizer (options.role), cannot measure")
        values = {"command_id": command_id, "sample_id": sample.sample_id}
        self._run(values)
        scalars = {}
        for name, spec in self.opts.scalars.items():
            text = self._value(spec, values, f"scalar {name}")
            try:
                scalars[name] = parse_float(text, f"scalar {name}")
            except ValueError as exc:
                raise ProtocolError(f"{self.kind}: {exc}") from None
        self.check_errors("the measurement")
        return Measurement(scalars=scalars)

    # -- Instrument ----------------------------------------------------------------
    def identify(self) -> str:
        """The identity reply (queried again when there is an identity query)."""
        return self.ask(self.opts.idn_query) if self.opts.idn_query else self.identity

    def status(self) -> dict[str, Any]:
        """What the driver knows without side effects: identity, resource, transfer counts."""
        return {"identity": self.identity, "resource": self.address, **self.transport.stats}

    def make_safe(self) -> None:
        """Send every ``safe`` command (each tried even if one fails)."""
        failures = []
        for line in self.opts.safe:
            try:
                self.command(line)
            except DriverError as exc:
                failures.append(f"{line}: {exc}")
        if failures:
            raise DriverError(f"{self.kind}: make_safe incomplete: " + "; ".join(failures))

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """A generic instrument cannot say what became of a command id: an operator must (``labpilot resolve``)."""
        raise DriverError(
            f"{self.kind}: a generic SCPI instrument cannot say what became of command {command_id} "
            "(can_reconcile = False); an operator must settle it"
        )


def _declared(opts: ScpiOptions) -> dict[str, Any]:
    """The class-level declarations of one configuration."""
    return {
        "role": opts.role,
        "scalars": {name: q.unit for name, q in opts.scalars.items()},
        "parameters": {name: p.unit for name, p in opts.parameters.items()},
        "known_limits": tuple(sorted({p.limit for p in opts.parameters.values() if p.limit})),
    }


__all__ = ["ScpiDriver", "ScpiOptions", "VisaLine", "parse_options", "visa_resource"]
