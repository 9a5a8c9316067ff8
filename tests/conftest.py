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
