"""Search spaces the planners work in.

A space is an ordered tuple of parameters (continuous, integer, categorical),
optional simplex constraints (a group of continuous parameters that must sum to
a total, e.g. a composition summing to 1), and an optional discrete candidate
pool (a float array with one row per candidate, columns in parameter order;
categorical columns hold the index of the choice).

A pool may carry ``features``: one float32 row per pool row, what the model
sees instead of the encoded parameters (descriptor columns, scaled to [0, 1]).
A campaign's pool file (``[space] pool``) arrives as ``candidates`` (a
``planners.pool_table.PoolTable``: row ids, parameter rows, descriptors);
``make_planner`` then plans over row indices (``planners.pool_planner``).

Planners know nothing of campaigns or hardware: the agent converts a campaign
file into a ``Space`` and ``Objective`` list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np

if TYPE_CHECKING:
    from labpilot.planners.pool_table import PoolTable


@dataclass(frozen=True)
class ContinuousParam:
    """A real-valued parameter in [low, high]."""

    name: str
    low: float
    high: float


@dataclass(frozen=True)
class IntegerParam:
    """An integer parameter in [low, high] (both inclusive)."""

    name: str
    low: int
    high: int


@dataclass(frozen=True)
class CategoricalParam:
    """A parameter taking one of a fixed set of string choices."""

    name: str
    choices: tuple[str, ...]


Param = Union[ContinuousParam, IntegerParam, CategoricalParam]


@dataclass(frozen=True)
class SimplexConstraint:
    """The named continuous parameters must sum to ``total`` (e.g. fractions to 1)."""

    names: tuple[str, ...]
    total: float = 1.0


@dataclass(frozen=True)
class Objective:
    """A measured quantity to optimize.

    ``direction`` is ``maximize`` or ``minimize``; ``low``/``high`` describe an
    optional target window used by the ``range`` planner (either may be None).
    """

    name: str
    direction: str = "maximize"
    low: float | None = None
    high: float | None = None

    @property
    def sign(self) -> float:
        """+1 for maximize, -1 for minimize: multiply values by it to maximize."""
        return 1.0 if self.direction == "maximize" else -1.0


@dataclass(frozen=True)
class Space:
    """Parameters, simplex constraints and an optional candidate pool."""

    params: tuple[Param, ...]
    simplex: tuple[SimplexConstraint, ...] = ()
    pool: np.ndarray | None = field(default=None, compare=False)
    #: (len(pool), f) float32 model features of the pool rows (scaled descriptors), or None: encoded parameters.
    features: np.ndarray | None = field(default=None, compare=False)
    #: A campaign's candidate table (``[space] pool``): proposals are its rows, named by their id.
    candidates: "PoolTable | None" = field(default=None, compare=False)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def dim(self) -> int:
        return len(self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"no parameter named {name!r} in the space")

    def to_row(self, point: dict[str, Any]) -> np.ndarray:
        """Encode a parameter dict as a float row (categoricals as choice index)."""
        row = np.empty(self.dim, dtype=float)
        for i, p in enumerate(self.params):
            value = point[p.name]
            if isinstance(p, CategoricalParam):
                row[i] = float(p.choices.index(str(value)))
            else:
                row[i] = float(value)
        return row

    def to_point(self, row: Sequence[float]) -> dict[str, Any]:
        """Decode a float row into a parameter dict with native Python types."""
        point: dict[str, Any] = {}
        for p, v in zip(self.params, row):
            if isinstance(p, CategoricalParam):
                point[p.name] = p.choices[int(round(float(v)))]
            elif isinstance(p, IntegerParam):
                point[p.name] = int(round(float(v)))
            else:
                point[p.name] = float(v)
        return point

    def contains(self, point: dict[str, Any], tol: float = 1e-6) -> list[str]:
        """Return the reasons ``point`` lies outside the space (empty if inside).

        With a candidate table the point must name one of its rows (the id
        column) and carry that row's parameter values.
        """
        if self.candidates is not None:
            return self.candidates.contains(point)
        problems: list[str] = []
        for p in self.params:
            if p.name not in point:
                problems.append(f"{p.name}: missing")
                continue
            v = point[p.name]
            if isinstance(p, CategoricalParam):
                if str(v) not in p.choices:
                    problems.append(f"{p.name}: {v!r} is not one of {list(p.choices)}")
                continue
            try:
                fv = float(v)
            except (TypeError, ValueError):
                problems.append(f"{p.name}: {v!r} is not a number")
                continue
            if isinstance(p, IntegerParam) and fv != int(fv):
                problems.append(f"{p.name}: {v!r} is not an integer")
            if fv < p.low - tol:
                problems.append(f"{p.name}: {fv:g} is below the lower bound {p.low:g}")
            if fv > p.high + tol:
                problems.append(f"{p.name}: {fv:g} is above the upper bound {p.high:g}")
        extra = set(point) - set(self.names)
        for name in sorted(extra):
            problems.append(f"{name}: not a parameter of this space")
        for c in self.simplex:
            try:
                total = sum(float(point[n]) for n in c.names)
            except (KeyError, TypeError, ValueError):
                continue
            if abs(total - c.total) > 1e-4 * max(1.0, abs(c.total)):
                problems.append(
                    f"simplex({'+'.join(c.names)}): sums to {total:g}, must sum to {c.total:g}"
                )
        return problems
