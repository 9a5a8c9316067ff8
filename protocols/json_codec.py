"""The one bounded, strict JSON decoder for every labpilot wire message.

Used by the ZeroMQ envelope (``protocols.envelope``), the operator control
channel (``agent.control.messages``) and the wire arrays. ``json.loads`` on
its own is unsafe facing a network: an integer of more than 4,300 digits
raises ``ValueError``, JSON nested ~1,000 deep raises ``RecursionError``,
``NaN``/``Infinity`` and ``1e999`` (which becomes ``inf``) slip through, and
duplicate keys silently keep the last value. ``decode_json_object`` refuses
all of these with one clear error, and every check runs in time linear in the
frame's length, before ``json.loads`` recurses:

1. the frame's size (``max_bytes``);
2. its bytes: valid UTF-8, or printable ASCII only (``ascii_only``);
3. its nesting depth (``max_depth``), counted on the frame with its string
   literals blanked out, so that brackets inside strings do not count;
4. then ``json.loads``, with hooks that refuse over-long numbers
   (``MAX_NUMBER_CHARS``), non-finite numbers and duplicate keys.

The caller names the error class (``EnvelopeError``, ``ControlProtocolError``),
so each protocol keeps its own error type and message prefix.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

#: Deepest nesting any labpilot message needs (a result dict of lists of dicts...).
MAX_DEPTH = 32
#: Longest number literal accepted: an int64 is 20 characters, ``repr(float)`` at most 24.
MAX_NUMBER_CHARS = 100

#: A JSON string literal, or an unterminated one running to the end; possessive, so
#: matching is linear (no backtracking into a string, no retry inside one).
_STRING_RE = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_OPEN = (b"[", b"{")
#: Digits → "1", anything else → "0": a run of too many digits is then one ``bytes.find`` (C speed).
_DIGIT_MAP = bytes.maketrans(bytes(range(256)), bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256)))
_LONG_RUN = b"1" * (MAX_NUMBER_CHARS + 1)
#: Bytes a printable-ASCII frame may contain: 0x20-0x7E and JSON whitespace.
_ASCII_BYTES = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def decode_json_object(
    data: bytes | bytearray | memoryview,
    *,
    what: str,
    error: type[Exception],
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    ascii_only: bool = False,
) -> dict[str, Any]:
    """Bytes → a JSON object; anything else raises ``error`` naming the first problem.

    ``what`` starts each message (``"request"``, ``"reply frame"``). Never
    raises anything but ``error`` (or ``MemoryError``).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise error(f"{what} must be bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise error(f"{what} too large: {len(data)} bytes (limit {max_bytes})")
    raw = bytes(data)
    if not raw.strip():
        raise error(f"{what} is empty; expected a JSON object")
    if ascii_only:
        bad = raw.translate(None, _ASCII_BYTES)
        if bad:
            pos = raw.index(bad[:1])
            raise error(f"{what} has a non-ASCII/control byte 0x{raw[pos]:02x} at offset {pos} (garbled?)")
        text = raw.decode("ascii")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{what} is not UTF-8 text (bad byte at position {exc.start})") from None
    if raw.count(b"[") + raw.count(b"{") > max_depth:  # else it cannot nest deeper: skip the count
        depth = nesting_depth(raw)
        if depth > max_depth:
            raise error(f"{what} is nested {depth} deep (limit {max_depth})")
    # no run of digits longer than the limit: every integer literal is short, C's int() is safe
    decoder = _CHECKED_INTS if _LONG_RUN in raw.translate(_DIGIT_MAP) else _PLAIN_INTS
    try:
        if text.startswith("\ufeff"):  # what json.loads refuses before decoding
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        obj = decoder.decode(text)
    except _Refused as exc:
        raise error(f"{what} is not valid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # defence in depth: the checks above should make these impossible
        raise error(f"{what} is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise error(f"{what} must be a JSON object, got {type(obj).__name__}")
    return obj


def nesting_depth(raw: bytes) -> int:
    """Deepest ``[``/``{`` nesting of a JSON text (an upper bound for invalid text), in linear time.

    String literals are blanked first, so ``"[[["`` inside a string does not
    count. Where the text is invalid JSON, ``json.loads`` stops at the first
    stray bracket, so it never nests deeper than this count.
    """
    if sum(raw.count(b) for b in _OPEN) <= 1:
        return sum(raw.count(b) for b in _OPEN)
    brackets = _STRING_RE.sub(b'""', raw).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


class _Refused(ValueError):
    """Raised inside ``json.loads`` by a hook; turned into the caller's error."""


def _check_length(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number of {len(text)} characters is too long (limit {MAX_NUMBER_CHARS})")


def _parse_int(text: str) -> int:
    _check_length(text)
    return int(text)


def _parse_float(text: str) -> float:
    _check_length(text)
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:40]} is out of range (not a finite double)")
    return value


def _parse_constant(name: str) -> float:
    raise _Refused(f"{name} is not a JSON number (non-finite numbers are not allowed)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _Refused(f"duplicate key {dup[:40]!r} in an object")
    return obj


#: ``json.loads`` with these hooks, made once (``json.loads`` builds a decoder per call when given hooks).
_PLAIN_INTS = json.JSONDecoder(parse_float=_parse_float, parse_constant=_parse_constant,
                               object_pairs_hook=_unique_keys)
_CHECKED_INTS = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant,
                                 object_pairs_hook=_unique_keys)
