"""Campaign files: TOML, validated with pydantic.

A campaign file says what to make (the search space), what to optimize (the
objectives), how to choose (the planner), with what (the instruments and their
safety limits) and for how long (the budget). ``load_campaign`` returns a
validated ``Campaign`` or raises ``CampaignError`` listing every problem with
its field path, so ``labpilot validate`` can print them all at once.

What depends on the installed drivers and planners (instrument and planner
options, limit names, objectives, the synthesizer's parameters) is checked
against their declarations in ``agent/campaign_checks.py``.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from labpilot import registry
from labpilot.errors import CampaignError
from labpilot.import_path import add_import_path
from labpilot.agent.code_refs import absolute_ref, make_refs_absolute
from labpilot.agent.command_cwd import make_cwds_absolute
from labpilot.protocols.strict import Strict
from labpilot.planners.prior import PriorSpec
from labpilot.planners.space import CategoricalParam, ContinuousParam, IntegerParam, Objective, SimplexConstraint, Space

#: Largest magnitude a bound may have: beyond it no quantity is physical, and
#: ``high - low`` (or a planner's normalisation) overflows to infinity.
MAX_MAGNITUDE = 1e15
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
"""A float that is finite and of sane magnitude (NaN, inf and 1e300 are refused)."""
PositiveSeconds = Annotated[float, Field(allow_inf_nan=False, gt=0, le=10 * 365 * 86400)]
"""A duration in seconds: positive, finite, at most ten years."""
BoundInt = Annotated[int, Field(ge=-(2**53), le=2**53)]
"""An integer bound planners can hold exactly in a float."""

#: Schemes of an instrument address (pyserial URLs, ZeroMQ endpoints).
_SERIAL_URL_SCHEMES = ("socket", "rfc2217", "loop", "spy", "alt", "hwgrep")
_NET_SCHEMES = ("tcp", "socket", "rfc2217")


def check_address(address: str) -> str:
    """A plausible instrument address, or ``ValueError`` saying what is wrong with it.

    Accepted: a device path (``/dev/ttyUSB0``, ``COM3``), a pyserial URL
    (``socket://HOST:PORT``, ``rfc2217://HOST:PORT``, ``loop://``) or a
    ZeroMQ endpoint (``tcp://HOST:PORT``, ``ipc://PATH``); a network port must
    be 1..65535 and a host a valid name or IP address.
    """
    import ipaddress
    import re

    if any(ch.isspace() or not ch.isprintable() for ch in address):
        raise ValueError(f"{address!r} contains whitespace or control characters")
    if "://" not in address and ("::" in address or re.match(r"(?i)(ASRL|TCPIP|GPIB|USB)", address)):
        return _check_visa(address)
    if "://" not in address:
        if address.startswith("/") or re.fullmatch(r"COM[0-9]{1,3}", address):
            return address
        raise ValueError(f"{address!r} is not a device path (/dev/...), COMn, a serial URL "
                         "(socket://HOST:PORT, loop://) or a ZeroMQ endpoint (tcp://HOST:PORT)")
    scheme, _, rest = address.partition("://")
    if scheme == "ipc":
        if not rest:
            raise ValueError(f"{address!r} has no path after ipc://")
        return address
    if scheme not in _SERIAL_URL_SCHEMES and scheme != "tcp":
        raise ValueError(f"{address!r}: unknown scheme {scheme!r} (use tcp, ipc, socket, rfc2217 or loop)")
    if scheme not in _NET_SCHEMES:
        return address
    hostport = rest.split("?", 1)[0].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{address!r} must look like {scheme}://HOST:PORT")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{address!r}: port {port!r} is not a number in 1..65535")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        label = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
        if len(host) > 253 or not re.fullmatch(rf"{label}(\.{label})*", host):
            raise ValueError(f"{address!r}: {host!r} is not a host name or an IP address") from None
    return address


_VISA_RE = r"(?i)(ASRL[^:]+::INSTR|TCPIP\d*::[^:]+::\d{1,5}::SOCKET|TCPIP\d*::[^:]+(::[^:]+)?::INSTR|USB\d*::.+::INSTR|GPIB\d*::\d+(::\d+)?::INSTR)"


def _check_visa(address: str) -> str:
    """A VISA resource string (``ASRL/dev/ttyUSB0::INSTR``, ``TCPIP::HOST::PORT::SOCKET``), or ``ValueError``."""
    import re

    if not re.fullmatch(_VISA_RE, address):
        raise ValueError(f"{address!r} is not a VISA resource string (ASRL/dev/ttyUSB0::INSTR, "
                         "TCPIP::HOST::PORT::SOCKET, TCPIP::HOST::INSTR, USB0::...::INSTR, GPIB0::N::INSTR)")
    if address.upper().startswith("TCPIP") and address.upper().endswith("::SOCKET"):
        port = address.split("::")[2]
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"{address!r}: port {port} is not in 1..65535")
    return address


class ContinuousSpec(Strict):
    name: str = Field(min_length=1)
    type: Literal["continuous"]
    low: Finite
    high: Finite

    @model_validator(mode="after")
    def _ordered(self) -> "ContinuousSpec":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self


class IntegerSpec(Strict):
    name: str = Field(min_length=1)
    type: Literal["integer"]
    low: BoundInt
    high: BoundInt

    @model_validator(mode="after")
    def _ordered(self) -> "IntegerSpec":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class CategoricalSpec(Strict):
    name: str = Field(min_length=1)
    type: Literal["categorical"]
    choices: list[str] = Field(min_length=2)

    @field_validator("choices")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("choices must be unique")
        return v


ParameterSpec = Annotated[
    Union[ContinuousSpec, IntegerSpec, CategoricalSpec], Field(discriminator="type")
]


class SimplexSpec(Strict):
    type: Literal["simplex"]
    parameters: list[str] = Field(min_length=2)
    total: Finite = Field(default=1.0, gt=0)


class ObjectiveSpec(Strict):
    name: str = Field(min_length=1)
    direction: Literal["maximize", "minimize"] = "maximize"
    low: Finite | None = None
    high: Finite | None = None

    @model_validator(mode="after")
    def _window(self) -> "ObjectiveSpec":
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self


class SpaceSpec(Strict):
    """``[space]``: a candidate pool file the proposals are rows of (``planners.pool_table``).

    The file is read and checked by ``campaign_checks.pool_problems`` (what
    ``labpilot validate`` and ``run`` call), each problem named by its key.
    """

    pool: str | None = Field(None, min_length=1)
    """CSV or Parquet; relative to the campaign file's folder (made absolute on loading)."""
    id_column: str | None = Field(None, min_length=1)
    """The column of unique row ids (required with a pool); always passed to the instruments."""
    descriptors: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list, max_length=1000)
    """fnmatch patterns of the columns the model uses (``d_*``)."""
    featurizer: str | None = Field(None, min_length=1)
    """``elements``, ``module:function`` or ``file.py:function``: descriptors computed from the parameters."""


class PlannerSpec(Strict):
    name: str = Field("bo", min_length=1)
    batch_size: int = Field(default=1, ge=1, le=64)
    options: dict[str, Any] = Field(default_factory=dict)


class BudgetSpec(Strict):
    max_experiments: int = Field(ge=1, le=100_000)
    deadline: Annotated[dt.datetime | None, Field(strict=False)] = None
    """A TOML date-time, or its ISO text (as stored in the database)."""

    @field_validator("deadline", mode="before")
    @classmethod
    def _date_time(cls, v: Any) -> Any:
        if v is None or isinstance(v, (dt.datetime, str)):
            return v
        raise ValueError(f"must be a date and time like 2026-12-01T08:00:00, not {type(v).__name__} {v!r}")

    def now(self) -> dt.datetime:
        """The current time in the deadline's terms: aware in its zone when it has one, local naive time otherwise."""
        tz = self.deadline.tzinfo if self.deadline is not None else None
        return dt.datetime.now(tz) if tz else dt.datetime.now()

    def deadline_passed(self) -> bool:
        """Whether there is a deadline and it has come (the one rule the runner, preflight and a resume use)."""
        return self.deadline is not None and self.now() >= self.deadline


class InstrumentSpec(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    kind: str
    address: str = Field(min_length=1, max_length=1000)
    timeout_s: PositiveSeconds = 5.0
    retries: int = Field(default=3, ge=0, le=20)
    limits: dict[str, Finite] = Field(default_factory=dict)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is not None and not getattr(registry.driver_class(kind), "device_address", True):
            if any(ch.isspace() or not ch.isprintable() for ch in v):
                raise ValueError(f"{v!r} contains whitespace or control characters")
            return v  # a generic driver's address is a label ("local")
        return check_address(v)
    options: dict[str, Any] = Field(default_factory=dict)
    #: Instruments that share a stage name are interchangeable: each sample goes to one of them
    #: (two sputter systems, four simulation workers). Default: the instrument's own name.
    stage: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")

    @field_validator("options")
    @classmethod
    def _role_given(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """A generic kind's role is in its options, and the campaign's shape (one synthesizer) depends on it."""
        kind = info.data.get("kind")
        if kind is not None and getattr(registry.driver_class(kind), "role_from_options", False):
            role = v.get("role")
            if role not in ("synthesize", "measure"):
                said = "is missing" if role is None else f"is {role!r}"
                raise ValueError(f"role {said}: a {kind} instrument needs role = \"synthesize\" or \"measure\"")
        return v

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        """A registered kind or a ``module:Class`` path, whose driver class loads (else the reason, one line)."""
        registry.driver_class(v)  # ConfigurationError (a ValueError): unknown, fails to import, not a driver
        return v

    @model_validator(mode="after")
    def _configured(self) -> "InstrumentSpec":
        # A generic driver describes itself from its options (for_options): scpi and folder check them
        # here, named by field; manual/command/python leave a bad option to campaign_checks (also named).
        registry.configured_class(self.kind, self.options)
        return self

    @property
    def role(self) -> str:
        """``synthesize`` or ``measure``, as the kind's driver declares (a generic driver: its options, ``for_options``)."""
        return registry.role(self.kind, self.options)

    @property
    def transport(self) -> str:
        """``zmq``, ``tcp`` (a VISA TCPIP socket), ``serial``, or what the driver class declares as
        ``dry_run_transport`` (e.g. ``folder``)."""
        declared = getattr(registry.driver_class(self.kind), "dry_run_transport", None)
        if isinstance(declared, str) and declared:
            return declared
        if self.address.startswith(("tcp://", "ipc://")):
            return "zmq"
        if self.address.upper().startswith("TCPIP") and self.address.upper().endswith("::SOCKET"):
            return "tcp"
        return "serial"


class ExecutionSpec(Strict):
    """How many experiments may be in flight at once (``agent/loop/batch.py``)."""

    parallel: int = Field(1, ge=1, le=1024)
    """1: one experiment at a time (the sequential loop); N > 1: up to N made and measured concurrently,
    on interchangeable instruments (a shared ``stage``) and instruments that take several jobs at once."""


class SupervisionSpec(Strict):
    approval_timeout_s: PositiveSeconds | None = None


class FaultPolicySpec(Strict):
    watchdog_s: PositiveSeconds = 600.0
    on_fault: str | None = Field(None, min_length=1)


NOTIFY_EVENTS = ("completed", "aborted", "faulted", "awaiting_approval", "stalled")


class NotifySpec(Strict):
    """Who to tell, and when (``agent/loop/notify.py``)."""

    command: str | None = Field(None, min_length=1)
    """A shell command, run with ``LABPILOT_EVENT`` set to the event as JSON."""
    url: str | None = Field(None, min_length=1, max_length=2000)
    """An http(s) URL the event is POSTed to as JSON."""
    events: list[Literal["completed", "aborted", "faulted", "awaiting_approval", "stalled"]] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS))
    approval_after_s: PositiveSeconds = 3600.0
    stalled_after_s: PositiveSeconds = 3600.0
    timeout_s: PositiveSeconds = 10.0

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        from urllib.parse import urlsplit

        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http:// or https:// URL with a host")
        try:
            parts.port
        except ValueError:
            raise ValueError(f"{v!r}: the port is not a number in 0..65535") from None
        return v


class ControlSpec(Strict):
    """Where the operator control endpoint listens, and how it authenticates.

    Loopback needs nothing; any wider bind needs a token (``token_file``, or
    the environment variable ``LABPILOT_CONTROL_TOKEN``) or CURVE keys.
    """

    endpoint: str = "tcp://127.0.0.1:0"
    token_file: str | None = Field(None, min_length=1)
    curve_secret_file: str | None = Field(None, min_length=1)
    curve_clients_dir: str | None = Field(None, min_length=1)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        from labpilot.agent.control.auth import parse_endpoint

        parse_endpoint(v)  # a ValueError names what is wrong
        return v

    @property
    def authenticated(self) -> bool:
        """A token file, or CURVE with a client allow-list (CURVE alone only encrypts)."""
        return self.token_file is not None or (self.curve_secret_file is not None
                                               and self.curve_clients_dir is not None)


class Campaign(Strict):
    """A validated campaign file."""

    #: ``[space]`` is the field ``space_`` (``space()`` is the planners' view): dumped under its TOML name.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, serialize_by_alias=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    #: Seeds the planner and, in a dry run, the simulators (numpy seeds are non-negative).
    seed: int = Field(0, ge=0, le=2**32 - 1)
    mode: Literal["unattended", "supervised"] = "unattended"
    #: Synthesize the next sample while the current one is measured (DESIGN.md §2).
    pipeline: bool = False
    initial_design: int = Field(default=5, ge=0, le=100_000)
    #: What the synthesizer receives; with a ``[space] pool``, pool columns (may then be empty: the id alone).
    parameters: list[ParameterSpec] = Field(default_factory=list)
    space_: SpaceSpec = Field(default_factory=SpaceSpec, alias="space")
    constraints: list[SimplexSpec] = Field(default_factory=list)
    objectives: list[ObjectiveSpec] = Field(min_length=1)
    planner: PlannerSpec = Field(default_factory=PlannerSpec)
    budget: BudgetSpec
    instruments: list[InstrumentSpec] = Field(min_length=1)
    supervision: SupervisionSpec = Field(default_factory=SupervisionSpec)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    faults: FaultPolicySpec = Field(default_factory=FaultPolicySpec)
    control: ControlSpec = Field(default_factory=ControlSpec)
    notify: NotifySpec = Field(default_factory=NotifySpec)
    #: Prior data for transfer learning (``[[prior]]``; ``planners/prior.py``), checked by ``labpilot validate``.
    prior: list[PriorSpec] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> "Campaign":
        pool = self.space_.pool
        if not self.parameters and pool is None:
            raise ValueError("parameters: at least one [[parameters]] table is needed (or a [space] pool)")
        if pool is None and (self.space_.id_column or self.space_.descriptors or self.space_.featurizer):
            raise ValueError("space: id_column, descriptors and featurizer describe a pool; space.pool is missing")
        names = [p.name for p in self.parameters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"parameters: duplicate names {dupes}")
        by_name = {p.name: p for p in self.parameters}
        for i, c in enumerate(self.constraints):
            for n in c.parameters:
                if n not in by_name:
                    raise ValueError(f"constraints[{i}]: {n!r} is not a parameter")
                if not isinstance(by_name[n], ContinuousSpec):
                    raise ValueError(f"constraints[{i}]: simplex parameter {n!r} must be continuous")
            lows = sum(by_name[n].low for n in c.parameters)
            highs = sum(by_name[n].high for n in c.parameters)
            if not lows <= c.total <= highs:
                raise ValueError(
                    f"constraints[{i}]: bounds of {c.parameters} make a sum of {c.total:g} "
                    f"impossible (the sum ranges over [{lows:g}, {highs:g}])"
                )
        inst_names = [i.name for i in self.instruments]
        if len(set(inst_names)) != len(inst_names):
            raise ValueError(f"instruments: duplicate names {inst_names}")
        synth = [i for i in self.instruments if i.role == "synthesize"]
        shared = len({i.stage for i in synth}) == 1 and synth[0].stage is not None if synth else False
        if not synth or (len(synth) > 1 and not shared):
            raise ValueError(
                f"instruments: exactly one synthesizer (kind {' or '.join(registry.synthesizer_kinds())}, "
                f"or a generic kind with options.role = \"synthesize\") "
                f"is needed, found {len(synth)}"
                + (f" ({', '.join(i.name for i in synth)}); interchangeable synthesizers must all name "
                   f"one stage (instruments[].stage = \"synthesis\")" if len(synth) > 1 else "")
            )
        self._check_execution()
        if not any(i.role == "measure" for i in self.instruments):
            raise ValueError("instruments: at least one measuring instrument is needed")
        if self.initial_design > self.budget.max_experiments:
            raise ValueError(
                f"initial_design ({self.initial_design}) exceeds budget.max_experiments "
                f"({self.budget.max_experiments})"
            )
        return self

    def _check_execution(self) -> None:
        """Instruments sharing a stage are interchangeable (one role, one kind), which needs parallel execution;
        pipelining is the sequential loop's overlap."""
        for stage, specs in self.stages().items():
            if len(specs) < 2:
                continue
            names = ", ".join(i.name for i in specs)
            if len({i.role for i in specs}) > 1:
                raise ValueError(f"instruments: stage {stage!r} mixes synthesizers and measurers ({names}); "
                                 f"instruments[].stage groups interchangeable instruments of one role")
            if len({i.kind for i in specs}) > 1:
                raise ValueError(f"instruments: stage {stage!r} mixes kinds "
                                 f"({', '.join(f'{i.name}: {i.kind}' for i in specs)}); "
                                 f"interchangeable instruments (instruments[].stage) must be of one kind")
            if self.execution.parallel < 2:
                raise ValueError(f"instruments: stage {stage!r} has {len(specs)} interchangeable instruments "
                                 f"({names}), which only parallel execution uses: set execution.parallel "
                                 f"to 2 or more")
        if self.execution.parallel > 1 and self.pipeline:
            raise ValueError("pipeline: true overlaps one synthesis with one measurement in the sequential loop; "
                             f"execution.parallel = {self.execution.parallel} already runs experiments "
                             "concurrently: set pipeline = false")

    def stage_of(self, spec: InstrumentSpec) -> str:
        """The stage ``spec`` serves: its ``stage``, else its own name."""
        return spec.stage or spec.name

    def stages(self) -> dict[str, list[InstrumentSpec]]:
        """Every stage and its interchangeable instruments, in the campaign's order."""
        out: dict[str, list[InstrumentSpec]] = {}
        for spec in self.instruments:
            out.setdefault(self.stage_of(spec), []).append(spec)
        return out

    @property
    def synthesizer(self) -> InstrumentSpec:
        """The synthesizer (the first, where interchangeable ones share its stage)."""
        return next(i for i in self.instruments if i.role == "synthesize")

    @property
    def synthesizers(self) -> list[InstrumentSpec]:
        """Every synthesizer: one, or several interchangeable ones sharing one stage."""
        return [i for i in self.instruments if i.role == "synthesize"]

    @property
    def measurers(self) -> list[InstrumentSpec]:
        return [i for i in self.instruments if i.role == "measure"]

    def measure_stages(self) -> list[list[InstrumentSpec]]:
        """The measuring stages in order, each a list of interchangeable measurers (one measures a sample)."""
        return [specs for specs in self.stages().values() if specs[0].role == "measure"]

    def space(self) -> Space:
        """The planners' view of the search space."""
        params = []
        for p in self.parameters:
            if isinstance(p, ContinuousSpec):
                params.append(ContinuousParam(p.name, p.low, p.high))
            elif isinstance(p, IntegerSpec):
                params.append(IntegerParam(p.name, p.low, p.high))
            else:
                params.append(CategoricalParam(p.name, tuple(p.choices)))
        simplex = tuple(SimplexConstraint(tuple(c.parameters), c.total) for c in self.constraints)
        space = Space(tuple(params), simplex)
        if self.space_.pool is None:
            return space
        from labpilot.planners.pool_table import read_pool

        if not self.space_.id_column:
            from labpilot.errors import PoolError

            raise PoolError("space.id_column", "required with space.pool: the column of unique row ids")
        table = read_pool(self.space_.pool, self.space_.id_column, space, self.space_.descriptors,
                          self.space_.featurizer)  # cached: read once per file version
        return Space(space.params, simplex, candidates=table)

    def planner_objectives(self) -> list[Objective]:
        return [Objective(o.name, o.direction, o.low, o.high) for o in self.objectives]


def _loc(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Turn a pydantic error location into a readable path like instruments[1].limits."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            if isinstance(node, list) and item < len(node):
                named = node[item].get("name") if isinstance(node[item], dict) else None
                if named:
                    parts[-1] = f"[{item}]({named})"
            node = node[item] if isinstance(node, list) and item < len(node) else None
        elif item in ("continuous", "integer", "categorical", "simplex") and parts:
            continue  # discriminator tag, not a field
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(file)"


def parse_campaign(data: dict[str, Any], source: str = "<campaign>") -> Campaign:
    """Validate a parsed TOML mapping, raising ``CampaignError`` with every problem."""
    try:
        return Campaign.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field (check its spelling)"
            problems.append((_loc(err["loc"], data), msg))
        raise CampaignError(source, problems) from None


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file.

    The file's folder joins the import path (here and, as ``--import-path``,
    in the simulators a dry run starts), so a campaign may name
    an instrument kind ``mylab.probe:FourPointProbe`` whose ``mylab/`` sits
    next to it, without packaging it.
    """
    path = Path(path)
    add_import_path(path.resolve().parent)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CampaignError(str(path), [("(file)", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(str(path), [("(file)", f"cannot be read: {exc}")]) from None
    return loads_campaign(text, str(path), base=path.resolve().parent)


def loads_campaign(text: str, source: str = "<campaign>", base: Path | None = None) -> Campaign:
    """Parse and validate campaign TOML text; ``base``: the folder relative file names are in."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(source, [("(toml)", f"not valid TOML: {exc}")]) from None
    if base is not None:
        _absolute_space_paths(data, base)
        make_refs_absolute(data, base)  # an instrument's file.py:function, like the featurizer (agent.code_refs)
        make_cwds_absolute(data, base)  # where a command instrument runs: this folder (agent.command_cwd)
    return parse_campaign(data, source)


def _absolute_space_paths(data: dict[str, Any], base: Path) -> None:
    """``[space] pool`` (and a ``file.py:function`` featurizer) relative to the campaign file's folder.

    Made absolute before validation, so the configuration the store keeps
    (and a resumed run re-reads) names the same file from any working directory.
    """
    space = data.get("space")
    if not isinstance(space, dict):
        return
    pool = space.get("pool")
    if isinstance(pool, str) and pool and not Path(pool).is_absolute():
        space["pool"] = str(base / pool)
    feat = space.get("featurizer")
    if isinstance(feat, str):
        space["featurizer"] = absolute_ref(feat, base)  # the same rule as an instrument's function file
