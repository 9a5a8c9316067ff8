"""The serial transport: exact bytes, bounded retries of lost and garbled replies, logging."""

from __future__ import annotations

import logging

import pytest
import serial


from labpilot.errors import ProtocolError, TransportTimeout
from labpilot.drivers.serial_transport import SerialTransport
from tests.drivers.serial_peer import ScriptedPeer

IDN = b"LABPILOT,TEST-SIM,1,1.0\n"


def test_query_writes_one_line_and_reads_one_reply():
    with ScriptedPeer([(b"SOUR:POW 1,150.5\n", b"OK\r\n")]) as peer:
        with SerialTransport(peer.path, timeout_s=2) as t:
            assert t.query("SOUR:POW", 1, 150.5) == "OK"
        peer.check()


def test_garbled_reply_is_retried_and_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="labpilot.serial")
    with ScriptedPeer([(b"*IDN?\n", b"LAB\xffPILOT\n"), (b"*IDN?\n", IDN)]) as peer:
        with SerialTransport(peer.path, timeout_s=2, retries=2, backoff_s=0.001) as t:
            assert t.query("*IDN?") == IDN.decode().strip()
            assert t.stats["garbled"] == 1 and t.stats["retries"] == 1
        peer.check()
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(">> b'*IDN?\\n'" in m for m in debug) and any("<< b'LAB\\xffPILOT\\n'" in m for m in debug)
    assert any("retry 1/2" in r.getMessage() and "garbled" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_dropped_reply_is_resent_after_the_timeout():
    with ScriptedPeer([(b"PRES?\n", None), (b"PRES?\n", b"0.5\n")]) as peer:
        with SerialTransport(peer.path, timeout_s=0.2, retries=1, backoff_s=0.001) as t:
            assert t.query("PRES?") == "0.5"
            assert t.stats["timeouts"] == 1
        peer.check()


def test_retries_are_bounded_and_the_error_says_so():
    with ScriptedPeer(responder=lambda line: None) as peer:
        with SerialTransport(peer.path, timeout_s=0.1, retries=2, backoff_s=0.001) as t:
            with pytest.raises(TransportTimeout, match=r"'PRES\?' failed after 3 attempts: no reply within 0.1s"):
                t.query("PRES?")
        assert peer.sent == [b"PRES?\n"] * 3


def test_always_garbled_replies_end_in_a_protocol_error():
    with ScriptedPeer(responder=lambda line: b"\x80\x81\n") as peer:
        with SerialTransport(peer.path, timeout_s=1, retries=1, backoff_s=0.001) as t:
            with pytest.raises(ProtocolError, match="after 2 attempts: garbled reply"):
                t.query("PRES?")


def test_reply_validator_failures_count_as_garbled():
    def number(text: str) -> float:
        from labpilot.protocols.scpi import parse_number

        return parse_number(text, "pressure")

    with ScriptedPeer([(b"PRES?\n", b"OK\n"), (b"PRES?\n", b"0.25\n")]) as peer:
        with SerialTransport(peer.path, timeout_s=1, retries=1, backoff_s=0.001) as t:
            assert t.query("PRES?", parse=number) == 0.25
        peer.check()


def test_loop_url_works_for_the_same_transport():
    with SerialTransport("loop://", timeout_s=0.5) as t:
        assert t.query("ECHO:ME") == "ECHO:ME"  # loop:// echoes what is written


def test_an_unopenable_port_is_a_clear_error(tmp_path):
    with pytest.raises(TransportTimeout, match="cannot open serial port"):
        SerialTransport(str(tmp_path / "no-such-tty"), timeout_s=0.5)


def test_commands_that_cannot_be_encoded_are_refused_before_sending():
    with ScriptedPeer() as peer:
        with SerialTransport(peer.path, timeout_s=0.5) as t:
            with pytest.raises(ProtocolError, match="non-finite"):
                t.query("PRES", float("inf"))
        assert peer.sent == []


def test_port_errors_reopen_the_port():
    ports = []

    def factory():
        port = serial.serial_for_url("loop://", timeout=0.5)
        ports.append(port)
        return port

    t = SerialTransport("loop://", timeout_s=0.5, retries=1, backoff_s=0.001, port_factory=factory)
    ports[0].close()  # the device vanished
    assert t.query("PING") == "PING"
    assert t.stats["reopens"] == 1 and len(ports) == 2
    t.close()
