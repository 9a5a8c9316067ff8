"""The generic ``scpi`` driver: configured in options only, through PyVISA, against real simulator processes."""

from __future__ import annotations

from collections import Counter

import pytest

from labpilot import registry
from labpilot.drivers import open_instrument
from labpilot.drivers.generic.scpi import ScpiDriver, visa_resource
from labpilot.errors import DriverError, InstrumentError, ProtocolError, SafetyLimitError
from labpilot.protocols.capabilities import Measurer, Sample, Synthesizer
from labpilot.simulators.ledger import read_ledger
from labpilot.simulators.process import SimulatorProcess
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds.alloy import AlloyWorld
from tests.drivers.serial_peer import NO_ERROR, ScriptedPeer

MAGNETOMETER = {
    "role": "measure",
    "baud_rate": 9600,
    "opc": True,
    "idn_contains": "magnetometer",
    "start": ["MEAS:START {command_id},{sample_id}"],
    "wait": {"query": "MEAS:STAT? {command_id}", "done": "^DONE", "failed": "^FAILED", "nominal_s": 300},
    "scalars": {"magnetization": {"query": "MEAS:RES? {command_id}", "unit": "emu/cm³", "field": 0}},
    "safe": ["MEAS:ABOR"],
}
SPUTTER = {
    "role": "synthesize",
    "setup": ["*CLS"],
    "parameters": {"fe_w": {"unit": "W", "limit": "max_gun_power_w"}, "co_w": {"unit": "W", "limit": "max_gun_power_w"},
                   "pressure_pa": {"unit": "Pa"}},
    "start": ["GAS:FLOW 20", "PRES {pressure_pa}", "SOUR:POW 1,{fe_w:.1f}", "SOUR:POW 2,{co_w:.1f}", "SHUT OPEN",
              "DEP:START {command_id},600"],
    "wait": {"query": "DEP:STAT? {command_id}", "done": "^DONE", "failed": "^FAILED", "nominal_s": 600},
    "finish": ["SHUT CLOSE", "SOUR:POW 1,0", "SOUR:POW 2,0"],
    "sample_id": {"query": "DEP:STAT? {command_id}", "regex": "^DONE,(?P<value>.+)$"},
    "safe": ["SHUT CLOSE", "SOUR:POW 1,0", "SOUR:POW 2,0"],
}
SPEED = 100000


@pytest.fixture
def tray(tmp_path):
    path = tmp_path / "tray.db"
    with Tray(path) as t:
        t.put("FILM1", "alloy", AlloyWorld(0).deposit({"Fe": 150.0, "Co": 50.0}, 600.0))
    return path


@pytest.mark.parametrize("transport", ["--pty", "--tcp"])
def test_a_measurer_configured_in_options_over_asrl_and_tcpip(tray, tmp_path, transport):
    ledger = tmp_path / "ledger.jsonl"
    where = [transport] if transport == "--pty" else [transport, "127.0.0.1:0"]
    with SimulatorProcess("magnetometer", *where, "--speed", str(SPEED), "--tray", str(tray), "--ledger", str(ledger)) as sim:
        with open_instrument("scpi", sim.address, options={**MAGNETOMETER, "speed": SPEED}) as drv:
            assert drv.address == visa_resource(sim.address) and isinstance(drv, Measurer)
            assert drv.role == "measure" and drv.scalars == {"magnetization": "emu/cm³"}
            m = drv.measure(Sample("FILM1"), "m-1")
            assert set(m.scalars) == {"magnetization"} and m.scalars["magnetization"] > 0
            drv.make_safe()
            assert drv.identify().startswith("LABPILOT,MAGNETOMETER-SIM")
            with pytest.raises(InstrumentError, match=r"301: No sample 'NOPE' in the rack \(after 'MEAS:START m-2,NOPE'\)") as info:
                drv.measure(Sample("NOPE"), "m-2")
            assert info.value.code == 301
    assert [e["command_id"] for e in read_ledger(ledger) if e["action"] == "measure"] == ["m-1"]


