"""A completed campaign resumed with a larger budget continues; a budget that adds nothing says so.

A campaign completes when its budget (``budget.max_experiments``) is used.
A user who resumes it with ``--max-experiments M`` (or, with
``--accept-changes``, a campaign file whose ``[budget] max_experiments`` is
M) wants it continued to M experiments: the budget is applied and journaled
(``settings_changed`` / ``config_changed``), the campaign leaves
``completed`` for ``planning`` (journaled ``budget_raised`` and a ``state``
event with that trigger), and the run says ``budget raised from N to M;
continuing``. A budget no larger than the experiments already used changes
nothing, and the run says so instead of ignoring it; so does a raised budget
whose deadline has passed (the campaign would complete again at once).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from labpilot.agent import machine as sm
from labpilot.agent import store as st
from labpilot.agent.campaign import Campaign
from labpilot.agent.store import Store


def budget_used(counts: Mapping[str, int]) -> int:
    """Experiments that count against the budget: finished, in flight, waiting for approval or unknown."""
    return (counts.get(st.COMPLETED, 0) + counts.get(st.FAILED, 0) + sum(counts.get(s, 0) for s in st.IN_FLIGHT)
            + counts.get(st.AWAITING_APPROVAL, 0) + counts.get(st.OUTCOME_UNKNOWN, 0))


def changes_nothing(name: str, used: int, given: str) -> str:
    """What a budget that does not exceed the experiments used says on a completed campaign."""
    return (f"campaign {name!r} is already complete at {used} experiments: {given} changes nothing "
            f"(a budget above {used} continues it)")


def reopen_if_raised(store: Store, held: dict[str, Any], campaign: Campaign, used: int,
                     say: Callable[[str], None]) -> None:
    """After a completed campaign's settings were reconciled: continue it if its budget now exceeds ``used``."""
    old = held["config"]["budget"]["max_experiments"]
    new = campaign.budget.max_experiments
    if new == old:
        return  # no budget change (a flag that changed nothing was said so when it was read)
    if new <= used:
        say(changes_nothing(campaign.name, used, f"budget.max_experiments {new}"))
        return
    deadline = campaign.budget.deadline
    if deadline is not None and campaign.budget.deadline_passed():
        say(f"campaign {campaign.name!r} is complete: budget raised from {old} to {new}, but its deadline "
            f"{deadline.isoformat()} has passed; give a later --deadline to continue")
        return
    store.log_event("budget_raised", **{"from": old, "to": new, "used": used})
    store.set_state(sm.PLANNING, trigger="budget_raised")
    say(f"budget raised from {old} to {new}; continuing")


__all__ = ["budget_used", "changes_nothing", "reopen_if_raised"]
