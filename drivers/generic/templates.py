"""Command templates and reply parsing shared by the generic drivers.

A template is a Python format string whose fields are plain names
(``"POW {power_w:.1f}"``, ``"MEAS:START {command_id},{sample_id}"``):
attribute and index access (``{x.y}``, ``{x[0]}``) are refused, so a
campaign file can only insert values, never reach into objects. Templates are
checked when the campaign is validated (every field must be a name the
driver will supply) and rendered before anything is sent, so a missing value
never leaves a half-sent sequence.
"""

from __future__ import annotations

import math
import re
import string
from typing import Any, Iterable, Mapping

#: Longest number text accepted from an instrument (as the SCPI codec).
MAX_NUMBER_CHARS = 100
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def template_fields(template: str) -> list[str]:
    """The names a template uses; ``ValueError`` for a malformed one or a field that is not a plain name."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"template {template!r} is malformed: {exc}") from None
    names = []
    for _, field, spec, _ in parts:
        if field is None:
            continue
        if not field.isidentifier():
            raise ValueError(f"template {template!r}: field {{{field}}} must be a plain name")
        if spec and "{" in spec:
            raise ValueError(f"template {template!r}: nested fields in a format spec are not allowed")
        names.append(field)
    return names


def check_templates(templates: Iterable[str], known: Iterable[str], where: str) -> None:
    """Every field of every template is one of ``known``; ``ValueError`` naming ``where[i]`` otherwise."""
    allowed = set(known)
    for i, template in enumerate(templates):
        try:
            fields = template_fields(template)
        except ValueError as exc:
            raise ValueError(f"{where}[{i}]: {exc}") from None
        unknown = [f for f in fields if f not in allowed]
        if unknown:
            raise ValueError(
                f"{where}[{i}]: {template!r} uses {{{unknown[0]}}}, which is not one of {sorted(allowed)}"
            )


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill a checked template; ``ValueError`` naming the template when a value does not fit its format."""
    try:
        return template.format_map(dict(values))
    except KeyError as exc:
        raise ValueError(f"template {template!r} needs a value for {exc.args[0]!r}") from None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"template {template!r}: {exc}") from None


def parse_float(text: str, what: str) -> float:
    """A finite number from instrument text (``+1.25E+02``); ``ValueError`` naming ``what``."""
    s = text.strip()
    if len(s) > MAX_NUMBER_CHARS or not _NUMBER_RE.fullmatch(s):
        raise ValueError(f"{what}: {s[:60]!r} is not a number")
    value = float(s)
    if not math.isfinite(value):
        raise ValueError(f"{what}: {s[:60]!r} is out of range")
    return value


def extract(reply: str, *, regex: str | None, field: int | None, what: str) -> str:
    """The part of ``reply`` a query spec names: a comma-separated field, then a regex match.

    The regex's group ``value`` if it has one, else its group 1, else the whole match.
    """
    text = reply.strip()
    if field is not None:
        fields = [f.strip().strip('"') for f in text.split(",")]
        if field >= len(fields):
            raise ValueError(f"{what}: reply {text[:80]!r} has no field {field} (it has {len(fields)})")
        text = fields[field]
    if regex is not None:
        m = re.search(regex, text)
        if m is None:
            raise ValueError(f"{what}: reply {text[:80]!r} does not match {regex!r}")
        if "value" in m.groupdict():
            text = m.group("value")
        elif m.re.groups:
            text = m.group(1)
        else:
            text = m.group(0)
    return text


def check_regex(pattern: str | None, where: str) -> str | None:
    """A regex that compiles; ``ValueError`` naming ``where`` otherwise."""
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{where}: {pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


__all__ = ["check_regex", "check_templates", "extract", "parse_float", "render", "template_fields"]
