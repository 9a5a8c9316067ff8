"""Turn the store's experiments into the planners' history.

The store is the single source of truth; planners get a history equal to a
fresh read of it on every call, so a restarted agent proposes exactly as an
uninterrupted one. ``HistoryCache`` keeps that history in memory and brings
it up to date from the journal (only the experiments journaled since), so a
step costs the same with 20 or 20,000 experiments in the store.
"""

from __future__ import annotations

from typing import Any

from labpilot import registry
from labpilot.agent import store as st
from labpilot.agent.history_view import HistoryView, TrialLog
from labpilot.agent.pareto import ParetoFront
from labpilot.agent.store import Store
from labpilot.errors import StoreError
from labpilot.planners.base import COMPLETED, FAILED, PENDING, REJECTED, Trial

#: How each experiment status looks to a planner. Abandoned experiments (an
#: abort hit them in flight) say nothing about the material, so they are left
#: out and may be proposed again.
_PLANNER_STATUS = {
    st.COMPLETED: COMPLETED,
    st.FAILED: FAILED,
    st.REJECTED: REJECTED,
    st.AWAITING_APPROVAL: PENDING,
    st.APPROVED: PENDING,
    st.SYNTHESIZING: PENDING,
    st.SYNTHESIZED: PENDING,
    st.MEASURING: PENDING,
    st.OUTCOME_UNKNOWN: PENDING,  # it may have been made: the point is taken until an operator says
}


def planner_history(store: Store, objectives: list[str], with_arrays: bool = False) -> list[Trial]:
    """Every experiment a planner should know about, as ``Trial`` objects.

    A completed experiment missing an objective value is reported as failed.
    With ``with_arrays``, measured arrays are attached for planners that
    model measured descriptors (``used``, ``boed``): every array as
    ``instrument.name`` (``xrd.counts``, ``dsc.heat_flow``), and each
    instrument's signal (its one array that is not an axis) under the bare
    instrument name (``xrd``, ``dsc``), the usual ``descriptor`` option.
    """
    trials = [experiment_trial(store, exp, objectives, with_arrays) for exp in store.experiments()]
    return [t for t in trials if t is not None]


def experiment_trial(
    store: Store, exp: st.Experiment, objectives: list[str], with_arrays: bool = False
) -> Trial | None:
    """One experiment as a planner sees it (None for those planners never see, e.g. abandoned)."""
    status = _PLANNER_STATUS.get(exp.status)
    if status is None:
        return None
    values = {name: exp.scalars[name] for name in objectives if name in exp.scalars}
    if status == COMPLETED and len(values) != len(objectives):
        status = FAILED
    measured: dict = {}
    if with_arrays and status == COMPLETED:
        axes = registry.axis_arrays()  # x axes of a measurement (two_theta), not a signal
        signals: dict[str, list] = {}
        for key, arr in store.arrays(exp.id).items():
            instrument, _, name = key.partition(".")
            measured[key] = arr
            if name not in axes:
                signals.setdefault(instrument, []).append(arr)
        for instrument, arrays in signals.items():
            if len(arrays) == 1:
                measured[instrument] = arrays[0]
    return Trial(params=exp.params, status=status, values=values, measured=measured)


#: How many of the experiments read last ``HistoryCache`` keeps whole (the ones in flight, just concluded).
_RECENT = 256


