"""Simulator bases a plugin builds its dry-run twin on: a line-based serial instrument, a folder-drop instrument.

A dry run starts each instrument's simulator as ``python -m
labpilot.simulators KIND --pty | --folder DIR [--seed ... --tray FILE
--speed X ...]``; the simulator prints the address to connect to on its
first stdout line and serves until SIGTERM. A plugin registers its
simulator class under the entry-point group ``labpilot.simulators`` (or
names it in its driver class's ``simulator`` attribute); the class's
``serve(args)`` and ``TRANSPORTS`` are what the launcher calls.

The samples come from the dry run's shared tray (``--tray``): the
synthesizer's simulator puts each sample's hidden truth there, and a
measuring simulator reads it back by sample id (``self.sample(sid)``) to
compute what its instrument would measure, with noise from ``self.rng``.

- :class:`LineSimulator`: a serial instrument on a pseudo-terminal. A
  subclass answers each received line in ``handle(line)`` (return the reply
  text, or ``None`` for no reply, as a SCPI set-command gets none), and may
  push errors on ``self.errors`` for a ``SYST:ERR?`` query to pop.
- :class:`FolderSimulator`: an instrument that writes one result file per
  sample into a drop folder. A subclass names the file (``result_name``) and
  writes its text (``result_text``); each sample that appears in the tray is
  "measured" after ``nominal_s`` on the virtual clock, and its file appears
  atomically (written aside, then renamed).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds import WorldCache

log = logging.getLogger("labpilot.sim.plugin")


def announce(address: str) -> None:
    """Print the address a client connects to as the first stdout line (what the launcher waits for)."""
    sys.stdout.write(address + "\n")
    sys.stdout.flush()


class ErrorQueue:
    """A SCPI error queue: ``push(code, message)``, ``pop()`` -> ``'0,"No error"'`` when empty."""

    def __init__(self, size: int = 32) -> None:
        self._queue: deque[tuple[int, str]] = deque(maxlen=size)

    def push(self, code: int, message: str) -> None:
        self._queue.append((int(code), message))

    def pop(self) -> str:
        code, message = self._queue.popleft() if self._queue else (0, "No error")
        return f'{code},"{message}"'

    def clear(self) -> None:
        self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)


class SimulatorBase:
    """What every plugin simulator has: a seeded rng, the virtual-clock speed, the shared tray and its worlds."""

    #: The transports ``serve`` offers (``pty``, ``folder``), checked by the launcher.
    TRANSPORTS: ClassVar[tuple[str, ...]] = ()
    #: Nominal duration of one action on the instrument's clock, seconds (divided by ``speed``).
    nominal_s: ClassVar[float] = 0.0

    def __init__(self, *, seed: int = 0, world_seed: int = 0, speed: float = 1.0, tray: str | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.rng = np.random.default_rng(seed)
        self.speed = float(speed)
        self.tray = Tray(tray)
        self.worlds = WorldCache(world_seed)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "SimulatorBase":
        """Build from the launcher's arguments (``--seed``, ``--world-seed``, ``--speed``, ``--tray``)."""
        return cls(seed=args.seed, world_seed=args.world_seed, speed=args.speed, tray=args.tray)

    def sample(self, sample_id: str) -> tuple[Any, dict[str, Any]] | None:
        """``(world, truth)`` of a sample in the tray, or ``None`` if the rack has no such sample."""
        if sample_id not in self.tray:
            return None
        world_name, truth = self.tray.get(sample_id)
        return self.worlds.get(world_name), truth

    def action_s(self) -> float:
        """Real seconds one action takes at this simulator's speed."""
        return self.nominal_s / self.speed

    @classmethod
    def serve(cls, args: argparse.Namespace) -> None:
        """Run until stopped (called by ``python -m labpilot.simulators``)."""
        raise NotImplementedError


