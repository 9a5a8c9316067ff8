"""Where each planner lives: the entry-point group ``labpilot.planners`` (see ``labpilot.registry``).

Only the planner a campaign asks for is imported (the GP planners pull in
torch and BoTorch, which take seconds to load). labpilot's planners register
in its ``pyproject.toml``; a plugin package adds its own under the same group.
This module keeps the old name -> module view for callers that want it.
"""

from __future__ import annotations

import importlib

from labpilot.registry import PLANNERS


def planner_modules() -> dict[str, str]:
    """Planner name -> the module that defines it."""
    return {name: target.partition(":")[0] for name, target in PLANNERS.targets().items()}


def load_planner_module(name: str) -> bool:
    """Import the module of planner ``name``; False if the name is unknown."""
    module = planner_modules().get(name)
    if module is None:
        return False
    importlib.import_module(module)
    return True
