"""The virtual clock maps virtual durations to real ones by the speed factor."""

from __future__ import annotations

import pytest

from labpilot.simulators.clock import VirtualClock


def test_real_seconds_scale_by_speed():
    clock = VirtualClock(speed=1000.0)
    assert clock.real_seconds(1800.0) == pytest.approx(1.8)
    assert clock.real_seconds(-5.0) == 0.0


def test_virtual_time_runs_faster_than_real_time():
    clock = VirtualClock(speed=500.0)
    before = clock.now()
    clock.sleep(10.0)  # 20 ms real
    assert clock.now() - before >= 10.0


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_speed_is_refused(speed):
    with pytest.raises(ValueError, match="speed"):
        VirtualClock(speed)
