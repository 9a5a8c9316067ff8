"""The typed options every driver accepts, and the base a driver's own options extend.

A campaign's ``[instruments.options]`` table is validated against the driver
class's ``Options`` model (``extra="forbid"``): a misspelt option is an error
that names it, never silently ignored. A driver adds its own fields by
subclassing :class:`DriverOptions` and naming the subclass ``Options`` on the
class; ``DriverBase`` validates the table once at connect and keeps the result
as ``driver.settings``. ``labpilot validate`` runs the same validation
(:func:`option_problems`) without connecting.

Numbers are strict (``Number`` and friends): ``true`` or ``"1.5"`` is not a
number, an integer is. Each field's docstring is its documentation (``labpilot
plugins`` lists it).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Mapping, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labpilot.protocols.strict import field_problems

M = TypeVar("M", bound=BaseModel)

#: A finite number (an integer is accepted; a bool or a string is not).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
#: A finite number > 0.
PositiveNumber = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]
#: A finite number >= 0.
NonNegativeNumber = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
#: An integer >= 1 (a bool is not).
PositiveInt = Annotated[int, Field(strict=True, ge=1)]


class DriverOptions(BaseModel):
    """Options common to every driver (dry-run speed, retry back-off, polling, reconciliation)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    speed: PositiveNumber = 1.0
    """Virtual-clock speed of a dry run's simulator; wait limits are divided by it."""
    backoff_s: NonNegativeNumber = 0.05
    """Pause before a transport retry, seconds."""
    poll_s: PositiveNumber | None = None
    """Pause between status polls, seconds (default: scaled from the action's nominal time)."""
    on_error: Literal["fault", "fail"] = "fault"
    """What an error this instrument reports does: ``fault`` (default) stops the campaign for a person;
    ``fail`` fails only that experiment and the campaign goes on (a simulation that did not converge)."""
    reconcile: Annotated[bool, Field(strict=True)] = True
    """False: treat this instrument as unable to answer "what became of command id X" even when
    its driver can (recovery then asks an operator; see ``labpilot resolve``)."""


def option_problems(model: type[BaseModel], options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem of an options table as ``(option name, reason)``; empty when valid.

    A whole-model check (two options that contradict each other) names the
    option its message starts with.
    """
    try:
        model.model_validate(dict(options))
    except ValidationError as exc:
        return [_named(model, where, msg) for where, msg in field_problems(exc)]
    return []


def _named(model: type[BaseModel], where: str, msg: str) -> tuple[str, str]:
    if where:
        return where, msg
    first = msg.split(" ", 1)[0].rstrip(":,")
    return (first if first in model.model_fields else "(options)"), msg


def parse_options(model: type[DriverOptions], options: Mapping[str, Any], kind: str) -> DriverOptions:
    """The validated options, or an ``OptionsError`` naming every bad option."""
    from labpilot.errors import OptionsError

    problems = option_problems(model, options)
    if problems:
        raise OptionsError(kind, problems)
    return model.model_validate(dict(options))


def validated_options(model: type[M], options: Mapping[str, Any] | None) -> M:
    """``options`` checked against ``model``; a ``ValueError`` naming each bad one as ``options.<path>``.

    For a generic driver's class-level self-description (``for_options``), where the
    caller adds the instrument's own prefix (``instruments[2](magnetometer): ...``).
    """
    problems = option_problems(model, dict(options or {}))
    if problems:
        raise ValueError("; ".join(f"options.{where}: {msg}" if where != "(options)" else f"options.{msg}"
                                   for where, msg in problems))
    return model.model_validate(dict(options or {}))


def describe_options(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Each option's type, default and documentation (for listings such as ``labpilot plugins``)."""
    out: dict[str, dict[str, Any]] = {}
    for name, field in model.model_fields.items():
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        out[name] = {
            "type": _type_name(field.annotation),
            "default": default,
            "required": field.is_required(),
            "doc": (field.description or "").strip(),
        }
    return out


def _type_name(annotation: Any) -> str:
    """A readable type: ``float | None``, ``list[str]``, ``'auto' | int``."""
    import types
    from typing import Annotated as _Annotated, Literal, Union, get_args, get_origin

    origin, args = get_origin(annotation), get_args(annotation)
    if origin is _Annotated:
        return _type_name(args[0])
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


__all__ = [
    "DriverOptions", "NonNegativeNumber", "Number", "PositiveInt", "PositiveNumber",
    "describe_options", "option_problems", "parse_options", "validated_options",
]