def test_a_synthesizer_makes_a_sample_the_measurer_can_find(tmp_path):
    tray, ledger = str(tmp_path / "tray.db"), tmp_path / "ledger.jsonl"
    common = ["--speed", str(SPEED), "--tray", tray]
    with SimulatorProcess("sputter", "--tcp", "127.0.0.1:0", *common, "--ledger", str(ledger)) as sp, \
            SimulatorProcess("magnetometer", "--pty", *common) as mg:
        with open_instrument("scpi", sp.address, options={**SPUTTER, "speed": SPEED},
                             limits={"max_gun_power_w": 300}) as dep, \
                open_instrument("scpi", mg.address, options={**MAGNETOMETER, "speed": SPEED}) as mag:
            assert isinstance(dep, Synthesizer) and dep.known_limits == ("max_gun_power_w",)
            sample = dep.synthesize({"fe_w": 200.0, "co_w": 60.0, "pressure_pa": 0.5}, "s-1")
            assert sample.sample_id.startswith("SP") and sample.info == {"params": {"fe_w": 200.0, "co_w": 60.0, "pressure_pa": 0.5}}
            assert mag.measure(sample, "m-1").scalars["magnetization"] > 0
            dep.make_safe()
            with pytest.raises(DriverError, match="cannot say what became of command s-1"):
                dep.command_outcome("s-1")
    assert Counter(e["action"] for e in read_ledger(ledger)) == {"deposit": 1}


def test_a_refused_set_command_raises_the_instruments_error_naming_it(tmp_path):
    with SimulatorProcess("sputter", "--pty", "--speed", str(SPEED)) as sim:
        with open_instrument("scpi", sim.address, options={**SPUTTER, "speed": SPEED}) as dep:
            with pytest.raises(InstrumentError, match=r"-222: Data out of range; pressure 99 .*\(after 'PRES 99.0'\)") as info:
                dep.synthesize({"fe_w": 100.0, "co_w": 10.0, "pressure_pa": 99.0}, "bad-1")
            assert info.value.code == -222
            assert dep.check_errors("nothing") is None  # the queue was drained
            assert dep.ask("DEP:STAT? bad-1") == "UNKNOWN"  # nothing after the refused command was sent


def test_a_refused_query_is_reported_with_its_error_not_as_a_lost_reply(tmp_path):
    options = {"role": "measure", "query_timeout_s": 0.3,
               "scalars": {"magnetization": {"query": "MEAS:RES? {command_id}"}}}
    with SimulatorProcess("magnetometer", "--pty") as sim:
        with open_instrument("scpi", sim.address, options=options) as drv:
            with pytest.raises(InstrumentError, match=r"-221: Settings conflict; no result for x-1 .*\(after 'MEAS:RES\? x-1'\)"):
                drv.measure(Sample("FILM1"), "x-1")


def test_a_failed_step_carries_the_instruments_error_code(tray):
    with SimulatorProcess("magnetometer", "--pty", "--speed", str(SPEED), "--tray", str(tray), "--faults", "error=1") as sim:
        with open_instrument("scpi", sim.address, options={**MAGNETOMETER, "speed": SPEED}) as drv:
            # the fault strikes half way; whether the driver sees it in the error queue after MEAS:START or as
            # FAILED while it waits depends on the virtual clock: either way the instrument's code is raised
            with pytest.raises(InstrumentError, match=r"error 250: Hardware fault during meas f-1") as info:
                drv.measure(Sample("FILM1"), "f-1")
            assert info.value.code == 250


HANDSHAKE = [(b"*IDN?\n", b"ACME,PROBE-9,77,2.3a\n"), (b"SYST:ERR?\n", NO_ERROR)]


def test_limits_and_parameters_are_checked_before_anything_is_sent():
    with ScriptedPeer(HANDSHAKE + [(b"*CLS\n", None), (b"SYST:ERR?\n", NO_ERROR)]) as peer:
        with open_instrument("scpi", f"ASRL{peer.path}::INSTR", options=SPUTTER, limits={"max_gun_power_w": 150}) as dep:
            sent = list(peer.sent)
            with pytest.raises(SafetyLimitError, match=r"max_gun_power_w=150 exceeded: requested 200 \(parameter fe_w in W\)"):
                dep.synthesize({"fe_w": 200.0, "co_w": 10.0, "pressure_pa": 0.5}, "c-1")
            with pytest.raises(ValueError, match=r"parameter\(s\) \['ni_w'\] not accepted"):
                dep.synthesize({"fe_w": 100.0, "co_w": 10.0, "pressure_pa": 0.5, "ni_w": 3.0}, "c-2")
            with pytest.raises(ValueError, match="needs a value for 'pressure_pa'"):
                dep.synthesize({"fe_w": 100.0, "co_w": 10.0}, "c-3")
            assert peer.sent == sent  # nothing after the handshake
        peer.check()


