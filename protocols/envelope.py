"""The labpilot ZeroMQ JSON envelope: typed requests and replies, framing, arrays.

Shared by the ZeroMQ drivers (client side) and simulators (server side).

Frames
    One ZeroMQ message part per request or reply: a JSON object encoded as
    **ASCII-only** UTF-8 (non-ASCII characters travel as ``\\uXXXX``
    escapes), at most ``MAX_FRAME_BYTES``. Any byte outside 0x20-0x7E
    (besides JSON whitespace) is a protocol error: that is how a garbled
    frame is detected. Frames are decoded by ``protocols.json_codec``: at
    most ``MAX_DEPTH`` levels of nesting, number literals of at most
    ``MAX_NUMBER_CHARS`` characters, no ``NaN``/``Infinity``, no duplicate
    keys; the sockets drop a peer that sends more than ``MAX_WIRE_BYTES``.

Request (client → instrument)
    ``{"id": str, "cmd": str, "args": {...}, "version": "1.0"}``. ``id`` is
    the *request* id, chosen by the client and reused verbatim when the
    client resends after a lost reply (Lazy Pirate); it only pairs replies
    with requests. Non-idempotent actions carry their own *command id* in
    ``args["command_id"]``, which the instrument uses for duplicate
    suppression. ``version`` is optional; an instrument refuses a request
    whose protocol major version differs from its own.

Reply (instrument → client)
    ``{"id": str, "ok": true, "result": {...}}`` or
    ``{"id": str, "ok": false, "error": {"code": int, "message": str}}``.
    ``id`` echoes the request id (``null`` when the request itself could not
    be parsed). Codes: negative ones follow SCPI (``-100`` bad request,
    ``-113`` unknown command, ``-109`` missing parameter, ``-222`` value out
    of range); positive ones are instrument-specific (see ``ERR_*``).

Arrays
    Numeric arrays (an XRD pattern of thousands of points) travel as
    ``{"__ndarray__": {"dtype": "<f8", "shape": [n], "data": "<base64>"}}``,
    little-endian, of one of ``ARRAY_DTYPES``: compact and exact, with no
    float formatting on either side. ``encode_array`` / ``decode_array``
    convert; ``decode_arrays`` walks a result dict.

Connect
    A client first sends ``hello``; the reply carries ``protocol``
    (``PROTOCOL_NAME``), ``version``, ``instrument`` (kind) and ``idn``.
    ``check_version`` refuses an incompatible major version.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError, model_validator

from labpilot.errors import EnvelopeError
from labpilot.protocols.json_codec import MAX_DEPTH, decode_json_object, nesting_depth
from labpilot.protocols.strict import Strict, describe_validation_error

#: Name and version of this wire protocol, announced by ``hello``.
PROTOCOL_NAME = "labpilot-zmq"
PROTOCOL_VERSION = "1.0"
#: Largest frame either side accepts (a 10^6-point float64 pattern fits).
MAX_FRAME_BYTES = 16 * 1024 * 1024
#: ``zmq.MAXMSGSIZE`` of the sockets: libzmq drops a peer that sends more. A little
#: above ``MAX_FRAME_BYTES``, so a frame just over the limit still gets an error reply.
MAX_WIRE_BYTES = MAX_FRAME_BYTES + 64 * 1024
#: Array dtypes allowed on the wire.
ARRAY_DTYPES = ("<f8", "<f4", "<i8", "<i4")

# SCPI-style error codes used by every ZeroMQ instrument.
ERR_BAD_REQUEST = -100
ERR_MISSING_PARAMETER = -109
ERR_UNKNOWN_COMMAND = -113
ERR_OUT_OF_RANGE = -222
ERR_VERSION = -300
ERR_UNKNOWN_SAMPLE = 201
ERR_UNKNOWN_COMMAND_ID = 202
ERR_BUSY = 210
ERR_HARDWARE = 301

_ARRAY_KEY = "__ndarray__"


class Request(Strict):
    """A command to an instrument."""

    id: str = Field(min_length=1, max_length=128)
    cmd: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    args: dict[str, Any] = Field(default_factory=dict)
    version: str | None = Field(default=None, pattern=r"^\d+\.\d+$")


class ErrorInfo(Strict):
    """Why an instrument refused or failed a command."""

    code: int
    message: str


class Reply(Strict):
    """An instrument's answer: ``result`` when ``ok``, else ``error``."""

    id: str | None = Field(max_length=128)
    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "Reply":
        if self.ok and (self.result is None or self.error is not None):
            raise ValueError("an ok reply carries a result object and no error")
        if not self.ok and (self.error is None or self.result is not None):
            raise ValueError("a failed reply carries an error object and no result")
        return self

    @classmethod
    def success(cls, request_id: str | None, result: dict[str, Any] | None = None) -> "Reply":
        return cls(id=request_id, ok=True, result=result if result is not None else {})

    @classmethod
    def failure(cls, request_id: str | None, code: int, message: str) -> "Reply":
        return cls(id=request_id, ok=False, error=ErrorInfo(code=code, message=message))


