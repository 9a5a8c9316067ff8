"""Tensile driver against its simulator, with a polymer sample placed in a real tray file."""

from __future__ import annotations

import pytest

from labpilot.errors import InstrumentError
from labpilot.drivers import open_instrument

from labpilot.protocols.capabilities import Sample
from labpilot.simulators.process import SimulatorProcess
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds.polymer import PolymerWorld
from labpilot.simulators.worlds.alloy import AlloyWorld


def test_tensile_measures_a_polymer_sample_once(tmp_path):
    tray_path = tmp_path / "tray.db"
    with Tray(tray_path) as tray:
        tray.put("PP1", "polymer", PolymerWorld(0).synthesize(250.0, 0.95, 60.0))
        tray.put("FILM1", "alloy", AlloyWorld(0).deposit({"Fe": 100.0}, 600.0))
    with SimulatorProcess("tensile", "--pty", "--speed", "50000", "--tray", str(tray_path)) as sim:
        with open_instrument("tensile", sim.address, options={"speed": 50000}) as drv:
            m = drv.measure(Sample("PP1"), "t-1")
            assert set(m.scalars) == {"tensile_modulus", "impact_strength"}
            assert 100 < m.scalars["tensile_modulus"] < 5000 and m.scalars["impact_strength"] > 0
            assert drv.measure(Sample("PP1"), "t-1").scalars == m.scalars
            with pytest.raises(InstrumentError, match="'FILM1' comes from the alloy world; this tensile measures polymer"):
                drv.measure(Sample("FILM1"), "t-2")
