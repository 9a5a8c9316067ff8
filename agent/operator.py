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

import getpass
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


def after_mode_switch(store: Store, mode: str, by: str) -> list[int]:
    """A switch to unattended approves what waits for review (nothing would ever approve it); return their ids."""
    if mode != "unattended":
        return []
    approved = []
    for exp in store.experiments((st.AWAITING_APPROVAL,)):
        try:
            store.update_experiment(exp.id, status=st.APPROVED, expect=(st.AWAITING_APPROVAL,),
                                    reason=f"mode switched to unattended by {by}", event="approved_by_mode_switch")
            approved.append(exp.id)
        except st.StaleExperiment:
            pass
    return approved


def _who() -> str:
    try:
        return f"operator {getpass.getuser()}"
    except Exception:  # no user name in this environment
        return "operator"


class OperatorDesk:
    """Operator commands on one campaign database (thread-safe: own connection, one lock)."""

    def __init__(self, db: str | Path, limit_check: LimitCheck | None = None) -> None:
        self.store = Store.open(db)
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
                              "planner": e.planner, "score": e.score, "created": e.created})
            held = self.store.campaign()
            from labpilot.agent.report import manual_steps

            return {"state": held["state"], "mode": held["config"]["mode"], "queue": items,
                    "waiting_for_operator": manual_steps(self.store)}

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

    def _bulk(self, ids: list[int], all: bool, action: str) -> list[st.Experiment]:  # noqa: A002
        """The proposals named (or all waiting, with ``all``), each checked before any is changed."""
        ids = list(ids or [])
        if all and ids:
            raise OperatorRefused(f"{action}: give experiment ids or --all, not both")
        if all:
            found = self.store.experiments((st.AWAITING_APPROVAL,))
            return found
        if not ids:
            raise OperatorRefused(f"{action}: give at least one experiment id, or --all")
        return [self._reviewable(eid, action) for eid in dict.fromkeys(ids)]

    def _decide(self, ids: list[int], all: bool, reason: str | None, action: str,  # noqa: A002
                status: str, event: str) -> dict[str, Any]:
        if not all and not ids:
            raise OperatorRefused(f"{action}: give at least one experiment id, or --all")
        with self._lock:
            exps = self._bulk(ids, all, action)
            done, too_late = [], []
            for exp in exps:
                try:
                    self._update(exp, status=status, reason=reason or f"{status} by operator", event=event)
                    done.append(exp.id)
                except OperatorRefused as exc:
                    too_late.append(f"{exp.id} ({exc})")
            if not exps:
                note = "nothing waits for review"
            else:
                note = ("nothing changed" if not done else f"experiment {done[0]} is now {status}" if len(done) == 1
                        else f"experiments {', '.join(map(str, done))} are now {status}")
                if too_late:
                    note += "; not changed: " + "; ".join(too_late)
            out: dict[str, Any] = {"ids": done, "status": status, "note": note}
            if len(done) == 1:
                out["id"] = done[0]
            return out

    def approve(self, id: int | None = None, ids: list[int] | None = None, all: bool = False,  # noqa: A002
                reason: str | None = None) -> dict[str, Any]:
        """Approve proposals: ``id``, some ``ids``, or ``all`` that wait for review."""
        return self._decide(([id] if id is not None else []) + list(ids or []), all, reason, "approve", st.APPROVED, "operator_approved")

    def reject(self, id: int | None = None, ids: list[int] | None = None, all: bool = False,  # noqa: A002
               reason: str | None = None) -> dict[str, Any]:
        """Reject proposals: ``id``, some ``ids``, or ``all`` that wait for review."""
        return self._decide(([id] if id is not None else []) + list(ids or []), all, reason, "reject", st.REJECTED, "operator_rejected")

    def mode(self, mode: str) -> dict[str, Any]:
        """Switch between unattended and supervised, running or stopped (journaled with who and when)."""
        with self._lock:
            held = self.store.campaign()
            if held["state"] in sm.TERMINAL:
                raise OperatorRefused(f"campaign is {held['state']}; its mode no longer matters")
            config = held["config"]
            old = config["mode"]
            if old == mode:
                return {"mode": mode, "note": f"already {mode}"}
            config["mode"] = mode
            who = _who()
            self.store.update_config(config, event="mode_changed", by=who, changes=[["mode", old, mode]])
            self.campaign = parse_campaign(config, str(self.store.path))
            approved = after_mode_switch(self.store, mode, by=who)
            note = f"mode {old} -> {mode}"
            if approved:
                note += f"; approved the waiting proposal(s) {', '.join(map(str, approved))}"
            return {"mode": mode, "note": note, "approved": approved}

    def done(self, id: int, values: Mapping[str, Any], instrument: str | None = None,  # noqa: A002
             failed: bool = False, reason: str | None = None) -> dict[str, Any]:
        """Confirm a manual step of experiment ``id`` (with its values), or say it could not be done.

        The confirmation is journaled (``manual_done``) with who gave it; the
        ``manual`` driver waiting for it reads it from the journal, so this
        works the same through the running agent or on the database alone.
        """
        from labpilot.drivers.generic.manual import check_values, confirm_step, pending_steps

        eid = id
        with self._lock:
            waiting = pending_steps(self.store)
            mine = [s for s in waiting if s["experiment"] == eid
                    and (instrument is None or s.get("instrument") == instrument)]
            if not mine:
                others = ", ".join(f"experiment {s['experiment']} on {s.get('instrument')}" for s in waiting)
                raise OperatorRefused(f"experiment {eid} has no manual step waiting"
                                      + (f" on {instrument}" if instrument else "")
                                      + f"; waiting: {others or 'none'}")
            if len(mine) > 1:
                names = ", ".join(str(s.get("instrument")) for s in mine)
                raise OperatorRefused(f"experiment {eid} waits on several manual steps ({names}): "
                                      "name one with --instrument")
            step = mine[0]
            if failed:
                if values:
                    raise OperatorRefused("--failed takes no --value (the step was not done)")
                checked: dict[str, float] = {}
            else:
                checked = check_values(step, values)
            who = _who()
            confirm_step(self.store, step, checked, by=who, failed=failed, reason=reason)
            verb = "could not be done" if failed else "is done"
            shown = "".join(f" {k}={v:g}" for k, v in checked.items())
            return {"id": eid, "instrument": step.get("instrument"), "command_id": step["command_id"],
                    "values": checked, "failed": failed, "by": who,
                    "note": f"manual step {step.get('action')} of experiment {eid} on {step.get('instrument')} "
                            f"{verb}{shown} (recorded by {who})"}

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
            self._update(exp, params=params, chosen_by="operator", status=st.APPROVED,
                         reason=reason or "operator override", event="operator_override")
            self.store.log_event("override_detail", eid, before=exp.params, after=params)
            return {"id": eid, "status": st.APPROVED, "params": params}
