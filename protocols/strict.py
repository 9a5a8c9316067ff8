"""The one strict pydantic base and the one validation-error formatter.

Every wire message (ZeroMQ envelope, operator control requests) and every
campaign model is a ``Strict`` model: unknown fields are refused, values are
frozen, and on the wire no type coercion happens (``"1"`` is not an integer).
``describe_validation_error`` turns pydantic's error list into one line a
person at a terminal can act on: ``field.path: what is wrong (got ...)``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Strict(BaseModel):
    """Unknown fields refused, no coercion, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


#: The members pydantic tries, one error each, for ``int | float | str``.
_SCALAR_UNION_MEMBERS = {"int", "float", "str"}


def describe_validation_error(
    exc: ValidationError,
    *,
    union_tags: Collection[str] = (),
    tag_field: str = "cmd",
    tag_noun: str = "command",
) -> str:
    """One ``;``-separated problem per failing field, ``field.path: message``.

    ``union_tags`` are the tags of a discriminated union (the command
    names): pydantic puts the tag first in each location, which is dropped
    (``approve.args.id`` becomes ``args.id``), and an unknown or missing tag
    is reported as ``unknown command 'x'; expected one of: ...``. The
    failed attempts of an ``int | float | str`` union are said once.
    """
    tags = tuple(union_tags)
    lines: list[str] = []
    union_locs: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        if loc and loc[0] in tags:
            loc = loc[1:]
        kind = err["type"]
        if len(loc) >= 2 and loc[-1] in _SCALAR_UNION_MEMBERS and kind.endswith("_type"):
            where = ".".join(loc[:-1])
            if where not in union_locs:
                union_locs.add(where)
                lines.append(f"{where}: expected a number or a string (got {short_repr(err.get('input'))})")
            continue
        where = ".".join(loc)
        if kind == "union_tag_invalid":
            got = err["input"].get(tag_field) if isinstance(err.get("input"), dict) else None
            msg = f"unknown {tag_noun} {got!r}; expected one of: {', '.join(tags)}"
        elif kind == "union_tag_not_found":
            msg = f"missing field {tag_field!r} (one of: {', '.join(tags)})"
        elif kind == "extra_forbidden":
            msg = "unexpected field (not part of this message)" if not tags else f"unexpected field (not part of this {tag_noun})"
        elif kind == "missing":
            msg = "required field is missing"
        elif kind == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
        else:
            msg = err["msg"]
            if "input" in err:
                msg += f" (got {short_repr(err['input'])})"
        lines.append(f"{where}: {msg}" if where else msg)
    return "; ".join(lines)


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters (inputs may be huge)."""
    if isinstance(value, (dict, list)) and len(value) >= 50:
        text = f"<{type(value).__name__} of {len(value)} items>"
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        text = f"<int of {value.bit_length()} bits>"  # repr of a 4,300-digit int raises ValueError
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Pydantic's errors as ``(field.path, reason)`` pairs, worded for a person editing a file.

    Used for option tables (a driver's or a planner's ``Options`` model),
    where the caller prefixes the path (``instruments[1](xrd).options``).
    The failed members of a union (``'auto'`` or an integer 1-8) are said
    in one reason.
    """
    reasons: dict[str, list[str]] = {}
    got: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"] if not _is_tag(part))
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = "unknown option (check its spelling)"
        elif kind == "missing":
            msg = "required option is missing"
        elif kind == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
        else:
            msg = str(err["msg"]).replace("Input should be", "must be")
            if "input" in err and not isinstance(err["input"], dict):
                got[where] = f" (got {short_repr(err['input'])})"
        reasons.setdefault(where, []).append(msg)
    return [(where, ", or ".join(msgs) + got.get(where, "")) for where, msgs in reasons.items()]


def _is_tag(part: Any) -> bool:
    """Pydantic's union-member tags in a location (``function-after[...]``, ``constrained-int``, ``literal[...]``)."""
    return isinstance(part, str) and (part in _SCALAR_UNION_MEMBERS or "[" in part or part.startswith("constrained-")
                                      or part in ("bool", "list", "dict"))


def did_you_mean(name: str, known: Collection[str]) -> str:
    """`` (did you mean 'acquisition'?)`` for a misspelt ``name``, or an empty string."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
