"""Sputter driver: the exact byte exchange, safety limits, and runs against the real simulator."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from labpilot.errors import InstrumentError, ProtocolError, SafetyLimitError
from labpilot.drivers import open_instrument

from labpilot.protocols.capabilities import Synthesizer
from tests.drivers.serial_peer import ScriptedPeer, greeting, setter
from labpilot.simulators.ledger import read_ledger
from labpilot.simulators.process import SimulatorProcess

OPTIONS = {"targets": ["Fe", "Co"], "rates": {"Fe": 2.0, "Co": 1.0}, "max_power_w": 100.0, "speed": 1e6}
HANDSHAKE = greeting(b"LABPILOT,SPUTTER-SIM,7,2.0\n") + [
    (b"SOUR:COUN?\n", b"2\n"),
    (b"SOUR:TARG? 1\n", b"Co\n"),
    (b"SOUR:TARG? 2\n", b"Fe\n"),
]
RATES = {"Fe": 1.9e-3, "Co": 2.0e-3, "Ni": 2.2e-3, "Ir": 2.6e-3, "Pt": 3.4e-3}


def test_synthesize_sends_exactly_these_bytes():
    script = HANDSHAKE + [
        (b"DEP:STAT? c-1\n", b"UNKNOWN\n"),
        *setter(b"GAS:FLOW 20.0\n"),
        *setter(b"PRES 0.5\n"),
        *setter(b"HEAT OFF\n"),
        *setter(b"SOUR:POW 2,50.0\n"),  # Fe sits on gun 2: power ∝ 0.5 / 2.0
        *setter(b"SOUR:POW 1,100.0\n"),  # Co on gun 1: 0.5 / 1.0, the largest → max_power_w
        *setter(b"SHUT OPEN\n"),
        *setter(b"DEP:START c-1,1800.0\n"),
        (b"DEP:STAT? c-1\n", b"RUNNING,0.5\n"),
        (b"DEP:STAT? c-1\n", b"DONE,SP1\n"),
        *setter(b"SHUT CLOSE\n"),
        *setter(b"SOUR:POW 2,0\n"),
        *setter(b"SOUR:POW 1,0\n"),
        (b"DEP:RES? c-1\n", b"SP1,1800.0,100.0,50.0\n"),
    ]
    with ScriptedPeer(script) as peer:
        with open_instrument("sputter", peer.path, options=OPTIONS, timeout_s=2) as drv:
            sample = drv.synthesize({"Fe": 0.5, "Co": 0.5}, "c-1")
        peer.check()
    assert sample.sample_id == "SP1"
    assert sample.info == {"powers_w": {"Fe": 50.0, "Co": 100.0}, "duration_s": 1800.0}


def test_a_finished_command_id_is_not_deposited_again():
    script = HANDSHAKE + [
        (b"DEP:STAT? c-1\n", b"DONE,SP1\n"),
        (b"DEP:RES? c-1\n", b"SP1,1800.0,100.0,50.0\n"),
    ]
    with ScriptedPeer(script) as peer:
        with open_instrument("sputter", peer.path, options=OPTIONS, timeout_s=2) as drv:
            assert drv.synthesize({"Fe": 0.5, "Co": 0.5}, "c-1").sample_id == "SP1"
        peer.check()


@pytest.mark.parametrize(
    "limits, params, message",
    [
        ({"max_target_power_w": 80.0}, {"Fe": 0.5, "Co": 0.5}, r"max_target_power_w=80 exceeded: requested 100 \(target Co power"),
        ({"max_pressure_pa": 0.2}, {"Fe": 0.5, "Co": 0.5}, r"max_pressure_pa=0.2 exceeded: requested 0.5"),
        ({"max_substrate_temp_c": 300}, {"Fe": 1.0, "Co": 0.0, "substrate_temp_c": 450}, "max_substrate_temp_c=300"),
        ({"max_total_power_w": 120}, {"Fe": 0.5, "Co": 0.5}, r"max_total_power_w=120 exceeded: requested 150"),
        ({"max_deposition_time_s": 600}, {"Fe": 0.5, "Co": 0.5}, "max_deposition_time_s=600"),
    ],
)
def test_safety_limits_refuse_before_sending_anything(limits, params, message):
    with ScriptedPeer(HANDSHAKE) as peer:
        with open_instrument("sputter", peer.path, options=OPTIONS, limits=limits, timeout_s=2) as drv:
            with pytest.raises(SafetyLimitError, match=message):
                drv.synthesize(params, "c-9")
        assert peer.sent == [line for line, _ in HANDSHAKE]  # nothing after the handshake


@pytest.mark.parametrize(
    "params, message",
    [
        ({"Fe": 0.5, "Co": 0.6}, "must sum to 1, got 1.1"),
        ({"Fe": 1.2, "Co": -0.2}, "fraction of Co must be finite and >= 0"),
        ({"Fe": 1.0, "Xx": 0.0}, r"unknown parameter\(s\) \['Xx'\]"),
        ({"Fe": "lots", "Co": 0.0}, "fraction of Fe must be a number"),
    ],
)
def test_bad_parameters_are_refused_with_the_reason(params, message):
    with ScriptedPeer(HANDSHAKE) as peer:
        with open_instrument("sputter", peer.path, options=OPTIONS, timeout_s=2) as drv:
            with pytest.raises(ValueError, match=message):
                drv.synthesize(params, "c-9")


def test_unknown_limit_names_are_refused_at_connect():
    with pytest.raises(ValueError, match="unknown safety limit 'max_power'.*max_target_power_w"):
        open_instrument("sputter", "loop://", limits={"max_power": 100})


def test_incompatible_protocol_version_is_refused():
    with ScriptedPeer([(b"*IDN?\n", b"ACME,SPUTTER-9000,1,1.0\n")]) as peer:
        with pytest.raises(ProtocolError, match=r"speaks protocol '1.0'; this driver needs protocol 2.x"):
            open_instrument("sputter", peer.path, timeout_s=2)


def test_the_wrong_instrument_is_refused():
    with ScriptedPeer([(b"*IDN?\n", b"LABPILOT,MAGNETOMETER-SIM,1,2.0\n")]) as peer:
        with pytest.raises(ProtocolError, match="found a LABPILOT 'MAGNETOMETER-SIM', expected a model containing 'SPUTTER'"):
            open_instrument("sputter", peer.path, timeout_s=2)


def test_missing_target_is_named():
    script = HANDSHAKE[:2] + [(b"SOUR:COUN?\n", b"1\n"), (b"SOUR:TARG? 1\n", b"Co\n")]
    with ScriptedPeer(script) as peer:
        with pytest.raises(ProtocolError, match=r"target\(s\) \['Fe'\] not mounted"):
            open_instrument("sputter", peer.path, options=OPTIONS, timeout_s=2)


# ---------------------------------------------------------------------- against the simulator


def test_against_the_simulator_over_a_real_pty(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    args = ["--pty", "--speed", "20000", "--tray", str(tmp_path / "tray.db"), "--ledger", str(ledger)]
    with SimulatorProcess("sputter", *args) as sim:
        with open_instrument("sputter", sim.address, options={"rates": RATES, "speed": 20000},
                             limits={"max_target_power_w": 250}) as drv:
            assert isinstance(drv, Synthesizer)
            assert drv.identify().startswith("LABPILOT,SPUTTER-SIM,")
            assert drv.command_outcome("a-1").state == "unknown"
            sample = drv.synthesize({"Fe": 0.75, "Co": 0.25}, "a-1")
            again = drv.synthesize({"Fe": 0.75, "Co": 0.25}, "a-1")
            assert again == sample and max(sample.info["powers_w"].values()) == pytest.approx(250)
            outcome = drv.command_outcome("a-1")
            assert outcome.state == "done" and outcome.result == {"sample_id": sample.sample_id, "info": sample.info}
            status = drv.status()
            assert status["shutter"] == "CLOSED" and status["state"] == "IDLE" and status["pow1"] == 0.0
            drv.make_safe()
            assert drv.status()["heater"] == "OFF"
    deposits = [e for e in read_ledger(ledger) if e["action"] == "deposit"]
    assert [e["command_id"] for e in deposits] == ["a-1"]


def test_faulty_link_is_retried_and_never_deposits_twice(tmp_path, caplog):
    """Dropped, garbled, slow replies and short disconnects: every sample made exactly once."""
    caplog.set_level(logging.WARNING)
    ledger = tmp_path / "ledger.jsonl"
    faults = "drop=0.08,garble=0.1,slow=0.05,disconnect=0.02,slow_s=0.03,disconnect_s=0.2"
    args = ["--pty", "--speed", "50000", "--seed", "3", "--faults", faults, "--ledger", str(ledger)]
    with SimulatorProcess("sputter", *args) as sim:
        with open_instrument("sputter", sim.address, options={"rates": RATES, "speed": 50000, "backoff_s": 0.01,
                             "targets": ["Fe", "Co"]}, timeout_s=0.15, retries=6) as drv:
            samples = [drv.synthesize({"Fe": 1 - x, "Co": x}, f"f-{i}") for i, x in enumerate((0.1, 0.3, 0.5, 0.7))]
            stats = dict(drv.transport.stats)
    assert len({s.sample_id for s in samples}) == 4
    per_id = Counter(e["command_id"] for e in read_ledger(ledger) if e["action"] == "deposit")
    assert per_id == {f"f-{i}": 1 for i in range(4)}
    assert stats["retries"] > 0 and stats["garbled"] > 0 and stats["timeouts"] > 0
    assert any("retry" in r.getMessage() for r in caplog.records)


def test_instrument_error_during_deposition_raises_with_code(tmp_path):
    with SimulatorProcess("sputter", "--pty", "--speed", "50000", "--faults", "error=1") as sim:
        with open_instrument("sputter", sim.address, options={"rates": RATES, "speed": 50000}) as drv:
            with pytest.raises(InstrumentError, match="instrument error 250: Hardware fault") as info:
                drv.synthesize({"Fe": 1.0}, "e-1")
            assert info.value.code == 250 and info.value.instrument == "sputter"
            assert drv.command_outcome("e-1").state == "failed"
            assert drv.errors() == []  # the driver drained the queue
            assert drv.status()["shutter"] == "CLOSED"


AGENT = """
import sys
from labpilot.drivers import open_instrument
drv = open_instrument("sputter", sys.argv[1], options={"rates": {"Fe": 1.0, "Co": 1.0}, "targets": ["Fe", "Co"],
                      "speed": 100, "deposition_time_s": 150})
