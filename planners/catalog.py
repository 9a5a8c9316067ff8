"""Where each planner lives: name -> module, imported on demand.

Only the planner a campaign asks for is imported (the GP planners pull in
torch and BoTorch, which take seconds to load); importing a module registers
its class in ``REGISTRY``. Add one entry here per new planner.
"""

from __future__ import annotations

import importlib

PLANNER_MODULES: dict[str, str] = {
    "random": "labpilot.planners.random_planner",
    "bo": "labpilot.planners.bo",
    "mobo": "labpilot.planners.mobo",
    "range": "labpilot.planners.range_planner",
    "uncertainty": "labpilot.planners.uncertainty",
    "ae-bo": "labpilot.planners.ae_bo",
    "used": "labpilot.planners.used",
    "boed": "labpilot.planners.boed",
}


def load_planner_module(name: str) -> bool:
    """Import the module of planner ``name``; False if the name is unknown."""
    module = PLANNER_MODULES.get(name)
    if module is None:
        return False
    importlib.import_module(module)
    return True
