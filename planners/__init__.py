"""Planners: propose the next experiments from the history.

The planner modules (torch, BoTorch) load only when a planner is built:
``make_planner`` imports ``planners.catalog``, which imports every planner
module so that each registers itself. Light users (campaign validation, the
CLI's status) never pay for torch.
"""

from labpilot.errors import PlannerError
from labpilot.planners.base import REGISTRY, Planner, Proposal, Trial, make_planner
from labpilot.planners.space import CategoricalParam, ContinuousParam, IntegerParam, Objective, SimplexConstraint, Space

__all__ = [
    "REGISTRY", "Planner", "PlannerError", "Proposal", "Trial", "make_planner",
    "CategoricalParam", "ContinuousParam", "IntegerParam", "Objective",
    "SimplexConstraint", "Space",
]
