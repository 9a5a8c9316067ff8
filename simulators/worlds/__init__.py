"""Hidden ground truths behind the simulated instruments (DESIGN.md §7).

``AlloyWorld`` (co-sputtered Fe-Co-Ni-Ir-Pt films, seed 004) and
``PolymerWorld`` (processed polypropylene, seed 000). Pure numpy, no I/O.
"""

from simulators.worlds.alloy import AlloyWorld
from simulators.worlds.polymer import PolymerWorld

__all__ = ["AlloyWorld", "PolymerWorld"]
