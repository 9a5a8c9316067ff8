"""The control channel's wire format: strict JSON in, clear errors out."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labpilot.errors import ControlProtocolError
from labpilot.agent.control.commands import ApproveArgs, OverrideArgs, PauseArgs
from labpilot.agent.control.messages import COMMAND_NAMES, MAX_REQUEST_BYTES, ControlReply, decode_reply, decode_request, encode_request, make_request, parse_set_args, parse_value


def wire(obj: object) -> bytes:
    return json.dumps(obj).encode()


EXAMPLES = {
    "status": {},
    "pause": {"now": True},
    "resume": {},
    "abort": {"reason": "power cut in the building"},
    "queue": {},
    "approve": {"id": 3},
    "reject": {"ids": [4, 6], "reason": "too close to the last one"},
    "override": {"id": 5, "values": {"Fe": 0.7, "Co": 0.3, "phase": "bcc", "passes": 2}, "reason": "hunch"},
    "resolve": {"id": 6, "made": True, "values": {"magnetization": 812.5}, "reason": "read off the display"},
    "mode": {"mode": "supervised"},
    "done": {"id": 7, "values": {"thickness": 118.5, "defects": 2}, "reason": "profilometer 2"},
    "ping": {},
}


def test_examples_cover_every_command() -> None:
    assert set(EXAMPLES) == set(COMMAND_NAMES)


@pytest.mark.parametrize("cmd", COMMAND_NAMES)
def test_every_command_round_trips_through_json(cmd: str) -> None:
    request = make_request(cmd, EXAMPLES[cmd], token="s3cret-token-123456")
    decoded = decode_request(encode_request(request))
    assert decoded == request
    assert decoded.cmd == cmd
    assert decoded.token == "s3cret-token-123456"
    assert decoded.args.model_dump(exclude_defaults=True) == EXAMPLES[cmd]


def test_override_keeps_the_type_of_each_value() -> None:
    req = decode_request(wire({"v": 1, "cmd": "override", "args": {"id": 1, "values": {"a": 2, "b": 2.5, "c": "Fe"}}}))
    assert req.cmd == "override" and isinstance(req.args, OverrideArgs)
    values = req.args.values
    assert (values["a"], type(values["a"])) == (2, int)
    assert (values["b"], type(values["b"])) == (2.5, float)
    assert values["c"] == "Fe"


def test_commands_without_arguments_may_omit_args_and_pause_defaults_to_deferred() -> None:
    req = decode_request(b'{"v": 1, "cmd": "pause"}')
    assert isinstance(req.args, PauseArgs) and req.args.now is False
    assert decode_request(b'{"v": 1, "cmd": "status"}').cmd == "status"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"approve 3", "not valid JSON"),
        (b'{"v": 1, "cmd": "status"', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'"status"', "must be a JSON object, got str"),
        (b'{"cmd": "status"}', "missing field 'v'"),
        (b'{"v": 2, "cmd": "status"}', "unsupported protocol version v=2"),
        (b'{"v": true, "cmd": "status"}', "unsupported protocol version"),
        (b'{"v": 1}', "missing field 'cmd'"),
        (b'{"v": 1, "cmd": "launch"}', "unknown command 'launch'"),
        (b'{"v": 1, "cmd": "status", "extra": 1}', "extra: unexpected field"),
        (b'{"v": 1, "cmd": "status", "args": {"verbose": true}}', "args.verbose: unexpected field"),
        (b'{"v": 1, "cmd": "approve"}', "args: required field is missing"),
        (b'{"v": 1, "cmd": "approve", "args": {}}', "args: give experiment id(s) in 'id'/'ids', or 'all'"),
        (b'{"v": 1, "cmd": "approve", "args": {"ids": [1], "all": true}}', "args: give experiment id(s) or 'all', not both"),
        (b'{"v": 1, "cmd": "approve", "args": {"ids": ["1"]}}', "args.ids.0: Input should be a valid integer"),
        (b'{"v": 1, "cmd": "approve", "args": {"id": "3"}}', "args.id: Input should be a valid integer (got '3')"),
        (b'{"v": 1, "cmd": "approve", "args": {"id": true}}', "args.id: Input should be a valid integer"),
        (b'{"v": 1, "cmd": "approve", "args": {"id": 2.5}}', "args.id"),
        (b'{"v": 1, "cmd": "approve", "args": {"id": -1}}', "args.id: Input should be greater than or equal to 0"),
        (b'{"v": 1, "cmd": "pause", "args": {"now": "yes"}}', "args.now: Input should be a valid boolean"),
        (b'{"v": 1, "cmd": "override", "args": {"id": 1, "values": {}}}', "at least one NAME=VALUE"),
        (b'{"v": 1, "cmd": "override", "args": {"id": 1, "values": {"x": [1]}}}', "args.values.x: expected a number or a string"),
        (b'{"v": 1, "cmd": "override", "args": {"id": 1, "values": {"x": NaN}}}', "NaN is not a JSON number"),
        (b'{"v": 1, "cmd": "override", "args": {"id": 1, "values": {"x": 1e999}}}', "number 1e999 is out of range"),
        (b'{"v": 1, "cmd": "status", "token": 12345}', "token: Input should be a valid string"),
        # issue 14: each of these once killed the control thread or reached SQLite
        (b'{"v": ' + b"1" * 4301 + b', "cmd": "ping"}', "a number of 4301 characters is too long"),
        (b'{"v": 1, "cmd": "approve", "args": {"id": ' + b"7" * 4301 + b"}}", "too long"),
        (b'{"v": 1, "cmd": "ping", "args": ' + b"[" * 1100 + b"]" * 1100 + b"}", "nested 1101 deep"),
        (b'{"v": 1, "cmd": "ping", "x": ' + b'{"a":' * 100_00 + b"}", "nested"),
        (b'{"v": 1, "cmd": "approve", "args": {"id": 9223372036854775808}}', "args.id: Input should be less than or equal to 9223372036854775807"),
        (b'{"v": 1, "v": 1, "cmd": "ping"}', "duplicate key 'v'"),
    ],
)
def test_malformed_requests_are_refused_with_a_message_naming_the_problem(raw: bytes, expected: str) -> None:
    with pytest.raises(ControlProtocolError) as info:
        decode_request(raw)
    assert expected in str(info.value)


def test_oversized_requests_are_refused_before_parsing() -> None:
    raw = wire({"v": 1, "cmd": "abort", "args": {"reason": "x" * MAX_REQUEST_BYTES}})
    with pytest.raises(ControlProtocolError, match="too large"):
        decode_request(raw)


def test_make_request_refuses_unknown_commands_and_bad_arguments() -> None:
    with pytest.raises(ControlProtocolError, match="unknown command 'stop'"):
        make_request("stop")
    with pytest.raises(ControlProtocolError, match="args.id"):
        make_request("approve", {"id": "seven"})
    assert isinstance(make_request("approve", {"id": 7}).args, ApproveArgs)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_protocol_error_or_a_request_never_a_crash(raw: bytes) -> None:
    try:
        decode_request(raw)
    except ControlProtocolError as exc:
        assert str(exc)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
            max_leaves=6,
        ),
        max_size=5,
    )
)
def test_arbitrary_json_objects_give_a_protocol_error_or_a_request(obj: dict) -> None:
    try:
        decode_request(json.dumps(obj).encode())
    except ControlProtocolError as exc:
        assert str(exc)


# --------------------------------------------------------------------- reply


def test_reply_success_and_failure_round_trip() -> None:
    ok = ControlReply.success({"state": "paused", "done": 3})
    assert decode_reply(ok.to_bytes()) == ok
    assert json.loads(ok.to_bytes()) == {"v": 1, "ok": True, "result": {"state": "paused", "done": 3}, "error": None}
    bad = ControlReply.failure("no experiment 9")
    assert json.loads(bad.to_bytes()) == {"v": 1, "ok": False, "result": None, "error": "no experiment 9"}


def test_reply_must_be_consistent() -> None:
    with pytest.raises(ValueError, match="must say why"):
        ControlReply(ok=False)
    with pytest.raises(ValueError, match="must not carry an error"):
        ControlReply(ok=True, error="huh")
    with pytest.raises(ControlProtocolError, match="malformed reply"):
        decode_reply(b'{"v": 1, "ok": "yes"}')


# ------------------------------------------------------------ CLI --set args


def test_parse_set_args_parses_numbers_and_keeps_strings() -> None:
    values = parse_set_args(["x=1", "name=Fe", "power = 2.5", "rate=1e-3", "neg=-4", "code=0x10", "big=1_000"])
    assert values == {"x": 1, "name": "Fe", "power": 2.5, "rate": 0.001, "neg": -4, "code": "0x10", "big": "1_000"}
    assert type(values["x"]) is int and type(values["power"]) is float


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["x1"], "'x1' must look like NAME=VALUE"),
        (["=3"], "'=3' has no NAME"),
        (["x="], "'x=' has no VALUE"),
        (["x=1", "x=2"], "parameter 'x' twice"),
        (["bad name=1"], "parameter name 'bad name'"),
        (["x=1e999"], "'x=1e999': '1e999' is not a finite number"),
        ([], "no --set NAME=VALUE given"),
    ],
)
def test_parse_set_args_names_the_bad_item(items: list[str], expected: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_set_args(items)
    assert expected in str(info.value)


@given(st.integers() | st.floats(allow_nan=False, allow_infinity=False))
def test_parse_value_reads_back_what_python_prints(number: int | float) -> None:
    parsed = parse_value(repr(number))
    assert parsed == number and type(parsed) is type(number)
    assert not (isinstance(parsed, float) and math.isnan(parsed))


def test_parsed_set_args_make_a_valid_override_request() -> None:
    values = parse_set_args(["Fe=0.75", "Co=0.25", "phase=bcc"])
    req = decode_request(encode_request(make_request("override", {"id": 2, "values": values})))
    assert req.cmd == "override" and isinstance(req.args, OverrideArgs) and req.args.values == values
