"""The planner interface every planner implements.

The agent owns the history (it lives in the campaign's database), so a planner
is told the *whole* history on every ``propose`` call; ``observe`` exists for
planners that want to update an incremental model and defaults to a no-op.

A planner may carry a small **state** between calls that only makes it
faster, never different in kind (the GP planners keep the last fitted
hyperparameters to warm-start the next fit). ``state()`` returns it as a
JSON-ready value after each ``propose``; the agent journals it with the
proposals and, after a restart, hands the last one back with
``load_state`` before the next ``propose``, so a resumed agent proposes
exactly what an uninterrupted one would.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from labpilot.errors import PlannerError
from labpilot.planners.space import Objective, Space

if TYPE_CHECKING:
    from pydantic import BaseModel

#: Experiment statuses a planner may see in the history.
COMPLETED = "completed"
FAILED = "failed"  # synthesized or measured but unusable: an explicit infeasible outcome
PENDING = "pending"  # proposed/approved/in flight, no result yet
REJECTED = "rejected"  # an operator rejected the proposal: never propose it again


@dataclass
class Trial:
    """One experiment as a planner sees it.

    ``values`` maps objective name to the measured value (completed trials).
    ``measured`` holds measured descriptors (e.g. an XRD pattern as a 1-D array,
    keyed ``"xrd"``) for planners such as ``used``/``boed`` that model them.
    """

    params: dict[str, Any]
    status: str
    values: dict[str, float] = field(default_factory=dict)
    measured: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Proposal:
    """A point the planner wants measured, with its acquisition score if any."""

    params: dict[str, Any]
    score: float | None = None
    note: str = ""
    #: What the planner's model predicts there, per objective, in the objective's own
    #: units: ``{name: (mean, std)}``; None when the planner has no model (random, initial design).
    predicted: dict[str, tuple[float, float]] | None = None


class Planner(ABC):
    """Proposes the next experiments given the space, objectives and history."""

    #: The name used in campaign files and on the command line.
    name: str = "abstract"
    #: Whether the planner takes prior data (``make_planner(priors=...)``, ``planners.prior``).
    accepts_priors: bool = False
    #: Whether the planner models measured descriptors (``Trial.measured``) and cannot run without them.
    needs_measured: bool = False
    #: Whether the planner can plan over a campaign's candidate table (``[space] pool``): it scores pool
    #: rows through ``Space.features`` (``planners.pool_planner``). Others are refused such a campaign.
    plans_pool_rows: ClassVar[bool] = False
    #: The typed options it accepts (a pydantic model, ``extra="forbid"``; see ``planners.options``).
    #: ``make_planner`` validates a campaign's options with it before building the planner.
    #: None: the planner declares none, and its options reach it unchecked.
    Options: ClassVar[type["BaseModel"] | None] = None

    def __init__(
        self,
        space: Space,
        objectives: Sequence[Objective],
        seed: int = 0,
        **options: Any,
    ) -> None:
        if not objectives:
            raise PlannerError("a planner needs at least one objective")
        self.space = space
        self.objectives = list(objectives)
        self.seed = seed
        self.options = dict(options)

    @classmethod
    def declaration(cls) -> dict[str, Any]:
        """What this planner declares, JSON-ready (what ``labpilot plugins`` lists)."""
        from labpilot.drivers.options import describe_options

        doc = (cls.__doc__ or "").strip().splitlines()
        return {
            "name": cls.name,
            "summary": doc[0] if doc else "",
            "options": None if cls.Options is None else describe_options(cls.Options),
        }

    @abstractmethod
    def propose(self, history: Sequence[Trial], k: int = 1) -> list[Proposal]:
        """Return ``k`` new points, none measured, pending or rejected already."""

    def observe(self, trials: Sequence[Trial]) -> None:
        """Hear about newly finished trials (optional; history is authoritative)."""

    def state(self) -> Any:
        """JSON-ready state to journal with the last proposals (None: this planner keeps none)."""
        return None

    def load_state(self, state: Any) -> None:
        """Restore a value ``state()`` returned (after a restart); anything unusable is ignored."""


#: name -> planner class; filled by ``register``.
REGISTRY: dict[str, Callable[..., Planner]] = {}


def register(cls: type[Planner]) -> type[Planner]:
    """Class decorator adding a planner to ``REGISTRY`` under ``cls.name``."""
    REGISTRY[cls.name] = cls
    return cls


def make_planner(
    name: str,
    space: Space,
    objectives: Sequence[Objective],
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    priors: Sequence[Any] | None = None,
) -> Planner:
    """Build a planner by name (entry-point group ``labpilot.planners``, or a ``module:Class`` path).

    Only that planner's module is imported. The options are checked against the
    planner's ``Options`` model first, so an error names ``planner.options.X``.
    ``priors`` (``planners.prior.PriorData`` list) go to planners that
    ``accepts_priors``; any other planner given priors is refused by name
    rather than silently ignoring them.
    """
    cls = planner_class(name)
    options = dict(options or {})
    problems = option_problems(cls, options)
    if problems:
        raise PlannerError("; ".join(f"planner.options.{where}: {reason}" for where, reason in problems))
    if space.candidates is not None:
        if priors:
            raise PlannerError("prior data cannot be used with a candidate pool (space.pool) yet")
        return pool_planner(cls, name, space, objectives, seed, options)
    if priors:
        if not getattr(cls, "accepts_priors", False):
            raise PlannerError(f"planner {name!r} does not use prior data; drop the priors or use "
                               f"{', '.join(prior_planners())}")
        return cls(space, objectives, seed=seed, priors=list(priors), **options)
    return cls(space, objectives, seed=seed, **options)


def pool_planner(cls: type[Planner], name: str, space: Space, objectives: Sequence[Objective], seed: int,
                 options: Mapping[str, Any]) -> Planner:
    """Planner ``cls`` over the rows of ``space.candidates`` (``planners.pool_planner``), or a refusal naming why."""
    from labpilot.planners.pool_planner import PoolPlanner

    if not getattr(cls, "plans_pool_rows", False):
        raise PlannerError(f"planner {name!r} cannot plan over a candidate pool (space.pool); "
                           "use bo, mobo, random, uncertainty or range")
    return PoolPlanner(cls, space, objectives, seed=seed, **options)


def prior_planners() -> list[str]:
    """Names of the planners loaded so far that take prior data (``bo`` at least)."""
    return sorted({n for n, c in REGISTRY.items() if getattr(c, "accepts_priors", False)} | {"bo"})


def planner_class(name: str) -> type[Planner]:
    """The class of planner ``name`` (its module imported on first use).

    An unknown name is a ``PlannerError`` listing the known ones; a planner
    plugin that fails to import raises its own one-line ``PluginError``.
    """
    from labpilot.errors import ConfigurationError, PluginError
    from labpilot.registry import PLANNERS

    cls = REGISTRY.get(name)
    if cls is not None:
        return cls  # type: ignore[return-value]
    try:
        return PLANNERS.load(name)
    except PluginError:
        raise
    except ConfigurationError as exc:  # an unknown name
        raise PlannerError(str(exc)) from None


def option_problems(cls: type[Planner], options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with ``options`` for planner class ``cls``, as (option name, reason); empty when valid."""
    from labpilot.planners.options import planner_option_problems

    if getattr(cls, "Options", None) is None:
        return []
    return planner_option_problems(cls.name, cls.Options, options)