def _dump(obj: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise EnvelopeError(f"cannot encode message: {type(exc).__name__}: {str(exc)[:200]}") from None
    data = text.encode("ascii")
    if len(data) > MAX_FRAME_BYTES:
        raise EnvelopeError(f"frame of {len(data)} bytes exceeds MAX_FRAME_BYTES={MAX_FRAME_BYTES}")
    if nesting_depth(data) > MAX_DEPTH:  # same rules both ways: the peer would refuse it
        raise EnvelopeError(f"cannot encode message: nested deeper than {MAX_DEPTH} levels")
    return data


def _load(data: bytes, what: str) -> dict[str, Any]:
    """A frame → its JSON object, through the one bounded strict decoder."""
    return decode_json_object(
        data, what=f"{what} frame", error=EnvelopeError, max_bytes=MAX_FRAME_BYTES, ascii_only=True
    )


def _model(cls: type[BaseModel], obj: dict[str, Any], what: str) -> Any:
    try:
        return cls.model_validate(obj)
    except ValidationError as exc:
        raise EnvelopeError(f"invalid {what}: {describe_validation_error(exc)}") from None


def encode_request(request: Request) -> bytes:
    """A request's frame bytes."""
    return _dump(request.model_dump(exclude_none=True))


def decode_request(data: bytes) -> Request:
    """Parse a request frame; any malformed input raises ``EnvelopeError``."""
    return _model(Request, _load(data, "request"), "request")


def encode_reply(reply: Reply) -> bytes:
    """A reply's frame bytes (``id`` always present, ``null`` if unknown)."""
    obj = reply.model_dump(exclude_none=True)
    obj["id"] = reply.id
    return _dump(obj)


def decode_reply(data: bytes) -> Reply:
    """Parse a reply frame; any malformed input raises ``EnvelopeError``."""
    obj = _load(data, "reply")
    obj.setdefault("id", None)
    return _model(Reply, obj, "reply")


def peek_request_id(data: bytes) -> str | None:
    """Best-effort request id of a frame that failed to decode (for the error reply)."""
    try:
        obj = _load(data, "request")
    except EnvelopeError:
        return None
    if isinstance(obj.get("id"), str) and 0 < len(obj["id"]) <= 128:
        return obj["id"]
    return None


def check_version(theirs: str, ours: str = PROTOCOL_VERSION) -> None:
    """Refuse a peer whose protocol major version differs from ours (``EnvelopeError``)."""
    try:
        their_major = int(str(theirs).split(".")[0])
    except ValueError:
        raise EnvelopeError(f"peer announced an unreadable protocol version {theirs!r}") from None
    if their_major != int(ours.split(".")[0]):
        raise EnvelopeError(
            f"incompatible protocol version {theirs!r}: this side speaks {PROTOCOL_NAME} {ours}"
        )


def encode_array(values: Any, dtype: str = "<f8") -> dict[str, Any]:
    """A numeric array in wire form (``{"__ndarray__": {dtype, shape, data}}``)."""
    if dtype not in ARRAY_DTYPES:
        raise EnvelopeError(f"array dtype {dtype!r} not allowed; use one of {ARRAY_DTYPES}")
    arr = np.ascontiguousarray(np.asarray(values), dtype=np.dtype(dtype))
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise EnvelopeError("array contains non-finite values (nan/inf are not allowed on the wire)")
    return {_ARRAY_KEY: {"dtype": dtype, "shape": list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode("ascii")}}


def is_array(value: Any) -> bool:
    """Whether ``value`` is an array in wire form."""
    return isinstance(value, dict) and set(value) == {_ARRAY_KEY}


def decode_array(value: Any) -> np.ndarray:
    """The numpy array of a wire-form array; a malformed one raises ``EnvelopeError``."""
    if not is_array(value) or not isinstance(value[_ARRAY_KEY], dict):
        raise EnvelopeError(f"not a wire array (expected {{{_ARRAY_KEY!r}: {{dtype, shape, data}}}})")
    spec = value[_ARRAY_KEY]
    if set(spec) != {"dtype", "shape", "data"}:
        raise EnvelopeError(f"wire array needs exactly dtype, shape, data; got {sorted(spec)}")
    dtype, shape, data = spec["dtype"], spec["shape"], spec["data"]
    if dtype not in ARRAY_DTYPES:
        raise EnvelopeError(f"wire array dtype {dtype!r} not allowed; use one of {ARRAY_DTYPES}")
    if (
        not isinstance(shape, list)
        or len(shape) > 8
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise EnvelopeError(f"wire array shape must be a list of non-negative ints, got {shape!r}")
    if not isinstance(data, str):
        raise EnvelopeError("wire array data must be a base64 string")
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise EnvelopeError(f"wire array data is not base64: {exc}") from None
    itemsize = np.dtype(dtype).itemsize
    count = math.prod(shape)
    if len(raw) != count * itemsize:
        raise EnvelopeError(
            f"wire array data has {len(raw)} bytes, shape {shape} of {dtype} needs {count * itemsize}"
        )
    arr = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise EnvelopeError("wire array contains non-finite values")
    return arr.astype(arr.dtype.newbyteorder("="), copy=True)


def decode_arrays(obj: Any, max_depth: int = MAX_DEPTH) -> Any:
    """A copy of ``obj`` with every wire array (at any depth up to ``max_depth``) decoded to numpy.

    Deeper nesting is an ``EnvelopeError``, never a ``RecursionError``: a
    result dict built by hand (not decoded from a bounded frame) may be deep.
    """
    return _decode_arrays(obj, max_depth)


def _decode_arrays(obj: Any, depth_left: int) -> Any:
    if is_array(obj):
        return decode_array(obj)
    if isinstance(obj, (dict, list)):
        if depth_left <= 0:
            raise EnvelopeError("result nested too deep for the wire (limit reached while decoding arrays)")
        if isinstance(obj, dict):
            return {k: _decode_arrays(v, depth_left - 1) for k, v in obj.items()}
        return [_decode_arrays(v, depth_left - 1) for v in obj]
    return obj
