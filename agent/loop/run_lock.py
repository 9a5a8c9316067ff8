"""One agent per campaign database.

Two ``labpilot run`` processes on the same database would both drive the
instruments. ``RunLock`` takes an exclusive OS lock on ``DB.lock`` for the
run's whole life; the OS drops it when the process dies, SIGKILL included, so
a crashed run never blocks its own resume.
"""

from __future__ import annotations

from labpilot.errors import AlreadyRunning
import fcntl
import os
from pathlib import Path


class RunLock:
    """An exclusive, crash-safe lock beside a campaign database."""

    def __init__(self, db: Path) -> None:
        self.path = Path(str(db) + ".lock")
        self._fh = None

    def acquire(self) -> "RunLock":
        from labpilot.agent.store import unavailable_as_error

        db = str(self.path)[: -len(".lock")]
        with unavailable_as_error(db):  # a full or read-only file system: one message naming the database
            return self._acquire()

    def _acquire(self) -> "RunLock":
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise AlreadyRunning(f"this campaign is already being run by another labpilot (pid {holder}); "
                                 "use `labpilot status` to watch it") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
