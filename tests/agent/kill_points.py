"""Where a crash test's SIGKILLs land: aimed at each phase of the loop, then classified by the journal.

A kill is aimed at a phase (start-up, a deposition in flight, an XRD scan in
flight, a magnetometer measurement in flight, just after an experiment
completed, or a random instant once connected) by watching the agent's
journal; afterwards the journal says what it really hit: ``start-up`` (the run
had not finished its recovery) or the instruments whose commands were in
flight (``nothing`` when none was). The crash tests keep killing until every
required phase has been hit at least once, so a few aimed kills check what
many random ones did, and each test can assert that its kills covered the
phases rather than hope so.

With ``LABPILOT_SOAK=1`` (``tests/soak.py``) the crash tests kill many more
times, each kill beyond one per phase aimed at a phase drawn at random.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from typing import Any, Callable

from labpilot.errors import StoreError

#: phase aimed at -> the instrument whose command must be in flight (None: not an instrument phase)
PHASES: dict[str, str | None] = {
    "sputter": "sputter",           # a deposition in flight
    "xrd": "xrd",                   # an XRD scan in flight
    "magnetometer": "magnetometer",  # a magnetization measurement in flight
    "start-up": None,               # imports, reattaching the simulators, recovery
    "between": None,                # as soon as an experiment completed: learning, planning the next
    "anywhere": None,               # a random instant once connected
}
#: what the kills of one crash test must have hit, whatever else they hit
REQUIRED = frozenset({"start-up", "sputter", "xrd", "magnetometer"})


class Killer:
    """Aims SIGKILLs at phases of a running agent and records what each one hit.

    ``open_store`` opens the campaign's store (raising ``StoreError`` while it
    does not exist yet); it is opened afresh for every look, as another
    process would.
    """

    def __init__(self, open_store: Callable[[], Any], rng: random.Random, poll_s: float = 0.02) -> None:
        self.open_store = open_store
        self.rng = rng
        self.poll_s = poll_s
        self.landed: Counter[str] = Counter()
        self.aimed: Counter[str] = Counter()

    # -- looking at the journal ------------------------------------------------
    def _look(self, fn: Callable[[Any], Any], default: Any) -> Any:
        try:
            store = self.open_store()
        except StoreError:
            return default
        try:
            return fn(store)
        finally:
            store.close()

    def events(self, kind: str) -> int:
        """How many events of ``kind`` the journal holds (0 before the store exists)."""
        return self._look(lambda s: len(s.events(kind=kind)), 0)

    def in_flight(self) -> set[str]:
        """The instruments with a command sent and not yet answered."""
        return self._look(lambda s: {c["instrument"] for c in s.commands("sent")}, set())

    def _until(self, proc: subprocess.Popen[Any], predicate: Callable[[], Any], deadline: float) -> bool:
        while proc.poll() is None and time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(self.poll_s)
        return False

    # -- choosing, aiming, killing ---------------------------------------------
    def next_phase(self) -> str:
        """In a fixed order, each phase once (a required one until a kill hit it), then phases drawn at random."""
        for phase in PHASES:
            if (not self.landed[phase]) if phase in REQUIRED else (not self.aimed[phase]):
                return phase
        return self.rng.choice(list(PHASES))

    def started(self) -> tuple[int, float]:
        """What to remember when a run starts: the recoveries so far, and when."""
        return self.events("recovery"), time.monotonic()

    def wait_recovered(self, proc: subprocess.Popen[Any], start: tuple[int, float], timeout: float = 120) -> bool:
        """Wait until this run finished its start-up recovery; False if it exited first."""
        recoveries, _ = start
        return self._until(proc, lambda: self.events("recovery") > recoveries, time.monotonic() + timeout)

    def aim(self, proc: subprocess.Popen[Any], phase: str, start: tuple[int, float], timeout: float = 120,
            on_recovered: Callable[[], None] | None = None) -> None:
        """Return at an instant of ``phase`` of this run (or when it has exited, or at the timeout).

        ``on_recovered`` runs once the run has recovered, before aiming (e.g. an operator's answers).
        """
        self.aimed[phase] += 1
        deadline = time.monotonic() + timeout
        if phase == "start-up":
            time.sleep(max(0.0, start[1] + self.rng.uniform(0.05, 1.0) - time.monotonic()))
            return
        if not self.wait_recovered(proc, start, timeout):
            return
        if on_recovered is not None:
            on_recovered()
        instrument = PHASES[phase]
        if instrument is not None:
            if self._until(proc, lambda: instrument in self.in_flight(), deadline):
                time.sleep(self.rng.uniform(0.0, 0.05))  # somewhere early in the step, not always its first instant
        elif phase == "between":
            done = self.events("completed")
            self._until(proc, lambda: self.events("completed") > done, deadline)
        else:
            time.sleep(self.rng.uniform(0.0, 1.5))

    def kill(self, proc: subprocess.Popen[Any], start: tuple[int, float]) -> str | None:
        """SIGKILL the run and record what it hit; None if it had already exited (nothing killed)."""
        if proc.poll() is not None:
            proc.communicate()
            return None
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        if self.events("recovery") <= start[0]:
            hit = ["start-up"]
        else:
            hit = sorted(self.in_flight()) or ["nothing"]
        self.landed.update(hit)
        return "+".join(hit)

    def covered(self) -> bool:
        """Every required phase has been hit by a kill."""
        return all(self.landed[p] for p in REQUIRED)

    def summary(self) -> str:
        return ", ".join(f"{k} {n}" for k, n in sorted(self.landed.items()))


def reap(*procs: subprocess.Popen[Any] | None) -> None:
    """Kill the agent runs a failing test leaves behind (one waiting for an operator would live on)."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
