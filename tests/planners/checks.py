"""Assertions several planner tests share."""

from __future__ import annotations

from typing import Iterable

import pytest

from labpilot.planners.base import Proposal
from labpilot.planners.space import Space


def assert_feasible_on_simplex(space: Space, proposals: Iterable[Proposal], abs_tol: float = 1e-6) -> None:
    """Every proposal lies in ``space`` and its parameters add up to 1."""
    for p in proposals:
        assert space.contains(p.params) == []
        assert sum(p.params.values()) == pytest.approx(1.0, abs=abs_tol)
