"""Shared fixtures: paths to the shipped campaigns and the public data."""

from __future__ import annotations

from pathlib import Path

import pytest

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
