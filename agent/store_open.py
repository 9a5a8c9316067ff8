"""Open a campaign store from what the user typed after ``--db``.

A path is a SQLite file (the default). A ``postgresql://`` (or
``postgres://``) URL is a PostgreSQL server that holds many campaigns; the
campaign is chosen with ``?campaign=NAME`` in the URL, or is the only one
on the server.
"""

from __future__ import annotations

from pathlib import Path

from labpilot.agent.store import Store


def is_server_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


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
