"""Campaign files: TOML, validated with pydantic.

A campaign file says what to make (the search space), what to optimize (the
objectives), how to choose (the planner), with what (the instruments and their
safety limits) and for how long (the budget). ``load_campaign`` returns a
validated ``Campaign`` or raises ``CampaignError`` listing every problem with
its field path, so ``labpilot validate`` can print them all at once.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labpilot.errors import CampaignError
from labpilot.planners.space import CategoricalParam, ContinuousParam, IntegerParam, Objective, SimplexConstraint, Space

#: Instrument kinds, their role in the loop and the scalars each one measures.
SYNTHESIZERS = {"sputter", "robot"}
MEASURER_SCALARS: dict[str, set[str]] = {
    "xrd": {"peak_two_theta"},
    "magnetometer": {"magnetization"},
    "dsc": {"melting_point", "crystallinity"},
    "tensile": {"tensile_modulus", "impact_strength"},
}
KINDS = sorted(SYNTHESIZERS | set(MEASURER_SCALARS))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContinuousSpec(_Strict):
    name: str = Field(min_length=1)
    type: Literal["continuous"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> "ContinuousSpec":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self


class IntegerSpec(_Strict):
    name: str = Field(min_length=1)
    type: Literal["integer"]
    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> "IntegerSpec":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class CategoricalSpec(_Strict):
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


class SimplexSpec(_Strict):
    type: Literal["simplex"]
    parameters: list[str] = Field(min_length=2)
    total: float = Field(default=1.0, gt=0)


class ObjectiveSpec(_Strict):
    name: str = Field(min_length=1)
    direction: Literal["maximize", "minimize"] = "maximize"
    low: float | None = None
    high: float | None = None


class PlannerSpec(_Strict):
    name: str = "bo"
    batch_size: int = Field(default=1, ge=1, le=64)
    options: dict[str, Any] = Field(default_factory=dict)


class BudgetSpec(_Strict):
    max_experiments: int = Field(ge=1, le=100_000)
    deadline: dt.datetime | None = None


class InstrumentSpec(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    kind: Literal["sputter", "robot", "xrd", "magnetometer", "dsc", "tensile"]
    address: str = Field(min_length=1)
    timeout_s: float = Field(default=5.0, gt=0)
    retries: int = Field(default=3, ge=0, le=20)
    limits: dict[str, float] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def role(self) -> str:
        return "synthesize" if self.kind in SYNTHESIZERS else "measure"

    @property
    def transport(self) -> str:
        return "zmq" if self.address.startswith(("tcp://", "ipc://")) else "serial"


class SupervisionSpec(_Strict):
    approval_timeout_s: float | None = Field(default=None, gt=0)


class FaultPolicySpec(_Strict):
    watchdog_s: float = Field(default=600.0, gt=0)
    on_fault: str | None = None


class ControlSpec(_Strict):
    """Where the operator control endpoint listens, and how it authenticates.

    Loopback needs nothing; any wider bind needs a token (``token_file``, or
    the environment variable ``LABPILOT_CONTROL_TOKEN``) or CURVE keys.
    """

    endpoint: str = "tcp://127.0.0.1:0"
    token_file: str | None = None
    curve_secret_file: str | None = None
    curve_clients_dir: str | None = None


class Campaign(_Strict):
    """A validated campaign file."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    seed: int = Field(default=0, ge=0)
    mode: Literal["unattended", "supervised"] = "unattended"
    #: Synthesize the next sample while the current one is measured (DESIGN.md §2).
    pipeline: bool = False
    initial_design: int = Field(default=5, ge=0)
    parameters: list[ParameterSpec] = Field(min_length=1)
    constraints: list[SimplexSpec] = Field(default_factory=list)
    objectives: list[ObjectiveSpec] = Field(min_length=1)
    planner: PlannerSpec = Field(default_factory=PlannerSpec)
    budget: BudgetSpec
    instruments: list[InstrumentSpec] = Field(min_length=1)
    supervision: SupervisionSpec = Field(default_factory=SupervisionSpec)
    faults: FaultPolicySpec = Field(default_factory=FaultPolicySpec)
    control: ControlSpec = Field(default_factory=ControlSpec)

    @model_validator(mode="after")
    def _consistent(self) -> "Campaign":
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
        for i, inst in enumerate(self.instruments):
            known = _known_limits(inst.kind)
            unknown = sorted(set(inst.limits) - set(known))
            if unknown:
                raise ValueError(
                    f"instruments[{i}]({inst.name}).limits: unknown safety limit(s) {unknown} for a {inst.kind}; "
                    f"its driver enforces {list(known)} (a limit that is not enforced would be unsafe)"
                )
        synth = [i for i in self.instruments if i.role == "synthesize"]
        if len(synth) != 1:
            raise ValueError(
                f"instruments: exactly one synthesizer (kind sputter or robot) is needed, found {len(synth)}"
            )
        if not any(i.role == "measure" for i in self.instruments):
            raise ValueError("instruments: at least one measuring instrument is needed")
        measurable = set().union(*(MEASURER_SCALARS[i.kind] for i in self.measurers))
        for j, o in enumerate(self.objectives):
            if o.name not in measurable:
                raise ValueError(
                    f"objectives[{j}].name: {o.name!r} is measured by none of the instruments "
                    f"(they measure {sorted(measurable)})"
                )
        if self.initial_design > self.budget.max_experiments:
            raise ValueError(
                f"initial_design ({self.initial_design}) exceeds budget.max_experiments "
                f"({self.budget.max_experiments})"
            )
        return self

    @property
    def synthesizer(self) -> InstrumentSpec:
        return next(i for i in self.instruments if i.role == "synthesize")

    @property
    def measurers(self) -> list[InstrumentSpec]:
        return [i for i in self.instruments if i.role == "measure"]

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
        return Space(tuple(params), simplex)

    def planner_objectives(self) -> list[Objective]:
        return [Objective(o.name, o.direction, o.low, o.high) for o in self.objectives]


def _known_limits(kind: str) -> tuple[str, ...]:
    """The safety limits the driver of ``kind`` enforces."""
    from labpilot.drivers import driver_class

    return tuple(driver_class(kind).known_limits)


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
    """Read and validate a campaign file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CampaignError(str(path), [("(file)", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(str(path), [("(file)", f"cannot be read: {exc}")]) from None
    return loads_campaign(text, str(path))


def loads_campaign(text: str, source: str = "<campaign>") -> Campaign:
    """Parse and validate campaign TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(source, [("(toml)", f"not valid TOML: {exc}")]) from None
    return parse_campaign(data, source)
