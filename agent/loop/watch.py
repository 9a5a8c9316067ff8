"""The agent's heartbeat and its watch over waiting and stalling.

A daemon thread with its own database connection writes ``{pid, ts}`` every
``HEARTBEAT_S`` seconds, so ``labpilot status`` can tell a running agent
from a dead one (with the run lock, see ``agent/liveness.py``). The same
thread sends the ``awaiting_approval`` and ``stalled`` notifications: it
sees the campaign from outside the loop, so a loop stuck in one step is
still noticed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from labpilot.agent import machine as sm
from labpilot.agent import store as st
from labpilot.agent.dryrun import touch_lease
from labpilot.agent.loop.notify import Notifier
from labpilot.agent.store import Store
from labpilot.agent.store_open import open_store

log = logging.getLogger("labpilot.agent")

HEARTBEAT_S = 5.0


class Watch:
    """Heartbeat + approval/stall notifications, on one daemon thread."""

    def __init__(self, db: Path | str, notifier: Notifier, interval_s: float = HEARTBEAT_S,
                 lease: Path | None = None) -> None:
        self.db = str(db)  # a SQLite file or a server URL: the thread opens its own connection to it
        self.lease = Path(lease) if lease is not None else Path(db)  # where a dry run's lease lives
        self.notifier = notifier
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._told_waiting: set[int] = set()
        self._stalled_since: float | None = None

    def start(self) -> "Watch":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and mark the agent as stopped (``pid`` None, with the time)."""
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)
        try:
            store = open_store(self.db)
            try:
                store.beat(None)
            finally:
                store.close()
        except Exception as exc:  # a full disk must not turn a clean stop into a crash (and says so itself)
            log.debug("could not write the last heartbeat: %s", exc)

    def _run(self) -> None:
        store = open_store(self.db)
        try:
            while True:
                try:
                    store.beat(os.getpid())
                    touch_lease(self.lease)  # a dry run's simulators live while this is fresh
                    self._check(store)
                except Exception as exc:  # keep beating through a transient database error
                    log.warning("heartbeat: %s", exc)
                if self._stop.wait(self.interval_s):
                    return
        finally:
            store.close()

    def _check(self, store: Store) -> None:
        spec = self.notifier.spec
        held = store.campaign()
        now = time.time()
        if held["state"] == sm.AWAITING_APPROVAL:
            late = [e for e in store.experiments((st.AWAITING_APPROVAL,))
                    if now - e.created >= spec.approval_after_s and e.id not in self._told_waiting]
            if late:
                self._told_waiting.update(e.id for e in late)
                self.notifier.send("awaiting_approval", experiments=[e.id for e in late],
                                   waiting_s=round(now - min(e.created for e in late), 1))
        if held["state"] in sm.WORKING and held["state"] != sm.AWAITING_APPROVAL:
            # the newest change (an aggregate: the watch must not decode every experiment every few seconds)
            last = max(store.last_update() or 0.0, held["updated"])
            if now - last >= spec.stalled_after_s:
                if self._stalled_since != last:
                    self._stalled_since = last
                    self.notifier.send("stalled", state=held["state"], idle_s=round(now - last, 1))