class LineSimulator(SimulatorBase):
    """A line-based serial instrument served on a pseudo-terminal.

    Received bytes are split at ``b"\\n"`` (a trailing ``\\r`` is dropped);
    each line goes to ``handle`` and a reply (if any) is written back followed
    by ``reply_terminator``. An exception in ``handle`` is logged and answers
    nothing, with error ``-300`` queued, so the simulator keeps serving.
    """

    TRANSPORTS = ("pty",)
    #: What ends each reply line.
    reply_terminator: ClassVar[str] = "\r\n"
    #: Longest line kept; longer input is dropped with error ``-363`` (input buffer overrun).
    max_line_bytes: ClassVar[int] = 4096
    #: Seconds between ``tick`` calls when nothing arrives.
    tick_s: ClassVar[float] = 0.02

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.errors = ErrorQueue()
        self._buf = bytearray()

    # -- subclass hooks ---------------------------------------------------------
    def handle(self, line: str) -> str | None:
        """Answer one command line: the reply text, or ``None`` for no reply."""
        raise NotImplementedError

    def tick(self) -> None:
        """Called between lines and at least every ``tick_s`` (advance long actions)."""

    # -- line handling ------------------------------------------------------------
    def feed(self, data: bytes) -> list[bytes]:
        """Take received bytes; return the reply bytes to send, in order."""
        out: list[bytes] = []
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self.max_line_bytes:
                    self._buf.clear()
                    self.errors.push(-363, "Input buffer overrun")
                return out
            raw = bytes(self._buf[:nl]).rstrip(b"\r")
            del self._buf[: nl + 1]
            try:
                reply = self.handle(raw.decode("ascii").strip())
            except UnicodeDecodeError:
                self.errors.push(-101, "Invalid character")
                continue
            except Exception as exc:  # a simulator bug must not end the process: log it and go on serving
                log.exception("error handling %r", raw)
                self.errors.push(-300, f"Device-specific error; {type(exc).__name__}")
                continue
            if reply is not None:
                out.append((reply + self.reply_terminator).encode("ascii"))

    @classmethod
    def serve(cls, args: argparse.Namespace) -> None:
        """Serve on a new pty (``--pty``); print its path first."""
        cls.from_args(args).serve_pty()

    def serve_pty(self) -> None:
        """Serve forever on a new pseudo-terminal, announcing its path first (the built-in simulators' loop)."""
        from labpilot.simulators.serial_server import serve_on_pty

        serve_on_pty(self.feed, self.tick, self.tick_s, announce)


class FolderSimulator(SimulatorBase):
    """An instrument that drops one result file per sample into a folder (``--folder DIR``).

    Every ``poll_s`` it looks for samples in the tray it has not measured;
    a sample of a world in ``worlds`` is measured ``nominal_s / speed``
    seconds after it appeared, and ``result_name(sample_id)`` appears in the
    folder with ``result_text(world, truth)``. A result file that already
    exists (a restarted simulator) is never rewritten.
    """

    TRANSPORTS = ("folder",)
    #: World names (as the synthesizer writes them in the tray) this instrument can measure.
    worlds_measured: ClassVar[tuple[str, ...]] = ("alloy",)
    poll_s: ClassVar[float] = 0.05

    def __init__(self, *, folder: str | os.PathLike[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = Path(folder)
        self._due: dict[str, float] = {}

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "FolderSimulator":
        return cls(folder=args.folder, seed=args.seed, world_seed=args.world_seed, speed=args.speed, tray=args.tray)

    # -- subclass hooks -----------------------------------------------------------
    def result_name(self, sample_id: str) -> str:
        """The file name of a sample's result (e.g. ``f"{sample_id}.csv"``)."""
        raise NotImplementedError

    def result_text(self, world: Any, truth: dict[str, Any]) -> str:
        """The file's content for one sample (noise from ``self.rng``)."""
        raise NotImplementedError

    # -- serving --------------------------------------------------------------------
    def step(self, now: float | None = None) -> list[Path]:
        """One poll: schedule new samples, write the results that are due; returns the files written."""
        now = time.monotonic() if now is None else now
        written: list[Path] = []
        for sid in self.tray.ids():
            if sid in self._due:
                continue
            path = self.folder / self.result_name(sid)
            world_name, _ = self.tray.get(sid)
            if path.exists() or world_name not in self.worlds_measured:
                self._due[sid] = float("inf")
            else:
                self._due[sid] = now + self.action_s()
        for sid, due in self._due.items():
            if due <= now:
                self._due[sid] = float("inf")
                found = self.sample(sid)
                assert found is not None
                path = self.folder / self.result_name(sid)
                tmp = path.with_name(f".{path.name}.part")
                tmp.write_text(self.result_text(*found), encoding="utf-8")
                os.replace(tmp, path)  # atomic: a reader never sees half a file
                written.append(path)
        return written

    @classmethod
    def serve(cls, args: argparse.Namespace) -> None:
        """Serve on ``--folder DIR`` (created if missing); print its path first."""
        sim = cls.from_args(args)
        sim.folder.mkdir(parents=True, exist_ok=True)
        announce(str(sim.folder.resolve()))
        while True:
            sim.step()
            time.sleep(cls.poll_s)


__all__ = ["ErrorQueue", "FolderSimulator", "LineSimulator", "SimulatorBase", "announce"]
