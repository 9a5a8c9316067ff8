"""Folders that class-path kinds (``mylab.probe:FourPointProbe``) are imported from.

A campaign may name a driver class that sits next to the campaign file,
unpackaged. Its folder joins ``sys.path`` here (appended, so it never shadows
an installed package), and every simulator process a dry run starts gets it
as ``--import-path DIR``: an explicit argument, not a change to the
environment that every other child process (a ``command`` instrument's
program, say) would inherit.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The folders added so far, in order.
_ADDED: list[str] = []


def add_import_path(folder: str | Path) -> None:
    """Make modules in ``folder`` importable here and in the simulators started from now on."""
    entry = str(folder)
    if entry not in sys.path:
        sys.path.append(entry)
    if entry not in _ADDED:
        _ADDED.append(entry)


def import_path_args() -> list[str]:
    """``--import-path DIR`` for each added folder, for a simulator's command line."""
    return [arg for entry in _ADDED for arg in ("--import-path", entry)]


__all__ = ["add_import_path", "import_path_args"]
