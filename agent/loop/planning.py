"""Planning off the control path: ``planner.propose`` on its own thread, watched by the loop.

A planning step can take tens of seconds (a GP fit that grows with the data).
The loop waits for it in short polls, like for an instrument command, so
``pause --now`` and ``abort`` take effect within a poll. An interrupted step
leaves nothing behind: only the loop's thread writes proposals to the store,
after ``propose`` returns, so an abandoned result is simply never written.

The abandoned computation itself cannot be killed inside a thread; it runs
on as a daemon (it never blocks the process from exiting), and the next
planning step first waits for it, because a planner is not safe to call from
two threads at once. The thread is started once and takes every step in turn
(starting a thread per step cost about as much as the rest of the loop's
hand-offs together); ``shutdown`` lets it end after the step it holds. A process could be killed outright, but the planners
keep fitted models between calls that do not cross a process boundary cheaply.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

log = logging.getLogger("labpilot.agent")


class PlanningWorker:
    """Runs one planning step at a time on a daemon thread."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self._running: threading.Event | None = None  # set when the step handed out last is done
        self._steps: queue.SimpleQueue[tuple[Callable[[], Any], dict[str, Any], threading.Event] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None

    def busy(self) -> bool:
        return self._running is not None and not self._running.is_set()

    def settle(self) -> None:
        """Wait for a step abandoned by a pause (the planner is not re-entrant)."""
        running, self._running = self._running, None
        if running is not None and not running.is_set():
            log.warning("waiting for the abandoned planning step to finish before planning again")
            running.wait()

    def run(self, fn: Callable[[], Any], on_poll: Callable[[], None]) -> Any:
        """Return ``fn()``, computed on the planning thread; ``on_poll`` may raise to abandon it."""
        self.settle()
        box: dict[str, Any] = {}
        done = threading.Event()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._serve, args=(self._steps,), name="planning", daemon=True)
            self._thread.start()
        self._running = done
        self._steps.put((fn, box, done))
        while not done.wait(self.poll_s):
            on_poll()  # raises Stop on abort / pause --now: the result is abandoned
        self._running = None
        if "error" in box:
            raise box["error"]
        return box["result"]

    def shutdown(self) -> None:
        """Let the planning thread end once the step it holds (if any, abandoned) is done."""
        if self._thread is not None:
            self._steps.put(None)
            self._thread = None
            self._steps = queue.SimpleQueue()  # a later ``run`` starts a new thread with its own queue

    @staticmethod
    def _serve(steps: "queue.SimpleQueue[tuple[Callable[[], Any], dict[str, Any], threading.Event] | None]") -> None:
        while True:
            step = steps.get()
            if step is None:
                return
            fn, box, done = step
            try:
                box["result"] = fn()
            except BaseException as exc:  # handed to the loop's thread
                box["error"] = exc
            finally:
                done.set()
                del fn, box, done, step  # hold nothing of a finished step while waiting for the next
