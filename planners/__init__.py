"""Planners: propose the next experiments from the history.

Importing this package registers every planner in ``planners.base.REGISTRY``.
"""

from planners.base import REGISTRY, Planner, PlannerError, Proposal, Trial, make_planner
from planners.space import (
    CategoricalParam,
    ContinuousParam,
    IntegerParam,
    Objective,
    SimplexConstraint,
    Space,
)

# Each planner module registers itself on import.
from planners import random_planner  # noqa: F401,E402
from planners import bo  # noqa: F401,E402

__all__ = [
    "REGISTRY", "Planner", "PlannerError", "Proposal", "Trial", "make_planner",
    "CategoricalParam", "ContinuousParam", "IntegerParam", "Objective",
    "SimplexConstraint", "Space",
]
