"""The line server's link faults, without a pty: bytes in, reply bytes out."""

from __future__ import annotations

import random
import time

from labpilot.errors import ScpiProtocolError
from labpilot.protocols.scpi import decode_line
from labpilot.simulators.faults import FaultInjector, FaultSpec
from labpilot.simulators.magnetometer_sim import MagnetometerDevice
from labpilot.simulators.serial_server import LineServer


def server(spec: str, seed: int = 0) -> LineServer:
    device = MagnetometerDevice(faults=FaultInjector(FaultSpec.parse(spec), random.Random(seed)))
    return LineServer(device, device.faults)


def test_lines_split_across_reads_and_several_per_read():
    s = server("")
    assert s.feed(b"*ID") == []
    assert s.feed(b"N?\r\nSYST:ERR?\n\n") == [b"LABPILOT,MAGNETOMETER-SIM,0001,2.0\n", b'0,"No error"\n']


def test_drop_processes_the_command_but_sends_nothing():
    s = server("drop=1")
    assert s.feed(b"MEAS:STAT? x-1\n") == []
    assert s.lines == 1


def test_set_commands_and_refused_commands_get_no_reply():
    s = server("")
    assert s.feed(b"MEAS:ABOR\n*CLS\nBOGUS 1\nMEAS:RES? nope\n*OPC?\n") == [b"1\n"]
    assert s.feed(b"SYST:ERR?\nSYST:ERR?\nSYST:ERR?\n") == [
        b'-113,"Undefined header; BOGUS"\n', b'-221,"Settings conflict; no result for nope (state unknown)"\n',
        b'0,"No error"\n']


def test_garble_corrupts_detectably():
    s = server("garble=1")
    (reply,) = s.feed(b"*IDN?\n")
    try:
        decode_line(reply)
        raise AssertionError("garbled reply decoded cleanly")
    except ScpiProtocolError:
        pass


def test_disconnect_goes_deaf_for_a_while():
    s = server("disconnect=1,disconnect_s=0.2")
    assert s.feed(b"*IDN?\n") == []
    s.faults = FaultInjector(FaultSpec(), random.Random(0))  # the link comes back...
    assert s.feed(b"*IDN?\n") == []  # ...but the device is still deaf
    time.sleep(0.25)
    assert s.feed(b"*IDN?\n") == [b"LABPILOT,MAGNETOMETER-SIM,0001,2.0\n"]


def test_overlong_line_is_refused_and_queued():
    s = server("")
    assert s.feed(b"X" * 70000) == []
    assert s.feed(b"SYST:ERR?\n") == [b'-363,"Input buffer overrun"\n']


def test_garbage_commands_queue_an_error_not_a_crash():
    s = server("")
    for junk in [b"\xff\xfe\n", b":::\n", b'SOUR:POW "unterminated\n', b"MEAS:START\n", b"MEAS:STAT? bad id!\n"]:
        assert s.feed(junk) == []
        (reply,) = s.feed(b"SYST:ERR?\n")
        assert reply.startswith(b"-1") or reply.startswith(b"-2"), (junk, reply)


# ---------------------------------------------------------------------- fuzz: the simulators never crash

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from labpilot.simulators.dsc_sim import DscDevice  # noqa: E402
from labpilot.simulators.sputter_sim import SputterDevice  # noqa: E402
from labpilot.simulators.tensile_sim import TensileDevice  # noqa: E402

_DEVICES = {
    "sputter": SputterDevice(),
    "magnetometer": MagnetometerDevice(),
    "tensile": TensileDevice(),
    "dsc": DscDevice(),
}
_HEADERS = [h for d in _DEVICES.values() for h in d._handlers]
_FIELD = st.one_of(
    st.sampled_from(["1", "0", "-5", "1e999", "150.5", "OPEN", "x", '"q"', "", "run-1", "SP00001"]),
    st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=12),
)
_LINES = st.one_of(
    st.binary(max_size=120),
    st.tuples(st.sampled_from(_HEADERS), st.lists(_FIELD, max_size=4)).map(
        lambda hf: (hf[0] + (" " + ",".join(hf[1]) if hf[1] else "")).encode("latin-1")
    ),
)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(sorted(_DEVICES)), lines=st.lists(_LINES, min_size=1, max_size=6))
def test_any_input_gets_valid_reply_lines_and_never_crashes_a_simulator(kind, lines):
    device = _DEVICES[kind]
    server = LineServer(device, FaultInjector(FaultSpec(), random.Random(0)))
    data = b"".join(line.replace(b"\n", b"") + b"\n" for line in lines)
    for reply in server.feed(data):
        assert reply.endswith(b"\n") and decode_line(reply)  # a well-formed, non-empty line
