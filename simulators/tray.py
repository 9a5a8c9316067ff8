"""The sample tray: the physical rack shared by all simulators of one dry run.

The synthesizer simulator puts each sample's hidden truth here under its
sample id; measuring simulators read it back by id, as a real instrument
would find the physical sample in the rack. Several processes use the same
file, so it is SQLite in WAL mode with a busy timeout.

Synthesizer simulators also keep their finished command outcomes here
(``save_command`` / ``load_command``), so that even a restarted simulator
still knows which command ids already made a sample, and allocate sample ids
from a persistent counter (``new_sample_id``) so ids never repeat.
``Tray(None)`` is an in-memory rack for a simulator run without ``--tray``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    sample_id TEXT PRIMARY KEY,
    world     TEXT NOT NULL,
    truth     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    instrument TEXT NOT NULL,
    command_id TEXT NOT NULL,
    state      TEXT NOT NULL,
    result     TEXT,
    error      TEXT,
    PRIMARY KEY (instrument, command_id)
);
CREATE TABLE IF NOT EXISTS counters (
    prefix TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
"""


class Tray:
    """A SQLite-backed rack of samples: ``put`` a truth, ``get`` it back by id."""

    def __init__(self, path: str | os.PathLike[str] | None, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(self.path) if self.path is not None else ":memory:",
            timeout=busy_timeout_s,
            check_same_thread=False,
            isolation_level=None,
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(_SCHEMA)

    def put(self, sample_id: str, world: str, truth: dict[str, Any]) -> None:
        """Store a sample's truth; putting the same id again with the same truth is a no-op.

        A *different* truth under an existing id raises ``ValueError``: a rack
        slot holds one physical sample.
        """
        if not sample_id:
            raise ValueError("sample_id must be a non-empty string")
        if not world:
            raise ValueError("world must be a non-empty string")
        blob = json.dumps(truth, sort_keys=True, default=_jsonable)
        with self._lock:
            row = self._conn.execute(
                "SELECT world, truth FROM samples WHERE sample_id = ?", (sample_id,)
            ).fetchone()
            if row is not None:
                if row[0] != world or row[1] != blob:
                    raise ValueError(f"tray already holds a different sample under id {sample_id!r}")
                return
            self._conn.execute(
                "INSERT INTO samples (sample_id, world, truth) VALUES (?, ?, ?)",
                (sample_id, world, blob),
            )

    def get(self, sample_id: str) -> tuple[str, dict[str, Any]]:
        """``(world, truth)`` of a sample; ``KeyError`` naming the id if the rack lacks it."""
        with self._lock:
            row = self._conn.execute(
                "SELECT world, truth FROM samples WHERE sample_id = ?", (sample_id,)
            ).fetchone()
        if row is None:
            raise KeyError(f"no sample {sample_id!r} in tray {self.path or '(in memory)'}")
        return row[0], json.loads(row[1])

    def __contains__(self, sample_id: object) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM samples WHERE sample_id = ?", (sample_id,)
            ).fetchone()
        return row is not None

    def new_sample_id(self, prefix: str) -> str:
        """A fresh sample id ``<prefix><n:05d>``; the counter lives in the file, so ids never repeat."""
        if not prefix:
            raise ValueError("sample id prefix must be non-empty")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT value FROM counters WHERE prefix = ?", (prefix,)).fetchone()
                value = (row[0] if row else 0) + 1
                self._conn.execute(
                    "INSERT INTO counters (prefix, value) VALUES (?, ?) "
                    "ON CONFLICT(prefix) DO UPDATE SET value = excluded.value",
                    (prefix, value),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return f"{prefix}{value:05d}"

    def save_command(
        self,
        instrument: str,
        command_id: str,
        state: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Persist the final outcome of a command id (first outcome wins)."""
        if state not in ("done", "failed"):
            raise ValueError(f"only final states are saved, got {state!r}")
        blob = json.dumps(result, sort_keys=True, default=_jsonable) if result is not None else None
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO commands (instrument, command_id, state, result, error) "
                "VALUES (?, ?, ?, ?, ?)",
                (instrument, command_id, state, blob, error),
            )

    def load_command(self, instrument: str, command_id: str) -> dict[str, Any] | None:
        """``{"state", "result", "error"}`` of a saved command id, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT state, result, error FROM commands WHERE instrument = ? AND command_id = ?",
                (instrument, command_id),
            ).fetchone()
        if row is None:
            return None
        return {"state": row[0], "result": json.loads(row[1]) if row[1] else None, "error": row[2]}

    def ids(self) -> list[str]:
        """All sample ids in insertion order."""
        with self._lock:
            rows = self._conn.execute("SELECT sample_id FROM samples ORDER BY rowid").fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        """Close the connection (the file stays)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Tray":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(value: Any) -> Any:
    """numpy values become plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"tray truth value of type {type(value).__name__} is not JSON-serialisable")
