"""``LABPILOT_SOAK=1``: the long versions of the crash and fault tests (opt-in; the default run keeps them short).

The default versions check the same things with fewer repetitions (kills aimed
at each phase rather than many at random instants, fewer experiments through
the same fault rates); the soak versions repeat them as a night would, e.g.
``LABPILOT_SOAK=1 python -m pytest tests/agent/loop/test_crash_recovery.py``.
``benchmarks/soak_runner.py`` runs the stateful runner model for as long as asked.
"""

from __future__ import annotations

import os

SOAK = os.environ.get("LABPILOT_SOAK", "") not in ("", "0")
