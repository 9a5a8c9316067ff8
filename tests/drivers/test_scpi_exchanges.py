"""The built-in serial drivers speak standard SCPI: exact exchanges for setters, refused and lost replies."""

from __future__ import annotations

import pytest

from labpilot.drivers import open_instrument
from labpilot.errors import InstrumentError
from tests.drivers.serial_peer import NO_ERROR, ScriptedPeer, greeting, setter

IDN = b"LABPILOT,MAGNETOMETER-SIM,3,2.0\n"


def test_a_refused_query_raises_its_queued_error_and_is_not_resent():
    script = greeting(IDN) + [
        (b"MEAS:RES? m-9\n", None),  # a standard instrument answers a refused query with silence
        (b"SYST:ERR?\n", b'-221,"Settings conflict; no result for m-9"\n'),
        (b"SYST:ERR?\n", NO_ERROR),  # the driver drains the rest of the queue
    ]
    with ScriptedPeer(script) as peer:
        with open_instrument("magnetometer", peer.path, timeout_s=0.3, retries=3) as drv:
            with pytest.raises(InstrumentError, match=r"-221: Settings conflict; no result for m-9 \(command MEAS:RES\?\)"):
                drv.read_result("m-9")
        peer.check()


def test_a_lost_reply_is_resent_once_the_queue_says_nothing_was_refused():
    script = greeting(IDN) + [(b"STAT?\n", None), (b"SYST:ERR?\n", NO_ERROR), (b"STAT?\n", b"STATE=IDLE,ERRORS=0\n")]
    with ScriptedPeer(script) as peer:
        with open_instrument("magnetometer", peer.path, timeout_s=0.3, retries=2, options={"backoff_s": 0.001}) as drv:
            assert drv.status()["state"] == "IDLE"
            assert drv.transport.stats["timeouts"] == 1
        peer.check()


def test_a_refused_setter_raises_the_error_it_caused():
    script = greeting(IDN) + setter(b"MEAS:ABOR\n", b'-300,"Device-specific error; abort refused"\n') + [
        (b"SYST:ERR?\n", NO_ERROR)]
    with ScriptedPeer(script) as peer:
        with open_instrument("magnetometer", peer.path, timeout_s=1) as drv:
            with pytest.raises(InstrumentError, match=r"-300: Device-specific error; abort refused \(command MEAS:ABOR\)"):
                drv.make_safe()
        peer.check()


def test_a_setter_whose_check_is_lost_is_resent_with_it():
    script = greeting(IDN) + [(b"MEAS:ABOR\n", None), (b"SYST:ERR?\n", None), *setter(b"MEAS:ABOR\n")]
    with ScriptedPeer(script) as peer:
        with open_instrument("magnetometer", peer.path, timeout_s=0.3, retries=1, options={"backoff_s": 0.001}) as drv:
            drv.make_safe()
        peer.check()


def test_old_errors_are_drained_at_connect_not_blamed_on_the_next_command():
    script = [(b"*IDN?\n", IDN), (b"SYST:ERR?\n", b'250,"Hardware fault during meas x"\n'), (b"SYST:ERR?\n", NO_ERROR),
              *setter(b"MEAS:ABOR\n")]
    with ScriptedPeer(script) as peer:
        with open_instrument("magnetometer", peer.path, timeout_s=1) as drv:
            drv.make_safe()
        peer.check()


def test_the_baud_rate_is_an_option():
    with ScriptedPeer(greeting(IDN)) as peer:
        with open_instrument("magnetometer", peer.path, timeout_s=1, options={"baud_rate": 9600}) as drv:
            assert drv.transport.port.baudrate == 9600
        peer.check()
