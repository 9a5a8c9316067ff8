"""The campaigns a dashboard shows: database files, folders of them, or a PostgreSQL server.

``labpilot serve --db X`` takes one or more targets. A SQLite file is one
campaign; a folder is every ``*.db`` campaign file in it (rescanned on each
visit to the list, so a campaign started later appears); a
``postgresql://`` URL is every campaign held on that server. Each campaign
gets a short id for its URL (``/c/<id>``), stable while the server runs.

A ``CampaignSource`` keeps one open store per campaign and serializes its
use with a lock, because the web server answers from several threads.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from labpilot.errors import StoreError
from labpilot.agent.store import Store


def _open(target: str) -> Store:
    from labpilot.agent.store_open import open_store

    return open_store(target)


def _list(target: str) -> list[str]:
    """The campaign targets one ``--db`` argument stands for."""
    from labpilot.agent.store_open import is_server_url, list_server_campaigns

    if is_server_url(target):
        return list_server_campaigns(target)
    p = Path(target)
    if p.is_dir():
        return [str(f) for f in sorted(p.glob("*.db")) if not Store.is_blank(f)]
    return [target]


@dataclass
class CampaignSource:
    """One campaign: where it lives and a lazily opened, lock-guarded store."""

    cid: str
    target: str
    _store: Store | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def store(self) -> Iterator[Store]:
        with self._lock:
            if self._store is None:
                self._store = _open(self.target)
            try:
                yield self._store
            except StoreError:
                self._close()
                raise

    def _close(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            finally:
                self._store = None

    def close(self) -> None:
        with self._lock:
            self._close()


class Catalog:
    """Every campaign behind the dashboard's ``--db`` targets."""

    def __init__(self, targets: list[str]) -> None:
        if not targets:
            raise StoreError("the dashboard needs at least one --db")
        self.targets = list(targets)
        self._by_target: dict[str, CampaignSource] = {}
        self._by_cid: dict[str, CampaignSource] = {}
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> list[CampaignSource]:
        """Rescan folders and servers; return every campaign, in a stable order."""
        found: list[str] = []
        for t in self.targets:
            found += _list(t)
        with self._lock:
            for target in found:
                if target not in self._by_target:
                    cid = self._new_cid(target)
                    src = CampaignSource(cid, target)
                    self._by_target[target] = src
                    self._by_cid[cid] = src
            return [self._by_target[t] for t in found]

    def _new_cid(self, target: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", target.rsplit("campaign=", 1)[-1] if "campaign=" in target
                      else Path(target).stem).strip("-") or "campaign"
        cid, n = base, 2
        while cid in self._by_cid:
            cid, n = f"{base}-{n}", n + 1
        return cid

    def get(self, cid: str) -> CampaignSource:
        with self._lock:
            src = self._by_cid.get(cid)
        if src is None:
            self.refresh()
            with self._lock:
                src = self._by_cid.get(cid)
        if src is None:
            raise KeyError(cid)
        return src

    def close(self) -> None:
        for src in list(self._by_cid.values()):
            src.close()
