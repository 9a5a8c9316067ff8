"""The SCPI line codec: framing, grammar, typed replies, and a fuzz of random bytes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labpilot.errors import ScpiProtocolError
from labpilot.protocols.scpi import PROTOCOL_VERSION, ActionStatus, Command, ErrorEntry, Identity, check_reply, decode_line, format_number, parse_number, parse_numbers, split_fields


def test_lines_accept_lf_and_crlf_terminators():
    assert decode_line(b"*IDN?\n") == "*IDN?"
    assert decode_line(b"*IDN?\r\n") == "*IDN?"


def test_garbled_byte_is_a_protocol_error_naming_the_byte():
    with pytest.raises(ScpiProtocolError, match="0xff at position 2"):
        decode_line(b"OK\xff\n")


def test_command_round_trip_formats_numbers_exactly():
    cmd = Command.build("sour:pow", 1, 150.25)
    assert cmd.encode() == b"SOUR:POW 1,150.25\n"
    back = Command.parse(cmd.encode())
    assert back.header == "SOUR:POW" and back.args == ("1", "150.25")


def test_strings_that_are_not_tokens_are_quoted_and_unquoted():
    cmd = Command.build("SYST:NOTE", 'a "quoted", text')
    assert cmd.text() == 'SYST:NOTE "a ""quoted"", text"'
    assert Command.parse(cmd.text()).args == ('a "quoted", text',)


@pytest.mark.parametrize("text", ["1", "-2.5", "+3.", ".5", "1.5E+2", "2e-3"])
def test_nr1_nr2_nr3_numbers_parse(text):
    assert parse_number(text) == float(text)


@pytest.mark.parametrize("text", ["nan", "inf", "1e999", "1,5", "", "0x10", "--1"])
def test_non_numbers_and_non_finite_are_refused(text):
    with pytest.raises(ScpiProtocolError):
        parse_number(text)


@pytest.mark.parametrize("value", [0.1, 1e-300, 123456789.123456789, -0.0, 2.0**60])
def test_format_number_round_trips(value):
    assert parse_number(format_number(value)) == value


def test_non_finite_numbers_are_never_sent():
    with pytest.raises(ScpiProtocolError, match="non-finite"):
        Command.build("PRES", math.nan)


def test_identity_parse_and_version_check():
    ident = Identity.parse(f"LABPILOT,SPUTTER-SIM,0001,{PROTOCOL_VERSION}")
    assert ident.model == "SPUTTER-SIM"
    ident.check_compatible()
    old = Identity.parse("ACME,SPUTTER,42,1.3")
    with pytest.raises(ScpiProtocolError, match=r"speaks protocol '1.3'.*needs protocol 2\.x"):
        old.check_compatible()
    with pytest.raises(ScpiProtocolError, match="vendor,model,serial,version"):
        Identity.parse("LABPILOT,SPUTTER-SIM")


def test_error_queue_entries_and_err_replies():
    assert ErrorEntry.parse('0,"No error"').code == 0
    entry = ErrorEntry.parse('-222,"Data out of range; pressure 20 outside [0, 10]"')
    assert entry.code == -222 and "pressure" in entry.message
    err = check_reply('ERR 301,"No sample \'x\' in the rack"')
    assert err is not None and err.code == 301
    assert check_reply("OK") is None


@pytest.mark.parametrize(
    "reply, state",
    [("UNKNOWN", "unknown"), ("RUNNING,0.25", "running"), ("DONE,SP00001", "done"), ('FAILED,250,"Hardware fault"', "failed")],
)
def test_action_status_round_trip(reply, state):
    status = ActionStatus.parse(reply)
    assert status.state == state
    assert ActionStatus.parse(status.text()) == status


@pytest.mark.parametrize("reply", ["RUNNING", "RUNNING,1.5", "DONE", "FAILED,x,y", "MAYBE", ""])
def test_malformed_status_is_a_protocol_error(reply):
    with pytest.raises(ScpiProtocolError):
        ActionStatus.parse(reply)


def test_split_fields_handles_quotes_and_empty_fields():
    assert split_fields('0,"No error, really"') == ["0", "No error, really"]
    assert split_fields("a,,b,") == ["a", "", "b", ""]
    with pytest.raises(ScpiProtocolError, match="unterminated"):
        split_fields('1,"open')


def test_number_list_counts_fields():
    assert parse_numbers("1,2.5,3e1", 3) == [1.0, 2.5, 30.0]
    with pytest.raises(ScpiProtocolError, match="expected 2 numbers, got 3"):
        parse_numbers("1,2,3", 2)


# ---------------------------------------------------------------------- fuzz

_PARSERS = [
    lambda raw: Command.parse(raw),
    lambda raw: Identity.parse(decode_line(raw)),
    lambda raw: ErrorEntry.parse(decode_line(raw)),
    lambda raw: ActionStatus.parse(decode_line(raw)),
    lambda raw: parse_numbers(decode_line(raw)),
    lambda raw: check_reply(decode_line(raw)),
]


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200), which=st.integers(0, len(_PARSERS) - 1))
def test_random_bytes_give_a_protocol_error_or_a_message(raw, which):
    try:
        _PARSERS[which](raw)
    except ScpiProtocolError as exc:
        assert str(exc)  # a clear message, never empty


_ALPHABET = st.sampled_from(list(b'*?:,". \r\n0123456789+-eE.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefxyz"') + [0, 0x80, 0xFF])


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(_ALPHABET, max_size=80).map(bytes), which=st.integers(0, len(_PARSERS) - 1))
def test_protocol_shaped_noise_gives_a_protocol_error_or_a_message(raw, which):
    try:
        _PARSERS[which](raw)
    except ScpiProtocolError as exc:
        assert str(exc)


@settings(max_examples=100, deadline=None)
@given(
    header=st.from_regex(r"\*?[A-Za-z][A-Za-z0-9]{0,6}(:[A-Za-z][A-Za-z0-9]{0,6}){0,3}\??", fullmatch=True),
    args=st.lists(
        st.one_of(
            st.integers(-10**12, 10**12),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
        ),
        max_size=5,
    ),
)
def test_any_buildable_command_parses_back(header, args):
    cmd = Command.build(header, *args)
    back = Command.parse(cmd.encode())
    assert back.header == header.upper()
    assert len(back.args) == len(args)
    for sent, got in zip(args, back.args):
        if isinstance(sent, str):
            assert got == sent.strip() or got == sent
        else:
            assert parse_number(got) == sent


# ------------------------------------------------- hostile numbers (issue 14)

import re  # noqa: E402

from labpilot.protocols.scpi import MAX_NUMBER_CHARS  # noqa: E402

#: The grammar as first written (correct, but quadratic on a failing run of digits).
_REFERENCE_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@pytest.mark.parametrize("tail", ["x", "", ".5x", "e5x", ".", "e"])
def test_a_60000_digit_number_is_refused_with_a_clear_message(tail):
    with pytest.raises(ScpiProtocolError, match=r"pressure: a field of 600\d\d characters is too long for a number"):
        parse_number("1" * 60_000 + tail, "pressure")
    cmd = Command.parse(b"PRES " + b"1" * 60_000 + tail.encode() + b"\n")
    assert cmd.header == "PRES" and len(cmd.args[0]) == 60_000 + len(tail)


def test_numbers_up_to_the_length_limit_parse():
    assert parse_number("1" * MAX_NUMBER_CHARS) == float("1" * MAX_NUMBER_CHARS)
    assert parse_number("0." + "0" * (MAX_NUMBER_CHARS - 3) + "1") == float("0." + "0" * (MAX_NUMBER_CHARS - 3) + "1")


@settings(max_examples=400, deadline=None)
@given(st.text(st.sampled_from("0123456789+-.eEx "), max_size=40))
def test_the_linear_number_grammar_accepts_exactly_what_the_original_did(text):
    expected = _REFERENCE_NUMBER.fullmatch(text.strip()) is not None and math.isfinite(float(text.strip()))
    try:
        value = parse_number(text)
    except ScpiProtocolError:
        assert not expected
    else:
        assert expected and value == float(text.strip())
