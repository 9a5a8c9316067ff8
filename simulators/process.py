"""Run a simulator as a real subprocess: ``with SimulatorProcess("sputter", "--pty") as sim: sim.address``.

For tests and benchmarks (the agent starts its own processes the same way:
``python -m labpilot.simulators KIND ...``, first stdout line = address). Startup
waits at most ``start_timeout_s`` for the address line and reports the
child's stderr if it dies first; exit sends SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence


class SimulatorProcess:
    """A ``python -m labpilot.simulators KIND ARGS...`` child process and the address it announced."""

    def __init__(self, kind: str, *args: str, start_timeout_s: float = 30.0, cwd: str | None = None) -> None:
        self.argv: list[str] = [sys.executable, "-m", "labpilot.simulators", kind, *args]
        self.start_timeout_s = start_timeout_s
        self.cwd = cwd or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""
        self._err: Any = None
        self._err_text = ""

    def start(self) -> "SimulatorProcess":
        """Start the child and wait for its address line."""
        # stderr goes to a file, not a pipe: a chatty child must never block on a full pipe
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdout=subprocess.PIPE, stderr=self._err)
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.start_timeout_s
        line = b""
        try:
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    raise RuntimeError(f"simulator {self.argv[3:]} printed no address within {self.start_timeout_s}s")
                chunk = os.read(self.proc.stdout.fileno(), 1)
                if not chunk:
                    err = self._stderr()
                    raise RuntimeError(f"simulator {self.argv[3:]} exited before announcing its address: {err}")
                line += chunk
        except BaseException:
            self.stop()
            raise
        finally:
            sel.close()
        self.address = line.decode().strip()
        return self

    def _stderr(self) -> str:
        """The child's stderr so far (last 2000 characters)."""
        assert self.proc is not None
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        return self.stderr_text().strip()[-2000:]

    def stderr_text(self) -> str:
        """What the child wrote to stderr (e.g. warnings), also after ``stop``."""
        if self._err is not None and not self._err.closed:
            self._err.seek(0)
            self._err_text = self._err.read().decode(errors="replace")
        return self._err_text

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM, wait, then SIGKILL; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._err is not None and not self._err.closed:
            self.stderr_text()
            self._err.close()
        return self.proc.returncode

    def __enter__(self) -> "SimulatorProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(kind: str, args: Sequence[str] = ()) -> SimulatorProcess:
    """Start and return a running simulator (call ``stop()`` when done)."""
    return SimulatorProcess(kind, *args).start()
