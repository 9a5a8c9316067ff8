"""DSC driver: scan limits, a chunked curve transfer, against its simulator."""

from __future__ import annotations

import numpy as np
import pytest

from labpilot.errors import SafetyLimitError
from labpilot.drivers import open_instrument

from labpilot.protocols.capabilities import Sample
from labpilot.simulators.process import SimulatorProcess
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds.polymer import PolymerWorld


@pytest.fixture
def dsc_sim(tmp_path):
    tray_path = tmp_path / "tray.db"
    with Tray(tray_path) as tray:
        tray.put("PP1", "polymer", PolymerWorld(0).synthesize(250.0, 0.95, 60.0))
    args = ["--pty", "--speed", "50000", "--tray", str(tray_path), "--faults", "garble=0.05", "--seed", "1"]
    with SimulatorProcess("dsc", *args) as sim:
        yield sim


def test_dsc_curve_arrives_whole_and_in_order(dsc_sim):
    options = {"speed": 50000, "t_start_c": 40.0, "t_stop_c": 200.0, "t_step_c": 0.25}
    with open_instrument("dsc", dsc_sim.address, options=options, limits={"max_temperature_c": 250}) as drv:
        m = drv.measure(Sample("PP1"), "d-1")
    t, h = m.arrays["temperature"], m.arrays["heat_flow"]
    assert t.shape == h.shape == (641,)  # 7 chunks of 100 points, last one partial
    np.testing.assert_allclose(t, np.arange(40.0, 200.0 + 1e-9, 0.25))
    assert 140 < m.scalars["melting_point"] < 180 and 0 < m.scalars["crystallinity"] < 1
    peak = t[np.argmax(h)]  # the melting endotherm sits near the reported melting point
    assert abs(peak - m.scalars["melting_point"]) < 10


def test_scan_above_the_limit_is_refused_before_sending(dsc_sim):
    with open_instrument("dsc", dsc_sim.address, options={"t_stop_c": 280.0}, limits={"max_temperature_c": 250}) as drv:
        with pytest.raises(SafetyLimitError, match="max_temperature_c=250 exceeded: requested 280"):
            drv.measure(Sample("PP1"), "d-2")
        assert drv.command_outcome("d-2").state == "unknown"
