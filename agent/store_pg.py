"""The campaign store on a PostgreSQL server (psycopg 3), behind the same ``Store`` interface.

A lab whose instruments and operators span several PCs keeps one shared
record: ``--db postgresql://user@host/dbname``. Each campaign lives in its
own schema (``lp_<campaign name>``) holding exactly the tables of a SQLite
campaign file, so every ``Store`` method runs unchanged: ``PgConnection``
gives psycopg the small part of the ``sqlite3`` connection API the store
uses, translating the few SQLite spellings (``?`` placeholders, ``INSERT
OR REPLACE``/``OR IGNORE``, ``lastrowid``, ``BEGIN IMMEDIATE``).

Guarantees match SQLite's: every store transaction takes a per-campaign
advisory lock first (SQLite's ``BEGIN IMMEDIATE`` single writer), commits
are durable (``synchronous_commit`` stays on), and readers never block (MVCC).
One agent per campaign is enforced with a session advisory lock that the
server drops when the agent's connection dies, SIGKILL included.

The campaign of a URL is ``?campaign=NAME`` (stripped before connecting), or
the only campaign on the server.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from labpilot.errors import AlreadyRunning, StoreError
from labpilot.agent import store as st
from labpilot.agent.store import Store
from labpilot.agent.store_open import display_target

SCHEMA_PREFIX = "lp_"

#: Columns that make a row unique, for ``INSERT OR REPLACE`` (SQLite) -> ``ON CONFLICT`` (PostgreSQL).
_CONFLICT_KEYS = {"meta": ("key",), "measurements": ("experiment_id", "instrument", "name"),
                  "commands": ("id",), "campaign": ("id",)}
#: Generated key of each table (what ``cursor.lastrowid`` returns in SQLite).
_SERIAL = {"experiments": "id", "events": "seq", "measurements": "id"}


def _import_psycopg():  # noqa: ANN202
    try:
        import psycopg
    except ImportError:
        raise StoreError("a postgresql:// database needs psycopg 3: pip install 'psycopg[binary]'") from None
    return psycopg


# ------------------------------------------------------------------ URLs


def split_url(url: str) -> tuple[str, str | None]:
    """``postgresql://u@h/db?campaign=x&sslmode=require`` -> (the URL psycopg connects to, ``x``)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    campaign = next((v for k, v in query if k == "campaign"), None)
    rest = urlencode([(k, v) for k, v in query if k != "campaign"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), campaign


def with_campaign(url: str, name: str) -> str:
    base, _ = split_url(url)
    parts = urlsplit(base)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("campaign", name)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def schema_of(name: str) -> str:
    schema = SCHEMA_PREFIX + name
    if len(schema.encode()) > 63:
        raise StoreError(f"campaign name {name!r} is too long for a PostgreSQL schema (at most {63 - len(SCHEMA_PREFIX)} bytes)")
    return schema


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _key(text: str) -> int:
    """A signed 64-bit advisory-lock key for ``text``."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def _connect(url: str) -> Any:
    psycopg = _import_psycopg()
    base, _ = split_url(url)
    try:
        return psycopg.connect(base, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {_redact(base)}: {str(exc).strip().splitlines()[0]}") from None


def _redact(url: str) -> str:
    return display_target(url)


def campaign_names(url: str) -> list[str]:
    """Every campaign held on the server of ``url`` (sorted)."""
    conn = _connect(url)
    try:
        rows = conn.execute(
            "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
            "WHERE c.relname = 'campaign' AND n.nspname LIKE %s ORDER BY n.nspname",
            (SCHEMA_PREFIX.replace("_", r"\_") + "%",),
        ).fetchall()
    finally:
        conn.close()
    return [r[0][len(SCHEMA_PREFIX):] for r in rows]


def list_campaign_urls(url: str) -> list[str]:
    _, name = split_url(url)
    names = [name] if name else campaign_names(url)
    return [with_campaign(url, n) for n in names]


def _pick_campaign(url: str) -> str:
    _, name = split_url(url)
    if name:
        return name
    names = campaign_names(url)
    if len(names) == 1:
        return names[0]
    if not names:
        raise StoreError(f"no campaign on {_redact(split_url(url)[0])}")
    raise StoreError(f"{_redact(split_url(url)[0])} holds {len(names)} campaigns ({', '.join(names)}); "
                     "choose one with ?campaign=NAME")


# ------------------------------------------------------- sqlite3-like adapter


class Row(tuple):
    """A result row readable by position and by column name, like ``sqlite3.Row``."""

    _names: tuple[str, ...] = ()

    def __new__(cls, values: Sequence[Any], names: tuple[str, ...]) -> "Row":
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names.index(key))
            except ValueError:
                raise IndexError(f"no column {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


class Cursor:
    """The rows of one statement, read eagerly (statements here return few rows, or iterate once)."""

    def __init__(self, rows: list[Row], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._i = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Row | None:
        if self._i >= len(self._rows):
            return None
        self._i += 1
        return self._rows[self._i - 1]

    def fetchall(self) -> list[Row]:
        rest, self._i = self._rows[self._i:], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(REPLACE|IGNORE)\s+INTO\s+(\w+)\s*(\(([^)]*)\))?", re.I | re.S)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.I)


class PgConnection:
    """The subset of ``sqlite3.Connection`` that ``Store`` uses, on a psycopg connection."""

    def __init__(self, conn: Any, schema: str) -> None:
        self._conn = conn
        self.schema = schema
        self._tx_key = _key("labpilot-tx:" + schema)
        self._columns: dict[str, list[str]] = {}
        self._lock = threading.RLock()  # one statement (or transaction step) at a time per connection
        conn.execute(f"SET search_path TO {_quote(schema)}")

    @property
    def lock(self) -> threading.RLock:
        """The re-entrant lock of this connection; ``Store`` holds it for whole transactions and ``atomic()`` blocks."""
        return self._lock

    def _table_columns(self, table: str) -> list[str]:
        if table not in self._columns:
            rows = self._conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", (self.schema, table)).fetchall()
            self._columns[table] = [r[0] for r in rows]
        return self._columns[table]

    def translate(self, sql: str) -> tuple[str, str | None]:
        """SQLite SQL -> PostgreSQL SQL, and the column whose value is ``lastrowid``."""
        text = sql.replace("%", "%%").replace("?", "%s")
        returning = None
        m = _INSERT_OR.match(text)
        if m:
            how, table, cols = m.group(1).upper(), m.group(2), m.group(4)
            text = _INSERT_OR.sub(lambda mm: f"INSERT INTO {table}" + (f" ({cols}) " if cols else " "), text, count=1)
            keys = _CONFLICT_KEYS.get(table, ("id",))
            if how == "IGNORE":
                text += " ON CONFLICT DO NOTHING"
            else:
                # SQLite's REPLACE rewrites the whole row: every other column takes the new row's value
                others = [c for c in self._table_columns(table) if c not in keys and c != _SERIAL.get(table)]
                sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in others)
                text += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
            returning = _SERIAL.get(table)
        else:
            m2 = _INSERT.match(text)
            if m2:
                returning = _SERIAL.get(m2.group(1))
        if returning and " RETURNING " not in text.upper():
            text += f" RETURNING {returning}"
        return text, returning

    def execute(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        stripped = sql.strip().upper()
        with self._lock:
            if stripped.startswith("PRAGMA"):
                return Cursor([], 0, None)
            if stripped == "BEGIN IMMEDIATE":
                self._conn.execute("BEGIN")
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._tx_key,))
                return Cursor([], 0, None)
            text, returning = self.translate(sql)
            params = [bytes(a) if isinstance(a, memoryview) else a for a in args] if not isinstance(args, dict) else args
            try:
                cur = self._conn.execute(text, params)
            except Exception as exc:
                psycopg = _import_psycopg()
                if isinstance(exc, psycopg.Error):
                    raise StoreError(f"PostgreSQL: {str(exc).strip().splitlines()[0]}") from exc
                raise
            rows: list[Row] = []
            if cur.description is not None:
                names = tuple(d.name for d in cur.description)
                rows = [Row(r, names) for r in cur.fetchall()]
            lastrowid = None
            if returning is not None:
                lastrowid = rows[0][0] if rows else None
                rows = []
            return Cursor(rows, cur.rowcount, lastrowid)

    @property
    def in_transaction(self) -> bool:
        """Like ``sqlite3.Connection.in_transaction``: a transaction is open (or failed and not rolled back)."""
        psycopg = _import_psycopg()
        return self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def close(self) -> None:
        self._conn.close()


def _pg_schema_sql() -> list[str]:
    sql = st._SCHEMA
    sql = re.sub(r"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY", sql)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql)
    return [s.strip() for s in sql.split(";") if s.strip()]


# ----------------------------------------------------------------- the store


class PgStore(Store):
    """A campaign in schema ``lp_<name>`` of a PostgreSQL database."""

    def __init__(self, url: str, conn: PgConnection) -> None:
        name = conn.schema[len(SCHEMA_PREFIX):]
        parts = urlsplit(split_url(url)[0])
        # Local files that go with a run (simulator trays of a dry run) live here, per server and campaign.
        local = Path(tempfile.gettempdir()) / "labpilot-pg" / re.sub(
            r"[^A-Za-z0-9_.-]+", "_", f"{parts.hostname or 'local'}-{parts.port or 5432}{parts.path}-{name}")
        local.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(local, conn)  # type: ignore[arg-type]
        self.target = with_campaign(url, name)
        self.label = display_target(self.target)

    @classmethod
    def create(cls, url: str, name: str, config: dict[str, Any], source_toml: str) -> "PgStore":  # type: ignore[override]
        schema = schema_of(name)
        raw = _connect(url)
        try:
            raw.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
        except Exception as exc:
            raw.close()
            raise StoreError(f"cannot create schema {schema}: {exc}") from None
        conn = PgConnection(raw, schema)
        store = cls(url, conn)
        now = time.time()
        try:
            with store._tx() as c:
                if c.execute("SELECT to_regclass('campaign')").fetchone()[0] is not None:
                    held = c.execute("SELECT name FROM campaign WHERE id=1").fetchone()
                    raise StoreError(f"{_redact(split_url(url)[0])} already holds campaign "
                                     f"{held[0] if held else name!r}")
                for statement in _pg_schema_sql():
                    c.execute(statement)
                c.execute("INSERT INTO meta VALUES (?, ?)", ("schema_version", str(st.SCHEMA_VERSION)))
                c.execute(
                    "INSERT INTO campaign VALUES (1, ?, ?, ?, ?, 'idle', ?, ?)",
                    (name, uuid.uuid4().hex[:12], json.dumps(config, default=str), source_toml, now, now),
                )
                store._event("campaign_created", None, {"name": name})
        except BaseException:
            store.close()  # the caller gets no store: leave no connection open
            raise
        return store

    @classmethod
    def open(cls, url: str) -> "PgStore":  # type: ignore[override]
        name = _pick_campaign(url)
        schema = schema_of(name)
        raw = _connect(url)
        try:
            found = raw.execute("SELECT to_regclass(%s)", (f"{_quote(schema)}.meta",)).fetchone()[0]
        except Exception as exc:
            raw.close()
            raise StoreError(f"cannot read {_redact(split_url(url)[0])}: {exc}") from None
        if found is None:
            raw.close()
            raise StoreError(f"no campaign {name!r} on {_redact(split_url(url)[0])}")
        conn = PgConnection(raw, schema)
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or int(row[0]) != st.SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"campaign {name!r}: unsupported schema version {row[0] if row else None}")
        return cls(url, conn)

    @staticmethod
    def exists(url: str, name: str) -> bool:
        """Whether the server holds campaign ``name`` (a creation cut short leaves nothing: it is one transaction)."""
        raw = _connect(url)
        try:
            return raw.execute("SELECT to_regclass(%s)", (f"{_quote(schema_of(name))}.campaign",)).fetchone()[0] is not None
        finally:
            raw.close()


def open_pg_store(url: str) -> PgStore:
    return PgStore.open(url)


class PgRunLock:
    """One agent per campaign across every PC: a session advisory lock the server drops when the agent dies."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.key = _key("labpilot-run:" + schema_of(name))
        self._conn: Any = None

    def acquire(self) -> "PgRunLock":
        conn = _connect(self.url)
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:
            conn.close()
            raise AlreadyRunning("this campaign is already being run by another labpilot (it holds the campaign's "
                                 "lock on the PostgreSQL server); use `labpilot status` to watch it")
        self._conn = conn
        return self

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            finally:
                self._conn.close()
                self._conn = None
