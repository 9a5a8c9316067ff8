"""Command-line arguments derived from a pydantic arguments model.

Each field becomes one argument, with the field's ``description`` as its help:
a required scalar is positional, a ``bool`` a flag (``--now``), anything else
an option (``--reason TEXT``); a mapping is a repeatable ``NAME=VALUE``
option spelled as its ``CliOption`` says (``--set``). ``namespace_to_args``
turns the parsed namespace back into the model's field values.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from labpilot.agent.control.commands import CliHidden, CliOption
from labpilot.errors import UsageError


def _cli_option(info: FieldInfo) -> CliOption | None:
    return next((m for m in info.metadata if isinstance(m, CliOption)), None)


def _base_type(annotation: Any) -> Any:
    """``int | None`` -> ``int``; ``Annotated[int, ...]`` -> ``int``."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _base_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _base_type(args[0])
    return annotation


def _hidden(annotation: Any) -> bool:
    """``Annotated[..., CliHidden()]`` anywhere in the annotation (also inside ``X | None``)."""
    if typing.get_origin(annotation) is Annotated and any(isinstance(m, CliHidden) for m in typing.get_args(annotation)[1:]):
        return True
    return any(_hidden(a) for a in typing.get_args(annotation) if typing.get_origin(a) is Annotated)


def _dest(name: str) -> str:
    return f"arg_{name}"


def add_model_arguments(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """Add one argument per field of ``model`` to ``parser`` (help from the field's description)."""
    for name, info in model.model_fields.items():
        if any(isinstance(m, CliHidden) for m in info.metadata) or _hidden(info.annotation):
            continue
        help_text = info.description or name
        kind = _base_type(info.annotation)
        option = _cli_option(info)
        if typing.get_origin(kind) is dict:
            flag = option.flag if option else f"--{name.replace('_', '-')}"
            parser.add_argument(flag, dest=_dest(name), action="append", required=info.is_required(),
                                metavar=option.metavar if option else "NAME=VALUE", help=help_text)
        elif typing.get_origin(kind) is list:
            # a list of ids: positional, any number (``approve 4 5 6``)
            parser.add_argument(_dest(name), metavar=name.upper().rstrip("S"), nargs="*",
                                type=_base_type(typing.get_args(kind)[0]), help=help_text)
        elif typing.get_origin(kind) is typing.Literal:
            choices = list(typing.get_args(kind))
            if info.is_required():
                parser.add_argument(_dest(name), metavar=name.upper(), choices=choices, help=help_text)
            else:
                parser.add_argument(f"--{name.replace('_', '-')}", dest=_dest(name), choices=choices, help=help_text)
        elif kind is bool:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=_dest(name), action="store_true", help=help_text)
        elif info.is_required():
            parser.add_argument(_dest(name), metavar=name.upper(), type=kind, help=help_text)
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=_dest(name), type=kind,
                                metavar=name.upper(), help=help_text)


def namespace_to_args(ns: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The parsed values of ``model``'s fields (options left out are left out)."""
    from labpilot.agent.control.messages import parse_set_args

    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        value = getattr(ns, _dest(name), None)
        if value is None or (value == [] and typing.get_origin(_base_type(info.annotation)) is list):
            continue
        if typing.get_origin(_base_type(info.annotation)) is dict:
            option = _cli_option(info)
            try:
                value = parse_set_args(value, option.flag if option else f"--{name.replace('_', '-')}")
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        out[name] = value
    return out
