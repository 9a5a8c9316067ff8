"""Where the public tables live: ``shared/data`` beside the repository (or its worktree's parent)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """``$LABPILOT_SHARED_DATA``, else the first ``shared/data`` found beside the repository or one level up."""
    env = os.environ.get("LABPILOT_SHARED_DATA")
    if env:
        return Path(env)
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "data").is_dir():
            return base / "shared" / "data"
    return REPO.parent / "shared" / "data"


#: The OER plate's columns (``data.csv`` has no header): six fractional loadings, then the overpotential (V).
OER_COLUMNS = ["ni_load", "fe_load", "co_load", "mn_load", "ce_load", "la_load", "overpotential"]


def oer_plate_csv() -> Path:
    """The OER plate's table (2,121 Ni-Fe-Co-Mn-Ce-La oxide catalysts); it may be absent."""
    return shared_data() / "oer_plate_3496" / "data.csv"


def oer_plate():
    """The OER plate as a backtest table: minimize the overpotential (V)."""
    from labpilot.planners.backtest import load_table

    return load_table(oer_plate_csv(), "overpotential", "minimize", header=False, columns=OER_COLUMNS)
