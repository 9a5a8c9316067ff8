"""``Store.atomic()`` with threads on one real SQLite store: a block is one thread's alone.

The block holds the store's lock from its start to its commit, and only the
thread that opened it joins it: another thread's statements, plain writes and
its own ``atomic()`` wait until the block ends, so they neither land inside
it, nor commit or roll back with it, nor get lost when it fails.

The deterministic tests watch the store's real lock (``WatchedLock`` wraps
the ``threading.RLock`` the store and its connection share) to know, without
any timing, that the other thread is waiting for it while a block is open.
"""

from __future__ import annotations

import re
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import pytest

from labpilot.agent import store as st
from labpilot.agent.store import Store
from labpilot.errors import StoreError

#: A safety net against a hang only (the tests never wait on time otherwise).
HANG_S = 120.0


class WatchedLock:
    """The store's re-entrant lock, telling which threads wait for it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cv = threading.Condition()
        self.waiting: set[int] = set()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        if not blocking:
            return False
        with self._cv:
            self.waiting.add(threading.get_ident())
            self._cv.notify_all()
        try:
            return self._lock.acquire(True, timeout)
        finally:
            with self._cv:
                self.waiting.discard(threading.get_ident())

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> "WatchedLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate()`` (checked whenever a thread starts waiting, or ``poke`` is called)."""
        with self._cv:
            assert self._cv.wait_for(predicate, timeout=HANG_S), "the other thread never got there"

    def poke(self) -> None:
        with self._cv:
            self._cv.notify_all()


def watched_store(path: Path) -> tuple[Store, WatchedLock]:
    """A real SQLite store whose one lock (statements and transactions) is watched."""
    store = Store.create(path, "threads", {"name": "threads"}, "")
    lock = WatchedLock()
    store._lock = lock  # type: ignore[assignment]
    store._conn._lock = lock  # type: ignore[attr-defined]  # LockedConnection: the same lock, as in Store()
    return store, lock


def kinds(path: Path) -> list[str]:
    """The journal's event kinds in commit order, read by a fresh connection (what reached the file)."""
    again = Store.open(path)
    try:
        return [e["kind"] for e in again.events() if re.match(r"[ab]\d", e["kind"])]
    finally:
        again.close()


class Other(threading.Thread):
    """The second thread: runs ``fn``, says when it got past ``atomic()``'s entry, keeps its error."""

    def __init__(self, fn: Callable[["Other"], None]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.inside = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.fn(self)
        except BaseException as exc:  # noqa: BLE001 - asserted by the test
            self.error = exc


def _other_waits_or_joined(lock: WatchedLock, other: Other) -> Callable[[], bool]:
    return lambda: other.ident in lock.waiting or other.inside.is_set()


@pytest.mark.parametrize("failing", [False, True], ids=["commits", "rolls-back"])
def test_another_threads_atomic_block_waits_for_the_open_one(tmp_path: Path, failing: bool) -> None:
    path = tmp_path / "c.db"
    store, lock = watched_store(path)
    joined_inside: list[bool] = []

    def b(me: Other) -> None:
        with store.atomic():
            me.inside.set()
            lock.poke()
            store.log_event("b1")
            store.log_event("b2")

    other = Other(b)
    with pytest.raises(RuntimeError) if failing else nullcontext():
        with store.atomic():
            store.log_event("a1")
            other.start()
            lock.wait_until(_other_waits_or_joined(lock, other))
            joined_inside.append(other.inside.is_set())
            store.log_event("a2")
            if failing:
                raise RuntimeError("the block fails after the other thread tried to write")
    other.join(HANG_S)
    assert not other.is_alive() and other.error is None, other.error
    assert joined_inside == [False], "the other thread's atomic() block opened inside this one"
    assert kinds(path) == (["b1", "b2"] if failing else ["a1", "a2", "b1", "b2"])


@pytest.mark.parametrize("failing", [False, True], ids=["commits", "rolls-back"])
def test_another_threads_plain_write_neither_joins_nor_is_lost(tmp_path: Path, failing: bool) -> None:
    path = tmp_path / "c.db"
    store, lock = watched_store(path)

    def b(me: Other) -> None:
        store.log_event("b1")  # a plain write: its own transaction, after the block
        me.inside.set()
        lock.poke()

    other = Other(b)
    with pytest.raises(RuntimeError) if failing else nullcontext():
        with store.atomic():
            eid = store.add_experiment({"x": 0.5}, st.APPROVED, "initial")
            store.log_event("a1", eid)
            other.start()
            lock.wait_until(_other_waits_or_joined(lock, other))
            assert not other.inside.is_set(), "the other thread wrote inside this block"
            store.log_event("a2", eid)
            if failing:
                raise RuntimeError("the block fails after the other thread tried to write")
    other.join(HANG_S)
    assert other.error is None, other.error
    assert kinds(path) == (["b1"] if failing else ["a1", "a2", "b1"])
    again = Store.open(path)
    assert len(again.experiments()) == (0 if failing else 1)


def test_a_failed_write_in_another_thread_does_not_poison_the_block(tmp_path: Path) -> None:
    """Poisoning is the block's own: another thread's failed write (after the block) fails only itself."""
    path = tmp_path / "c.db"
    store, lock = watched_store(path)

    def b(me: Other) -> None:
        with pytest.raises(StoreError):
            store.update_experiment(999, status=st.COMPLETED, event="completed")  # no such experiment
        me.inside.set()

    other = Other(b)
    with store.atomic():
        store.log_event("a1")
        other.start()
        lock.wait_until(_other_waits_or_joined(lock, other))
        store.log_event("a2")
    other.join(HANG_S)
    assert other.error is None, other.error
    assert kinds(path) == ["a1", "a2"]


def test_threads_mixing_blocks_and_plain_writes_keep_every_block_whole(tmp_path: Path) -> None:
    """Many threads at once (no watching): every block's writes adjacent in the journal, none lost."""
    path = tmp_path / "c.db"
    store = Store.create(path, "threads", {"name": "threads"}, "")
    threads, rounds, size = 6, 25, 3
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(rounds):
                with store.atomic():
                    eid = store.add_experiment({"x": t + i / 100}, st.APPROVED, "initial")
                    for k in range(size):
                        store.log_event(f"a{t}-{i}", eid, k=k)
                store.log_event(f"b{t}-{i}")
                if i % 5 == 0:  # a failing block: none of it kept, the thread goes on
                    try:
                        with store.atomic():
                            store.log_event(f"a{t}-{i}-lost")
                            raise RuntimeError("fails")
                    except RuntimeError:
                        pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors[:3]
    journal = kinds(path)
    assert not [k for k in journal if k.endswith("-lost")]
    assert sum(1 for k in journal if k.startswith("b")) == threads * rounds
    for t in range(threads):
        for i in range(rounds):
            at = [n for n, k in enumerate(journal) if k == f"a{t}-{i}"]
            assert len(at) == size and at == list(range(at[0], at[0] + size)), (t, i, at)
    assert len(Store.open(path).experiments()) == threads * rounds
