"""The one bounded strict JSON decoder: hostile frames are its error, never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labpilot.protocols.json_codec import MAX_DEPTH, MAX_NUMBER_CHARS, decode_json_object, nesting_depth


class Refused(ValueError):
    """The error class a caller names (stands for EnvelopeError / ControlProtocolError)."""


def decode(data: bytes, **kw: Any) -> dict[str, Any]:
    kw.setdefault("max_bytes", 1 << 20)
    return decode_json_object(data, what="frame", error=Refused, **kw)


# --------------------------------------------------------------- the frames

HOSTILE = [
    (b'{"v": ' + b"9" * 4301 + b', "cmd": "ping"}', "too long"),
    (b'{"v": 1, "id": ' + b"9" * 100_000 + b"}", "too long"),
    (b'{"x": ' + b"[" * 1100 + b"]" * 1100 + b"}", "nested 1101 deep"),
    (b'{"x": ' + b"[" * 100_000, "nested"),
    (b'{"x": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}", "nested"),
    (b'{"x": NaN}', "NaN is not a JSON number"),
    (b'{"x": -Infinity}', "Infinity is not a JSON number"),
    (b'{"x": 1e999}', "out of range"),
    (b'{"x": 1, "x": 2}', "duplicate key 'x'"),
    (b'{"x": 0.' + b"0" * 200 + b"1}", "too long"),
    (b"", "empty"),
    (b"   ", "empty"),
    (b"[1, 2]", "must be a JSON object, got list"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"x": "' + b'\\"' * 50_000, "not valid JSON"),  # unterminated, full of escaped quotes
]


@pytest.mark.parametrize(("frame", "words"), HOSTILE, ids=[w for _, w in HOSTILE])
def test_hostile_frames_raise_the_callers_error_naming_the_problem(frame: bytes, words: str) -> None:
    with pytest.raises(Refused, match=words):
        decode(frame)


def test_size_is_checked_first_and_names_the_limit() -> None:
    with pytest.raises(Refused, match="too large: 101 bytes \\(limit 100\\)"):
        decode(b" " * 101, max_bytes=100)


def test_ascii_only_frames_name_the_first_bad_byte() -> None:
    with pytest.raises(Refused, match="0xc3 at offset 7"):
        decode('{"x": "é"}'.encode(), ascii_only=True)
    assert decode('{"x": "é"}'.encode()) == {"x": "é"}


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '{"reason": "' + "[{" * 5000 + '\\"]", "deep": [[1]]}'
    assert decode(text.encode()) == json.loads(text)
    assert nesting_depth(text.encode()) == 3


def test_the_depth_limit_is_exact() -> None:
    ok = b'{"x": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert nesting_depth(json.dumps(decode(ok)).encode()) == MAX_DEPTH
    with pytest.raises(Refused, match=f"nested {MAX_DEPTH + 1} deep"):
        decode(b'{"x": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}")


def test_numbers_up_to_the_limit_are_exact() -> None:
    big = 2**63 - 1
    assert decode(f'{{"a": {big}, "b": -0.1, "c": 1.5e-300}}'.encode()) == {"a": big, "b": -0.1, "c": 1.5e-300}
    edge = "1" * MAX_NUMBER_CHARS
    assert decode(f'{{"a": {edge}}}'.encode()) == {"a": int(edge)}
    with pytest.raises(Refused, match="too long"):
        decode(f'{{"a": {edge}1}}'.encode())


# ---------------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=30,
)


def true_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((true_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((true_depth(v) for v in value), default=0)
    return 0


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_any_bounded_json_object_round_trips_and_its_depth_is_counted_exactly(obj: dict[str, Any]) -> None:
    frame = json.dumps(obj).encode()
    assert nesting_depth(frame) == true_depth(obj)
    if true_depth(obj) <= MAX_DEPTH:
        assert decode(frame) == obj


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_only_the_callers_error(data: bytes) -> None:
    try:
        assert isinstance(decode(data), dict)
    except Refused:
        pass


_JSONISH = st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b":", b",", b"1", b"9" * 50, b"-", b"e", b".",
                            b"true", b"null", b"NaN", b"Infinity", b'"k"', b" "])


@settings(max_examples=300, deadline=None)
@given(st.lists(_JSONISH, max_size=200).map(b"".join), st.integers(0, 3))
def test_json_shaped_noise_decodes_or_raises_only_the_callers_error(noise: bytes, wrap: int) -> None:
    frame = [noise, b"{" + noise, b'{"a": ' + noise + b"}", b'{"a": [' * 40 + noise][wrap]
    try:
        decode(frame)
    except Refused:
        pass
