"""The one simulator launcher: ``with SimulatorProcess("sputter", "--pty") as sim: sim.address``.

Used by the dry run (``labpilot.agent.dryrun``), the tests and the
benchmarks. It starts ``python -m labpilot.simulators KIND ARGS...`` as a real
subprocess and waits at most ``start_timeout_s`` for the first stdout line,
the address to connect to. A child that dies or stays silent first raises
``SimulatorError`` naming the simulator and quoting the last lines the child
wrote to stderr (its own error, e.g. a bad seed), so the cause is not lost.
Stopping sends SIGTERM, then SIGKILL.

stderr goes to a file, never a pipe (a chatty child must not block on a
full pipe): a temporary file by default, or ``log_path`` (appended to) when
the caller keeps a log. ``detach=True`` starts the child in its own session
so it outlives the caller (a dry-run agent killed with SIGKILL reattaches to
its simulators).
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from labpilot.errors import SimulatorError
from labpilot.import_path import import_path_args

#: How many of the child's last stderr lines a start error quotes.
STDERR_LINES = 3


class SimulatorProcess:
    """A ``python -m labpilot.simulators KIND ARGS...`` child process and the address it announced."""

    def __init__(
        self,
        kind: str,
        *args: str,
        start_timeout_s: float = 30.0,
        cwd: str | None = None,
        log_path: str | Path | None = None,
        detach: bool = False,
    ) -> None:
        self.kind = kind
        self.argv: list[str] = [sys.executable, "-m", "labpilot.simulators", kind, *import_path_args(), *args]
        self.start_timeout_s = start_timeout_s
        self.cwd = cwd
        self.log_path = Path(log_path) if log_path is not None else None
        self.detach = detach
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""
        self._err: IO[bytes] | None = None
        self._err_offset = 0
        self._err_text = ""

    @property
    def pid(self) -> int:
        """The child's process id (after ``start``)."""
        if self.proc is None:
            raise SimulatorError(f"{self.kind} simulator was not started")
        return self.proc.pid

    def start(self) -> "SimulatorProcess":
        """Start the child and wait for its address line; failures raise ``SimulatorError``."""
        if self.log_path is not None:
            self._err = open(self.log_path, "ab+")
            self._err_offset = self._err.seek(0, os.SEEK_END)
        else:
            self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._err,
            start_new_session=self.detach,
        )
        try:
            self.address = self._first_line()
        except BaseException:
            self.stop()
            raise
        return self

    def _first_line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.start_timeout_s
        line = b""
        try:
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    raise SimulatorError(self._failure(f"printed no address within {self.start_timeout_s:g}s"))
                chunk = os.read(self.proc.stdout.fileno(), 1)  # one byte: never read past the address line
                if not chunk:
                    try:
                        code = self.proc.wait(5)
                    except subprocess.TimeoutExpired:
                        code = None
                    raise SimulatorError(self._failure(f"exited with code {code} before printing its address"))
                line += chunk
        finally:
            sel.close()
        return line.decode(errors="replace").strip()

    def _failure(self, what: str) -> str:
        """``<kind> simulator (pid N) <what>``, then the child's last stderr lines."""
        pid = self.proc.pid if self.proc is not None else "?"
        lines = [ln for ln in self.stderr_text().splitlines() if ln.strip()]
        usage = next((i for i, ln in enumerate(lines) if ln.startswith("usage: ")), None)
        if usage is not None:  # argparse: the usage block says less than its last line, the error
            lines = lines[:usage] + lines[-1:]
        tail = lines[-STDERR_LINES:]
        said = ("; it said:\n  " + "\n  ".join(tail)) if tail else "; it wrote nothing to stderr"
        return f"{self.kind} simulator (pid {pid}) {what}{said}"

    def stderr_text(self) -> str:
        """What the child wrote to stderr (e.g. warnings), also after ``stop``."""
        if self._err is not None and not self._err.closed:
            self._err.flush()
            self._err.seek(self._err_offset)
            self._err_text = self._err.read().decode(errors="replace")
            self._err.seek(0, os.SEEK_END)
        return self._err_text

    def release(self) -> None:
        """Let a detached child run on: close this side's handles, keep the process."""
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._err is not None and not self._err.closed:
            self._err.close()

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

