"""The planners' history as a log that hands out immutable snapshots in constant time.

``TrialLog`` holds the trials in experiment id order and changes in place
as experiments advance (a trial replaced, a new one appended). ``snapshot()``
hands out a ``HistoryView``: a read-only sequence that keeps showing the log
as it was at that moment, whatever changes later, without copying it. A
change to a trial that some view covers first keeps the trial it replaces
(for the views taken before the change), so taking a snapshot costs the
same with 20 or 20,000 trials, and a planner that holds, iterates or
indexes its history (on the planning thread, while the loop goes on) sees
one moment and can change nothing in the log. The ``Trial`` objects are
shared: read them, never change them.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, Iterable, Iterator, overload

from labpilot.planners.base import Trial


class TrialLog:
    """The current trials, changed in place; ``snapshot()`` freezes a moment of them."""

    def __init__(self, trials: Iterable[Trial] = ()) -> None:
        self._items: list[Trial] = list(trials)
        self._epoch = 0  # how many snapshots were taken: a change after snapshot e happens in epoch > e
        self._covered = 0  # the length of the longest live snapshot: changes below it are kept for views
        #: per index changed under a view: the epochs of its changes, and the trial each replaced
        self._old: dict[int, tuple[list[int], list[Trial]]] = {}
        self._prune_at = 64  # prune ``_old`` of what no live view can read when it grows past this
        self._views: weakref.WeakValueDictionary[int, HistoryView] = weakref.WeakValueDictionary()  # by epoch
        self._lock = threading.Lock()  # the loop writes while the planning thread reads a view

    def __len__(self) -> int:
        return len(self._items)

    def append(self, trial: Trial) -> None:
        with self._lock:
            self._items.append(trial)

    def __setitem__(self, i: int, trial: Trial) -> None:
        with self._lock:
            if i < self._covered:
                epochs, trials = self._old.setdefault(i, ([], []))
                if not epochs or epochs[-1] != self._epoch:  # the first change since the last snapshot
                    epochs.append(self._epoch)
                    trials.append(self._items[i])
                if len(self._old) > self._prune_at:
                    self._prune()
            self._items[i] = trial

    def snapshot(self) -> HistoryView:
        """The trials as they are now, as an immutable sequence (constant time)."""
        with self._lock:
            if self._old:
                self._prune()
            view = HistoryView(self, len(self._items), self._epoch)
            self._views[self._epoch] = view
            self._epoch += 1
            self._covered = max(self._covered, len(self._items))
        return view

    def _prune(self) -> None:
        """Forget the replaced trials no live view can read (lock held)."""
        live = list(self._views.keys())
        if not live:
            self._old.clear()
            self._covered = 0
        else:
            oldest = min(live)  # a view of epoch e reads the first change after e: older ones are unreadable
            for i in list(self._old):
                epochs, trials = self._old[i]
                cut = bisect_right(epochs, oldest)
                if cut == len(epochs):
                    del self._old[i]
                elif cut:
                    del epochs[:cut], trials[:cut]
        self._prune_at = max(64, 2 * len(self._old))

    def _at(self, i: int, epoch: int) -> Trial:
        with self._lock:
            return self._as_of(i, epoch, self._items[i])

    def _as_of(self, i: int, epoch: int, current: Trial) -> Trial:
        changed = self._old.get(i)
        if changed is None:
            return current
        epochs, trials = changed
        j = bisect_right(epochs, epoch)  # the first change after the view was taken holds its trial
        return trials[j] if j < len(epochs) else current

    def _as_list(self, n: int, epoch: int) -> list[Trial]:
        with self._lock:
            items = self._items[:n]
            for i in self._old:
                if i < n:
                    items[i] = self._as_of(i, epoch, items[i])
        return items


class HistoryView(Sequence[Trial]):
    """The history at one moment: read-only, unchanged by anything after (see ``TrialLog.snapshot``).

    ``len`` and indexing copy nothing. Iterating copies the trial references
    into a list the iterator owns, made and dropped in the reader's thread:
    the view keeps no copy, so the loop that drops the view after the planner
    returns does no work per trial (a kept copy would be freed there, one
    reference at a time). Equal to any list, tuple or view of the same trials.
    """

    __slots__ = ("_log", "_n", "_epoch", "__weakref__")

    def __init__(self, log: TrialLog, n: int, epoch: int) -> None:
        self._log = log
        self._n = n
        self._epoch = epoch

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Trial: ...

    @overload
    def __getitem__(self, i: slice) -> list[Trial]: ...

    def __getitem__(self, i: int | slice) -> Trial | list[Trial]:
        if isinstance(i, slice):
            return self._trials()[i]  # a new list, like a list's slice
        j = i + self._n if i < 0 else i
        if not 0 <= j < self._n:
            raise IndexError("history index out of range")
        return self._log._at(j, self._epoch)

    def _trials(self) -> list[Trial]:
        """The trials, as a new list (the caller's)."""
        return self._log._as_list(self._n, self._epoch)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self._trials())

    def __reversed__(self) -> Iterator[Trial]:
        return reversed(self._trials())

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, HistoryView):
            return self._trials() == other._trials()
        if isinstance(other, list):
            return self._trials() == other
        if isinstance(other, tuple):
            return tuple(self._trials()) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are unhashable

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled or deep-copied (a planner's own business), it becomes the plain list of its trials."""
        return list, (self._trials(),)

    def __repr__(self) -> str:
        return f"HistoryView({self._trials()!r})"
