"""Turn the store's experiments into the planners' history.

The store is the single source of truth; planners get a fresh history on
every call, so a restarted agent proposes exactly as an uninterrupted one.
"""

from __future__ import annotations

from agent import store as st
from agent.store import Store
from planners.base import COMPLETED, FAILED, PENDING, REJECTED, Trial

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
}


def planner_history(store: Store, objectives: list[str], with_arrays: bool = False) -> list[Trial]:
    """Every experiment a planner should know about, as ``Trial`` objects.

    A completed experiment missing an objective value is reported as failed.
    With ``with_arrays``, measured arrays (e.g. ``xrd.counts``) are attached
    under the instrument name, for planners that model measured descriptors.
    """
    trials: list[Trial] = []
    for exp in store.experiments():
        status = _PLANNER_STATUS.get(exp.status)
        if status is None:
            continue
        values = {name: exp.scalars[name] for name in objectives if name in exp.scalars}
        if status == COMPLETED and len(values) != len(objectives):
            status = FAILED
        measured = {}
        if with_arrays and status == COMPLETED:
            for key, arr in store.arrays(exp.id).items():
                instrument, _, name = key.partition(".")
                if name == "counts":
                    measured[instrument] = arr
                measured[key] = arr
        trials.append(Trial(params=exp.params, status=status, values=values, measured=measured))
    return trials


def best_experiment(store: Store, objective: str, direction: str) -> st.Experiment | None:
    """The completed experiment with the best value of ``objective``."""
    done = [e for e in store.experiments((st.COMPLETED,)) if objective in e.scalars]
    if not done:
        return None
    sign = 1.0 if direction == "maximize" else -1.0
    return max(done, key=lambda e: sign * e.scalars[objective])
