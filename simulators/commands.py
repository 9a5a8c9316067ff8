"""Duplicate suppression for non-idempotent commands, keyed by command id.

A driver that lost a reply resends the same command id; the simulator must
answer with the first outcome rather than act twice. ``begin`` tells the
server whether an id is new (go ahead) or already seen (return its record).
Results are kept in memory for the life of the process, so that an agent
restarted after a crash can reconcile with ``outcome``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

RecordState = Literal["running", "done", "failed"]


@dataclass
class CommandRecord:
    """What became of one command id."""

    command_id: str
    state: RecordState = "running"
    result: dict[str, Any] | None = None
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The wire form of an outcome (``state``, ``result``, ``error``)."""
        return {
            "command_id": self.command_id,
            "state": self.state,
            "result": self.result,
            "error": self.error,
        }


class CommandRegistry:
    """Thread-safe map command id → record, with first-outcome-wins semantics."""

    def __init__(self) -> None:
        self._records: dict[str, CommandRecord] = {}
        self._lock = threading.Lock()

    def begin(self, command_id: str, **info: Any) -> CommandRecord | None:
        """Claim ``command_id``: ``None`` if it is new (now ``running``), else the existing record."""
        if not isinstance(command_id, str) or not command_id:
            raise ValueError("command_id must be a non-empty string")
        with self._lock:
            existing = self._records.get(command_id)
            if existing is not None:
                return existing
            self._records[command_id] = CommandRecord(command_id, info=dict(info))
            return None

    def finish(self, command_id: str, result: dict[str, Any]) -> None:
        """Mark a running command done with its result (a finished one keeps its first result)."""
        with self._lock:
            record = self._require(command_id)
            if record.state == "running":
                record.state = "done"
                record.result = result

    def fail(self, command_id: str, error: str) -> None:
        """Mark a running command failed with an error message."""
        with self._lock:
            record = self._require(command_id)
            if record.state == "running":
                record.state = "failed"
                record.error = error

    def outcome(self, command_id: str) -> CommandRecord | None:
        """The record of ``command_id``, or ``None`` if never seen."""
        with self._lock:
            return self._records.get(command_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def _require(self, command_id: str) -> CommandRecord:
        record = self._records.get(command_id)
        if record is None:
            raise KeyError(f"unknown command id {command_id!r}: begin() it first")
        return record