def test_the_exact_exchange_of_a_measurement_with_opc():
    script = [(b"*IDN?\n", b"LABPILOT,MAGNETOMETER-SIM,3,2.0\n"), (b"SYST:ERR?\n", NO_ERROR),
              (b"MEAS:START m-1,S1\n", None), (b"*OPC?\n", b"1\n"), (b"SYST:ERR?\n", NO_ERROR),
              (b"MEAS:STAT? m-1\n", b"RUNNING,0.5\n"), (b"MEAS:STAT? m-1\n", b"DONE,S1\n"),
              (b"MEAS:RES? m-1\n", b"+1.8125E+03\n"), (b"SYST:ERR?\n", NO_ERROR)]
    with ScriptedPeer(script) as peer:
        with open_instrument("scpi", peer.path, options={**MAGNETOMETER, "speed": 1e6}) as drv:
            assert drv.measure(Sample("S1"), "m-1").scalars == {"magnetization": 1812.5}
        peer.check()


def test_the_wrong_instrument_is_refused_at_connect():
    with ScriptedPeer(HANDSHAKE) as peer:
        with pytest.raises(ProtocolError, match=r"identity 'ACME,PROBE-9,77,2.3a' does not contain 'magnetometer'"):
            open_instrument("scpi", peer.path, options=MAGNETOMETER)


@pytest.mark.parametrize("options, message", [
    ({**MAGNETOMETER, "baudrate": 9600}, r"options.baudrate: unknown option \(check its spelling\)"),
    ({**MAGNETOMETER, "parity": "maybe"}, r"options.parity: must be 'none'"),
    ({**MAGNETOMETER, "start": ["MEAS:START {command_id},{sampleid}"]}, r"start\[0\]: .* uses \{sampleid\}"),
    ({**MAGNETOMETER, "start": ["X {sample_id.__class__}"]}, r"start\[0\]: .*must be a plain name"),
    ({**MAGNETOMETER, "scalars": {}}, "scalars: a measurer must name at least one measured scalar"),
    ({k: v for k, v in MAGNETOMETER.items() if k != "role"}, "options.role: required option is missing"),
    ({**MAGNETOMETER, "wait": {"query": "S?", "done": "(unclosed"}}, r"wait.done: '\(unclosed' is not a valid regular expression"),
    ({**SPUTTER, "start": ["SOUR:POW 1,{ni_w}"]}, r"start\[0\]: .* uses \{ni_w\}"),
])
def test_bad_options_are_named_without_any_io(options, message):
    with pytest.raises(ValueError, match=message):
        ScpiDriver.for_options(options)


def test_the_class_describes_each_configuration():
    synth = registry.configured_class("scpi", SPUTTER)
    assert synth.role == "synthesize" and synth.known_limits == ("max_gun_power_w",) and synth.scalars == {}
    assert synth.parameters == {"fe_w": "W", "co_w": "W", "pressure_pa": "Pa"} and synth.can_reconcile is False
    assert registry.measured_scalars("scpi", MAGNETOMETER) == {"magnetization": "emu/cm³"}
    assert "scpi" in registry.synthesizer_kinds()
    stand_in = ScpiDriver.stand_in({**MAGNETOMETER, "simulator": "magnetometer"})
    assert stand_in is not None and stand_in.kind == "magnetometer"
    assert ScpiDriver.stand_in(MAGNETOMETER) is None


@pytest.mark.parametrize("address, resource", [
    ("/dev/ttyUSB0", "ASRL/dev/ttyUSB0::INSTR"),
    ("socket://127.0.0.1:5025", "TCPIP::127.0.0.1::5025::SOCKET"),
    ("TCPIP::10.0.0.2::5025::SOCKET", "TCPIP::10.0.0.2::5025::SOCKET"),
])
def test_addresses_become_visa_resources(address, resource):
    assert visa_resource(address) == resource
