"""Is the campaign's agent running? Read from its heartbeat (``agent/loop/watch.py``).

The running agent writes ``{pid, ts}`` every few seconds and ``pid: None``
when it stops cleanly. A campaign's state alone cannot tell a dead agent
from a busy one (it is the last state written); the heartbeat can: a fresh
beat from a live pid is a running agent, anything else is not, with the time
it was last seen.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from labpilot.agent.store import Store

#: A beat older than this (seconds) means the agent is not beating any more.
STALE_S = 20.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def agent_liveness(store: Store, now: float | None = None) -> dict[str, Any]:
    """``{running, pid, last_seen_s, text}`` for ``status``."""
    now = time.time() if now is None else now
    beat = store.heartbeat()
    if beat is None:
        return {"running": False, "pid": None, "last_seen_s": None, "text": "agent not running (never seen)"}
    age = max(0.0, now - float(beat["ts"]))
    pid = beat.get("pid")
    host = beat.get("host")
    if pid is not None and host and host != socket.gethostname():
        # another PC's agent (a shared server store): only its beat's age can tell
        if age <= STALE_S:
            return {"running": True, "pid": pid, "last_seen_s": age, "text": f"running, pid {pid} on {host}"}
        return {"running": False, "pid": None, "last_seen_s": age,
                "text": f"agent on {host} not beating (last seen {_ago(age)} ago)"}
    if pid is not None and _alive(int(pid)):
        if age <= STALE_S:
            return {"running": True, "pid": pid, "last_seen_s": age, "text": f"running, pid {pid}"}
        return {"running": True, "pid": pid, "last_seen_s": age,
                "text": f"pid {pid} alive but silent for {_ago(age)} (hung?)"}
    return {"running": False, "pid": None, "last_seen_s": age, "text": f"agent not running (last seen {_ago(age)} ago)"}


def _ago(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h"
