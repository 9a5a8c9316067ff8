"""The closed loop: plan → synthesize → measure → learn.

``CampaignRunner`` drives one campaign's state machine. Every decision is
written to the store before the agent acts on it, and every instrument command
carries an id journaled before it is sent, so a runner started on an existing
database picks up exactly where the last one stopped: experiments in flight
are reconciled with the instruments by command id, never made twice. An
instrument that cannot reconcile never gets a command again whose outcome is
unknown: the experiment becomes ``outcome_unknown`` and the campaign faults
until an operator settles it (``labpilot resolve``; see ``loop.recovery``).

Operators talk to the runner only through the store (pause, resume and
abort requests through its typed request methods, approvals in the experiments
table), which the runner reads at checkpoints.

The runner keeps the loop and its decisions; instrument commands run on an
``InstrumentWorker`` (watchdog), a synthesis started ahead lives in a
``SynthesisPipeline``, the ``on_fault`` hook and progress lines have their own
modules. With ``[execution] parallel`` > 1 the steps are taken by a
``BatchScheduler`` (``loop.batch``: several experiments in flight at once),
which uses the runner's journaling, planning, fault and learning methods.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import logging
import time
from typing import Any, Callable

from labpilot.errors import InstrumentError, OutcomeUnknown, PlannerDone, PlannerError, SafetyLimitError, Stop
from labpilot.agent import machine as sm
from labpilot.agent import store as st
from labpilot.agent.campaign import Campaign, InstrumentSpec
from labpilot.agent.history import HistoryCache, last_planner_state
from labpilot.agent.jsonable import to_jsonable
from labpilot.agent.formatting import fmt_params
from labpilot.agent.loop.batch import BatchScheduler
from labpilot.agent.loop.fault_hook import run_fault_hook
from labpilot.agent.loop.heap import frozen_heap
from labpilot.agent.loop.completed_budget import budget_used  # the count a resumed budget compares with
from labpilot.agent.loop.pipeline import SynthesisPipeline
from labpilot.agent.loop.planning import PlanningWorker
from labpilot.agent.loop.progress import Progress
from labpilot.agent.loop.recovery import describe as describe_unknown, reconciles, resolve_hint, unknown_outcomes
from labpilot.agent.loop.worker import InstrumentWorker, watchdog_real_s
from labpilot.agent.machine import CampaignMachine
from labpilot.agent.store import Store

from labpilot.planners.base import Planner, Proposal, make_planner
from labpilot.planners.prior import load_priors
from labpilot.planners.random_planner import initial_design
from labpilot.protocols.capabilities import Instrument, Measurer, Sample, Synthesizer

log = logging.getLogger("labpilot.agent")

#: The statuses of experiments not concluded yet: what a step looks at.
_OPEN = st.IN_FLIGHT + (st.AWAITING_APPROVAL, st.OUTCOME_UNKNOWN)

#: Planners that model measured arrays (XRD patterns...) need them in the history.
_ARRAY_PLANNERS = {"used", "boed"}


class _ExperimentFailed(Exception):
    """An instrument with ``options.on_error = "fail"`` failed this experiment (journaled); the loop goes on."""


class CampaignRunner:
    """Runs one campaign against connected instruments."""

    def __init__(
        self,
        campaign: Campaign,
        store: Store,
        instruments: dict[str, Instrument],
        *,
        progress: Callable[[Progress], None] | None = None,
        poll_s: float = 0.2,
        speed: float = 1.0,
        notice: Callable[[str], None] | None = None,
        on_state: Callable[[str, str], None] | None = None,
    ) -> None:
        self.campaign = campaign
        self.speed = speed
        # Instrument commands run on one worker thread, so that the loop can
        # honour `pause --now`, abort and the watchdog while a command is in flight.
        self._worker = InstrumentWorker(poll_s, self._watchdog_real_s(), campaign.faults.watchdog_s)
        # Pipelining: the next sample's synthesis, started while the current one is measured.
        self._pipeline = SynthesisPipeline()
        # Planning on its own thread, so that `pause --now` and abort never wait for a slow planner.
        self._planning = PlanningWorker(poll_s)
        self.notice = notice or (lambda line: None)
        self.on_state = on_state
        self._started = time.monotonic()
        self._done_at_start = 0
        self._plan_s = 0.0  # planning time since the last finished experiment
        self._instrument_s = 0.0  # instrument time of the experiment being finished
        self._announced: set[int] = set()  # proposals already printed as waiting for review
        self.store = store
        self.instruments = instruments
        #: Which instruments may be asked what became of a command id (the others never get one twice).
        self._reconciles = {spec.name: reconciles(spec) for spec in campaign.instruments}
        self.progress = progress
        self.poll_s = poll_s
        self.uid = store.campaign()["uid"]
        self.objective_names = [o.name for o in campaign.objectives]
        state = store.campaign()["state"]
        self.made_safe: list[str] = []
        self.machine = CampaignMachine(initial=state, on_change=self._journal_transition)
        resume_to = store.resume_to()
        if resume_to:
            self.machine.resume_to = resume_to
        self.planner: Planner = make_planner(
            campaign.planner.name, campaign.space(), campaign.planner_objectives(),
            seed=campaign.seed, options=campaign.planner.options,
            priors=load_priors(campaign.prior, campaign.space(), campaign.planner_objectives()),
        )
        # a resumed agent warm-starts from the state journaled with the last proposals
        self.planner.load_state(last_planner_state(store, self.planner.name))
        self._step_started = time.monotonic()
        self._config = store.campaign()["config"]
        self._config_text = store.config_text()
        # The planners' history, read once and then brought up to date from the journal each step.
        self._history = HistoryCache(store, self.objective_names,
                                     with_arrays=self.campaign.planner.name in _ARRAY_PLANNERS)
        self._known: tuple[int, dict[str, dict[str, Any]]] | None = None  # see _known_commands
        self._checked: set[tuple[str, int, type]] = set()  # see _instrument
        self._specs_of: Campaign | None = None  # see _synthesizer_spec
        self._specs: tuple[InstrumentSpec, list[InstrumentSpec]]
        #: Parallel execution (``[execution] parallel`` > 1): several experiments in flight at once.
        self._batch = BatchScheduler(self) if campaign.execution.parallel > 1 else None

    def _reload_config(self, text: str | None = None) -> None:
        """Pick up settings changed while running (``labpilot mode``, a resumed run's flags).

        Only budget, mode, supervision and fault policy can change mid-campaign
        (``reconfigure.MUTABLE``); the planner and the space never do.
        ``text``: the stored settings as read a moment ago (else read now).
        """
        text = self.store.config_text() if text is None else text
        if text == self._config_text:  # unchanged (the usual case): nothing to decode
            return
        self._config_text = text
        config = json.loads(text)
        if config == self._config:
            return
        from labpilot.agent.campaign import parse_campaign

        self.campaign = parse_campaign(config, self.store.label)
        self._config = config
        self._worker.watchdog_real_s = self._watchdog_real_s()
        self._worker.watchdog_s = self.campaign.faults.watchdog_s
        log.info("settings changed: mode %s, budget %d", self.campaign.mode, self.campaign.budget.max_experiments)

    # -- journal -----------------------------------------------------------
    def _journal_transition(self, old: str, new: str, trigger: str) -> None:
        self.store.set_state(new, previous=old, trigger=trigger)
        if new in (sm.PAUSED, sm.FAULTED):
            self.store.set_resume_to(self.machine.resume_to)
        log.info("state %s -> %s (%s)", old, new, trigger)
        if self.on_state is not None:
            self.on_state(old, new)

    @property
    def state(self) -> str:
        return self.machine.state

    # -- the loop ----------------------------------------------------------
    def run(self) -> str:
        """Run until completed, aborted, paused or faulted; return the final state."""
        with frozen_heap():  # the history read at the start is out of the collector's way (heap.py)
            return self._run()

    def _run(self) -> str:
        self._connect()
        c = self.store.counts()
        self._done_at_start = c[st.COMPLETED] + c[st.FAILED]
        try:
            self._recover_unknown_outcomes()
        except Stop:
            pass
        if self.state == sm.IDLE:
            self.machine.start()
        elif self.state in (sm.PAUSED, sm.FAULTED):
            self._wait_while_held()
        try:
            while self.state not in sm.TERMINAL:
                try:
                    # in parallel, a deferred pause waits for the commands running (the scheduler decides)
                    # the checkpoint's read brings the settings too: the step starts from that one moment
                    config_text = self._checkpoint(immediate_only=self._batch is not None, config=True)
                    self._step(config_text)
                except Stop:
                    if self.state in (sm.PAUSED, sm.FAULTED):
                        self._wait_while_held()
        except st.StoreUnavailable:
            # The journal cannot be written: stop acting, but leave every instrument safe.
            # (Nothing can be journaled now; the instruments keep their outcomes for the resume.)
            self.made_safe = self._make_all_safe(journal=False)
            raise
        finally:
            self._worker.shutdown()
            self._pipeline.shutdown()
            if self._batch is not None:
                self._batch.shutdown()
            # a planning step abandoned by abort runs on as a daemon thread: nothing waits for it
            self._planning.shutdown()
        return self.state

    def _connect(self) -> None:
        for name, inst in self.instruments.items():
            ident = inst.identify()
            self.store.log_event("instrument_connected", instrument=name, identity=ident)

    def _recover_unknown_outcomes(self) -> None:
        """At start: a command sent but never finished, on an instrument that cannot reconcile, waits for an operator.

        Nothing is resent and no instrument is touched (making it safe could
        abort the very step the operator is asked about): the experiment
        becomes ``outcome_unknown`` and the campaign faults, naming it.
        """
        marked = []
        for cmd in self.store.commands("sent"):
            name, eid = cmd["instrument"], cmd["experiment_id"]
            if self._reconciles.get(name, True) or eid is None:
                continue
            if self.store.experiment(eid).status not in (st.SYNTHESIZING, st.MEASURING):
                continue
            self.store.mark_outcome_unknown(
                cmd["id"], eid, why=f"{name} cannot say what became of command {cmd['id']} ({cmd['action']}), "
                                    f"sent before the agent stopped and never finished")
            marked.append(eid)
        try:
            if marked:
                self._fault_unknown(make_safe=False)
            for item in unknown_outcomes(self.store):  # left unknown by an earlier run: say what waits
                self.notice(f"exp {item['experiment']} outcome unknown: {resolve_hint(item)}")
        finally:  # journaled last: once it is there, the campaign's state says what recovery found
            waiting = [u["experiment"] for u in unknown_outcomes(self.store)]
            self.store.log_event("recovery", marked_unknown=marked, outcome_unknown=waiting)

    def _fault_unknown(self, make_safe: bool = True) -> None:
        """Fault the campaign, naming every experiment whose outcome waits for ``labpilot resolve``."""
        items = unknown_outcomes(self.store)
        detail = describe_unknown(items)
        for item in items:
            self.notice(f"exp {item['experiment']} outcome unknown ({item['action']} on {item['instrument']}): "
                        f"{resolve_hint(item)}")
        self._fault(str(items[0]["instrument"]), OutcomeUnknown([i["experiment"] for i in items], detail),
                    items[0]["experiment"], make_safe=make_safe, unknown=[i["experiment"] for i in items])

    def _checkpoint(self, immediate_only: bool = False, config: bool = False) -> str | None:
        """Honour abort and pause requests.

        Between steps every request counts; while an instrument command is in
        flight (``immediate_only``) only aborts and ``pause --now`` do.
        ``config``: read the stored settings' text in the same query and return it.
        """
        if config:
            reason, pause, text = self.store.requests_and_config()
        else:
            (reason, pause), text = self.store.requests(), None
        if reason is not None:
            self._abort(reason)
            raise Stop
        if pause is not None and (pause == "now" or not immediate_only):
            self.store.clear_pause_request()
            self.machine.pause()
            if self._worker.busy() or (self._batch is not None and self._batch.running):
                self.store.log_event("paused_in_flight", note="the command in flight is reconciled on resume")
            raise Stop
        if immediate_only and self._batch is not None and self.state == sm.PLANNING:
            self._batch.service(learn=False)  # while the planner thinks, the instruments keep working
        return text

    def wait_in_flight(self, timeout_s: float) -> bool:
        """On a graceful stop: let the instrument command in flight finish (True if none is left).

        Its outcome stays with the instrument, and a resume reconciles it by id.
        """
        futures = [f for f in (self._worker.in_flight, self._pipeline.future()) if f is not None]
        if self._batch is not None:
            futures += self._batch.futures()
        done, pending = cf.wait(futures, timeout=timeout_s)
        return not pending

    def _wait_while_held(self) -> str:
        """In paused/faulted: wait for resume or abort requests."""
        log.warning("campaign is %s; waiting for `labpilot resume` or `labpilot abort`", self.state)
        while True:
            reason = self.store.abort_request()
            if reason is not None:
                self._abort(reason)
                return self.state
            if self.store.resume_requested():
                self.store.clear_resume_request()
                unknown = unknown_outcomes(self.store)
                if unknown:  # the operator desk refuses this resume; an old client may still have asked
                    self.store.log_event("resume_refused", outcome_unknown=[u["experiment"] for u in unknown])
                    self.notice("resume refused: " + "; ".join(resolve_hint(u) for u in unknown))
                    continue
                self.store.clear_pause_request()
                self.store.set_fault(None)
                self._worker.settle()
                if self._batch is not None:
                    self._batch.settle()
                self._planning.settle()
                self.machine.resume()
                return self.state
            time.sleep(self.poll_s)

    def _abort(self, reason: str) -> None:
        self.store.clear_abort_request()
        self._make_all_safe()
        for exp in self.store.experiments(st.IN_FLIGHT + (st.AWAITING_APPROVAL, st.OUTCOME_UNKNOWN)):
            self.store.update_experiment(exp.id, status=st.ABANDONED, reason=f"aborted: {reason}", event="abandoned")
        self.machine.abort()
        self.store.log_event("aborted", reason=reason)

    def _make_all_safe(self, journal: bool = True) -> list[str]:
        """Make every instrument safe, each tried even if another fails; return the names made safe."""
        safe = []
        for name, inst in self.instruments.items():
            try:
                inst.make_safe()
                safe.append(name)
                if journal:
                    self.store.log_event("made_safe", instrument=name)
            except Exception as exc:  # keep going: every other instrument must still be made safe
                if journal:
                    self.store.log_event("make_safe_failed", instrument=name, error=str(exc))
                log.error("could not make %s safe: %s", name, exc)
        return safe

    def _fault(self, instrument: str, error: Exception, eid: int | None, *, make_safe: bool = True,
               unknown: list[int] | None = None) -> None:
        fault: dict[str, Any] = {"instrument": instrument, "error": f"{type(error).__name__}: {error}",
                                 "experiment": eid}
        if unknown:
            fault["outcome_unknown"] = unknown
        self.store.set_fault(fault)
        self.store.log_event("fault", eid, **fault)
        if self.state != sm.FAULTED:
            self.machine.fault()
        if make_safe:
            self._make_all_safe()
        if self.campaign.faults.on_fault:
            run_fault_hook(self.campaign.faults.on_fault, fault, self.store)
        raise Stop

    # -- one step ------------------------------------------------------------
    def _step(self, config_text: str | None = None) -> None:
        self._reload_config(config_text)
        # every experiment not yet concluded, in one read (in id order): what the step acts on
        open_ = self.store.experiments(_OPEN)
        if any(e.status == st.OUTCOME_UNKNOWN for e in open_):
            self._fault_unknown()  # never past an unknown outcome (resume is refused while one waits)
        if self._batch is not None:
            self._batch.step()
            return
        active = [e for e in open_ if e.status in st.IN_FLIGHT]
        if active:
            self._advance(active[0])
            return
        if any(e.status == st.AWAITING_APPROVAL for e in open_):
            self._await_approval()
            return
        if self._budget_left() <= 0 or self._past_deadline():
            self._finish()
            return
        self._plan(refreshed=True)

    def _finish(self) -> None:
        """The budget or the deadline is reached and nothing is in flight: the campaign is completed."""
        if self.state != sm.LEARNING:
            self.machine.enter(sm.PLANNING)
        self.machine.finish()
        self.store.log_event("completed", counts=self.store.counts())

    def _budget_left(self, refresh: bool = True) -> int:
        return self.campaign.budget.max_experiments - budget_used(self._history.counts(refresh))

    def _past_deadline(self) -> bool:
        if self.campaign.budget.deadline_passed():
            self.store.log_event("deadline_reached", deadline=str(self.campaign.budget.deadline))
            return True
        return False

    def _plan(self, ahead: bool = False, refreshed: bool = False) -> None:
        """Propose the next experiment(s); ``ahead``: while another is still being measured (pipelining).

        ``refreshed``: the caller brought the history up to date a moment ago (``_budget_left``).
        """
        self.machine.enter(sm.PLANNING)
        history = self._history.trials(refresh=False) if refreshed else self._history.trials()
        counts = self._history.counts(refresh=False)  # the same moment as ``history``
        n_done = sum(counts.values()) - counts[st.REJECTED] - counts[st.ABANDONED]  # finished or pending
        initial = n_done < self.campaign.initial_design
        k = min(self._budget_left(refresh=False),
                self.campaign.initial_design - n_done if initial else self.campaign.planner.batch_size)
        planner_name = "space-filling" if initial else self.planner.name
        chosen_by = "initial" if initial else "planner"
        started = time.monotonic()
        try:
            if initial:
                # Space-filling, and clear of every point already measured, pending or rejected.
                points = initial_design(self.campaign.space(), k, self.campaign.seed,
                                        taken=[t.params for t in history])
                proposals = [Proposal(p) for p in points]
            else:
                # On the planning thread: an abort or `pause --now` meanwhile raises Stop here,
                # and the abandoned proposals are never written.
                proposals = self._planning.run(lambda: self.planner.propose(history, k),
                                               on_poll=lambda: self._checkpoint(immediate_only=True))
        except PlannerError as exc:
            if ahead:  # decided when the experiment in flight is done, by the ordinary planning step
                return
            self._planner_stopped(planner_name, exc)
            return
        self._reload_config()  # the mode may have been switched while the planner ran
        status = st.AWAITING_APPROVAL if self.campaign.mode == "supervised" else st.APPROVED
        seconds = time.monotonic() - started
        self._plan_s += seconds
        extra = {} if initial else {"planner_state": self.planner.state()}
        with self.store.atomic():  # the proposals, the planner's state and the state they lead to: one commit
            for p in proposals:
                self.store.add_experiment(p.params, status, chosen_by, planner=planner_name, score=p.score,
                                          reason=p.note or None, predicted=p.predicted)
            self.store.log_event("planned", planner=planner_name, k=len(proposals), ahead=ahead,
                                 seconds=round(seconds, 3), **extra)
            if status == st.AWAITING_APPROVAL:
                self.machine.propose()
            if self._batch is not None:
                self._batch.working()  # commands still running: back to measuring, in this same commit

    def _planner_stopped(self, planner_name: str, exc: PlannerError) -> None:
        """A planner that reached its goal completes the campaign; any other planner error faults it."""
        if isinstance(exc, PlannerDone):
            self.store.log_event("planner_done", planner=planner_name, reason=str(exc))
            log.warning("planner %s is done: %s", planner_name, exc)
            self.machine.finish()
            return
        # e.g. the pool is used up: an operator must decide
        log.error("planner %s cannot propose: %s", planner_name, exc)
        self._fault("planner", exc, None)

    def _await_approval(self) -> None:
        """Supervised mode: wait for an operator decision (or the auto-approval timeout)."""
        self.machine.enter(sm.AWAITING_APPROVAL)
        before = {e.id for e in self.store.experiments((st.AWAITING_APPROVAL,))}
        while True:
            self._reload_config(self._checkpoint(config=True))
            if self.campaign.mode == "unattended":  # switched while these waited: nobody will review them
                from labpilot.agent.operator import after_mode_switch

                after_mode_switch(self.store, "unattended", by="the agent (mode is unattended)")
            waiting = self.store.experiments((st.AWAITING_APPROVAL,))
            self._announce(waiting)
            for eid in sorted(before - {e.id for e in waiting}):
                self._echo_decision(eid)
            before = {e.id for e in waiting}
            if not waiting:
                break
            self._auto_approve(waiting)
            if self.store.experiments(st.IN_FLIGHT):
                break
            time.sleep(self.poll_s)
        still = {e.id for e in self.store.experiments((st.AWAITING_APPROVAL,))}
        for eid in sorted(before - still):
            self._echo_decision(eid)
        if self.store.experiments(st.IN_FLIGHT):
            self.machine.approve()
        else:
            self.machine.reject()

    def _auto_approve(self, waiting: list[st.Experiment]) -> None:
        """Approve what waited longer than ``supervision.approval_timeout_s`` (if set)."""
        timeout = self.campaign.supervision.approval_timeout_s
        if timeout is None:
            return
        for exp in waiting:
            if time.time() - exp.created >= timeout:
                self.store.update_experiment(exp.id, status=st.APPROVED, event="auto_approved",
                                             reason=f"no operator decision within {timeout:g}s")

    def _announce(self, waiting: list[st.Experiment]) -> None:
        """Supervised: say once what waits for review, and how to decide."""
        new = [e for e in waiting if e.id not in self._announced]
        if not new:
            return
        self._announced.update(e.id for e in new)
        for e in new:
            params = fmt_params(e.params, sep=" ")  # optimizer round-off (Ni=4.9e-15) reads 0
            self.notice(f"waiting for review: exp {e.id} ({e.chosen_by}) {params}")
        db = self.store.label
        self.notice(f"  decide with: labpilot approve {' '.join(str(e.id) for e in new)} --db {db}  "
                    f"(or reject / override / approve --all)")

    def _echo_decision(self, eid: int) -> None:
        exp = self.store.experiment(eid)
        self.notice(f"exp {eid} {exp.status}" + (f": {exp.reason}" if exp.reason else ""))

    def _advance(self, exp: st.Experiment) -> None:
        """Take one in-flight experiment as far as it goes (a failed one, ``on_error = "fail"``: no further)."""
        try:
            self._advance_steps(exp)
        except _ExperimentFailed:
            self.machine.enter(sm.LEARNING)

    def _advance_steps(self, exp: st.Experiment) -> None:
        self._step_started = time.monotonic()
        # The experiment's commands, read once for the whole step (``_known_commands``). Nobody else writes
        # them while it is in flight: an operator's ``resolve`` needs the campaign faulted, which ends the step.
        self._known = (exp.id, {c["id"]: c for c in self.store.commands_of(exp.id)})
        try:
            if exp.status in (st.APPROVED, st.SYNTHESIZING):
                exp = self._synthesize(exp)  # enters synthesizing in the commit that journals its command
                self._checkpoint()
            if exp.status in (st.SYNTHESIZED, st.MEASURING):
                if self.campaign.pipeline:
                    self._start_next_synthesis(exp.id)
                self._measure(exp)  # enters measuring with its first command; learning and planning with its last result
                self._learn(exp.id)
        finally:
            self._known = None

    def _known_commands(self, eid: int) -> dict[str, dict[str, Any]] | None:
        """The commands of ``eid`` by id, as the store holds them, while its step runs (else None: ask the store)."""
        return self._known[1] if self._known is not None and self._known[0] == eid else None

    def _command_id(self, eid: int, instrument: str) -> str:
        """The step's command id; a retry after an operator said "not made" gets a new one (``-r1``, ...)."""
        base = f"{self.uid}-e{eid}-{instrument}"
        known = self._known_commands(eid)
        if known is None:
            attempt = self.store.attempts(eid, instrument)
        else:
            attempt = sum(1 for c in known.values() if c["instrument"] == instrument and c["status"] == "not_made")
        return base if attempt == 0 else f"{base}-r{attempt}"

    def _instrument(self, name: str, role: type) -> Any:
        """Instrument ``name``, checked once to be a ``role`` (a runtime protocol check costs ~15 µs)."""
        inst = self.instruments[name]
        if (name, id(inst), role) not in self._checked:
            assert isinstance(inst, role)
            self._checked.add((name, id(inst), role))
        return inst

    def _synthesizer_spec(self) -> InstrumentSpec:
        """``campaign.synthesizer``, looked up once per campaign settings (each look-up asks the registry)."""
        if self._specs_of is not self.campaign:
            self._specs = (self.campaign.synthesizer, self.campaign.measurers)
            self._specs_of = self.campaign
        return self._specs[0]

    def _measurer_specs(self) -> list[InstrumentSpec]:
        """``campaign.measurers``, looked up once per campaign settings."""
        self._synthesizer_spec()
        return self._specs[1]

    def _before_send(self, inst: Instrument, name: str, command_id: str, eid: int, action: str,
                     journal_with: Callable[[], None] | None = None) -> None:
        """Journal ``command_id`` before it goes out; if it was sent before, reconcile it or stop.

        ``journal_with`` makes the writes that lead to the command (the
        experiment's claim, the state transition): they and the command id
        are one durable commit, made before the command goes out.

        An instrument that can reconcile is asked what became of it (the
        driver then resumes or fetches it, never acting twice); one that
        cannot never gets it again: its outcome is unknown and an operator
        must ``resolve`` it. A command that finished while the loop was held
        (``pause --now``) is taken from the worker, not resent.
        """
        known = self._known_commands(eid)
        record = known.get(command_id) if known is not None else self.store.command(command_id)
        held = False
        if record is not None and record["status"] == "sent":
            held = self._worker.holds(command_id)
            if held:
                pass  # finished while the loop was held: taken from the worker, not resent
            elif self._reconciles.get(name, True):
                outcome = inst.command_outcome(command_id)
                self.store.log_event("reconciled", eid, command_id=command_id, instrument=name, state=outcome.state)
                log.info("reconciled %s on %s: %s", command_id, name, outcome.state)
            else:
                self.store.mark_outcome_unknown(command_id, eid, why=f"{name} cannot say what became of "
                                                                     f"command {command_id}, sent before")
                self._fault_unknown()
        with self.store.atomic():
            if journal_with is not None:
                journal_with()
            if not held:
                self.store.command_sent(command_id, eid, name, action)
        if known is not None and not held and command_id not in known:  # as the store now holds it
            known[command_id] = {"id": command_id, "experiment_id": eid, "instrument": name, "action": action,
                                 "status": "sent", "sent": time.time(), "finished": None, "result": None}

    def _synthesize(self, exp: st.Experiment) -> st.Experiment:
        """Make ``exp``'s sample; return the experiment as the store now holds it (``synthesized``)."""
        spec = self._synthesizer_spec()
        inst = self._instrument(spec.name, Synthesizer)
        cid = self._command_id(exp.id, spec.name)
        running = self._pipeline.take(exp.id)
        if running is not None:
            # Started in parallel while the previous sample was measured: wait for it.
            self.machine.enter(sm.SYNTHESIZING)
            sample = self._call(spec, exp.id, cid, running)
        else:
            exp = self._claim_and_send(exp, enter=sm.SYNTHESIZING, cid=cid)
            sample = self._call(spec, exp.id, cid, lambda: inst.synthesize(exp.params, cid))
        info = to_jsonable(sample.info)
        self.store.synthesis_done(cid, exp.id, sample.sample_id, info)
        known = self._known_commands(exp.id)
        if known is not None and cid in known:  # as the store now holds it (its result, JSON and back)
            known[cid] = {**known[cid], "status": "done", "finished": time.time(),
                          "result": json.loads(json.dumps({"sample_id": sample.sample_id, "info": info}, default=str))}
        # what synthesis_done wrote (unconditionally): no re-read needed
        return dataclasses.replace(exp, status=st.SYNTHESIZED, sample_id=sample.sample_id)

    def _claim_and_send(self, exp: st.Experiment, enter: str | None = None, cid: str | None = None) -> st.Experiment:
        """Journal that ``exp`` is being synthesized (and the machine's ``enter`` state) with its command id.

        One commit, before the command goes out. ``cid``: its command id, if the caller has it already.
        """
        spec = self._synthesizer_spec()
        claim = exp.status == st.APPROVED
        eid = exp.id

        def journal_with() -> None:
            if claim:  # conditional: an operator who acted first wins
                self.store.update_experiment(eid, status=st.SYNTHESIZING, event="synthesizing", expect=(st.APPROVED,))
            if enter is not None:
                self.machine.enter(enter)

        cid = cid or self._command_id(eid, spec.name)
        self._before_send(self.instruments[spec.name], spec.name, cid, eid, "synthesize", journal_with)
        if not claim:
            return exp
        # re-read: an operator override that landed before the claim is what gets made (its row: the
        # measurements are the caller's, unchanged since no command of it ran meanwhile)
        fresh = self.store.experiment(eid, with_scalars=False)
        fresh.scalars = exp.scalars
        return fresh

    def _start_next_synthesis(self, current: int) -> None:
        """Pipelining: start synthesizing the next approved experiment while ``current`` is measured.

        In unattended mode the next point is planned first, with ``current``
        pending. Everything is journaled before the command goes out, so a
        crash recovers it by command id like any other.
        """
        if self._pipeline.busy:
            return
        waiting = [e for e in self.store.experiments((st.APPROVED, st.SYNTHESIZING)) if e.id != current]
        if (not waiting and self.campaign.mode == "unattended" and self._budget_left() > 0
                and not self._past_deadline()):
            self._plan(ahead=True)
            waiting = [e for e in self.store.experiments((st.APPROVED,)) if e.id != current]
        if not waiting or waiting[0].status != st.APPROVED:
            return
        spec = self._synthesizer_spec()
        inst = self._instrument(spec.name, Synthesizer)
        try:
            nxt = self._claim_and_send(waiting[0])
        except st.StaleExperiment:
            return  # an operator acted on it first
        cid = self._command_id(nxt.id, spec.name)
        params = dict(nxt.params)
        self._pipeline.start(nxt.id, lambda: inst.synthesize(params, cid))
        self.store.log_event("pipelined", nxt.id, while_measuring=current)

    def _measure(self, exp: st.Experiment) -> None:
        """Measure ``exp`` on every measurer not done yet, then conclude it.

        Commits: the start of measuring with the first command id; each
        result; the last result with the experiment's outcome (``_conclude``).
        """
        sample = Sample(sample_id=str(exp.sample_id), info=self._sample_info(exp.id))
        done = self.store.measured_instruments(exp.id)
        todo = [spec for spec in self._measurer_specs() if spec.name not in done]
        # the experiment's measured values as the store holds them (its own, then each result's): what the
        # conclusion checks against the objectives, without reading them back
        scalars = dict(exp.scalars)

        def start() -> None:
            self.machine.enter(sm.MEASURING)
            if exp.status == st.SYNTHESIZED:
                self.store.update_experiment(exp.id, status=st.MEASURING, event="measuring")

        if not todo:  # all measured before a restart: only the conclusion is left
            with self.store.atomic():
                start()
                self._conclude(exp.id, scalars)
        for i, spec in enumerate(todo):
            inst = self._instrument(spec.name, Measurer)
            cid = self._command_id(exp.id, spec.name)
            self._before_send(inst, spec.name, cid, exp.id, "measure", start if i == 0 else None)
            m = self._call(spec, exp.id, cid, lambda: inst.measure(sample, cid))
            last = i == len(todo) - 1
            values = {k: float(v) for k, v in m.scalars.items()}
            with self.store.atomic():  # the last result and what it concludes: one commit
                self.store.measurement_done(cid, exp.id, spec.name, values, m.arrays)
                scalars.update((k, v) for k, v in values.items() if v == v)  # NaN is stored as NULL: not measured
                if last:
                    self._conclude(exp.id, scalars)
            if not last:
                self._checkpoint()  # after the last, the loop's own checkpoint follows _learn

    def _conclude(self, eid: int, scalars: dict[str, float] | None = None) -> None:
        """Journal the measured experiment's outcome and the machine's way through learning back to planning."""
        self.machine.learn()
        self._outcome(eid, scalars)
        self.machine.plan()

    def _outcome(self, eid: int, scalars: dict[str, float] | None = None) -> None:
        """Journal what the measured experiment ``eid`` came to: completed, or failed if an objective is missing.

        ``scalars``: its measured values, as the store holds them (None: read them).
        """
        measured = self.store.scalars(eid) if scalars is None else scalars
        missing = [o for o in self.objective_names if o not in measured]
        if missing:
            self.store.update_experiment(eid, status=st.FAILED, error=f"objective(s) not measured: {missing}",
                                         event="failed")
        else:
            self.store.update_experiment(eid, status=st.COMPLETED, event="completed")

    def _sample_info(self, eid: int) -> dict[str, Any]:
        """What the synthesis of ``eid`` returned as the sample's info (a generic driver keeps the params there)."""
        cid = self._command_id(eid, self._synthesizer_spec().name)
        known = self._known_commands(eid)
        record = known.get(cid) if known is not None else self.store.command(cid)
        result = (record or {}).get("result") or {}
        info = result.get("info") if isinstance(result, dict) else None
        return dict(info) if isinstance(info, dict) else {}

    def _watchdog_real_s(self) -> float:
        """The watchdog in real seconds for a simulated instrument (see ``worker.watchdog_real_s``)."""
        return watchdog_real_s(None, self.campaign.faults.watchdog_s, self.speed) or 30.0

    def watchdog_for(self, name: str) -> float | None:
        """Real seconds a command of instrument ``name`` may take before the watchdog fires (None: not watched)."""
        return watchdog_real_s(self.instruments.get(name), self.campaign.faults.watchdog_s, self.speed)

    def _call(self, spec: InstrumentSpec, eid: int, cid: str, fn: Callable[[], Any] | cf.Future[Any]) -> Any:
        """Run one instrument command on the worker, watching for requests and the watchdog.

        An instrument error or a refused safety limit fails the experiment (the
        command is final); lost contact leaves it in flight, to be reconciled
        by command id, or, on an instrument that cannot reconcile, marks its
        outcome unknown for an operator. Both fault the campaign.
        """
        started = time.monotonic()
        try:
            limit = self.watchdog_for(spec.name)
            return self._worker.run(spec.name, fn, on_poll=lambda: self._checkpoint(immediate_only=True), key=cid,
                                    watched=limit is not None, watchdog_real_s=limit)
        except (Stop, st.StoreUnavailable):
            raise
        except Exception as err:
            exc = err
        finally:
            self._instrument_s += time.monotonic() - started
        self._command_failed(spec, eid, cid, exc)
        raise _ExperimentFailed(eid)  # options.on_error = "fail": this experiment only

    def _command_failed(self, spec: InstrumentSpec, eid: int, cid: str, exc: Exception) -> None:
        """Journal a command that did not succeed, and fault (raises ``Stop``).

        An instrument error or a refused safety limit fails the experiment; on
        an instrument that cannot reconcile, any other error leaves the outcome
        unknown for an operator. An instrument error on an instrument with
        ``options.on_error = "fail"`` fails the experiment and returns: the
        campaign goes on.
        """
        if isinstance(exc, (InstrumentError, SafetyLimitError)):
            # The instrument (or the safety check) said no: this sample is lost, the command is final.
            with self.store.atomic():  # the command's end and the experiment's: one commit
                self.store.command_failed(cid, str(exc))
                self.store.update_experiment(eid, status=st.FAILED, error=f"{spec.name}: {exc}", event="failed")
            if isinstance(exc, InstrumentError) and spec.options.get("on_error") == "fail":
                log.warning("%s failed on %s: %s (on_error = fail: the campaign goes on)", cid, spec.name, exc)
                text = str(exc)  # what the program said last is at the end: keep that
                self.notice(f"exp {eid} failed on {spec.name}: {text if len(text) <= 200 else '...' + text[-200:]}")
                return
        elif not self._reconciles.get(spec.name, True):
            # Did it take effect? This instrument cannot say, so nothing resends it: an operator will.
            self.store.mark_outcome_unknown(cid, eid, why=f"{spec.name}: {type(exc).__name__}: {exc}")
            log.error("%s on %s: outcome unknown (%s)", cid, spec.name, exc)
            self._fault(spec.name, exc, eid, unknown=[u["experiment"] for u in unknown_outcomes(self.store)])
        log.error("%s failed on %s: %s", cid, spec.name, exc)
        self._fault(spec.name, exc, eid)
        raise AssertionError("unreachable: _fault raises Stop")

    def _pareto_front(self) -> int | None:
        """With two or more objectives: how many completed experiments are on their Pareto front (else None)."""
        objectives = self.campaign.objectives
        if len(objectives) < 2:
            return None
        # kept up to date one completion at a time: not a pass over every stored result per experiment
        return self._history.pareto_front_size([(o.name, o.direction) for o in objectives], refresh=False)

    def _learn(self, eid: int) -> None:
        """Tell the planner and the progress line about the concluded experiment ``eid``."""
        exp = self._history.experiment(eid)  # brings the history up to date: the questions below ask it
        finished = self._history.trial(eid, refresh=False)
        if finished is not None:
            self.planner.observe([finished])
        if self.progress is not None:
            obj = self.campaign.objectives[0]
            best = self._history.best_value(obj.name, obj.direction, refresh=False)
            c = self._history.counts(refresh=False)
            done = c[st.COMPLETED] + c[st.FAILED]
            elapsed = time.monotonic() - self._started
            here = done - self._done_at_start  # finished by this run: the pace to extrapolate
            left = max(self.campaign.budget.max_experiments - done, 0)
            self.progress(Progress(
                done=done, budget=self.campaign.budget.max_experiments,
                experiment_id=eid, chosen_by=exp.chosen_by, params=exp.params,
                value=exp.scalars.get(obj.name), best=best,
                seconds=time.monotonic() - self._step_started,
                status=exp.status,
                planning_s=self._plan_s, instrument_s=self._instrument_s, elapsed_s=elapsed,
                eta_s=elapsed / here * left if here > 0 else None,
                in_flight=None if self._batch is None else sum(c[s] for s in st.IN_FLIGHT if s != st.APPROVED),
                pareto_front=self._pareto_front(),
            ))
        self._plan_s = 0.0
        self._instrument_s = 0.0

