"""Hidden ground truths behind the simulated instruments (DESIGN.md §7).

``AlloyWorld`` (co-sputtered Fe-Co-Ni-Ir-Pt films, seed 004) and
``PolymerWorld`` (processed polypropylene, seed 000). Pure numpy, no I/O.
``WorldCache`` gives a measuring simulator the world a tray sample came from.
"""

from __future__ import annotations

from typing import Any

from labpilot.simulators.worlds.alloy import AlloyWorld
from labpilot.simulators.worlds.polymer import PolymerWorld

#: World name, as written in the tray by the synthesizer, -> world class.
WORLDS: dict[str, type] = {"alloy": AlloyWorld, "polymer": PolymerWorld}


class WorldCache:
    """One world object per name, built on first use from the shared world seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._worlds: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        """The world named ``name``; ``KeyError`` (naming it) for an unknown world."""
        if name not in self._worlds:
            if name not in WORLDS:
                raise KeyError(f"unknown world {name!r}; worlds are {sorted(WORLDS)}")
            self._worlds[name] = WORLDS[name](self.seed)
        return self._worlds[name]


__all__ = ["AlloyWorld", "PolymerWorld", "WORLDS", "WorldCache"]
