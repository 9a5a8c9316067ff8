"""A standard SCPI client (PyVISA with the pyvisa-py backend) against the serial simulators.

The simulators run as real subprocesses; PyVISA reaches them over a real pty
(``ASRL<pty>::INSTR``) and over loopback TCP (``TCPIP::127.0.0.1::PORT::SOCKET``).
A standard client writes set-commands and reads only the replies of queries,
so any stray reply line (an ``OK``, an error line) would show up as the
answer to the next query: every check below reads a query's own answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pyvisa

from labpilot.drivers.generic.scpi import visa_resource
from labpilot.simulators.process import SimulatorProcess
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds.alloy import AlloyWorld


@pytest.fixture(params=["pty", "tcp"])
def sputter(request, tmp_path) -> Iterator[pyvisa.resources.MessageBasedResource]:
    where = ["--pty"] if request.param == "pty" else ["--tcp", "127.0.0.1:0"]
    with SimulatorProcess("sputter", *where, "--speed", "100000", "--tray", str(tmp_path / "tray.db")) as sim:
        resource = visa_resource(sim.address)
        assert resource.startswith("ASRL/dev/" if request.param == "pty" else "TCPIP::127.0.0.1::")
        rm = pyvisa.ResourceManager("@py")
        inst = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=5000)
        try:
            yield inst
        finally:
            inst.close()
            rm.close()


def test_identity_and_an_empty_error_queue(sputter) -> None:
    assert sputter.query("*IDN?").startswith("LABPILOT,SPUTTER-SIM,0001,")
    assert sputter.query("SYST:ERR?") == '0,"No error"'
    assert sputter.query("*OPC?") == "1"
    assert sputter.query("*TST?") == "0"


def test_set_commands_answer_nothing_and_take_effect(sputter) -> None:
    sputter.write("PRES 0.75")
    sputter.write("SOUR:POW 2,120.5")
    assert float(sputter.query("PRES?")) == 0.75  # not an OK left over from the writes
    assert float(sputter.query("SOUR:POW? 2")) == 120.5
    assert sputter.query("SYST:ERR?") == '0,"No error"'


def test_refused_commands_answer_nothing_and_queue_their_errors(sputter) -> None:
    sputter.write("PRES 99")  # out of range
    sputter.write("NOT:A:COMMAND 1")  # unknown header
    sputter.write("SOUR:POW? 42")  # a query it cannot execute: no answer either
    assert sputter.query("*OPC?") == "1"
    assert int(sputter.query("*ESR?")) == 16 + 32  # execution error and command error bits
    assert sputter.query("SYST:ERR?").startswith('-222,"Data out of range; pressure 99')
    assert sputter.query("SYST:ERR?") == '-113,"Undefined header; NOT:A:COMMAND"'
    assert sputter.query("SYST:ERR?").startswith("-222,")
    assert sputter.query("SYST:ERR?") == '0,"No error"'


def test_cls_and_rst(sputter) -> None:
    sputter.write("SHUT OPEN")
    sputter.write("PRES 99")
    sputter.write("*CLS")
    assert sputter.query("SYST:ERR?") == '0,"No error"' and sputter.query("*ESR?") == "0"
    assert sputter.query("SHUT?") == "OPEN"
    sputter.write("*RST")
    assert sputter.query("SHUT?") == "CLOSED"
    sputter.write("*OPC")
    assert sputter.query("*ESR?") == "1"  # operation complete


def test_a_whole_deposition_then_a_measurement_over_pyvisa(tmp_path) -> None:
    tray = str(tmp_path / "tray.db")
    common = ["--speed", "100000", "--tray", tray]
    rm = pyvisa.ResourceManager("@py")
    with SimulatorProcess("sputter", "--tcp", "127.0.0.1:0", *common) as sp, \
            SimulatorProcess("magnetometer", "--pty", *common) as mg:
        dep = rm.open_resource(visa_resource(sp.address), read_termination="\n", write_termination="\n", timeout=5000)
        mag = rm.open_resource(visa_resource(mg.address), read_termination="\n", write_termination="\n", timeout=5000)
        try:
            for line in ["GAS:FLOW 20", "PRES 0.5", "SOUR:POW 1,150", "SHUT OPEN", "DEP:START v-1,600"]:
                dep.write(line)
            assert dep.query("SYST:ERR?") == '0,"No error"'
            while (status := dep.query("DEP:STAT? v-1")).startswith("RUNNING"):
                pass
            assert status.startswith("DONE,")
            sample = status.split(",")[1]
            mag.write(f"MEAS:START m-1,{sample}")
            while (status := mag.query("MEAS:STAT? m-1")).startswith("RUNNING"):
                pass
            assert status == f"DONE,{sample}"
            assert float(mag.query("MEAS:RES? m-1")) > 0
            mag.write("MEAS:START m-2,NO-SUCH-SAMPLE")
            assert mag.query("SYST:ERR?").startswith("301,")
        finally:
            dep.close()
            mag.close()
            rm.close()
    world, truth = Tray(tray).get(sample)
    assert world == "alloy" and truth["composition"]["Fe"] == pytest.approx(1.0)
    assert AlloyWorld(0).ELEMENTS[0] == "Fe"
