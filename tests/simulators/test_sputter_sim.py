"""The sputter simulator as a real process on a real pty, spoken to by a plain serial client."""

from __future__ import annotations


import pytest
import serial

from labpilot.simulators.ledger import read_ledger
from labpilot.simulators.process import SimulatorProcess
from labpilot.simulators.tray import Tray


def ask(port: serial.Serial, line: str) -> str:
    port.write(line.encode("ascii") + b"\n")
    reply = port.readline()
    assert reply.endswith(b"\n"), f"no reply to {line!r}: {reply!r}"
    return reply.decode("ascii").rstrip("\r\n")


def send(port: serial.Serial, *lines: str) -> None:
    """Set-commands: a standard SCPI instrument answers nothing; ``*OPC?`` then proves it (its ``1`` is the next line)."""
    for line in lines:
        port.write(line.encode("ascii") + b"\n")
    assert ask(port, "*OPC?") == "1"
    assert ask(port, "SYST:ERR?") == '0,"No error"'


@pytest.fixture
def sim(tmp_path):
    with SimulatorProcess(
        "sputter", "--pty", "--speed", "100000", "--serial", "SN42",
        "--tray", str(tmp_path / "tray.db"), "--ledger", str(tmp_path / "ledger.jsonl"),
    ) as proc:
        yield proc


def test_plain_serial_client_gets_idn_and_error_queue(sim):
    """The issue's acceptance test: a client that knows nothing of labpilot."""
    with serial.Serial(sim.address, 9600, timeout=5) as port:
        assert ask(port, "*IDN?") == "LABPILOT,SPUTTER-SIM,SN42,2.0"
        assert ask(port, "SYST:ERR?") == '0,"No error"'
        for line in ("PRES 99", "BOGUS:CMD 1", "BOGUS?", "SOUR:POW? 9"):  # refused: no reply at all
            port.write(line.encode("ascii") + b"\n")
        assert ask(port, "*OPC?") == "1"  # the first line back is *OPC?'s: nothing answered before it
        assert ask(port, "*ESR?") == str(32 + 16)  # command error + execution error bits
        assert ask(port, "*ESR?") == "0"  # cleared by reading
        assert ask(port, "SYST:ERR?").startswith('-222,"Data out of range; pressure 99')
        assert ask(port, "SYST:ERR?") == '-113,"Undefined header; BOGUS:CMD"'
        assert ask(port, "SYST:ERR?") == '-113,"Undefined header; BOGUS?"'
        assert ask(port, "SYST:ERR:NEXT?").startswith("-222,")
        assert ask(port, "SYST:ERR?") == '0,"No error"'
        send(port, "PRES 0.5")
        assert float(ask(port, "PRES?")) == 0.5


def test_long_form_mnemonics_are_the_same_commands_as_the_short_forms(sim):
    # SCPI lets a client spell each mnemonic in full, in any case: SYSTem:ERRor? is SYST:ERR?
    with serial.Serial(sim.address, 9600, timeout=5) as port:
        port.write(b"PRESSURE 99\n")  # refused (out of range): the error queue says so, in long form too
        assert ask(port, "system:error?").startswith('-222,"Data out of range; pressure 99')
        assert ask(port, "SYSTEM:ERROR:NEXT?") == '0,"No error"'
        send(port, "PRESSURE 0.7")
        assert float(ask(port, "pres?")) == 0.7
        port.write(b"PRSSURE 0.5\n")  # not a form of PRES: still an undefined header
        assert ask(port, "SYST:ERR?") == '-113,"Undefined header; PRSSURE"'


def test_cls_clears_the_queue_and_rst_restores_the_safe_state(sim):
    with serial.Serial(sim.address, timeout=5) as port:
        send(port, "PRES 0.5", "SHUT OPEN")
        port.write(b"PRES 99\nBOGUS\n*CLS\n")
        assert ask(port, "SYST:ERR?") == '0,"No error"' and ask(port, "*ESR?") == "0"
        port.write(b"*RST\n")
        assert ask(port, "SHUT?") == "CLOSED" and float(ask(port, "PRES?")) == 0.0
        assert ask(port, "*TST?") == "0"


