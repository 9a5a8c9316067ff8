"""The physical-action ledger: one JSON line per action a simulator performs.

Why: a dry run must be able to *prove* that no sample was made twice and no
scan repeated, even when replies were dropped and commands resent. Every
simulator appends one line per physical action (``deposit``, ``dispense``,
``scan`` ...) and flushes + fsyncs it, so the ledger survives a killed
process and several processes may append to their own files concurrently.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any


class Ledger:
    """Append-only JSON-lines ledger; ``path=None`` records nothing (a no-op ledger)."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def record(
        self,
        instrument: str,
        action: str,
        command_id: str | None,
        sample_id: str | None,
        **details: Any,
    ) -> dict[str, Any]:
        """Append one action line (with a wall-clock timestamp) and make it durable."""
        if not instrument or not action:
            raise ValueError("ledger record needs a non-empty instrument and action")
        entry: dict[str, Any] = {
            "ts": time.time(),
            "instrument": instrument,
            "action": action,
            "command_id": command_id,
            "sample_id": sample_id,
        }
        overlap = set(details) & set(entry)
        if overlap:
            raise ValueError(f"ledger details may not override fields: {sorted(overlap)}")
        entry.update(details)
        if self.path is None:
            return entry
        line = json.dumps(entry, sort_keys=True, default=_jsonable) + "\n"
        with self._lock:
            # O_APPEND writes of one line are atomic enough for our line sizes,
            # and the file is opened per record so a rotated/removed file is recreated.
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        return entry


def _jsonable(value: Any) -> Any:
    """Fallback encoder: numpy scalars/arrays and other odd values become plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def read_ledger(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All entries of a ledger file, in order; a missing file is an empty ledger.

    A torn last line (a process killed mid-write) is ignored; a corrupt line
    elsewhere raises ``ValueError`` naming the line number.
    """
    p = Path(path)
    if not p.exists():
        return []
    lines = p.read_text(encoding="utf-8").splitlines()
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):
                break
            raise ValueError(f"{p}: ledger line {number} is not JSON: {exc}") from exc
    return entries
