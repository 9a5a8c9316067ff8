"""A resumed campaign's candidate pool: the same content wherever it now lies, or refused by name.

The database stores ``[space] pool`` as an absolute path (the campaign file
writes it relative to its folder), and journals the pool's identity
(``planners.pool_identity``: size and SHA-256) when the campaign is created.
On a resume the file's pool is identified again and compared by content:

- same content, another path (the campaign folder was moved, or opened from
  another mount): accepted; the stored path follows the file, and the move is
  printed and journaled (``pool_moved``); so is a ``file.py:function``
  featurizer's file moved with it (same content, same function);
- other content (the file was edited or replaced): refused once experiments
  have started, naming ``space.pool`` with both contents (bytes, rows); before
  that, a change like any other (the campaign restarts from the file).

A database from before identities were journaled has none: the stored path is
identified if it still exists, and the identity is journaled from then on.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labpilot.agent.journal_latest import latest_journaled
from labpilot.agent.store import Store
from labpilot.planners.pool_identity import PoolIdentity, identify

#: Journal entries that hold a pool identity: (event kind, key of the identity in its data; None: the data).
IDENTITY_EVENTS = (("pool_identified", None), ("pool_moved", "to"))


@dataclass(frozen=True)
class PoolCheck:
    """What a resume found about the pool (nothing is written until the resume is accepted)."""

    current: PoolIdentity | None = None  # the file's pool now (None: the campaign has no pool)
    recorded: PoolIdentity | None = None  # the journaled (or stored path's) identity, if any
    recorded_journaled: bool = False  # whether ``recorded`` came from the journal
    gone: str | None = None  # an older database's pool path, no longer there: its content cannot be compared

    @property
    def featurizer_moved(self) -> bool:
        """The featurizer's file (``file.py:function``) at another path, same content and function."""
        return (self.current is not None and self.recorded is not None
                and self.current.same_featurizer_elsewhere(self.recorded))

    def unverifiable(self) -> str:
        """Why the pool cannot be compared (``gone``), as a refusal says it."""
        return (f"space.pool: the campaign's pool {self.gone} is gone, and this database (from an earlier "
                f"labpilot) holds no record of its content to compare {self.current.path if self.current else ''} "
                f"with; put the file back at {self.gone} for one resume (its content is then recorded), "
                f"or use another --db")

    @property
    def moved(self) -> bool:
        """Same content at another path."""
        return (self.current is not None and self.recorded is not None and self.current.path != self.recorded.path
                and self.current.same_content(self.recorded))

    @property
    def changed(self) -> bool:
        """Other content than the campaign's pool."""
        return self.current is not None and self.recorded is not None and not self.current.same_content(self.recorded)

    def change(self) -> tuple[str, str, str]:
        """The change as ``reconfigure.diff`` lists one: (field, old, new)."""
        assert self.recorded is not None and self.current is not None
        return ("space.pool", f"{self.recorded.path} ({self.recorded.describe()})",
                f"{self.current.path} ({self.current.describe()})")


def written_pool(source_toml: str) -> str | None:
    """``[space] pool`` as the campaign file writes it (relative text), or None."""
    try:
        space = tomllib.loads(source_toml).get("space")
    except tomllib.TOMLDecodeError:
        return None
    pool = space.get("pool") if isinstance(space, dict) else None
    return pool if isinstance(pool, str) else None


def pool_rows(config: dict[str, Any]) -> int | None:
    """The pool's data rows, from the pool reader's cache (``validate``/``run`` read it already); None if unread."""
    from labpilot.agent.campaign import parse_campaign

    try:
        table = parse_campaign(config, "<campaign>").space().candidates
    except Exception:  # noqa: BLE001 - rows are a courtesy in messages: a pool that cannot be read says so elsewhere
        return None
    return None if table is None else len(table)


def recorded_identity(store: Store) -> PoolIdentity | None:
    """The latest pool identity in the journal, or None."""
    keys = dict(IDENTITY_EVENTS)

    def identity(kind: str, data: dict[str, Any]) -> PoolIdentity | None:
        value = data if keys[kind] is None else data.get(keys[kind])
        return PoolIdentity.from_dict(value) if isinstance(value, dict) else None

    return latest_journaled(store, keys, identity)


def record_identity(store: Store, ident: PoolIdentity, why: str) -> None:
    store.log_event("pool_identified", why=why, **ident.as_dict())


def identify_config(config: dict[str, Any], source_toml: str) -> PoolIdentity | None:
    """The identity of a configuration's pool file (None: no pool)."""
    space = config.get("space")
    path = space.get("pool") if isinstance(space, dict) else None
    if not path:
        return None
    return identify(path, written_pool(source_toml), pool_rows(config), space.get("featurizer"))


def check_pool(store: Store, stored: dict[str, Any], file_config: dict[str, Any], file_source: str) -> PoolCheck:
    """Identify the file's pool and what the campaign recorded of its own; write nothing."""
    stored_path = (stored.get("space") or {}).get("pool")
    if not stored_path or not (file_config.get("space") or {}).get("pool"):
        return PoolCheck()  # no pool on one side: an ordinary difference of the configurations
    current = identify_config(file_config, file_source)
    recorded = recorded_identity(store)
    if recorded is not None:
        return PoolCheck(current, recorded, True)
    if Path(stored_path).is_file():  # an older database: identify the stored path while it is there
        try:
            return PoolCheck(current, identify(stored_path, None, None), False)
        except OSError:
            pass
    if current is not None and current.path != stored_path:
        return PoolCheck(current, gone=stored_path)
    return PoolCheck(current)