def test_crlf_and_lowercase_commands_are_understood(sim):
    with serial.Serial(sim.address, timeout=5) as port:
        port.write(b"*idn?\r\n")
        assert port.readline() == b"LABPILOT,SPUTTER-SIM,SN42,2.0\n"


def test_deposition_needs_the_shutter_open_and_then_makes_one_sample(sim, tmp_path):
    with serial.Serial(sim.address, timeout=5) as port:
        send(port, "GAS:FLOW 20", "PRES 0.5", "SOUR:POW 1,150", "SOUR:POW 2,60")
        port.write(b"DEP:START run-1,1800\n")
        refused = ask(port, "SYST:ERR?")
        assert refused.startswith("-221,") and "shutter closed" in refused
        assert ask(port, "DEP:STAT? run-1") == "UNKNOWN"  # a refused start leaves no trace
        send(port, "SHUT OPEN")
        send(port, "DEP:START run-1,1800")
        send(port, "DEP:START run-1,1800")  # duplicate: suppressed
        status = ask(port, "DEP:STAT? run-1")
        while status.startswith("RUNNING"):
            status = ask(port, "DEP:STAT? run-1")
        assert status == "DONE,SP00001"
        fields = ask(port, "DEP:RES? run-1").split(",")
        assert fields[0] == "SP00001" and [float(f) for f in fields[1:4]] == [1800.0, 150.0, 60.0]
    deposits = [e for e in read_ledger(tmp_path / "ledger.jsonl") if e["action"] == "deposit"]
    assert len(deposits) == 1 and deposits[0]["command_id"] == "run-1"
    world, truth = Tray(tmp_path / "tray.db").get("SP00001")
    assert world == "alloy" and truth["composition"]["Fe"] > truth["composition"]["Co"] > 0


def test_closing_the_shutter_mid_run_aborts_the_deposition(tmp_path):
    with SimulatorProcess("sputter", "--pty", "--speed", "1", "--ledger", str(tmp_path / "l.jsonl")) as sim:
        with serial.Serial(sim.address, timeout=5) as port:
            send(port, "GAS:FLOW 20", "PRES 0.5", "SOUR:POW 1,100", "SHUT OPEN", "DEP:START r2,1800")
            send(port, "SHUT CLOSE")  # the close succeeded: nothing queued...
            status = ask(port, "DEP:STAT? r2")  # ...the action says what became of it
            assert status.startswith("FAILED,210,") and "shutter closed" in status
    actions = [e["action"] for e in read_ledger(tmp_path / "l.jsonl")]
    assert actions == ["deposit", "abort"]


def test_restarted_simulator_remembers_finished_commands(tmp_path):
    args = ["--pty", "--speed", "100000", "--tray", str(tmp_path / "tray.db")]
    with SimulatorProcess("sputter", *args) as sim, serial.Serial(sim.address, timeout=5) as port:
        send(port, "GAS:FLOW 20", "PRES 0.5", "SOUR:POW 1,100", "SHUT OPEN", "DEP:START keep-1,60")
        while ask(port, "DEP:STAT? keep-1").startswith("RUNNING"):
            pass
    with SimulatorProcess("sputter", *args) as sim, serial.Serial(sim.address, timeout=5) as port:
        assert ask(port, "DEP:STAT? keep-1") == "DONE,SP00001"
        send(port, "GAS:FLOW 20", "PRES 0.5", "SOUR:POW 1,100", "SHUT OPEN", "DEP:START keep-2,60")
        while (status := ask(port, "DEP:STAT? keep-2")).startswith("RUNNING"):
            pass
        assert status == "DONE,SP00002"  # sample ids never repeat across restarts


def test_sigterm_exits_cleanly(tmp_path):
    sim = SimulatorProcess("sputter", "--pty").start()
    assert sim.stop() == 0
    assert "Traceback" not in sim.stderr_text()
