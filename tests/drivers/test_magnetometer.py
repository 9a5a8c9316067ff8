"""Magnetometer driver: exact bytes, and a real sputter → magnetometer chain over ptys."""

from __future__ import annotations

from collections import Counter

import pytest

from labpilot.errors import InstrumentError
from labpilot.drivers import open_instrument

from labpilot.protocols.capabilities import Measurer, Sample
from tests.drivers.serial_peer import ScriptedPeer, greeting, setter
from labpilot.simulators.ledger import read_ledger
from labpilot.simulators.process import SimulatorProcess

RATES = {"Fe": 1.9e-3, "Co": 2.0e-3, "Ni": 2.2e-3, "Ir": 2.6e-3, "Pt": 3.4e-3}


def test_measure_sends_exactly_these_bytes():
    script = greeting(b"LABPILOT,MAGNETOMETER-SIM,3,2.0\n") + [
        (b"MEAS:STAT? m-1\n", b"UNKNOWN\n"),
        *setter(b"MEAS:START m-1,SP00001\n"),
        (b"MEAS:STAT? m-1\n", b"RUNNING,0.9\n"),
        (b"MEAS:STAT? m-1\n", b"DONE,SP00001\n"),
        (b"MEAS:RES? m-1\n", b"1812.5\n"),
    ]
    with ScriptedPeer(script) as peer:
        with open_instrument("magnetometer", peer.path, options={"speed": 1e6}, timeout_s=2) as drv:
            m = drv.measure(Sample("SP00001"), "m-1")
        peer.check()
    assert m.scalars == {"magnetization": 1812.5} and m.arrays == {}


def test_sputter_then_magnetometer_share_the_tray(tmp_path):
    tray, ledger = str(tmp_path / "tray.db"), str(tmp_path / "ledger.jsonl")
    common = ["--pty", "--speed", "50000", "--tray", tray, "--ledger", ledger, "--world-seed", "4"]
    with SimulatorProcess("sputter", *common) as sp_sim, SimulatorProcess("magnetometer", *common) as mg_sim:
        with open_instrument("sputter", sp_sim.address, options={"rates": RATES, "speed": 50000}) as sp, \
                open_instrument("magnetometer", mg_sim.address, options={"speed": 50000}) as mg:
            assert isinstance(mg, Measurer)
            values = {}
            for i, fe in enumerate((1.0, 0.75, 0.0)):
                sample = sp.synthesize({"Fe": fe, "Co": 1 - fe}, f"s-{i}")
                values[fe] = mg.measure(sample, f"m-{i}").scalars["magnetization"]
                assert mg.measure(sample, f"m-{i}").scalars["magnetization"] == values[fe]  # repeat: same reading
            outcome = mg.command_outcome("m-1")
            assert outcome.state == "done" and outcome.result["scalars"]["magnetization"] == values[0.75]
            with pytest.raises(InstrumentError, match="301: No sample 'SP99999' in the rack") as info:
                mg.measure(Sample("SP99999"), "m-x")
            assert info.value.code == 301
    # Slater-Pauling: Fe75Co25 beats pure Fe, which beats pure Co
    assert values[0.75] > values[1.0] > values[0.0] > 0
    counts = Counter((e["instrument"], e["action"]) for e in read_ledger(ledger))
    assert counts == {("sputter", "deposit"): 3, ("magnetometer", "measure"): 3}
