"""The ZeroMQ JSON envelope: exact round trips, clear errors, and a fuzz that never crashes."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labpilot.errors import EnvelopeError
from labpilot.protocols.envelope import MAX_FRAME_BYTES, PROTOCOL_VERSION, Reply, Request, check_version, decode_array, decode_arrays, decode_reply, decode_request, encode_array, encode_reply, encode_request, peek_request_id


def test_request_round_trip_and_wire_shape() -> None:
    req = Request(id="r1", cmd="scan", args={"command_id": "c1", "start": 20.0}, version=PROTOCOL_VERSION)
    frame = encode_request(req)
    assert json.loads(frame) == {"id": "r1", "cmd": "scan", "args": {"command_id": "c1", "start": 20.0}, "version": "1.0"}
    assert decode_request(frame) == req


def test_reply_round_trips_success_and_failure() -> None:
    ok = Reply.success("r1", {"state": "running", "duration_s": 1050.0})
    assert decode_reply(encode_reply(ok)) == ok
    bad = Reply.failure("r1", 201, "sample 'X' is not in the tray")
    back = decode_reply(encode_reply(bad))
    assert not back.ok and back.error.code == 201 and "X" in back.error.message
    assert json.loads(encode_reply(bad)) == {"id": "r1", "ok": False, "error": {"code": 201, "message": "sample 'X' is not in the tray"}}


def test_frames_are_ascii_even_for_unicode_text() -> None:
    frame = encode_reply(Reply.success("r1", {"unit": "2θ °C"}))
    assert all(b < 0x80 for b in frame)
    assert decode_reply(frame).result == {"unit": "2θ °C"}


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (b"", "empty"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"id": "a", "ok": true}', "result"),
        (b'{"id": "a", "ok": false, "result": {}}', "error"),
        (b'{"id": "a", "ok": true, "result": {}, "extra": 1}', "extra"),
        (b'{"id": 5, "ok": true, "result": {}}', "id"),
        (b'{"id": "a", "ok": "yes", "result": {}}', "ok"),
        (b'{"id": "a", "ok": true, "result": {"x": NaN}}', "non-finite"),
        (b'{"id": "a", "ok": true, "result": {"x": "\xc3\xa9"}}', "0xc3"),
        (b'{"id": "a", "ok": true,\x00 "result": {}}', "0x00"),
    ],
)
def test_malformed_replies_name_the_problem(frame: bytes, words: str) -> None:
    with pytest.raises(EnvelopeError, match=words):
        decode_reply(frame)


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        ({"id": "r", "cmd": "Scan!"}, "cmd"),
        ({"id": "", "cmd": "scan"}, "id"),
        ({"id": "r", "cmd": "scan", "args": []}, "args"),
        ({"id": "r", "cmd": "scan", "version": "one"}, "version"),
        ({"cmd": "scan"}, "id"),
    ],
)
def test_malformed_requests_name_the_field(obj: dict, words: str) -> None:
    with pytest.raises(EnvelopeError, match=words):
        decode_request(json.dumps(obj).encode())


def test_oversized_frames_are_refused_before_parsing() -> None:
    with pytest.raises(EnvelopeError, match=f"too large: .*limit {MAX_FRAME_BYTES}"):
        decode_reply(b" " * (MAX_FRAME_BYTES + 1))


def test_deeply_nested_json_is_a_protocol_error_not_a_crash() -> None:
    frame = b'{"id": "a", "ok": true, "result": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    with pytest.raises(EnvelopeError):
        decode_reply(frame)


def test_version_check_refuses_another_major() -> None:
    check_version("1.7")
    with pytest.raises(EnvelopeError, match="incompatible protocol version '2.0'"):
        check_version("2.0")
    with pytest.raises(EnvelopeError, match="unreadable"):
        check_version("x")


def test_peek_request_id_for_error_replies() -> None:
    assert peek_request_id(b'{"id": "r9", "cmd": "BAD CMD"}') == "r9"
    assert peek_request_id(b"\xff\xfe") is None
    assert peek_request_id(b'{"id": 3}') is None


def test_arrays_round_trip_exactly_in_a_reply() -> None:
    two_theta = np.linspace(20.0, 90.0, 3501)
    counts = np.random.default_rng(0).poisson(100, 3501).astype(float)
    frame = encode_reply(Reply.success("r", {"two_theta": encode_array(two_theta), "counts": encode_array(counts, "<f4")}))
    result = decode_arrays(decode_reply(frame).result)
    np.testing.assert_array_equal(result["two_theta"], two_theta)
    np.testing.assert_array_equal(result["counts"], counts.astype(np.float32))
    assert result["counts"].dtype == np.float32


def test_array_errors_are_named() -> None:
    good = encode_array([1.0, 2.0])
    with pytest.raises(EnvelopeError, match="needs 24"):
        decode_array({"__ndarray__": {**good["__ndarray__"], "shape": [3]}})
    with pytest.raises(EnvelopeError, match="dtype"):
        decode_array({"__ndarray__": {**good["__ndarray__"], "dtype": "object"}})
    with pytest.raises(EnvelopeError, match="base64"):
        decode_array({"__ndarray__": {**good["__ndarray__"], "data": "!!!"}})
    with pytest.raises(EnvelopeError, match="shape"):
        decode_array({"__ndarray__": {**good["__ndarray__"], "shape": [-2]}})
    with pytest.raises(EnvelopeError, match="non-finite"):
        encode_array([1.0, float("nan")])
    with pytest.raises(EnvelopeError, match="not allowed"):
        encode_array([1], dtype="|O")


# ----------------------------------------------------------------- fuzz

@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_decode_or_raise_envelope_error(data: bytes) -> None:
    for decode in (decode_reply, decode_request):
        try:
            decode(data)
        except EnvelopeError:
            pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "ok", "result", "error", "cmd", "args", "x"]), json_values, max_size=5))
def test_random_json_objects_decode_or_raise_envelope_error(obj: dict) -> None:
    frame = json.dumps(obj).encode()
    for decode in (decode_reply, decode_request):
        try:
            decode(frame)
        except EnvelopeError:
            pass


@settings(max_examples=80, deadline=None)
@given(
    st.text(min_size=1, max_size=40),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    st.integers(0, 10_000),
    st.binary(min_size=1, max_size=3),
)
def test_corrupted_valid_frames_never_crash(req_id: str, result: dict, where: int, noise: bytes) -> None:
    frame = encode_reply(Reply.success(req_id, result))
    i = where % len(frame)
    corrupted = frame[:i] + noise + frame[i + len(noise):]
    try:
        decode_reply(corrupted)
    except EnvelopeError:
        pass


@settings(max_examples=80, deadline=None)
@given(st.text(min_size=1, max_size=128), st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_valid_replies_round_trip(req_id: str, result: dict) -> None:
    reply = Reply.success(req_id, result)
    assert decode_reply(encode_reply(reply)) == reply


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=200))
def test_float_arrays_round_trip(values: list[float]) -> None:
    np.testing.assert_array_equal(decode_array(encode_array(values)), np.asarray(values, dtype=float))


@settings(max_examples=80, deadline=None)
@given(st.text(min_size=1, max_size=40), st.dictionaries(st.text(max_size=10), json_values, max_size=5), st.integers(0, 2**32))
def test_a_simulator_garbled_reply_is_always_detected(req_id: str, result: dict, seed: int) -> None:
    """What the fault injector does to a frame must never decode as a (wrong) valid reply."""
    import random

    from labpilot.simulators.faults import FaultInjector, FaultSpec

    frame = encode_reply(Reply.success(req_id, result))
    garbled = FaultInjector(FaultSpec(), random.Random(seed)).garble(frame)
    with pytest.raises(EnvelopeError, match="garbled"):
        decode_reply(garbled)
