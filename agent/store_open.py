"""Open a campaign store from what the user typed after ``--db``.

A path is a SQLite file (the default). A ``postgresql://`` (or
``postgres://``) URL is a PostgreSQL server that holds many campaigns; the
campaign is chosen with ``?campaign=NAME`` in the URL, or is the only one
on the server.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from labpilot.agent.store import Store


def is_server_url(target: str) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def display_target(target: str | Path) -> str:
    """``target`` as it may be printed, journaled or sent: a server URL's password becomes ``***``."""
    text = str(target)
    if not is_server_url(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


def open_store(target: str) -> Store:
    """The existing campaign at ``target`` (``StoreError`` with a clear reason if there is none)."""
    if is_server_url(target):
        from labpilot.agent.store_pg import open_pg_store

        return open_pg_store(target)
    return Store.open(Path(target))


def list_server_campaigns(url: str) -> list[str]:
    """One ``...?campaign=NAME`` URL per campaign held on a PostgreSQL server."""
    from labpilot.agent.store_pg import list_campaign_urls

    return list_campaign_urls(url)


def campaign_exists(target: str, name: str) -> bool:
    """Whether ``target`` already holds a campaign (``name`` picks it on a server)."""
    if is_server_url(target):
        from labpilot.agent.store_pg import PgStore

        return PgStore.exists(target, name)
    return not Store.is_blank(Path(target))


def create_store(target: str, name: str, config: dict, source_toml: str) -> Store:
    if is_server_url(target):
        from labpilot.agent.store_pg import PgStore

        return PgStore.create(target, name, config, source_toml)
    return Store.create(Path(target), name, config, source_toml)


def campaign_target(target: str, name: str) -> str:
    """The target that names campaign ``name`` itself (a server URL gets ``?campaign=NAME``)."""
    if is_server_url(target):
        from labpilot.agent.store_pg import with_campaign

        return with_campaign(target, name)
    return target


def run_lock(target: str, name: str):  # noqa: ANN201
    """The lock that keeps a second agent off this campaign (a file lock, or a server advisory lock)."""
    if is_server_url(target):
        from labpilot.agent.store_pg import PgRunLock

        return PgRunLock(target, name)
    from labpilot.agent.loop.run_lock import RunLock

    return RunLock(Path(target))
