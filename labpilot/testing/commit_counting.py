"""A store that counts its durable commits, for tests and benchmarks that pin the journal-first floor.

Each outermost transaction is one durable commit (a whole ``Store.atomic()``
block is one). Tests compare ``commits`` before and after an experiment.
Import it from here (``labpilot.testing`` does not import the store).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

from labpilot.agent.store import Store


class CommitCountingStore(Store):
    """``Store`` whose ``commits`` counts durable commits (outermost transactions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commits = 0

    @contextmanager
    def _tx(self) -> Iterator[object]:
        outer = self._group_owner != threading.get_ident()
        with super()._tx() as conn:
            yield conn
        if outer:
            self.commits += 1
