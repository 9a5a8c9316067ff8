"""Fault specs parse strictly; the injector is reproducible and garbles detectably."""

from __future__ import annotations

import random

import pytest

from labpilot.errors import ScpiProtocolError
from labpilot.protocols.scpi import decode_line
from labpilot.simulators.faults import FaultInjector, FaultSpec


def test_parse_reads_every_kind_and_durations():
    spec = FaultSpec.parse("drop=0.05, garble=0.1,slow=0.02,disconnect=0.01,error=0.2,slow_s=0.1")
    assert spec.rate("drop") == 0.05 and spec.rate("error") == 0.2 and spec.slow_s == 0.1
    assert FaultSpec.parse("").rates == {} and FaultSpec.parse(None).rates == {}


@pytest.mark.parametrize(
    "text, message",
    [("explode=0.1", "unknown fault kind 'explode'"), ("drop=1.5", "'drop': rate 1.5 is outside"),
     ("drop=-0.1", "outside"), ("drop", "not KIND=RATE"), ("drop=abc", "'abc' is not a number")],
)
def test_bad_specs_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        FaultSpec.parse(text)


def test_injector_is_reproducible_and_rates_hold():
    spec = FaultSpec.parse("drop=0.3")
    a, b = FaultInjector(spec, random.Random(7)), FaultInjector(spec, random.Random(7))
    assert [a.should("drop") for _ in range(200)] == [b.should("drop") for _ in range(200)]
    inj = FaultInjector(spec, random.Random(1))
    fired = sum(inj.should("drop") for _ in range(4000))
    assert 1000 < fired < 1400 and inj.counts["drop"] == fired
    assert not any(inj.should("garble") for _ in range(100))  # rate 0 never fires


def test_garbled_lines_keep_the_terminator_and_never_decode():
    inj = FaultInjector(FaultSpec.parse("garble=1"), random.Random(3))
    for reply in [b"OK\n", b"LABPILOT,SPUTTER-SIM,0001,1.0\n", b"\n", b"X"]:
        bad = inj.garble(reply)
        assert bad != reply
        assert bad.endswith(b"\n") == reply.endswith(b"\n")
        with pytest.raises(ScpiProtocolError):
            decode_line(bad)
