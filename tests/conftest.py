"""Shared fixtures: the shipped campaigns, the public data and simulator processes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from labpilot.simulators.process import SimulatorProcess

REPO = Path(__file__).resolve().parents[1]
CAMPAIGNS = REPO / "campaigns"
#: Small attributed subsets of public data (tests/data/README.md): a clone runs every test.
PUBLIC_DATA = REPO / "tests" / "data"


@pytest.fixture
def alloy_campaign_file() -> Path:
    return CAMPAIGNS / "alloy_magnetization.toml"


@pytest.fixture(scope="session")
def public_data() -> Path:
    """The folder of shipped public-data subsets (fe_ga_pd/, oer_plate_3496/)."""
    return PUBLIC_DATA


@pytest.fixture(scope="session")
def oer_plate(public_data: Path) -> np.ndarray:
    """The OER plate subset: rows of six loadings (ni, fe, co, mn, ce, la) and the overpotential (V)."""
    return _frozen(np.loadtxt(public_data / "oer_plate_3496" / "data.csv", delimiter=","))


@dataclass(frozen=True)
class FeGaPd:
    """The Fe-Ga-Pd library subset: compositions, XRD patterns (rows) and SQUID voltage per sample."""

    composition: np.ndarray
    two_theta: np.ndarray
    xrd: np.ndarray
    magnetization: np.ndarray


@pytest.fixture(scope="session")
def fe_ga_pd(public_data: Path) -> FeGaPd:
    d = public_data / "fe_ga_pd"
    xrd = np.loadtxt(d / "FeGaPd_XRD.txt", delimiter=",")
    return FeGaPd(
        composition=_frozen(np.loadtxt(d / "FeGaPd_CMP.txt", skiprows=1)),
        two_theta=_frozen(xrd[0]),
        xrd=_frozen(xrd[1:]),
        magnetization=_frozen(np.loadtxt(d / "FeGaPd_Mag.txt", delimiter=",")[:, 0]),
    )


def _frozen(a: np.ndarray) -> np.ndarray:
    """Read-only: data loaded once per session must not be changed by one test for the next."""
    a.setflags(write=False)
    return a


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


@pytest.fixture(scope="session")
def pg_server():  # noqa: ANN201
    """A real PostgreSQL server for the whole test session (skips if not installed)."""
    from tests.pg_server import PgServer

    server = PgServer()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server, request: pytest.FixtureRequest) -> str:  # noqa: ANN001
    """A fresh database on the test server, one per test."""
    import re

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    return pg_server.create_database(name)
