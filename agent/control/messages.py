"""Messages of the operator control channel: what crosses the ZeroMQ socket.

A request is one JSON object, ``{"v": 1, "cmd": NAME, "args": {...},
"token": optional}``; a reply is ``{"v": 1, "ok": bool, "result": {...} |
null, "error": str | null}``. Both are pydantic models validated strictly
(a string is not an integer, unknown fields are refused), so that a typo in
an operator command is an error that names the field, never a silent guess.
Nothing is pickled: the wire carries UTF-8 JSON only.

``decode_request`` turns raw bytes into a typed request or raises
``ControlProtocolError`` whose message says exactly what is wrong; the
server sends that message back as the reply's ``error``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, create_model, model_validator

from labpilot.agent.control.commands import COMMANDS as _REGISTRY  # the one declaration of each command
from labpilot.agent.control.commands import CommandArgs, OperatorCommand
from labpilot.errors import ControlProtocolError
from labpilot.protocols import json_codec
from labpilot.protocols.strict import Strict
from labpilot.protocols.strict import describe_validation_error as _describe

PROTOCOL_VERSION = 1
"""The only wire version this code speaks."""

MAX_REQUEST_BYTES = 64 * 1024
"""Larger requests are refused before parsing: no operator command needs more."""

MAX_REPLY_BYTES = 64 * 1024 * 1024
"""A reply carries a campaign's status or queue: large, but bounded."""


# ------------------------------------------------------------------ requests


class ControlRequest(Strict):
    """A validated request: dispatch on ``cmd``, read ``args`` (that command's arguments model).

    One subclass per operator command is generated from the registry
    (``control.commands.COMMANDS``); nothing here names a command.
    """

    v: Literal[1] = PROTOCOL_VERSION
    token: str | None = None
    #: Who sends it (``cli:alice@lab-pc``, ``web:bob@10.0.0.9``): journaled with the command.
    actor: Annotated[str, Field(max_length=200)] | None = None
    cmd: str
    args: CommandArgs


def _request_model(command: OperatorCommand) -> type[ControlRequest]:
    """The wire model of one command: ``cmd`` fixed to its name, ``args`` its arguments model."""
    try:  # arguments that validate empty are optional on the wire (``args`` may be left out)
        args: Any = (command.args, command.args())
    except ValidationError:  # a required field, or a rule such as "ids or all"
        args = (command.args, ...)
    fields: dict[str, Any] = {"cmd": (Literal[command.name], command.name), "args": args}
    model: type[ControlRequest] = create_model(
        f"{command.name.capitalize()}Request", __base__=ControlRequest, __module__=__name__, **fields,
    )
    return model


REQUEST_TYPES: dict[str, type[ControlRequest]] = {name: _request_model(c) for name, c in _REGISTRY.items()}
COMMAND_NAMES: tuple[str, ...] = tuple(REQUEST_TYPES)

_ANY_REQUEST: Any = Union.__getitem__(tuple(REQUEST_TYPES.values()))
_REQUEST_ADAPTER: TypeAdapter[Any] = TypeAdapter(Annotated[_ANY_REQUEST, Field(discriminator="cmd")])


# --------------------------------------------------------------------- reply


class ControlReply(Strict):
    """The answer to every request: ``ok`` with a result, or the reason why not."""

    v: Literal[1] = PROTOCOL_VERSION
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None

    @model_validator(mode="after")
    def _ok_xor_error(self) -> "ControlReply":
        if self.ok and self.error is not None:
            raise ValueError("a reply with ok=true must not carry an error")
        if not self.ok and not self.error:
            raise ValueError("a reply with ok=false must say why in 'error'")
        return self

    @classmethod
    def success(cls, result: dict[str, Any] | None = None) -> "ControlReply":
        return cls(ok=True, result=result if result is not None else {})

    @classmethod
    def failure(cls, error: str) -> "ControlReply":
        return cls(ok=False, error=error)

    def to_bytes(self) -> bytes:
        """UTF-8 JSON; numpy scalars and arrays in the result become numbers and lists."""
        return self.model_dump_json(fallback=_numpy_to_json).encode("utf-8")


def _numpy_to_json(value: Any) -> Any:
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


# ---------------------------------------------------------- encode / decode


