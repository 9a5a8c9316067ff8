"""What an operator can do to a campaign, validated and journaled.

``OperatorDesk`` works on the campaign's store: pause, resume and abort are
recorded as requests that the runner honours at its next checkpoint;
approve, reject and override change a proposal that waits for review (or, in
unattended mode, one approved but not yet started); resolve settles an
experiment whose outcome an instrument cannot tell. The control endpoint's
handler and the CLI's offline path both call this one class, so a command
means the same whether the agent is running or not.

Each public command method is listed once in ``labpilot.agent.control.commands``
(name, arguments model, retry policy, help); its keyword parameters are the
fields of that model.
"""

from __future__ import annotations

import getpass
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from labpilot.errors import OperatorRefused
from labpilot.agent import machine as sm
from labpilot.agent import store as st
from labpilot import registry
from labpilot.agent.campaign import Campaign, parse_campaign
from labpilot.agent.loop.recovery import resolve_hint, unknown_outcomes
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


#: Who sent the command being handled (``cli:user@host``, ``web:user@address``), as its request says: the
#: control endpoint runs commands in the agent's process, whose own user is not the operator's.
_ACTOR: ContextVar[str | None] = ContextVar("labpilot_operator_actor", default=None)


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Run operator commands on behalf of ``actor`` (None: this process's user), e.g. one control request."""
    token = _ACTOR.set(actor)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def _who() -> str:
    """``operator cli:alice@lab-pc``: what a command's own journal entry records as ``by``."""
    actor = _ACTOR.get()
    if actor:
        return f"operator {actor}"
    try:
        return f"operator {getpass.getuser()}"
    except Exception:  # no user name in this environment
        return "operator"


class OperatorDesk:
    """Operator commands on one campaign database (thread-safe: own connection, one lock)."""

    def __init__(self, db: str | Path, limit_check: LimitCheck | None = None) -> None:
        from labpilot.agent.store_open import open_store

        self.store = open_store(str(db))
        self.campaign: Campaign = parse_campaign(self.store.campaign()["config"], self.store.label)
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
            unknown = []
            for u in unknown_outcomes(self.store):
                e = self.store.experiment(u["experiment"])
                unknown.append({"id": e.id, "status": e.status, "params": e.params, "chosen_by": e.chosen_by,
                                "planner": e.planner, "score": e.score, "created": e.created,
                                "instrument": u["instrument"], "action": u["action"],
                                "command_id": u["command_id"], "resolve": resolve_hint(u)})
            held = self.store.campaign()
            from labpilot.agent.report import manual_steps

            from labpilot.agent.units import campaign_units

            cfg = held["config"]
            predicted = {o for item in items for o in item["predicted"] or {}}
            units = {k: u for k, u in campaign_units(cfg).items() if k in predicted}  # for the labels of predictions
            return {"state": held["state"], "mode": cfg["mode"], "queue": items, "units": units,
                    "outcome_unknown": unknown, "waiting_for_operator": manual_steps(self.store)}

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
            unknown = unknown_outcomes(self.store)
            if unknown:
                raise OperatorRefused(
                    f"cannot resume: the outcome of experiment(s) {', '.join(str(u['experiment']) for u in unknown)} "
                    f"is unknown (their instrument cannot say whether the command took effect). Check the "
                    f"instrument, then: " + "; ".join(resolve_hint(u) for u in unknown))
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
            self.campaign = parse_campaign(config, self.store.label)
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
            table = space.candidates  # a pool campaign: the operator may pick another row by its id
            names = space.names + ([table.id_name] if table is not None else [])
            unknown = [k for k in values if k not in names]
            if unknown:
                raise OperatorRefused(f"unknown parameter(s) {unknown}; parameters are {names}")
            params = {**exp.params, **dict(values)}
            if table is not None and table.id_name in values:
                row = int(table.indices([values[table.id_name]])[0])
                if row >= 0:
                    params = {**table.point(row), **{k: v for k, v in values.items() if k != table.id_name}}
                    used = [e.id for e in self.store.experiments() if e.id != eid and e.status != st.ABANDONED
                            and e.params.get(table.id_name) == params[table.id_name]]
                    if used:
                        raise OperatorRefused(f"refused: {table.id_name} {params[table.id_name]!r} is already "
                                              f"experiment {used[0]}")
            problems = space.contains(params)
            if self.limit_check is not None and not problems:
                problems = self.limit_check(params)
            if problems:
                raise OperatorRefused("refused: " + "; ".join(problems))
            if table is None:
                params = space.to_point(space.to_row(params))
            self._update(exp, params=params, chosen_by="operator", status=st.APPROVED, predicted=None,
                         reason=reason or "operator override", event="operator_override")
            self.store.log_event("override_detail", eid, before=exp.params, after=params)
            return {"id": eid, "status": st.APPROVED, "params": params}

    # -- outcomes an instrument cannot tell ------------------------------------------
    def resolve(self, id: int, made: bool = False, not_made: bool = False, failed: bool = False,  # noqa: A002
                values: Mapping[str, float] | None = None, sample: str | None = None,
                reason: str | None = None) -> dict[str, Any]:
        """Settle an experiment whose outcome is unknown, as the operator saw it on the instrument.

        ``made``: a synthesis made sample ``sample`` (the loop measures it
        next), or a measurement was taken with ``values`` (recorded as
        measured); ``not_made``: it never happened, the step is retried
        under a new command id; ``failed``: the experiment failed. Journaled
        with who said it.
        """
        eid = id
        values = dict(values or {})
        if [made, not_made, failed].count(True) != 1:
            raise OperatorRefused("resolve: say exactly one of --made, --not-made, --failed")
        with self._lock:
            try:
                exp = self.store.experiment(eid)
            except st.StoreError:
                raise OperatorRefused(f"no experiment with id {eid}") from None
            cmd = self.store.unknown_command(eid)
            if exp.status != st.OUTCOME_UNKNOWN or cmd is None:
                raise OperatorRefused(f"experiment {eid} is {exp.status}; only an experiment whose outcome is "
                                      f"unknown can be resolved")
            synthesis = cmd["action"] == "synthesize"
            instrument = cmd["instrument"]
            if not made and (values or sample):
                raise OperatorRefused("--value and --sample describe what was made; they go with --made only")
            who = _who()
            said = "made" if made else "not_made" if not_made else "failed"
            note = {"by": who, "resolution": said, "instrument": instrument, "action": cmd["action"],
                    "reason": reason}
            if failed:
                step = "synthesis" if synthesis else "measurement"
                error = f"{instrument}: operator said the {step} failed" + (f": {reason}" if reason else "")
                fields: dict[str, Any] = {"status": st.FAILED, "error": error}
                self._settle(cmd, eid, "failed", {"error": error}, fields, note)
            elif not_made:
                # The step is retried under a new command id (the loop counts the not-made ones).
                back = st.APPROVED if synthesis else st.MEASURING
                self._settle(cmd, eid, "not_made", {"by": who}, {"status": back}, note)
            elif synthesis:
                if values:
                    raise OperatorRefused("--value is for a measurement; experiment "
                                          f"{eid} waits on a synthesis ({instrument}): give --sample SAMPLE_ID")
                if not sample:
                    raise OperatorRefused(f"experiment {eid}: a synthesis that was made needs the sample's id: "
                                          f"--made --sample SAMPLE_ID")
                self._settle(cmd, eid, "done", {"sample_id": sample, "info": {"resolved_by": who}},
                             {"status": st.SYNTHESIZED, "sample_id": sample}, {**note, "sample": sample})
            else:
                if sample:
                    raise OperatorRefused(f"--sample is for a synthesis; experiment {eid} waits on a "
                                          f"measurement ({instrument}) of sample {exp.sample_id}")
                declared = self._declared_scalars(instrument)
                if not values:
                    raise OperatorRefused(
                        f"experiment {eid}: a measurement that was made needs its values: --value NAME=NUMBER "
                        f"({instrument} measures {', '.join(declared) or 'no scalars'}); or --not-made to "
                        f"measure again")
                unknown = [k for k in values if k not in declared]
                if unknown:
                    raise OperatorRefused(f"values.{unknown[0]}: {instrument} does not measure {unknown[0]!r}; "
                                          f"it measures {', '.join(declared) or 'no scalars'}")
                scalars = {k: float(v) for k, v in values.items()}
                self._settle(cmd, eid, "done", {"scalars": scalars, "arrays": [], "resolved_by": who},
                             {"status": st.MEASURING}, {**note, "values": scalars},
                             scalars=scalars, measured_on=instrument)
            status = self.store.experiment(eid).status
            left = [u["experiment"] for u in unknown_outcomes(self.store)]
            text = f"experiment {eid} resolved {said.replace('_', '-')}: now {status}"
            text += (f"; still unknown: {', '.join(map(str, left))}" if left
                     else "; `labpilot resume` continues the campaign")
            return {"id": eid, "status": status, "resolution": said, "note": text, "outcome_unknown": left}

    def _declared_scalars(self, instrument: str) -> list[str]:
        specs = {spec.name: spec for spec in self.campaign.instruments}
        spec = specs.get(instrument)
        # a generic kind (command, python, manual) measures what its options declare
        return list(registry.measured_scalars(spec.kind, spec.options)) if spec is not None else []

    def _settle(self, cmd: dict[str, Any], eid: int, command_status: Any, result: dict[str, Any],
                fields: dict[str, Any], note: dict[str, Any], **extra: Any) -> None:
        try:
            self.store.resolve_outcome(cmd["id"], eid, command_status=command_status, result=result,
                                       experiment=fields, **extra, **note)
        except st.StaleExperiment as exc:
            raise OperatorRefused(f"too late: {exc}") from None

    # -- the journal of operator actions -----------------------------------------
    def journal_action(self, cmd: str, args: Mapping[str, Any], actor: str | None, ok: bool,
                       error: str | None) -> None:
        """Record one operator command that changes something: who sent it, its arguments, its outcome."""
        eid = args.get("id")
        with self._lock:
            self.store.log_event("operator_action", eid if isinstance(eid, int) and ok else None,
                                 cmd=cmd, args=dict(args), actor=actor or "unknown", ok=ok, error=error)
