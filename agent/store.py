"""The campaign store: one SQLite file (WAL) per campaign.

Everything the agent knows lives here, written *before* the agent acts on it:
the campaign itself, a journal of events, experiments with their provenance
and status, instrument commands with their ids, and measurements (scalars, and
arrays as binary blobs with dtype and shape). After a crash the agent rebuilds
its whole view from this file.

The interface is narrow (plain methods, plain dicts) so that a server database
could stand behind it for labs whose instruments span several PCs.
"""

from __future__ import annotations

from labpilot.errors import StaleExperiment, StoreError, StoreUnavailable
import errno
import json
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from enum import StrEnum
from typing import Any, Iterator, Literal

import numpy as np

SCHEMA_VERSION = 1

#: Experiment statuses. Terminal ones never change again.
AWAITING_APPROVAL = "awaiting_approval"
APPROVED = "approved"
SYNTHESIZING = "synthesizing"
SYNTHESIZED = "synthesized"
MEASURING = "measuring"
COMPLETED = "completed"
FAILED = "failed"
REJECTED = "rejected"
ABANDONED = "abandoned"
#: A command was sent to an instrument that cannot reconcile command ids, and never
#: finished: only an operator can say what became of it (``labpilot resolve``).
OUTCOME_UNKNOWN = "outcome_unknown"
EXPERIMENT_STATUSES = (
    AWAITING_APPROVAL, APPROVED, SYNTHESIZING, SYNTHESIZED, MEASURING,
    COMPLETED, FAILED, REJECTED, ABANDONED, OUTCOME_UNKNOWN,
)
TERMINAL = (COMPLETED, FAILED, REJECTED, ABANDONED)
IN_FLIGHT = (APPROVED, SYNTHESIZING, SYNTHESIZED, MEASURING)

#: Command statuses: ``sent`` (journaled before it went out), ``done``, ``failed``,
#: ``unknown`` (its outcome waits for an operator) and ``not_made`` (an operator
#: said it never happened: the step is retried under a new command id).
COMMAND_STATUSES = ("sent", "done", "failed", "unknown", "not_made")

class MetaKey(StrEnum):
    """Every key of the ``meta`` table, named once."""

    SCHEMA_VERSION = "schema_version"
    PAUSE = "request_pause"  # "deferred" | "now"
    RESUME = "request_resume"  # who asked
    ABORT = "request_abort"  # the reason
    FAULT = "fault"  # JSON {instrument, error, experiment}
    RESUME_TO = "resume_to"  # machine state to return to
    CONTROL_ENDPOINT = "control_endpoint"
    CONTROL_DEAD = "control_dead"  # why the control endpoint's serving thread died
    DRY_RUN_SIMULATORS = "dry_run_simulators"  # JSON list of the dry run's simulator processes
    HEARTBEAT = "heartbeat"  # JSON {pid, ts}: the running agent, refreshed every few seconds