def describe_validation_error(exc: ValidationError, *, drop_tag: bool = True) -> str:
    """One line per problem, ``field.path: message``, for humans at a terminal.

    ``drop_tag`` removes the union tag pydantic puts first in the location
    (``approve.args.id`` becomes ``args.id``). The formatter itself is the
    shared ``protocols.strict.describe_validation_error``.
    """
    return _describe(exc, union_tags=COMMAND_NAMES if drop_tag else ())


def decode_json_object(raw: bytes, *, what: str = "request", limit: int = MAX_REQUEST_BYTES) -> dict[str, Any]:
    """Bytes -> a JSON object, with an error naming the first thing wrong.

    The one bounded strict decoder (``protocols.json_codec``): size, nesting
    depth and number length are checked before ``json.loads`` can recurse or
    convert, so no frame raises anything but ``ControlProtocolError``.
    """
    return json_codec.decode_json_object(raw, what=what, error=ControlProtocolError, max_bytes=limit)


def validate_request(obj: dict[str, Any]) -> ControlRequest:
    """A parsed JSON object -> a typed request, or ``ControlProtocolError``."""
    version = obj.get("v")
    if "v" in obj and (type(version) is not int or version != PROTOCOL_VERSION):
        raise ControlProtocolError(
            f"unsupported protocol version v={obj['v']!r}; this endpoint speaks v={PROTOCOL_VERSION}"
        )
    if "v" not in obj:
        raise ControlProtocolError(f"missing field 'v' (protocol version, must be {PROTOCOL_VERSION})")
    try:
        return _REQUEST_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        raise ControlProtocolError("invalid request: " + describe_validation_error(exc)) from None


def decode_request(raw: bytes) -> ControlRequest:
    """Raw bytes from the socket -> a typed request, or ``ControlProtocolError``."""
    return validate_request(decode_json_object(raw))


def make_request(cmd: str, args: dict[str, Any] | None = None, token: str | None = None,
                 actor: str | None = None) -> ControlRequest:
    """Build (and validate) a request, as the client does before sending it."""
    if cmd not in REQUEST_TYPES:
        raise ControlProtocolError(f"unknown command {cmd!r}; expected one of: {', '.join(COMMAND_NAMES)}")
    obj = {"v": PROTOCOL_VERSION, "cmd": cmd, "args": args or {}, "token": token}
    if actor is not None:
        obj["actor"] = actor
    return validate_request(obj)


def encode_request(request: ControlRequest) -> bytes:
    return request.model_dump_json().encode("utf-8")


def decode_reply(raw: bytes) -> ControlReply:
    """Raw reply bytes -> ``ControlReply``, or ``ControlProtocolError``."""
    obj = decode_json_object(raw, what="reply", limit=MAX_REPLY_BYTES)
    try:
        return ControlReply.model_validate(obj)
    except ValidationError as exc:
        raise ControlProtocolError("malformed reply: " + describe_validation_error(exc, drop_tag=False)) from None


# ------------------------------------------------------------ CLI --set args

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(?:\d++(?:\.\d*+)?|\.\d++)(?:[eE][+-]?\d++)?$")  # possessive: linear


def parse_value(text: str) -> int | float | str:
    """``"3"`` -> 3, ``"0.25"``/``"1e-3"`` -> float, anything else stays a string."""
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"{text!r} is not a finite number")
        return value
    return text


def parse_set_args(items: list[str], flag: str = "--set") -> dict[str, int | float | str]:
    """Parse the CLI's ``--set NAME=VALUE`` items (or another ``flag``'s) into values.

    Numbers become ``int``/``float``; other values stay strings (categorical
    levels such as ``Fe``). Raises ``ValueError`` naming the offending item.
    """
    values: dict[str, int | float | str] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{flag} item {item!r} must look like NAME=VALUE")
        name, _, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not name:
            raise ValueError(f"{flag} item {item!r} has no NAME before '='")
        if not _NAME_RE.match(name):
            raise ValueError(
                f"{flag} item {item!r}: parameter name {name!r} may use only letters, digits, '_', '.', '-'"
            )
        if not raw:
            raise ValueError(f"{flag} item {item!r} has no VALUE after '='")
        if name in values:
            raise ValueError(f"{flag} gives parameter {name!r} twice")
        try:
            values[name] = parse_value(raw)
        except ValueError as exc:
            raise ValueError(f"{flag} item {item!r}: {exc}") from None
    if not values:
        raise ValueError(f"no {flag} NAME=VALUE given")
    return values
