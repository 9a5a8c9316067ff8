"""The campaign's ``[notify]`` section: tell someone when the campaign needs them.

On ``completed``, ``aborted``, ``faulted``, ``awaiting_approval`` (a proposal
has waited longer than ``approval_after_s``) and ``stalled`` (no experiment
moved for ``stalled_after_s`` while working), the notifier runs ``command``
(with ``LABPILOT_EVENT`` set to the event as JSON) and/or POSTs the same JSON
to ``url``. Delivery runs on a daemon thread with a timeout, so a slow
receiver never holds up the loop, an abort or making instruments safe; a
failure is journaled (``notify_failed``) and never stops the agent.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from labpilot.agent.campaign import NotifySpec

log = logging.getLogger("labpilot.notify")


class Notifier:
    """Sends campaign events as the ``[notify]`` section says."""

    def __init__(self, spec: NotifySpec, campaign: str, db: Path) -> None:
        self.spec = spec
        self.campaign = campaign
        self.db = db
        self._threads: list[threading.Thread] = []
        self.failures: list[str] = []

    @property
    def enabled(self) -> bool:
        return self.spec.command is not None or self.spec.url is not None

    def send(self, event: str, **data: Any) -> None:
        """Deliver ``event`` in the background, if the section asks for it."""
        if not self.enabled or event not in self.spec.events:
            return
        payload = {"event": event, "campaign": self.campaign, "db": str(self.db), "ts": time.time(), **data}
        thread = threading.Thread(target=self._deliver, args=(payload,), name=f"notify-{event}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, default=str)
        if self.spec.command is not None:
            try:
                subprocess.run(self.spec.command, shell=True, timeout=self.spec.timeout_s, check=True,
                               env={**os.environ, "LABPILOT_EVENT": body},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except Exception as exc:
                self._failed(payload["event"], f"command: {exc}")
        if self.spec.url is not None:
            request = urllib.request.Request(self.spec.url, data=body.encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.spec.timeout_s) as reply:
                    reply.read()
            except Exception as exc:
                self._failed(payload["event"], f"POST {self.spec.url}: {exc}")

    def _failed(self, event: str, error: str) -> None:
        log.warning("notification %s failed: %s", event, error)
        self.failures.append(f"{event}: {error}")

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait for deliveries in flight (at the end of a run, so a last event is not lost)."""
        deadline = time.monotonic() + (self.spec.timeout_s * 2 if timeout_s is None else timeout_s)
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
