"""Duplicate suppression for non-idempotent commands, keyed by command id.

A driver that lost a reply resends the same command id; the simulator must
answer with the first outcome rather than act twice. ``begin`` tells the
server whether an id is new (go ahead) or already seen (return its record).
Results are kept in memory for the life of the process, so that an agent
restarted after a crash can reconcile with ``outcome``; with a ``store``
(the sample tray) final outcomes also survive a restart of the simulator.

Long physical actions (a 30-minute deposition) reply at once: the server
``schedule``s the result with the real time it becomes ready, and the record
turns ``done`` by itself once that time has passed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

RecordState = Literal["running", "done", "failed"]


@dataclass
class CommandRecord:
    """What became of one command id."""

    command_id: str
    state: RecordState = "running"
    result: dict[str, Any] | None = None
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    ready_at: float | None = None
    _pending: dict[str, Any] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The wire form of an outcome (``state``, ``result``, ``error``)."""
        return {
            "command_id": self.command_id,
            "state": self.state,
            "result": self.result,
            "error": self.error,
        }


class OutcomeStore(Protocol):
    """Where final outcomes persist (``simulators.tray.Tray`` implements it)."""

    def save_command(
        self, instrument: str, command_id: str, state: str,
        result: dict[str, Any] | None = None, error: str | None = None,
    ) -> None: ...

    def load_command(self, instrument: str, command_id: str) -> dict[str, Any] | None: ...


class CommandRegistry:
    """Thread-safe map command id → record, with first-outcome-wins semantics."""

    def __init__(
        self,
        store: OutcomeStore | None = None,
        instrument: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._records: dict[str, CommandRecord] = {}
        self._lock = threading.Lock()
        self._store = store
        self._instrument = instrument
        self._clock = clock

    def begin(self, command_id: str, **info: Any) -> CommandRecord | None:
        """Claim ``command_id``: ``None`` if it is new (now ``running``), else the existing record."""
        if not isinstance(command_id, str) or not command_id:
            raise ValueError("command_id must be a non-empty string")
        with self._lock:
            existing = self._lookup(command_id)
            if existing is not None:
                return existing
            self._records[command_id] = CommandRecord(command_id, info=dict(info))
            return None

    def schedule(self, command_id: str, result: dict[str, Any], ready_at: float) -> None:
        """A running command becomes ``done`` with ``result`` once ``clock() >= ready_at``."""
        with self._lock:
            record = self._require(command_id)
            if record.state == "running":
                record._pending = result
                record.ready_at = ready_at
                self._promote(record)

    def finish(self, command_id: str, result: dict[str, Any]) -> None:
        """Mark a running command done with its result (a finished one keeps its first result)."""
        with self._lock:
            record = self._require(command_id)
            if record.state == "running":
                self._settle(record, "done", result=result)

    def fail(self, command_id: str, error: str) -> None:
        """Mark a running command failed with an error message."""
        with self._lock:
            record = self._require(command_id)
            if record.state == "running":
                self._settle(record, "failed", error=error)

    def outcome(self, command_id: str) -> CommandRecord | None:
        """The record of ``command_id``, or ``None`` if never seen."""
        with self._lock:
            return self._lookup(command_id)

    def running(self) -> list[CommandRecord]:
        """Records still in progress (after promoting the ones whose time has come)."""
        with self._lock:
            for record in self._records.values():
                self._promote(record)
            return [r for r in self._records.values() if r.state == "running"]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    # -- internals (lock held) -------------------------------------------------

    def _lookup(self, command_id: str) -> CommandRecord | None:
        record = self._records.get(command_id)
        if record is None and self._store is not None:
            saved = self._store.load_command(self._instrument, command_id)
            if saved is not None:
                record = CommandRecord(command_id, saved["state"], saved["result"], saved["error"])
                self._records[command_id] = record
        if record is not None:
            self._promote(record)
        return record

    def _promote(self, record: CommandRecord) -> None:
        if record.state == "running" and record.ready_at is not None and self._clock() >= record.ready_at:
            self._settle(record, "done", result=record._pending)

    def _settle(
        self, record: CommandRecord, state: RecordState,
        result: dict[str, Any] | None = None, error: str | None = None,
    ) -> None:
        record.state = state
        record.result = result
        record.error = error
        record._pending = None
        if self._store is not None:
            self._store.save_command(self._instrument, record.command_id, state, result, error)

    def _require(self, command_id: str) -> CommandRecord:
        record = self._records.get(command_id)
        if record is None:
            raise KeyError(f"unknown command id {command_id!r}: begin() it first")
        return record
