"""Imports every planner module so each registers itself in ``REGISTRY``.

Add one line here per new planner module. A module that is missing (e.g. not
yet written) is skipped; any other import error is a real bug and raises.
"""

import importlib

PLANNER_MODULES = [
    "planners.random_planner",
    "planners.bo",
    "planners.mobo",
    "planners.range_planner",
    "planners.uncertainty",
    "planners.ae_bo",
    "planners.used",
    "planners.boed",
]

for _name in PLANNER_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise
