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
