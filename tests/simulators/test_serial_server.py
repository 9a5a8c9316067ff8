"""The line server's link faults, without a pty: bytes in, reply bytes out."""

from __future__ import annotations

import random
import time

from protocols.scpi import ScpiProtocolError, decode_line
from simulators.faults import FaultInjector, FaultSpec
from simulators.magnetometer_sim import MagnetometerDevice
from simulators.serial_server import LineServer


def server(spec: str, seed: int = 0) -> LineServer:
    device = MagnetometerDevice(faults=FaultInjector(FaultSpec.parse(spec), random.Random(seed)))
    return LineServer(device, device.faults)


def test_lines_split_across_reads_and_several_per_read():
    s = server("")
    assert s.feed(b"*ID") == []
    assert s.feed(b"N?\r\nSYST:ERR?\n\n") == [b"LABPILOT,MAGNETOMETER-SIM,0001,1.0\n", b'0,"No error"\n']


def test_drop_processes_the_command_but_sends_nothing():
    s = server("drop=1")
    assert s.feed(b"MEAS:ABOR\n") == []
    assert s.lines == 1


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
    assert s.feed(b"*IDN?\n") == [b"LABPILOT,MAGNETOMETER-SIM,0001,1.0\n"]


def test_overlong_line_is_refused_and_queued():
    s = server("")
    (reply,) = s.feed(b"X" * 70000)
    assert reply.startswith(b"ERR -363,")
    assert s.feed(b"SYST:ERR?\n") == [b'-363,"Input buffer overrun"\n']


def test_garbage_commands_get_an_error_reply_not_a_crash():
    s = server("")
    for junk in [b"\xff\xfe\n", b":::\n", b'SOUR:POW "unterminated\n', b"MEAS:START\n", b"MEAS:STAT? bad id!\n"]:
        (reply,) = s.feed(junk)
        assert reply.startswith(b"ERR -1") or reply.startswith(b"ERR -2"), (junk, reply)
