"""Planning off the control path: ``planner.propose`` on its own thread, watched by the loop.

A planning step can take tens of seconds (a GP fit that grows with the data).
The loop waits for it in short polls, like for an instrument command, so
``pause --now`` and ``abort`` take effect within a poll. An interrupted step
leaves nothing behind: only the loop's thread writes proposals to the store,
after ``propose`` returns, so an abandoned result is simply never written.

The abandoned computation itself cannot be killed inside a thread; it runs
on as a daemon (it never blocks the process from exiting), and the next
planning step first waits for it, because a planner is not safe to call from
two threads at once. A process could be killed outright, but the planners
keep fitted models between calls that do not cross a process boundary cheaply.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger("labpilot.agent")


class PlanningWorker:
    """Runs one planning step at a time on a daemon thread."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self._running: tuple[threading.Thread, threading.Event] | None = None

    def busy(self) -> bool:
        return self._running is not None and not self._running[1].is_set()

    def settle(self) -> None:
        """Wait for a step abandoned by a pause (the planner is not re-entrant)."""
        running, self._running = self._running, None
        if running is not None and not running[1].is_set():
            log.warning("waiting for the abandoned planning step to finish before planning again")
            running[1].wait()

    def run(self, fn: Callable[[], Any], on_poll: Callable[[], None]) -> Any:
        """Return ``fn()``, computed on the planning thread; ``on_poll`` may raise to abandon it."""
        self.settle()
        box: dict[str, Any] = {}
        done = threading.Event()

        def target() -> None:
            try:
                box["result"] = fn()
            except BaseException as exc:  # handed to the loop's thread
                box["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=target, name="planning", daemon=True)
        self._running = (thread, done)
        thread.start()
        while not done.wait(self.poll_s):
            on_poll()  # raises Stop on abort / pause --now: the result is abandoned
        self._running = None
        if "error" in box:
            raise box["error"]
        return box["result"]
