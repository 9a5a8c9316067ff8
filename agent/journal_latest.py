"""The latest value a campaign journaled under one of several event kinds (identities recorded, then moved).

A resumed run compares a file (the pool, a function file) with what the
campaign recorded of it last: the identity journaled at creation, or the one
a later move recorded. ``pick`` reads the value out of an entry's data, or
None when that entry holds no usable one (it is then skipped).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, TypeVar

from labpilot.agent.store import Store

T = TypeVar("T")


def latest_journaled(store: Store, kinds: Iterable[str], pick: Callable[[str, dict[str, Any]], T | None]) -> T | None:
    """``pick(kind, data)`` of the newest entry of ``kinds`` for which it is not None, or None."""
    latest: tuple[int, T] | None = None
    for kind in kinds:
        for ev in store.events(kind=kind):
            value = pick(kind, ev["data"])
            if value is not None and (latest is None or ev["seq"] > latest[0]):
                latest = (ev["seq"], value)
    return None if latest is None else latest[1]
