"""Shared fixtures: the shipped campaigns, the public data and simulator processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from labpilot.simulators.process import SimulatorProcess

REPO = Path(__file__).resolve().parents[1]
CAMPAIGNS = REPO / "campaigns"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def alloy_campaign_file() -> Path:
    return CAMPAIGNS / "alloy_magnetization.toml"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def simulators():
    """``start(kind, *args)`` → a running ``SimulatorProcess``; all are stopped at teardown and must exit cleanly."""
    started: list[SimulatorProcess] = []

    def start(kind: str, *args: str) -> SimulatorProcess:
        sim = SimulatorProcess(kind, *args, start_timeout_s=60.0).start()
        started.append(sim)
        return sim

    yield start
    codes = {sim.kind: sim.stop(20) for sim in started}
    assert all(code == 0 for code in codes.values()), f"simulators did not exit cleanly on SIGTERM: {codes}"