PauseRequest = Literal["deferred", "now"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaign (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    config_json TEXT NOT NULL,
    source_toml TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    experiment_id INTEGER,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    chosen_by TEXT NOT NULL,
    planner TEXT,
    score REAL,
    reason TEXT,
    sample_id TEXT,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    predicted TEXT
);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    experiment_id INTEGER,
    instrument TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    sent REAL NOT NULL,
    finished REAL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id INTEGER NOT NULL,
    instrument TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    dtype TEXT,
    shape TEXT,
    data BLOB,
    created REAL NOT NULL,
    UNIQUE (experiment_id, instrument, name)
);
CREATE INDEX IF NOT EXISTS experiments_status ON experiments (status);
CREATE INDEX IF NOT EXISTS events_experiment ON events (experiment_id);
CREATE INDEX IF NOT EXISTS commands_experiment ON commands (experiment_id);
"""


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='table'").fetchone()[0] > 0


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


@dataclass
class Experiment:
    """One row of the experiments table, decoded."""

    id: int
    params: dict[str, Any]
    status: str
    chosen_by: str
    planner: str | None
    score: float | None
    reason: str | None
    sample_id: str | None
    error: str | None
    created: float
    updated: float
    #: The planner's prediction at proposal time: {objective: [mean, std]} (None without a model).
    predicted: dict[str, Any] | None = None
    scalars: dict[str, float] = field(default_factory=dict)


#: sqlite messages that mean "this database cannot be written here", not a bug.
_UNAVAILABLE = ("disk is full", "readonly", "read-only", "disk i/o error", "unable to open", "no space")


def describe_unavailable(path: Path | str, exc: BaseException) -> str | None:
    """The one-line cause when ``exc`` says the database cannot be written, else None."""
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EIO):
        cause = exc.strerror or str(exc)
    elif isinstance(exc, sqlite3.OperationalError) and any(m in text for m in _UNAVAILABLE):
        cause = str(exc)
    else:
        return None
    return (f"database {path}: {cause}; the run stopped with every decision journaled. Free space or fix the "
            f"file system, then run the same command again to resume")


@contextmanager
def unavailable_as_error(path: Path | str) -> Iterator[None]:
    """Turn 'disk full', 'read-only' and I/O errors on ``path`` into ``StoreUnavailable``."""
    try:
        yield
    except (sqlite3.OperationalError, OSError) as exc:
        message = describe_unavailable(path, exc)
        if message is None:
            raise
        raise StoreUnavailable(message) from None


class Rows:
    """The rows of one statement, read eagerly while the connection's lock is held."""

    def __init__(self, rows: list[Any], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._i = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Any:
        if self._i >= len(self._rows):
            return None
        self._i += 1
        return self._rows[self._i - 1]

    def fetchall(self) -> list[Any]:
        rest, self._i = self._rows[self._i:], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class LockedConnection:
    """One SQLite connection shared by threads (the loop, parallel experiments, the control endpoint).

    Every statement runs under the store's lock and its rows are read before
    the lock is released, and ``Store._tx`` holds the same (re-entrant) lock
    for a whole transaction: a thread never starts a statement inside another
    thread's transaction, nor a ``BEGIN`` within one.
    """

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock

    def execute(self, sql: str, args: Any = ()) -> Rows:
        with self._lock:
            cur = self._conn.execute(sql, args)
            rows = cur.fetchall() if cur.description is not None else []
            return Rows(rows, cur.rowcount, cur.lastrowid)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _pause_request(value: str | None) -> PauseRequest | None:
    """The pause meta value as a request: ``now``, ``deferred`` (any other value), or None."""
    return None if value is None else ("now" if value == "now" else "deferred")


class Store:
    """A campaign database. Open with ``Store.create`` or ``Store.open``.

    Safe to share between threads: statements, transactions and whole
    ``atomic()`` blocks are serialized by one re-entrant lock
    (``LockedConnection``; a server store's connection brings its own).
    """

    def __init__(self, path: str | Path, conn: sqlite3.Connection) -> None:
        server_lock = getattr(conn, "lock", None)
        if isinstance(conn, sqlite3.Connection):
            self._lock = threading.RLock()
            conn = LockedConnection(conn, self._lock)  # type: ignore[assignment]
        elif server_lock is not None:  # a server store's connection: its statements and our transactions, one lock
            self._lock = server_lock
        else:
            self._lock = threading.RLock()
        self.path = Path(path)
        #: What ``--db`` names this store by (a file path here; a URL for a server store).
        self.target = str(path)
        #: How messages, the journal, notifications and ``status`` name it (never a server password).
        self.label = str(path)
        self._conn = conn
        #: The thread inside ``atomic()`` (it holds ``_lock`` for the whole block): its writes join the block's
        #: one transaction; any other thread's write waits for the lock, so it never joins or commits the block.
        self._group_owner: int | None = None
        self._poisoned: str | None = None  # why a write inside ``atomic()`` failed
        #: Journal entries of the open ``atomic()`` block, written with one statement before its commit
        #: (``_flush_events``): the same rows in the same transaction, fewer statements.
        self._pending: list[tuple[Any, ...]] | None = None

    # -- opening -----------------------------------------------------------
    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        with unavailable_as_error(path):
            return Store._connect_raw(path)

    @staticmethod
    def _connect_raw(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @classmethod
    def create(cls, path: str | Path, name: str, config: dict[str, Any], source_toml: str) -> "Store":
        """Create a new campaign database, atomically: a kill mid-way leaves no half-made campaign."""
        path = Path(path)
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = cls._connect(path)
        store = cls(path, conn)
        if _has_tables(conn):
            held = conn.execute("SELECT name FROM campaign WHERE id=1").fetchone() if _has_table(conn, "campaign") else None
            conn.close()
            raise StoreError(f"{path} already holds campaign {held[0]!r}" if held else f"{path} is not empty")
        now = time.time()
        with store._tx() as c:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
            c.execute("INSERT INTO meta VALUES (?, ?)", (str(MetaKey.SCHEMA_VERSION), str(SCHEMA_VERSION)))
            c.execute(
                "INSERT INTO campaign VALUES (1, ?, ?, ?, ?, 'idle', ?, ?)",
                (name, uuid.uuid4().hex[:12], json.dumps(config, default=str), source_toml, now, now),
            )
            store._event("campaign_created", None, {"name": name})
        return store

    @staticmethod
    def is_blank(path: str | Path) -> bool:
        """True if ``path`` is absent, empty, or an SQLite file with no tables (a creation cut short)."""
        path = Path(path)
        if not path.exists() or path.stat().st_size == 0:
            return True
        try:
            conn = sqlite3.connect(str(path))
            try:
                return not _has_tables(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            return False

    @classmethod
    def open(cls, path: str | Path) -> "Store":
        """Open an existing campaign database, with a clear error if it is not one."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"no campaign database at {path}")
        try:
            conn = cls._connect(path)
            row = conn.execute("SELECT value FROM meta WHERE key=?", (str(MetaKey.SCHEMA_VERSION),)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a labpilot campaign database ({exc})") from None
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"{path}: unsupported schema version {row[0] if row else None}")
        columns = {r[1] for r in conn.execute("PRAGMA table_info(experiments)")}
        if "predicted" not in columns:  # a database from before predictions were kept
            conn.execute("ALTER TABLE experiments ADD COLUMN predicted TEXT")
        try:  # a database from before: per-experiment command look-ups scanned the whole table
            conn.execute("CREATE INDEX IF NOT EXISTS commands_experiment ON commands (experiment_id)")
        except sqlite3.OperationalError:
            pass  # read-only here: the agent that writes it makes the index
        return cls(path, conn)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Several writes in one atomic, durable transaction: one commit where there would be several.

        For writes that belong together and precede the same action (a state
        transition, the experiment's claim and the command id, all before the
        command goes out). Nothing is durable before the block ends: end it
        before the action it journals. All or nothing: a write that fails
        inside fails the whole block, even if the caller caught its error
        (``StoreError``), except a refused conditional update
        (``StaleExperiment``), which wrote nothing. Nested blocks join the outer one.

        Threads: the block holds the store's lock from its start to its
        commit, so another thread's statements and writes wait until it ends;
        only the thread that opened it joins it.
        """
        with self._lock:
            if self._group_owner == threading.get_ident():
                yield  # nested: joins the outer block
                return
            with self._tx():
                self._group_owner, self._poisoned, self._pending = threading.get_ident(), None, []
                try:
                    yield
                    if self._poisoned is None:
                        self._flush_events()  # inside the transaction: a failure here rolls it all back
                finally:
                    self._group_owner, self._pending = None, None
                if self._poisoned is not None:  # raised inside _tx: the transaction rolls back
                    raise StoreError(f"a write in this transaction failed ({self._poisoned}); none of it was kept")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic, durable transaction (a database that cannot be written raises ``StoreUnavailable``).

        Holds the store's lock throughout; inside this thread's ``atomic()``
        block the writes join that block's transaction instead.
        """
        with self._lock:
            if self._group_owner == threading.get_ident():
                try:
                    with unavailable_as_error(self.path):
                        yield self._conn
                except StaleExperiment:
                    raise  # refused before writing anything: the block may go on
                except BaseException as exc:
                    self._poisoned = f"{type(exc).__name__}: {exc}"[:200]
                    raise
                return
            with unavailable_as_error(self.path):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    if self._conn.in_transaction:
                        try:
                            self._conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass  # the original error says more
                    raise
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.OperationalError:
                    if self._conn.in_transaction:
                        try:
                            self._conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass
                    raise

    # -- campaign ----------------------------------------------------------
    def _campaign_row(self) -> sqlite3.Row | None:
        return self._conn.execute("SELECT * FROM campaign WHERE id=1").fetchone()

    def campaign(self) -> dict[str, Any]:
        row = self._campaign_row()
        if row is None:
            raise StoreError(f"{self.path} holds no campaign")
        out = dict(row)
        out["config"] = json.loads(out.pop("config_json"))
        return out

    def config_text(self) -> str:
        """The stored configuration as its JSON text (cheap to compare: the runner checks it every step)."""
        row = self._conn.execute("SELECT config_json FROM campaign WHERE id=1").fetchone()
        if row is None:
            raise StoreError(f"{self.path} holds no campaign")
        return str(row[0])

    def update_config(self, config: dict[str, Any], *, event: str, source_toml: str | None = None,
                      **data: Any) -> None:
        """Replace the stored campaign configuration (and file text), journaling why, atomically."""
        with self._tx() as c:
            c.execute("UPDATE campaign SET config_json=?, updated=? WHERE id=1",
                      (json.dumps(config, default=str), time.time()))
            if source_toml is not None:
                c.execute("UPDATE campaign SET source_toml=? WHERE id=1", (source_toml,))
            self._event(event, None, data)

    def set_state(self, state: str, *, previous: str | None = None, **data: Any) -> None:
        """Journal a state change of the campaign's machine.

        ``previous``: the state it leaves, as the machine that moved knows it (the runner's); without it,
        the stored state is read first.
        """
        with self._tx() as c:
            old = previous if previous is not None else c.execute("SELECT state FROM campaign WHERE id=1").fetchone()[0]
            c.execute("UPDATE campaign SET state=?, updated=? WHERE id=1", (state, time.time()))
            self._event("state", None, {"from": old, "to": state, **data})

    # -- meta: typed side values ---------------------------------------------
    # The ``meta`` table holds small values outside the experiments: operator
    # requests the runner honours at its next checkpoint, the fault that
    # stopped the campaign, where its control endpoint listens. Each has a
    # typed pair of methods below; the keys are named once, in ``MetaKey``.

    def get_meta(self, key: MetaKey | str) -> str | None:
        """Raw value of one meta key (prefer the typed methods below)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (str(key),)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: MetaKey | str, value: str | None) -> None:
        """Set (or, with None, delete) one meta key (prefer the typed methods below)."""
        with self._tx() as c:
            if value is None:
                c.execute("DELETE FROM meta WHERE key=?", (str(key),))
            else:
                c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (str(key), value))

    def pause_request(self) -> PauseRequest | None:
        """The pending operator pause: ``"deferred"`` (next checkpoint), ``"now"``, or None."""
        value = self.get_meta(MetaKey.PAUSE)
        return None if value is None else ("now" if value == "now" else "deferred")

    def request_pause(self, now: bool) -> None:
        self.set_meta(MetaKey.PAUSE, "now" if now else "deferred")

    def clear_pause_request(self) -> None:
        self.set_meta(MetaKey.PAUSE, None)

    def resume_requested(self) -> bool:
        return self.get_meta(MetaKey.RESUME) is not None

    def request_resume(self, by: str = "operator") -> None:
        self.set_meta(MetaKey.RESUME, by)

    def clear_resume_request(self) -> None:
        self.set_meta(MetaKey.RESUME, None)

    def abort_request(self) -> str | None:
        """The reason of a pending abort, or None."""
        return self.get_meta(MetaKey.ABORT)

    def requests(self) -> tuple[str | None, PauseRequest | None]:
        """The pending abort reason and pause request, in one query (the runner's checkpoint)."""
        rows = dict(self._conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?)",
                                       (str(MetaKey.ABORT), str(MetaKey.PAUSE))).fetchall())
        return rows.get(str(MetaKey.ABORT)), _pause_request(rows.get(str(MetaKey.PAUSE)))

    def requests_and_config(self) -> tuple[str | None, PauseRequest | None, str]:
        """``requests()`` and ``config_text()`` in one read: the loop's checkpoint before each step."""
        rows = self._conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?)"
                                  " UNION ALL SELECT NULL, config_json FROM campaign WHERE id=1",
                                  (str(MetaKey.ABORT), str(MetaKey.PAUSE))).fetchall()
        values = {r[0]: r[1] for r in rows}
        if None not in values:
            raise StoreError(f"{self.path} holds no campaign")
        return values.get(str(MetaKey.ABORT)), _pause_request(values.get(str(MetaKey.PAUSE))), str(values[None])

    def request_abort(self, reason: str) -> None:
        self.set_meta(MetaKey.ABORT, reason)

    def clear_abort_request(self) -> None:
        self.set_meta(MetaKey.ABORT, None)

    def fault(self) -> dict[str, Any] | None:
        """The fault that stopped the campaign: ``{instrument, error, experiment}``, or None."""
        raw = self.get_meta(MetaKey.FAULT)
        return None if raw is None else dict(json.loads(raw))

    def set_fault(self, fault: dict[str, Any] | None) -> None:
        self.set_meta(MetaKey.FAULT, None if fault is None else json.dumps(fault, default=str))

    def resume_to(self) -> str | None:
        """The machine state a paused or faulted campaign returns to on resume."""
        return self.get_meta(MetaKey.RESUME_TO)

    def set_resume_to(self, state: str) -> None:
        self.set_meta(MetaKey.RESUME_TO, state)

    def control_endpoint(self) -> str | None:
        """Where the running agent's control endpoint listens (None when it is not running)."""
        return self.get_meta(MetaKey.CONTROL_ENDPOINT)

    def set_control_endpoint(self, endpoint: str | None) -> None:
        self.set_meta(MetaKey.CONTROL_ENDPOINT, endpoint)

    def control_dead(self) -> str | None:
        """Why the running agent's control endpoint died (its watchdog says so), or None."""
        return self.get_meta(MetaKey.CONTROL_DEAD)

    def set_control_dead(self, reason: str | None) -> None:
        self.set_meta(MetaKey.CONTROL_DEAD, reason)

    def heartbeat(self) -> dict[str, Any] | None:
        """The running agent's last heartbeat ``{pid, ts}`` (None: never written or cleared)."""
        raw = self.get_meta(MetaKey.HEARTBEAT)
        return json.loads(raw) if raw else None

    def beat(self, pid: int | None) -> None:
        """Write the heartbeat now (``pid`` None: the agent stopped cleanly).

        The host goes with the pid: on a shared server store the agent may
        run on another PC, where this PC's process table says nothing.
        """
        import socket

        self.set_meta(MetaKey.HEARTBEAT, json.dumps({"pid": pid, "ts": time.time(), "host": socket.gethostname()}))

    def dry_run_simulators(self) -> list[dict[str, Any]] | None:
        """The simulator processes a dry run started (for a resume or a clean stop), or None."""
        raw = self.get_meta(MetaKey.DRY_RUN_SIMULATORS)
        return None if raw is None else list(json.loads(raw))

    def set_dry_run_simulators(self, simulators: list[dict[str, Any]] | None) -> None:
        self.set_meta(MetaKey.DRY_RUN_SIMULATORS, None if simulators is None else json.dumps(simulators))

    # -- journal -----------------------------------------------------------
    def _event(self, kind: str, experiment_id: int | None, data: dict[str, Any]) -> int | None:
        """Journal one entry in the open transaction; its number (None inside ``atomic()``: numbered at commit)."""
        row = (time.time(), kind, experiment_id, json.dumps(data, default=str))
        if self._pending is not None and self._group_owner == threading.get_ident():
            self._pending.append(row)
            return None
        cur = self._conn.execute("INSERT INTO events (ts, kind, experiment_id, data) VALUES (?, ?, ?, ?)", row)
        return int(cur.lastrowid)

    def _flush_events(self) -> None:
        """Write the open ``atomic()`` block's journal entries, in their order, with one statement per 100."""
        if not self._pending or self._group_owner != threading.get_ident():
            return
        pending, self._pending = self._pending, []
        for i in range(0, len(pending), 100):
            chunk = pending[i:i + 100]
            self._conn.execute("INSERT INTO events (ts, kind, experiment_id, data) VALUES "
                               + ", ".join(["(?, ?, ?, ?)"] * len(chunk)), [v for row in chunk for v in row])

    def log_event(self, kind: str, experiment_id: int | None = None, **data: Any) -> int | None:
        """Append one event to the journal; its number (None inside ``atomic()``: numbered at the commit)."""
        with self._tx():
            return self._event(kind, experiment_id, data)

    def events(self, since: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
        self._flush_events()  # inside this thread's atomic() block: its own entries too
        q = "SELECT * FROM events WHERE seq > ?"
        args: list[Any] = [since]
        if kind:
            q += " AND kind = ?"
            args.append(kind)
        rows = self._conn.execute(q + " ORDER BY seq", args).fetchall()
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    # -- experiments -------------------------------------------------------
    def add_experiment(
        self,
        params: dict[str, Any],
        status: str,
        chosen_by: str,
        planner: str | None = None,
        score: float | None = None,
        reason: str | None = None,
        predicted: dict[str, Any] | None = None,
    ) -> int:
        if status not in EXPERIMENT_STATUSES:
            raise StoreError(f"unknown experiment status {status!r}")
        now = time.time()
        pred = None if predicted is None else json.dumps({k: list(v) for k, v in predicted.items()})
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO experiments (params, status, chosen_by, planner, score, reason, created, updated, predicted)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (json.dumps(params), status, chosen_by, planner, score, reason, now, now, pred),
            )
            eid = int(cur.lastrowid)
            self._event("experiment_added", eid, {
                "params": params, "status": status, "chosen_by": chosen_by,
                "planner": planner, "score": score, "reason": reason, "predicted": predicted,
            })
        return eid

    def update_experiment(
        self, eid: int, *, event: str | None = None, expect: tuple[str, ...] | None = None, **fields: Any
    ) -> None:
        """Change an experiment's status or other fields, journaled in one transaction.

        With ``expect``, the change happens only if the experiment's status is
        still one of those (checked in the same transaction), else
        ``StaleExperiment``: the agent and an operator cannot both act on it.
        """
        allowed = {"status", "params", "chosen_by", "reason", "sample_id", "error", "score", "predicted"}
        bad = set(fields) - allowed
        if bad:
            raise StoreError(f"cannot update experiment fields {sorted(bad)}")
        if "status" in fields and fields["status"] not in EXPERIMENT_STATUSES:
            raise StoreError(f"unknown experiment status {fields['status']!r}")
        values = {k: (json.dumps(v) if k in ("params", "predicted") and v is not None else v) for k, v in fields.items()}
        sets = ", ".join(f"{k}=?" for k in values)
        with self._tx() as c:
            where, args = "id=?", [eid]
            if expect:
                where += f" AND status IN ({','.join('?' * len(expect))})"
                args += list(expect)
            n = c.execute(
                f"UPDATE experiments SET {sets}, updated=? WHERE {where}", (*values.values(), time.time(), *args)
            ).rowcount
            if n != 1:
                row = c.execute("SELECT status FROM experiments WHERE id=?", (eid,)).fetchone()
                if row is None:
                    raise StoreError(f"no experiment with id {eid}")
                raise StaleExperiment(f"experiment {eid} is now {row[0]}, no longer {' or '.join(expect or ())}")
            self._event(event or "experiment_updated", eid, fields)

    def _decode_experiment(self, row: sqlite3.Row | dict[str, Any]) -> Experiment:
        d = dict(row)
        d["params"] = json.loads(d["params"])
        d["predicted"] = json.loads(d["predicted"]) if d.get("predicted") else None
        return Experiment(**d)

    def _with_scalars(self, where: str, args: tuple[Any, ...]) -> list[Experiment]:
        """The experiments ``where`` selects (in id order) with their measured scalars: one statement, not one
        per experiment plus one (each experiment's measurements through their index)."""
        out: list[Experiment] = []
        rows = self._conn.execute(
            "SELECT e.*, m.name AS scalar_name, m.value AS scalar_value FROM experiments e"
            " LEFT JOIN measurements m ON m.experiment_id = e.id AND m.value IS NOT NULL"
            f" WHERE {where} ORDER BY e.id", args)
        for r in rows:
            d = dict(r)
            name, value = d.pop("scalar_name"), d.pop("scalar_value")
            if not out or out[-1].id != d["id"]:
                out.append(self._decode_experiment(d))
            if name is not None:
                out[-1].scalars[name] = value
        return out

    def experiment(self, eid: int, with_scalars: bool = True) -> Experiment:
        """Experiment ``eid`` (``with_scalars`` False: its row only, ``scalars`` left empty)."""
        if with_scalars:
            found = self._with_scalars("e.id=?", (eid,))
            if not found:
                raise StoreError(f"no experiment with id {eid}")
            return found[0]
        row = self._conn.execute("SELECT * FROM experiments WHERE id=?", (eid,)).fetchone()
        if row is None:
            raise StoreError(f"no experiment with id {eid}")
        return self._decode_experiment(row)

    def experiments(self, statuses: tuple[str, ...] | None = None) -> list[Experiment]:
        if statuses:  # a few (in flight, waiting), with their own measurements, not the whole table's
            return self._with_scalars(f"e.status IN ({','.join('?' * len(statuses))})", tuple(statuses))
        exps = [self._decode_experiment(r) for r in self._conn.execute("SELECT * FROM experiments ORDER BY id")]
        scalars = self._all_scalars()
        for e in exps:
            e.scalars = scalars.get(e.id, {})
        return exps

    def changed_experiments(self, since: int) -> tuple[int, list[int]]:
        """The journal's newest entry and the experiments journaled after entry ``since`` (sorted).

        Every write that changes an experiment or its measurements journals an
        event naming it in the same transaction, so this is everything that
        changed, whoever wrote it (the agent, or an operator's approve,
        reject, override or resolve).
        """
        self._flush_events()
        rows = self._conn.execute("SELECT seq, experiment_id FROM events WHERE seq > ?", (since,)).fetchall()
        if not rows:
            return since, []
        return max(r[0] for r in rows), sorted({r[1] for r in rows if r[1] is not None})

    def last_update(self) -> float | None:
        """When any experiment last changed (None: there are none): one aggregate, no row decoded."""
        row = self._conn.execute("SELECT MAX(updated) FROM experiments").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in EXPERIMENT_STATUSES}
        for row in self._conn.execute("SELECT status, COUNT(*) FROM experiments GROUP BY status"):
            out[row[0]] = row[1]
        return out

    # -- commands ----------------------------------------------------------
    def command_sent(self, command_id: str, experiment_id: int | None, instrument: str, action: str) -> None:
        """Journal a command id *before* the command goes to the instrument."""
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO commands (id, experiment_id, instrument, action, status, sent)"
                " VALUES (?, ?, ?, ?, 'sent', ?)",
                (command_id, experiment_id, instrument, action, time.time()),
            )
            self._event("command_sent", experiment_id, {"id": command_id, "instrument": instrument, "action": action})

    def command(self, command_id: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT * FROM commands WHERE id=?", (command_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["result"] = json.loads(d["result"]) if d["result"] else None
        return d

    def commands(self, status: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT * FROM commands" + (" WHERE status=?" if status else "") + " ORDER BY sent"
        rows = self._conn.execute(q, (status,) if status else ()).fetchall()
        return [{**dict(r), "result": json.loads(r["result"]) if r["result"] else None} for r in rows]

    def commands_of(self, experiment_id: int, status: str | None = None) -> list[dict[str, Any]]:
        """The commands of one experiment (oldest first), through its index: the cost of one experiment,
        not of the whole table."""
        q = "SELECT * FROM commands WHERE experiment_id=?" + (" AND status=?" if status else "") + " ORDER BY sent"
        rows = self._conn.execute(q, (experiment_id, status) if status else (experiment_id,)).fetchall()
        return [{**dict(r), "result": json.loads(r["result"]) if r["result"] else None} for r in rows]

    def _finish_command(self, c: sqlite3.Connection, command_id: str, status: str, result: Any) -> None:
        c.execute(
            "UPDATE commands SET status=?, finished=?, result=? WHERE id=?",
            (status, time.time(), json.dumps(result, default=str), command_id),
        )

    def command_failed(self, command_id: str, error: str) -> None:
        with self._tx() as c:
            self._finish_command(c, command_id, "failed", {"error": error})
            self._event("command_failed", None, {"id": command_id, "error": error})

    def synthesis_done(self, command_id: str, eid: int, sample_id: str, info: dict[str, Any]) -> None:
        """Record a finished synthesis and advance the experiment, atomically."""
        with self._tx() as c:
            self._finish_command(c, command_id, "done", {"sample_id": sample_id, "info": info})
            c.execute(
                "UPDATE experiments SET status=?, sample_id=?, updated=? WHERE id=?",
                (SYNTHESIZED, sample_id, time.time(), eid),
            )
            self._event("synthesized", eid, {"command_id": command_id, "sample_id": sample_id, "info": info})

    def measurement_done(
        self,
        command_id: str,
        eid: int,
        instrument: str,
        scalars: dict[str, float],
        arrays: dict[str, np.ndarray],
    ) -> None:
        """Store one instrument's measurement of an experiment, atomically with its command."""
        now = time.time()
        with self._tx() as c:
            self._finish_command(c, command_id, "done", {"scalars": scalars, "arrays": sorted(arrays)})
            rows: list[tuple[Any, ...]] = [(eid, instrument, name, float(value), None, None, None, now)
                                           for name, value in scalars.items()]
            for name, arr in arrays.items():
                a = np.ascontiguousarray(arr)
                rows.append((eid, instrument, name, None, a.dtype.str, json.dumps(a.shape), a.tobytes(), now))
            # one statement per 100 of the result's rows, unless a name is both a scalar and an array (then, one
            # by one: the array replaces the scalar, as it always did)
            unique = len({r[2] for r in rows}) == len(rows)
            chunks = [rows[i:i + 100] for i in range(0, len(rows), 100)] if unique else [[r] for r in rows]
            for chunk in chunks:
                if chunk:
                    c.execute("INSERT OR REPLACE INTO measurements"
                              " (experiment_id, instrument, name, value, dtype, shape, data, created) VALUES "
                              + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)), [v for r in chunk for v in r])
            self._event("measured", eid, {"command_id": command_id, "instrument": instrument, "scalars": scalars,
                                          "arrays": {k: list(np.shape(v)) for k, v in arrays.items()}})

    # -- outcomes an instrument cannot tell ----------------------------------
    def attempts(self, experiment_id: int, instrument: str) -> int:
        """How many commands of this experiment on ``instrument`` an operator said were never made."""
        row = self._conn.execute(
            "SELECT COUNT(*) FROM commands WHERE experiment_id=? AND instrument=? AND status='not_made'",
            (experiment_id, instrument),
        ).fetchone()
        return int(row[0])

    def unknown_command(self, experiment_id: int) -> dict[str, Any] | None:
        """The command of ``experiment_id`` whose outcome waits for an operator, or None."""
        row = self._conn.execute(
            "SELECT id FROM commands WHERE experiment_id=? AND status='unknown' ORDER BY sent DESC LIMIT 1",
            (experiment_id,),
        ).fetchone()
        return None if row is None else self.command(row[0])

    def mark_outcome_unknown(self, command_id: str, eid: int, why: str) -> None:
        """A sent command nobody can reconcile: the command is ``unknown``, its experiment ``outcome_unknown``."""
        with self._tx() as c:
            c.execute("UPDATE commands SET status='unknown' WHERE id=? AND status='sent'", (command_id,))
            c.execute("UPDATE experiments SET status=?, updated=? WHERE id=?", (OUTCOME_UNKNOWN, time.time(), eid))
            self._event("outcome_unknown", eid, {"command_id": command_id, "why": why})

    def resolve_outcome(
        self,
        command_id: str,
        eid: int,
        *,
        command_status: Literal["done", "failed", "not_made"],
        result: dict[str, Any],
        experiment: dict[str, Any],
        scalars: dict[str, float] | None = None,
        measured_on: str | None = None,
        **data: Any,
    ) -> None:
        """Settle an unknown outcome as an operator said, atomically, journaled as ``outcome_resolved``.

        ``experiment`` holds the experiment's new fields (status, sample_id,
        error); ``scalars`` are a manual measurement on instrument ``measured_on``.
        Raises ``StaleExperiment`` if the outcome was settled meanwhile.
        """
        now = time.time()
        with self._tx() as c:
            n = c.execute("UPDATE commands SET status=?, finished=?, result=? WHERE id=? AND status='unknown'",
                          (command_status, now, json.dumps(result, default=str), command_id)).rowcount
            sets = ", ".join(f"{k}=?" for k in experiment)
            m = c.execute(f"UPDATE experiments SET {sets}, updated=? WHERE id=? AND status=?",
                          (*experiment.values(), now, eid, OUTCOME_UNKNOWN)).rowcount
            if n != 1 or m != 1:
                raise StaleExperiment(f"the outcome of experiment {eid} was settled meanwhile")
            for name, value in (scalars or {}).items():
                c.execute(
                    "INSERT OR REPLACE INTO measurements (experiment_id, instrument, name, value, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (eid, measured_on, name, float(value), now),
                )
            self._event("outcome_resolved", eid, {"command_id": command_id, "command_status": command_status,
                                                  **experiment, **data})

    # -- measurements ------------------------------------------------------
    def measured_instruments(self, eid: int) -> set[str]:
        rows = self._conn.execute("SELECT DISTINCT instrument FROM measurements WHERE experiment_id=?", (eid,))
        return {r[0] for r in rows}

    def scalars(self, eid: int) -> dict[str, float]:
        rows = self._conn.execute(
            "SELECT name, value FROM measurements WHERE experiment_id=? AND value IS NOT NULL", (eid,)
        )
        return {r[0]: r[1] for r in rows}

    def _all_scalars(self) -> dict[int, dict[str, float]]:
        out: dict[int, dict[str, float]] = {}
        for r in self._conn.execute("SELECT experiment_id, name, value FROM measurements WHERE value IS NOT NULL"):
            out.setdefault(r[0], {})[r[1]] = r[2]
        return out

    def arrays(self, eid: int, instrument: str | None = None) -> dict[str, np.ndarray]:
        q = "SELECT instrument, name, dtype, shape, data FROM measurements WHERE experiment_id=? AND data IS NOT NULL"
        args: list[Any] = [eid]
        if instrument:
            q += " AND instrument=?"
            args.append(instrument)
        out = {}
        for r in self._conn.execute(q, args):
            arr = np.frombuffer(r["data"], dtype=np.dtype(r["dtype"])).reshape(json.loads(r["shape"]))
            out[r["name"] if instrument else f"{r['instrument']}.{r['name']}"] = arr
        return out

    # -- reading for dashboards and reports ------------------------------------
    def last_event_seq(self) -> int:
        """The newest journal entry's number (0 when empty): changes whenever anything is journaled."""
        self._flush_events()
        row = self._conn.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def event_kinds(self) -> list[str]:
        """Every kind of event in the journal, sorted."""
        self._flush_events()
        return [r[0] for r in self._conn.execute("SELECT DISTINCT kind FROM events ORDER BY kind")]