drv.synthesize({"Fe": 0.5, "Co": 0.5}, "k-1")
print("finished", flush=True)
"""


def test_agent_killed_mid_deposition_reconciles_without_a_second_deposit(tmp_path):
    """kill -9 of the process that started a deposition; a new one finds it running and waits for it."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    ledger = tmp_path / "ledger.jsonl"
    with SimulatorProcess("sputter", "--pty", "--speed", "100", "--ledger", str(ledger)) as sim:
        agent = subprocess.Popen([sys.executable, "-c", AGENT, sim.address], cwd=Path(__file__).resolve().parents[2],
                                 stdout=subprocess.PIPE, text=True)
        try:
            for _ in range(600):  # the deposition (1.5 s real) has started once the ledger says so
                if any(e["action"] == "deposit" for e in read_ledger(ledger)):
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("the agent never started a deposition")
            agent.kill()
        finally:
            agent.wait()
            agent.stdout.close()
        assert agent.returncode == -9
        options = {"rates": {"Fe": 1.0, "Co": 1.0}, "targets": ["Fe", "Co"], "speed": 100, "deposition_time_s": 150}
        with open_instrument("sputter", sim.address, options=options) as drv:
            assert drv.command_outcome("k-1").state == "running"
            sample = drv.synthesize({"Fe": 0.5, "Co": 0.5}, "k-1")
            assert drv.command_outcome("k-1").result["sample_id"] == sample.sample_id
            assert drv.status()["shutter"] == "CLOSED"
    assert [e["command_id"] for e in read_ledger(ledger) if e["action"] == "deposit"] == ["k-1"]
