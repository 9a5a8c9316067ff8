"""The ``python -m labpilot.simulators`` command line: validation and the address line."""

from __future__ import annotations

import subprocess
import sys

import pytest
import serial

from labpilot.simulators.__main__ import parse_args
from labpilot.simulators.process import SimulatorProcess


def test_valid_arguments_parse():
    args = parse_args(["sputter", "--pty", "--seed", "3", "--faults", "drop=0.1", "--speed", "100"])
    assert args.kind == "sputter" and args.pty and args.seed == 3 and args.speed == 100.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sputter"], "one of the arguments --pty --tcp --zmq --folder is required"),
        (["laser", "--pty"], "unknown instrument kind 'laser'; kinds with a simulator: dsc, folder, magnetometer, robot"),
        (["sputter", "--zmq", "tcp://127.0.0.1:0"], "sputter simulator does not serve --zmq; use --pty or --tcp"),
        (["sputter", "--pty", "--faults", "drop=2"], "--faults: fault 'drop': rate 2.0 is outside"),
        (["sputter", "--pty", "--speed", "0"], "--speed must be > 0"),
        (["sputter", "--tcp", "nohost"], "--tcp wants HOST:PORT"),
        (["sputter", "--pty", "--option", "a=1"], "sputter simulator takes no --option"),
        (["folder", "--pty"], "folder simulator does not serve --pty; use --folder"),
        (["folder", "--folder", "/tmp/x", "--option", "nope=1"], "--option: unknown option(s) ['nope']"),
        (["folder", "--folder", "/tmp/x", "--option", "novalue"], "must be KEY=VALUE"),
    ],
)
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_arguments_exit_before_printing_an_address():
    proc = subprocess.run([sys.executable, "-m", "labpilot.simulators", "dsc", "--pty", "--faults", "bogus=1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == "" and "unknown fault kind 'bogus'" in proc.stderr


def test_tcp_serving_speaks_the_same_protocol():
    with SimulatorProcess("magnetometer", "--tcp", "127.0.0.1:0") as sim:
        assert sim.address.startswith("socket://127.0.0.1:")
        with serial.serial_for_url(sim.address, timeout=5) as port:
            port.write(b"*IDN?\n")
            assert port.readline() == b"LABPILOT,MAGNETOMETER-SIM,0001,2.0\n"
