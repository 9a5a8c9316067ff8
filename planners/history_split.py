"""The history split by status into row arrays, kept between proposals so each trial is encoded once.

A planner is handed the whole history every time it proposes. Encoding
every trial again (a parameter dict to a float row, its status and values
checked) costs about 2.5 µs per trial in Python: 25 ms a proposal at 10,000
experiments, growing with the store. ``HistorySplitter`` keeps the encoded
rows between calls and re-encodes only the positions whose trial is not the
object it saw there last time (``ChangedTrials``): the new experiment and the
ones whose status changed, which the agent hands over as new ``Trial``
objects (``agent.history_view``). What remains per call is an identity
comparison per trial and a few vectorized selections, both at C speed.

Trials are compared by identity, so a trial must not be changed in place
once a planner has seen it (the agent never does; a caller that builds
its own history appends or replaces ``Trial`` objects). ``split_history``
is the one-off form, for callers without a planner of their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from itertools import compress
from operator import is_not
from typing import Sequence

import numpy as np

from labpilot.errors import PlannerError
from labpilot.planners.base import COMPLETED, FAILED, PENDING, REJECTED, Trial
from labpilot.planners.space import Objective, Space

#: Status codes of the encoded rows, in the order ``HistoryData`` lists its arrays.
_DONE, _FAILED, _PENDING, _REJECTED = 0, 1, 2, 3
_CODES = {COMPLETED: _DONE, FAILED: _FAILED, PENDING: _PENDING, REJECTED: _REJECTED}


@dataclass
class HistoryData:
    """The history as arrays (rows in parameter order)."""

    x: np.ndarray  # completed rows with every objective finite, (n, dim)
    y: np.ndarray  # their objective values, (n, m), in the objectives' own units
    failed: np.ndarray  # failed rows (including completed rows missing a value)
    pending: np.ndarray
    rejected: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def taken(self) -> np.ndarray:
        """Every row a planner must not propose again."""
        return np.vstack([self.x, self.failed, self.pending, self.rejected])


class ChangedTrials:
    """The positions of a history whose trial is not the object seen there at the last ``commit``."""

    def __init__(self) -> None:
        self._seen: list[Trial] = []

    def changed(self, history: Sequence[Trial]) -> tuple[list[Trial], list[int]]:
        """The history as a list, and the positions to (re)do: changed ones, then every new one."""
        trials = list(history)
        same_len = min(len(trials), len(self._seen))
        positions = list(compress(range(same_len), map(is_not, trials, self._seen)))
        positions.extend(range(same_len, len(trials)))
        return trials, positions

    def commit(self, trials: list[Trial]) -> None:
        """Remember ``trials`` (every position done) as what the next call compares against."""
        self._seen = trials


def _point_row(space: Space, trial: Trial, i: int) -> np.ndarray:
    try:
        return space.to_row(trial.params)
    except KeyError as e:
        raise PlannerError(f"history trial {i}: parameter {e.args[0]!r} is missing from {trial.params}") from None
    except (ValueError, TypeError) as e:
        raise PlannerError(f"history trial {i}: cannot encode {trial.params}: {e}") from None


class HistorySplitter:
    """``split_history`` for one space and objectives, re-encoding only what changed since the last call."""

    def __init__(self, space: Space, objectives: Sequence[Objective]) -> None:
        self.space = space
        self.objectives = list(objectives)
        self._changes = ChangedTrials()
        self._rows = np.zeros((0, space.dim))
        self._y = np.zeros((0, len(self.objectives)))
        self._code = np.zeros(0, dtype=np.int8)
        self._notes: dict[int, str] = {}
        self._lock = threading.Lock()  # one planner may be asked from two threads; the arrays are shared state

    def split(self, history: Sequence[Trial]) -> HistoryData:
        """Sort the trials by status into row arrays; unknown statuses are an error."""
        with self._lock:
            trials, positions = self._changes.changed(history)
            self._reserve(len(trials))
            for i in positions:
                self._encode(i, trials[i])
            self._changes.commit(trials)  # only once every position is encoded: an error leaves them to redo
            n = len(trials)
            code = self._code[:n]
            rows = self._rows[:n]
            done = code == _DONE
            notes = [self._notes[i] for i in sorted(self._notes) if i < n]
            return HistoryData(rows[done], self._y[:n][done], rows[code == _FAILED], rows[code == _PENDING],
                               rows[code == _REJECTED], notes)

    def _reserve(self, n: int) -> None:
        """Room for ``n`` rows (doubling, so appending one trial a call costs amortized constant time)."""
        if n <= len(self._code):
            return
        size = max(n, 2 * len(self._code), 64)
        for name in ("_rows", "_y"):
            old = getattr(self, name)
            new = np.zeros((size, old.shape[1]))
            new[: len(old)] = old
            setattr(self, name, new)
        code = np.full(size, -1, dtype=np.int8)
        code[: len(self._code)] = self._code
        self._code = code

    def _encode(self, i: int, trial: Trial) -> None:
        row = _point_row(self.space, trial, i)
        code = _CODES.get(trial.status)
        if code is None:
            raise PlannerError(
                f"history trial {i} has unknown status {trial.status!r}; expected one of "
                f"{COMPLETED}, {FAILED}, {PENDING}, {REJECTED}"
            )
        self._notes.pop(i, None)
        if code == _DONE:
            vals = [trial.values.get(o.name) for o in self.objectives]
            missing = [o.name for o, v in zip(self.objectives, vals) if v is None or not np.isfinite(float(v))]
            if missing:
                self._notes[i] = f"trial {i} completed without a finite value for {missing}: treated as failed"
                code = _FAILED
            else:
                self._y[i] = [float(v) for v in vals]
        self._rows[i] = row
        self._code[i] = code


def split_history(space: Space, objectives: Sequence[Objective], history: Sequence[Trial]) -> HistoryData:
    """Sort the trials by status into row arrays, once (a planner keeps a ``HistorySplitter`` instead)."""
    return HistorySplitter(space, objectives).split(history)