class HistoryCache:
    """The planners' history of one store, kept up to date incrementally.

    Built once from the store (start or resume), then each ``refresh`` re-reads
    only the experiments the journal names after the last entry seen: those
    the agent advanced, and any an operator approved, rejected, overrode or
    resolved meanwhile. ``trials()`` always equals ``planner_history(store)``.
    """

    def __init__(self, store: Store, objectives: list[str], with_arrays: bool = False) -> None:
        self.store = store
        self.objectives = list(objectives)
        self.with_arrays = with_arrays
        self._seq = store.last_event_seq()  # the newest entry before the full read: later ones are re-read
        self._trials: dict[int, Trial | None] = {}
        self._status: dict[int, str] = {}
        self._counts = {s: 0 for s in st.EXPERIMENT_STATUSES}
        # the visible trials in id order, and where each experiment's is: updated in place, appended,
        # or (rarely: one becomes invisible, or an older id appears late) rebuilt; ``trials()`` hands out
        # snapshots of it (constant time: the history a planner gets does not copy the store's)
        self._list = TrialLog()
        self._where: dict[int, int] = {}
        self._stale = False
        #: (value, experiment) of the best completed experiment per (objective, direction) asked for
        self._best: dict[tuple[str, str], tuple[float, int] | None] = {}
        #: the Pareto front of the completed trials per objectives asked for ((name, direction), ...)
        self._fronts: dict[tuple[tuple[str, str], ...], ParetoFront] = {}
        #: the experiments read last (as fresh as the last refresh): the runner's look-up of the one it just
        #: concluded costs no read of its own
        self._recent: dict[int, st.Experiment] = {}
        for exp in store.experiments():
            self._put(exp)

    def _put(self, exp: st.Experiment) -> None:
        if exp.id not in self._trials and self._trials and exp.id < next(reversed(self._trials)):
            self._trials = dict(sorted({**self._trials, exp.id: None}.items()))  # keep id order (rare)
            self._stale = True
        trial = experiment_trial(self.store, exp, self.objectives, self.with_arrays)
        self._trials[exp.id] = trial
        self._recent.pop(exp.id, None)
        self._recent[exp.id] = exp
        if len(self._recent) > _RECENT:
            del self._recent[next(iter(self._recent))]  # the least recently read
        if trial is None:
            self._stale = self._stale or exp.id in self._where
        elif exp.id in self._where:
            self._list[self._where[exp.id]] = trial
        elif not self._stale:
            self._where[exp.id] = len(self._list)
            self._list.append(trial)
        old = self._status.get(exp.id)
        was_completed = old == st.COMPLETED
        if old is not None:
            self._counts[old] -= 1
        self._counts[exp.status] += 1
        self._status[exp.id] = exp.status
        if was_completed:
            self._best.clear()  # completed is terminal, but a re-read must never keep a stale best
            self._fronts.clear()
        for key in self._best:
            self._consider(key, exp.id)
        if trial is not None and trial.status == COMPLETED:
            for front in self._fronts.values():
                front.add(trial.values)

    def refresh(self) -> None:
        """Take in every experiment journaled since the last refresh."""
        seq, changed = self.store.changed_experiments(self._seq)
        for eid in changed:
            try:
                self._put(self.store.experiment(eid))
            except StoreError:  # journaled but gone (never deleted today): forget it
                self._trials.pop(eid, None)
                self._recent.pop(eid, None)
                self._stale = True
                gone = self._status.pop(eid, None)
                if gone is not None:
                    self._counts[gone] -= 1
                self._best.clear()
                self._fronts.clear()
        self._seq = seq

    def experiment(self, eid: int) -> st.Experiment:
        """Experiment ``eid`` as the store holds it now (read from the store unless the refresh just read it).

        The object is shared with the cache: read it, never change it.
        """
        self.refresh()
        exp = self._recent.get(eid)
        return exp if exp is not None else self.store.experiment(eid)

    # ``refresh=False`` below: the caller refreshed a moment ago (several questions about one moment, one read)
    def trials(self, refresh: bool = True) -> HistoryView:
        """The planners' history, equal to ``planner_history(store)``.

        An immutable snapshot taken in constant time (``HistoryView``): later
        refreshes do not change it, and whoever holds it cannot change the
        cache. The trials are shared: read them, never change them.
        """
        if refresh:
            self.refresh()
        if self._stale:  # a new log: views of the old one keep it, and it never changes again
            self._list = TrialLog(t for t in self._trials.values() if t is not None)
            self._where = {eid: i for i, eid in enumerate(e for e, t in self._trials.items() if t is not None)}
            self._stale = False
        return self._list.snapshot()

    def trial(self, eid: int, refresh: bool = True) -> Trial | None:
        """Experiment ``eid`` as a planner sees it (None if planners never see it)."""
        if refresh:
            self.refresh()
        return self._trials.get(eid)

    def counts(self, refresh: bool = True) -> dict[str, int]:
        """Experiments per status, like ``Store.counts``."""
        if refresh:
            self.refresh()
        return dict(self._counts)

    def best_value(self, objective: str, direction: str, refresh: bool = True) -> float | None:
        """The best value of ``objective`` over completed experiments (as ``best_experiment`` finds it)."""
        if refresh:
            self.refresh()
        key = (objective, direction)
        if key not in self._best:  # the first time: one pass; afterwards each completion updates it
            self._best[key] = None
            for eid in self._trials:
                self._consider(key, eid)
        best = self._best[key]
        return None if best is None else best[0]

    def pareto_front_size(self, objectives: list[tuple[str, str]], refresh: bool = True) -> int:
        """How many completed trials are on the Pareto front of ``objectives`` ((name, direction), ...).

        Equals ``pareto.front_size`` of every completed trial's values; kept up to
        date one completion at a time, so asking after each experiment costs the
        same whatever the store holds.
        """
        if refresh:
            self.refresh()
        key = tuple(objectives)
        front = self._fronts.get(key)
        if front is None:  # the first time (or after a re-read of a completed one): one pass
            front = self._fronts[key] = ParetoFront([{"name": n, "direction": d} for n, d in key])
            for trial in self._trials.values():
                if trial is not None and trial.status == COMPLETED:
                    front.add(trial.values)
        return len(front)

    def _consider(self, key: tuple[str, str], eid: int) -> None:
        trial = self._trials.get(eid)
        objective, direction = key
        if self._status.get(eid) != st.COMPLETED or trial is None or objective not in trial.values:
            return
        value, best = trial.values[objective], self._best[key]
        sign = 1.0 if direction == "maximize" else -1.0
        if best is None or sign * value > sign * best[0]:
            self._best[key] = (value, eid)


def best_experiment(store: Store, objective: str, direction: str) -> st.Experiment | None:
    """The completed experiment with the best value of ``objective``."""
    done = [e for e in store.experiments((st.COMPLETED,)) if objective in e.scalars]
    if not done:
        return None
    sign = 1.0 if direction == "maximize" else -1.0
    return max(done, key=lambda e: sign * e.scalars[objective])


def last_planner_state(store: Store, planner: str) -> Any:
    """The planner state journaled with ``planner``'s most recent proposals (None if none).

    The runner writes ``Planner.state()`` into each ``planned`` event; a
    resumed agent hands it back with ``Planner.load_state`` so that its next
    proposal is exactly the one an uninterrupted agent would make (the GP
    planners warm-start their fit from it).
    """
    for ev in reversed(store.events(kind="planned")):
        data = ev["data"]
        if data.get("planner") == planner and "planner_state" in data:
            return data["planner_state"]
    return None
