"""The campaign's ``faults.on_fault`` hook: a shell command told about each fault.

It runs with ``LABPILOT_FAULT`` set to the fault as JSON (instrument, error,
experiment), e.g. to page someone. A hook that fails or hangs is journaled and
never stops the agent from making the instruments safe.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from labpilot.agent.store import Store

HOOK_TIMEOUT_S = 30.0


def run_fault_hook(command: str, fault: dict[str, Any], store: Store) -> None:
    """Run ``command`` for ``fault``; journal ``on_fault_failed`` if it cannot run or times out."""
    try:
        subprocess.run(command, shell=True, timeout=HOOK_TIMEOUT_S, check=False,
                       env={**os.environ, "LABPILOT_FAULT": json.dumps(fault)})
    except Exception as exc:
        store.log_event("on_fault_failed", error=str(exc))
