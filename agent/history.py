"""Turn the store's experiments into the planners' history.

The store is the single source of truth; planners get a fresh history on
every call, so a restarted agent proposes exactly as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

from labpilot import registry
from labpilot.agent import store as st
from labpilot.agent.store import Store
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
