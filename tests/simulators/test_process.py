"""The one simulator launcher: address, clean stop, and start failures that quote the child's own error."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from labpilot.errors import SimulatorError
from labpilot.simulators.process import SimulatorProcess


def test_a_started_simulator_announces_its_address_and_stops_cleanly() -> None:
    with SimulatorProcess("xrd", "--zmq", "tcp://127.0.0.1:0") as sim:
        assert sim.address.startswith("tcp://127.0.0.1:")
        assert sim.proc is not None and sim.proc.poll() is None
    assert sim.proc.returncode == 0  # SIGTERM is a clean exit


def test_a_failed_start_names_the_simulator_and_quotes_its_error() -> None:
    # issue 14: a bad seed used to surface as "exited with code 1 before printing its address"
    with pytest.raises(SimulatorError) as info:
        SimulatorProcess("sputter", "--pty", "--seed", "-5").start()
    message = str(info.value)
    assert message.startswith("sputter simulator (pid ")
    assert "exited with code 2 before printing its address" in message
    assert message.splitlines()[-1].strip().endswith("argument --seed: must be >= 0, got -5")


def test_a_log_file_keeps_what_was_there_and_the_error_quotes_only_this_child(tmp_path: Path) -> None:
    log = tmp_path / "sim.log"
    log.write_text("an earlier run said this\n")
    with pytest.raises(SimulatorError) as info:
        SimulatorProcess("dsc", "--pty", "--faults", "bogus=1", log_path=log).start()
    assert "unknown fault kind 'bogus'" in str(info.value)
    assert "earlier run" not in str(info.value)
    text = log.read_text()
    assert text.startswith("an earlier run said this\n") and "unknown fault kind 'bogus'" in text


def test_a_detached_simulator_outlives_the_launcher(tmp_path: Path) -> None:
    sim = SimulatorProcess("magnetometer", "--pty", log_path=tmp_path / "m.log", detach=True).start()
    sim.release()
    try:
        assert os.getsid(sim.pid) == sim.pid  # its own session: a SIGKILLed agent does not take it along
        time.sleep(0.2)
        assert sim.proc.poll() is None
    finally:
        os.kill(sim.pid, signal.SIGTERM)
        assert sim.proc.wait(20) == 0
