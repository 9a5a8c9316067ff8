"""What an operator can do to a campaign, validated and journaled.

``OperatorDesk`` works on the campaign's store: pause, resume and abort are
recorded as requests that the runner honours at its next checkpoint;
approve, reject and override change a proposal that waits for review (or, in
unattended mode, one approved but not yet started). The control endpoint's
handler and the CLI's offline path both call this one class, so a command
means the same whether the agent is running or not.

Each public command method is listed once in ``labpilot.agent.control.commands``
(name, arguments model, retry policy, help); its keyword parameters are the
fields of that model.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Mapping

from labpilot.errors import OperatorRefused
from labpilot.agent import machine as sm
from labpilot.agent import store as st
from labpilot.agent.campaign import Campaign, parse_campaign
from labpilot.agent.report import campaign_status
from labpilot.agent.store import Store


#: Checks proposed parameters against an instrument's safety limits; returns problems.
LimitCheck = Callable[[dict[str, Any]], list[str]]


class OperatorDesk:
    """Operator commands on one campaign database (thread-safe: own connection, one lock)."""

    def __init__(self, db: str | Path, limit_check: LimitCheck | None = None) -> None:
        from labpilot.agent.store_open import open_store

        self.store = open_store(str(db))
        self.campaign: Campaign = parse_campaign(self.store.campaign()["config"], str(db))
        self.limit_check = limit_check
        self._lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    # -- reading ---------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            return campaign_status(self.store)

    def queue(self) -> dict[str, Any]:
        """Proposals awaiting review, and approved ones not started yet."""
        with self._lock:
            items = []
            for e in self.store.experiments((st.AWAITING_APPROVAL, st.APPROVED)):
                items.append({"id": e.id, "status": e.status, "params": e.params, "chosen_by": e.chosen_by,
                              "planner": e.planner, "score": e.score, "predicted": e.predicted,
                              "reason": e.reason, "created": e.created})
            return {"state": self.store.campaign()["state"], "mode": self.campaign.mode, "queue": items}

    # -- flow control ------------------------------------------------------------
    def _state(self) -> str:
        return str(self.store.campaign()["state"])

    def pause(self, now: bool = False) -> dict[str, Any]:
        with self._lock:
            state = self._state()
            if state in sm.TERMINAL:
                raise OperatorRefused(f"campaign is {state}; nothing to pause")
            if state == sm.PAUSED:
                return {"state": state, "note": "already paused"}
            self.store.request_pause(now)
            self.store.log_event("operator_pause", now=now)
            when = "at once (after the command in flight)" if now else "at the next checkpoint"
            return {"state": state, "note": f"pause requested; takes effect {when}"}

    def resume(self) -> dict[str, Any]:
        with self._lock:
            state = self._state()
            if state not in (sm.PAUSED, sm.FAULTED) and self.store.pause_request() is None:
                raise OperatorRefused(f"campaign is {state}, not paused or faulted")
            self.store.clear_pause_request()
            if state in (sm.PAUSED, sm.FAULTED):
                self.store.request_resume("operator")
            self.store.log_event("operator_resume", state=state)
            return {"state": state, "note": "resume requested"}

    def abort(self, reason: str | None = None) -> dict[str, Any]:
        with self._lock:
            state = self._state()
            if state in sm.TERMINAL:
                raise OperatorRefused(f"campaign is already {state}")
            self.store.request_abort(reason or "operator abort")
            self.store.log_event("operator_abort", reason=reason)
            return {"state": state, "note": "abort requested: instruments will be made safe"}

    # -- proposals ---------------------------------------------------------------
    def _reviewable(self, eid: int, action: str) -> st.Experiment:
        try:
            exp = self.store.experiment(eid)
        except st.StoreError:
            raise OperatorRefused(f"no experiment with id {eid}") from None
        allowed = (st.AWAITING_APPROVAL,) if action == "approve" else (st.AWAITING_APPROVAL, st.APPROVED)
        if exp.status not in allowed:
            done = {"approve": "approved", "reject": "rejected", "override": "overridden"}[action]
            raise OperatorRefused(
                f"experiment {eid} is {exp.status}; only experiments {' or '.join(allowed)} can be {done}"
            )
        return exp

    def _update(self, exp: st.Experiment, **fields: Any) -> None:
        """Change a proposal only if the agent has not started it meanwhile."""
        try:
            self.store.update_experiment(exp.id, expect=(exp.status,), **fields)
        except st.StaleExperiment as exc:
            raise OperatorRefused(f"too late: {exc}") from None

    def approve(self, id: int, reason: str | None = None) -> dict[str, Any]:  # noqa: A002 (wire field name)
        with self._lock:
            exp = self._reviewable(id, "approve")
            self._update(exp, status=st.APPROVED, reason=reason or "approved by operator", event="operator_approved")
            return {"id": id, "status": st.APPROVED}

    def reject(self, id: int, reason: str | None = None) -> dict[str, Any]:  # noqa: A002
        with self._lock:
            exp = self._reviewable(id, "reject")
            self._update(exp, status=st.REJECTED, reason=reason or "rejected by operator", event="operator_rejected")
            return {"id": id, "status": st.REJECTED}

    def override(self, id: int, values: Mapping[str, Any], reason: str | None = None) -> dict[str, Any]:  # noqa: A002
        """Replace some or all parameters of a proposal; the result is the operator's choice, approved."""
        eid = id
        with self._lock:
            exp = self._reviewable(eid, "override")
            space = self.campaign.space()
            unknown = [k for k in values if k not in space.names]
            if unknown:
                raise OperatorRefused(f"unknown parameter(s) {unknown}; parameters are {space.names}")
            params = {**exp.params, **dict(values)}
            problems = space.contains(params)
            if self.limit_check is not None and not problems:
                problems = self.limit_check(params)
            if problems:
                raise OperatorRefused("refused: " + "; ".join(problems))
            params = space.to_point(space.to_row(params))
            self._update(exp, params=params, chosen_by="operator", status=st.APPROVED, predicted=None,
                         reason=reason or "operator override", event="operator_override")
            self.store.log_event("override_detail", eid, before=exp.params, after=params)
            return {"id": eid, "status": st.APPROVED, "params": params}

    # -- the journal of operator actions -----------------------------------------
    def journal_action(self, cmd: str, args: Mapping[str, Any], actor: str | None, ok: bool,
                       error: str | None) -> None:
        """Record one operator command that changes something: who sent it, its arguments, its outcome."""
        eid = args.get("id")
        with self._lock:
            self.store.log_event("operator_action", eid if isinstance(eid, int) and ok else None,
                                 cmd=cmd, args=dict(args), actor=actor or "unknown", ok=ok, error=error)
