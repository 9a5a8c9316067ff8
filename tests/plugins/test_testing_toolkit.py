"""The driver authors' toolkit: exact-byte exchanges, conformance checks, simulator bases (pty, folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import serial
from pydantic import ConfigDict

from labpilot.drivers.options import DriverOptions
from labpilot.errors import ConformanceError, InstrumentError
from labpilot.protocols.capabilities import Sample
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds import AlloyWorld
from labpilot.testing import (ExchangeMismatch, check_driver, check_instrument, driver_problems, expected_exchange,
                              expected_protocol)
from tests.plugins.helpers import EXAMPLE_SRC, import_example

# the example plugin's modules, from its sources
DropDiffractometer = import_example("labpilot_fourpoint.diffractometer").DropDiffractometer
DropDiffractometerSimulator = import_example("labpilot_fourpoint.diffractometer_sim").DropDiffractometerSimulator
FourPointProbe = import_example("labpilot_fourpoint.probe").FourPointProbe
sheet_resistance = import_example("labpilot_fourpoint.probe_sim").sheet_resistance

IDN = (b"*IDN?\n", b"OHMTEK,FPP-4,SN0042,FW2.3a\r\n")
CLS = (b"*CLS\n", None)


def measure_exchange(reading: bytes, error: bytes = b'0,"No error"\r\n') -> list:
    return [
        (b"SAMP:LOAD F00017\n", None),
        (b"SOUR:CURR 0.002\n", None),
        (b"OUTP ON\n", None),
        (b"MEAS:SRES?\n", reading),
        (b"OUTP OFF\n", None),
        (b"SYST:ERR?\n", error),
    ]


def test_the_probe_speaks_exactly_its_dialect() -> None:
    with expected_exchange([IDN, CLS, *measure_exchange(b"1.234500E+01\r\n")]) as (url, exchange):
        probe = FourPointProbe(url, options={"current_a": 0.002}, limits={"max_current_a": 0.01})
        m = probe.measure(Sample("F00017"), "c1")
        probe.close()
    assert m.scalars == {"sheet_resistance": pytest.approx(12.345)}
    assert exchange.settings["baudrate"] == 9600  # its own line speed, not labpilot's 115200
    assert exchange.log[:2] == [b"*IDN?\n", b"*CLS\n"]


def test_a_queued_instrument_error_fails_the_measurement() -> None:
    pairs = [IDN, CLS, *measure_exchange(b"9.91E+37\r\n", b'-221,"Settings conflict; no sample loaded"\r\n')]
    with expected_protocol(FourPointProbe, pairs, options={"current_a": 0.002}) as probe:
        with pytest.raises(InstrumentError, match=r"-221: Settings conflict; no sample loaded"):
            probe.measure(Sample("F00017"), "c1")


def test_a_limit_is_checked_before_anything_is_sent() -> None:
    from labpilot.errors import SafetyLimitError

    with expected_protocol(FourPointProbe, [IDN, CLS], options={"current_a": 0.05},
                           limits={"max_current_a": 0.01}) as probe:
        with pytest.raises(SafetyLimitError, match="max_current_a"):
            probe.measure(Sample("F00017"), "c1")


def test_a_wrong_byte_fails_with_both_byte_strings_shown() -> None:
    with pytest.raises(ExchangeMismatch, match=r"expected b'\*IDN\?\\r\\n', got b'\*IDN\?\\n'"):
        with expected_protocol(FourPointProbe, [(b"*IDN?\r\n", b"OHMTEK,FPP-4,1,FW2\r\n")]):
            pass


def test_expected_requests_never_sent_fail_the_block() -> None:
    with pytest.raises(ExchangeMismatch, match=r"1 expected exchange\(s\) never happened, next: \(b'OUTP OFF\\n'"):
        with expected_protocol(FourPointProbe, [IDN, CLS, (b"OUTP OFF\n", None)]):
            pass
    with pytest.raises(ExchangeMismatch, match="unexpected write b'OUTP OFF\\\\n'"):
        with expected_protocol(FourPointProbe, [IDN, CLS]) as probe:
            probe.make_safe()


def test_a_missing_reply_is_a_timeout_at_once() -> None:
    from labpilot.errors import TransportTimeout

    with pytest.raises(TransportTimeout, match="no reply to '\\*IDN\\?'"):
        with expected_exchange([(b"*IDN?\n", None)]) as (url, _):
            FourPointProbe(url)


def test_make_safe_is_idempotent_on_the_wire() -> None:
    pairs = [IDN, CLS, (b"*IDN?\n", IDN[1]), (b"SAMP:LOAD?\n", b"NONE\r\n"), (b"OUTP?\n", b"1\r\n"),
             (b"OUTP OFF\n", None), (b"OUTP OFF\n", None), (b"SAMP:LOAD?\n", b"NONE\r\n"), (b"OUTP?\n", b"0\r\n")]
    with expected_protocol(FourPointProbe, pairs) as probe:
        check_instrument(probe)


def test_a_pyserial_url_is_refused_when_no_exchange_is_open() -> None:
    with pytest.raises(serial.SerialException, match="no expected exchange is open under expect://nope"):
        serial.serial_for_url("expect://nope")


# ------------------------------------------------------------------ conformance


def test_the_example_drivers_conform() -> None:
    assert check_driver(FourPointProbe) is FourPointProbe
    check_driver(DropDiffractometer)


class Sloppy:
    """A measurer that gets everything wrong that can be declared wrong."""

    class Options(DriverOptions):
        model_config = ConfigDict(extra="allow")

    kind = "sloppy"
    role = "measure"
    scalars = {"resistance": ""}
    arrays = {"two_theta": "deg"}
    axes = ("angle",)
    known_limits = ("max_v", "max_v")
    can_reconcile: ClassVar[Any] = "yes"
    simulator = "not a path"

    def identify(self) -> str:
        return ""

    def measure(self, sample: Sample) -> None:
        return None


def test_conformance_names_every_problem() -> None:
    problems = driver_problems(Sloppy)
    expected = [
        "method status() is missing", "method make_safe() is missing", "method command_outcome() is missing",
        "method close() is missing", "measure must take (sample, command_id)", "scalars['resistance'] has no unit",
        "axes ('angle',) must be a tuple of names among its arrays", "known_limits has duplicates",
        "Options must keep extra='forbid'", "can_reconcile must be True or False", "simulator must be a 'module:attr' path",
    ]
    for text in expected:
        assert any(text in p for p in problems), (text, problems)
    assert len(problems) == len(expected)
    with pytest.raises(ConformanceError, match="Sloppy does not conform: method status"):
        check_driver(Sloppy)
    assert driver_problems(len) == [f"{len!r} is not a class"]


# ------------------------------------------------------------------ simulator bases


def _film(tray_path: Path, sample_id: str) -> dict:
    world = AlloyWorld(0)
    truth = world.deposit({"Fe": 120.0, "Co": 80.0, "Pt": 30.0}, 1800.0, substrate_temp_c=300.0)
    with Tray(tray_path) as tray:
        tray.put(sample_id, "alloy", truth)
    return truth


def test_the_probe_simulator_serves_the_dialect_on_a_pty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labpilot.simulators.process import SimulatorProcess
    from tests.plugins.helpers import env_with_path

    monkeypatch.setenv("PYTHONPATH", env_with_path(EXAMPLE_SRC)["PYTHONPATH"])
    tray = tmp_path / "tray.sqlite"
    truth = _film(tray, "F00001")
    with SimulatorProcess("labpilot_fourpoint.probe:FourPointProbe", "--pty", "--tray", str(tray),
                          "--speed", "1000") as sim:
        probe = FourPointProbe(sim.address, options={"current_a": 0.001})
        try:
            value = probe.measure(Sample("F00001"), "c1").scalars["sheet_resistance"]
            assert value == pytest.approx(sheet_resistance(truth), rel=0.03)
            # standard SCPI: a bad command answers nothing; its error waits in SYST:ERR?
            probe.transport.write("FOO:BAR 1")
            assert probe.transport.query("SYST:ERR?") == '-113,"Undefined header"'
            with pytest.raises(InstrumentError, match="-222"):
                probe.measure(Sample("F99999"), "c2")  # not in the changer
            check_instrument(probe)
        finally:
            probe.close()


def test_the_folder_simulator_drops_one_file_per_sample_when_its_scan_is_done(tmp_path: Path) -> None:
    tray = tmp_path / "tray.sqlite"
    drop = tmp_path / "drop"
    drop.mkdir()
    sim = DropDiffractometerSimulator(folder=drop, tray=str(tray), speed=100.0)  # a scan: 9 s
    _film(tray, "F00001")
    assert sim.step(now=0.0) == []  # the scan just started
    assert sim.step(now=8.9) == []
    assert sim.step(now=9.1) == [drop / "F00001.csv"]
    assert sim.step(now=100.0) == []  # never written twice
    assert sorted(p.name for p in drop.iterdir()) == ["F00001.csv"]  # nothing half-written left behind
    xrd = DropDiffractometer(str(drop), options={"speed": 100.0, "poll_s": 0.01})
    m = xrd.measure(Sample("F00001"), "c1")
    assert m.arrays["two_theta"].shape == m.arrays["intensity"].shape == (1401,)
    assert m.scalars["peak_two_theta"] == m.arrays["two_theta"][int(np.argmax(m.arrays["intensity"]))]
    assert 40.0 < m.scalars["peak_two_theta"] < 50.0  # bcc (110) / fcc (111) of an Fe-Co film
    check_instrument(xrd)


def test_the_folder_driver_names_a_missing_file_and_a_bad_one(tmp_path: Path) -> None:
    from labpilot.errors import ProtocolError, TransportTimeout

    xrd = DropDiffractometer(str(tmp_path), timeout_s=0.2, options={"scan_s": 0.01, "poll_s": 0.01})
    with pytest.raises(TransportTimeout, match=r"no file 'S1.csv' in .* after"):
        xrd.measure(Sample("S1"), "c1")
    (tmp_path / "S2.csv").write_text("two_theta,intensity\n20.0,5\n20.1,oops\n")
    with pytest.raises(ProtocolError, match=r"S2.csv: data row 3 is not two numbers"):
        xrd.measure(Sample("S2"), "c2")
    with pytest.raises(TransportTimeout, match="does not exist"):
        DropDiffractometer(str(tmp_path / "absent"))


def test_a_misspelt_option_is_named_before_the_port_is_opened() -> None:
    from labpilot.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"fourpoint-probe: options.curent_a: Extra inputs are not permitted"):
        FourPointProbe("expect://never-opened", options={"curent_a": 0.001})
