"""Parallel execution (``[execution] parallel = N``): up to N experiments in flight at once.

Each experiment is a chain of steps, synthesis then each measuring stage in
the campaign's order. A step runs on one instrument of its stage (instruments
sharing ``stage`` are interchangeable), and an instrument takes as many steps
at once as its ``capacity`` (1 for a device; a ``command`` instrument's
``max_parallel``). ``BatchScheduler`` keeps every slot busy: it starts the
next step of any experiment whose stage has a free slot, plans new
experiments as soon as a batch fits (the planner sees the others as pending),
and learns each experiment as it completes.

All decisions are journaled by the loop's thread, exactly as in the
sequential loop: the experiment's status and its command id (``_before_send``)
are written before the command goes to a worker thread, and the result is
written when it comes back, so a killed agent reconciles every experiment in
flight by its own command id. Instrument threads only call instruments.

Durable commits per experiment are the sequential loop's journal-first floor
(``docs/CONTRACTS.md``): the step's claim or status, the campaign's state and
the command id are one commit (``_before_send(journal_with=)``); each result
is one, and the last result also holds the experiment's outcome and, unless
the planner is running then, the campaign's way through learning (one more
commit later when it is).

Pause, abort, the watchdog and faults keep their sequential meaning: an
abort or ``pause --now`` stops at once (commands left running finish while the
loop is held and are journaled on resume, or reconciled if the agent dies);
a deferred pause starts nothing new and pauses once every running command
has finished; a failed command faults the campaign (the instruments are made
safe), and the experiments still in flight are reconciled on resume.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from labpilot.agent import machine as sm
from labpilot.agent import store as st
from labpilot.agent.campaign import InstrumentSpec
from labpilot.agent.jsonable import to_jsonable
from labpilot.errors import InstrumentError, SafetyLimitError, WatchdogTimeout
from labpilot.protocols.capabilities import Measurer, Sample, Synthesizer

if TYPE_CHECKING:
    from labpilot.agent.loop.runner import CampaignRunner

log = logging.getLogger("labpilot.agent")


@dataclass
class Job:
    """One instrument command running for one experiment."""

    eid: int
    spec: InstrumentSpec
    cid: str
    action: str  # "synthesize" | "measure"
    future: cf.Future[Any]
    started: float
    watchdog_real_s: float | None  # None: not watched (a step that waits for an operator)


def capacity(inst: object) -> int:
    """How many commands ``inst`` takes at once (its ``capacity``, default 1)."""
    value = getattr(inst, "capacity", 1)
    return value if isinstance(value, int) and value >= 1 else 1


class BatchScheduler:
    """Runs up to ``execution.parallel`` experiment chains at once over the instruments' slots."""

    def __init__(self, runner: "CampaignRunner") -> None:
        self.r = runner
        self.capacity = {name: capacity(inst) for name, inst in runner.instruments.items()}
        workers = max(sum(self.capacity.values()), runner.campaign.execution.parallel) + 1
        self._pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="experiment")
        self._jobs: dict[int, Job] = {}  # by experiment: each has at most one command running
        self._begun: dict[int, float] = {}  # experiment -> when this run first started one of its steps
        self._busy_s: dict[int, float] = {}  # experiment -> seconds in instrument commands
        self._deadline_passed = False
        #: Concluded (outcome journaled with the last result) while the planner ran: learned by the next ``step``.
        self._unlearned: list[int] = []

    # -- state -----------------------------------------------------------------
    @property
    def parallel(self) -> int:
        return self.r.campaign.execution.parallel

    @property
    def running(self) -> int:
        """Commands running now."""
        return len(self._jobs)

    def futures(self) -> list[cf.Future[Any]]:
        return [j.future for j in self._jobs.values()]

    def _free(self, name: str) -> int:
        return self.capacity.get(name, 1) - sum(1 for j in self._jobs.values() if j.spec.name == name)

    # -- one turn of the loop --------------------------------------------------------
    def step(self) -> None:
        """Journal what finished, start what can start, plan when a batch fits, or wait a poll."""
        r = self.r
        self.service(learn=True)
        if r.store.pause_request() == "deferred":
            if not self._jobs:
                r._checkpoint()  # nothing running: the deferred pause takes effect (raises Stop)
            self._wait()
            return
        active = r.store.experiments(st.IN_FLIGHT)
        waiting = r.store.experiments((st.AWAITING_APPROVAL,))
        if waiting:
            if not active and not self._jobs:
                r._await_approval()  # nothing else to do: wait for the operator as the sequential loop does
                return
            r._announce(waiting)
            r._auto_approve(waiting)
        left = r._budget_left()
        batch = min(r.campaign.planner.batch_size, max(left, 1), self.parallel)
        fits = not waiting and left > 0 and self.parallel - len(active) >= batch
        idle = not active and not waiting and not self._jobs
        if fits or idle:
            if left <= 0 or self._past_deadline():
                if idle:
                    r._finish()
                    return
            elif fits:
                r._plan()  # with the campaign back to measuring while commands run (``working``), one commit
                return
        self._wait()

    def service(self, learn: bool) -> None:
        """Journal finished commands and start every step that has a free slot.

        ``learn`` False while the planner runs on its thread: a completed
        experiment is then learned by the next ``step``, never under the planner.
        """
        r = self.r
        if learn:
            while self._unlearned:
                self._learn(self._unlearned.pop(0), concluded=False)
        for job in [j for j in self._jobs.values() if j.future.done()]:
            del self._jobs[job.eid]
            self._busy_s[job.eid] = self._busy_s.get(job.eid, 0.0) + time.monotonic() - job.started
            self._finished(job, learn)
        now = time.monotonic()
        for job in list(self._jobs.values()):
            if job.watchdog_real_s is not None and now - job.started > job.watchdog_real_s:
                del self._jobs[job.eid]
                r._command_failed(job.spec, job.eid, job.cid, WatchdogTimeout(
                    f"no reply and no progress from {job.spec.name} within the watchdog of "
                    f"{r._worker.watchdog_s:g}s (faults.watchdog_s)"))
        if r.store.pause_request() is None:
            self._start_ready(learn)

    def _finished(self, job: Job, learn: bool) -> None:
        """Journal one command's result (or its failure, which faults the campaign).

        The last stage's result and the experiment's outcome are one commit;
        ``learn``: with the campaign's way through learning too, and the
        planner told at once (else by the next ``step``).
        """
        r = self.r
        record = r.store.command(job.cid)
        if record is None or record["status"] != "sent":
            # settled meanwhile (an operator's `resolve`, an abort): its outcome is already journaled
            log.warning("result of %s ignored: the command is %s", job.cid, record and record["status"])
            return
        try:
            result = job.future.result()
        except Exception as exc:  # the instrument's error: as in the sequential loop, it faults
            r._command_failed(job.spec, job.eid, job.cid, exc)
            return
        if job.action == "synthesize":
            r.store.synthesis_done(job.cid, job.eid, result.sample_id, to_jsonable(result.info))
            return
        last = self._last_stage(job.eid, job.spec.name)
        with r.store.atomic():
            r.store.measurement_done(job.cid, job.eid, job.spec.name,
                                     {k: float(v) for k, v in result.scalars.items()}, result.arrays)
            if last:
                self._conclude(job.eid, learn)
        if last and learn:
            self._learn(job.eid, concluded=True)
        elif last:
            self._unlearned.append(job.eid)

    def _last_stage(self, eid: int, instrument: str) -> bool:
        """Whether a result from ``instrument`` leaves ``eid`` measured by every stage."""
        done = self.r.store.measured_instruments(eid) | {instrument}
        return all(done & {s.name for s in specs} for specs in self.r.campaign.measure_stages())

    def _conclude(self, eid: int, learn: bool) -> None:
        """Journal ``eid``'s outcome and (``learn``) the campaign's way through learning; inside the caller's commit.

        While the planner runs, the planning step owns the campaign's state:
        only the outcome is journaled then.
        """
        r = self.r
        if not learn:
            r._outcome(eid)
            return
        r.machine.enter(sm.MEASURING)
        r._conclude(eid)  # learning, the outcome, planning
        self.working()

    def _start_ready(self, learn: bool) -> None:
        """Start the next step of every experiment in flight that has a free slot, oldest first."""
        r = self.r
        active = r.store.experiments(st.IN_FLIGHT)
        begun = sum(1 for e in active if e.status != st.APPROVED)
        for exp in active:
            if exp.id in self._jobs:
                continue
            if exp.status == st.APPROVED and begun >= self.parallel:
                continue  # at most `parallel` experiments under way; this one waits its turn
            step = self._next_step(exp)
            if step is None:  # measured but not concluded (journaled by an older agent): conclude it now
                if learn:
                    with r.store.atomic():
                        self._conclude(exp.id, learn=True)
                    self._learn(exp.id, concluded=True)
                continue
            action, specs = step
            spec = self._pick(exp.id, action, specs)
            if spec is None:
                continue  # every instrument of the stage is busy
            if self._start(exp, action, spec) and exp.status == st.APPROVED:
                begun += 1

    def _next_step(self, exp: st.Experiment) -> tuple[str, list[InstrumentSpec]] | None:
        """What ``exp`` needs next: ("synthesize" | "measure", the stage's instruments), or None when measured."""
        if exp.status in (st.APPROVED, st.SYNTHESIZING):
            return "synthesize", self.r.campaign.synthesizers
        done = self.r.store.measured_instruments(exp.id)
        for specs in self.r.campaign.measure_stages():
            if not done & {s.name for s in specs}:
                return "measure", specs
        return None

    def _pick(self, eid: int, action: str, specs: list[InstrumentSpec]) -> InstrumentSpec | None:
        """The instrument a command of ``eid`` was already sent to (it must be reconciled there), else the freest."""
        names = {s.name for s in specs}
        # this experiment's commands only (its index): a step's cost must not grow with the store
        sent = [c for c in self.r.store.commands_of(eid, "sent") if c["action"] == action and c["instrument"] in names]
        if sent:
            spec = next(s for s in specs if s.name == sent[-1]["instrument"])
            return spec if self._free(spec.name) > 0 else None
        free = max(specs, key=lambda s: self._free(s.name))
        return free if self._free(free.name) > 0 else None

    def _start(self, exp: st.Experiment, action: str, spec: InstrumentSpec) -> bool:
        """Journal the step and its command id, then send it on a worker thread (False: an operator acted first)."""
        r = self.r
        inst = r.instruments[spec.name]
        eid, status = exp.id, exp.status
        cid = r._command_id(eid, spec.name)

        def journal_with() -> None:  # in the commit of the command id, before it goes out
            if action == "synthesize" and status == st.APPROVED:  # conditional: an operator who acted first wins
                r.store.update_experiment(eid, status=st.SYNTHESIZING, event="synthesizing", expect=(st.APPROVED,))
            elif action == "measure" and status == st.SYNTHESIZED:
                r.store.update_experiment(eid, status=st.MEASURING, event="measuring")
            self.working(starting=True)

        try:
            r._before_send(inst, spec.name, cid, eid, action, journal_with)
        except st.StaleExperiment:
            return False  # nothing of the block was written
        if action == "synthesize":
            assert isinstance(inst, Synthesizer)
            # re-read: an operator override that landed before the claim is what gets made
            params = dict(r.store.experiment(eid).params if status == st.APPROVED else exp.params)
            call: Callable[[], Any] = lambda: inst.synthesize(params, cid)  # noqa: E731
        else:
            assert isinstance(inst, Measurer)
            sample = Sample(sample_id=str(exp.sample_id), info=self._sample_info(eid))
            call = lambda: inst.measure(sample, cid)  # noqa: E731
        self._jobs[eid] = Job(eid, spec, cid, action, self._pool.submit(call), time.monotonic(),
                              r.watchdog_for(spec.name))
        self._begun.setdefault(eid, time.monotonic())
        return True

    def _sample_info(self, eid: int) -> dict[str, Any]:
        """What the synthesis of ``eid`` returned as the sample's info (whichever synthesizer made it)."""
        names = {s.name for s in self.r.campaign.synthesizers}
        done = [c for c in self.r.store.commands_of(eid, "done") if c["instrument"] in names]
        result = (done[-1].get("result") or {}) if done else {}
        info = result.get("info") if isinstance(result, dict) else None
        return dict(info) if isinstance(info, dict) else {}

    def _learn(self, eid: int, concluded: bool) -> None:
        """Tell the planner and the progress line about ``eid``, whose outcome is journaled (the runner's ``_learn``).

        ``concluded``: the campaign's way through learning was journaled with
        the outcome; else (concluded while the planner ran) it is one commit here.
        """
        r = self.r
        if not concluded:
            with r.store.atomic():
                r.machine.enter(sm.MEASURING)
                r.machine.learn()
                r.machine.plan()
                self.working()
        r._step_started = self._begun.pop(eid, time.monotonic())
        r._instrument_s = self._busy_s.pop(eid, 0.0)
        r._learn(eid)

    # -- helpers -----------------------------------------------------------------
    def working(self, starting: bool = False) -> None:
        """While commands run, the campaign reads ``measuring`` (each experiment's own status says more).

        ``starting``: a command is about to go out (journaled with its id).
        Called inside the commit it belongs with (a command id, a result, the proposals).
        """
        m = self.r.machine
        if self.r._planning.busy():
            return  # the planning step owns the state until it has journaled its proposals
        running = bool(self._jobs) or starting
        if running and m.state in (sm.PLANNING, sm.LEARNING, sm.SYNTHESIZING):
            m.enter(sm.MEASURING)
        elif m.state == sm.AWAITING_APPROVAL and not self.r.store.experiments((st.AWAITING_APPROVAL,)):
            m.enter(sm.MEASURING if running else sm.PLANNING)

    def _past_deadline(self) -> bool:
        if not self._deadline_passed:
            self._deadline_passed = self.r._past_deadline()
        return self._deadline_passed

    def _wait(self) -> None:
        """Wait one poll for a command to finish, honouring abort and ``pause --now`` meanwhile."""
        self.r._checkpoint(immediate_only=True)
        futures = self.futures()
        if futures:
            cf.wait(futures, timeout=self.r.poll_s, return_when=cf.FIRST_COMPLETED)
        else:
            time.sleep(self.r.poll_s)

    def settle(self) -> None:
        """On resume: let the commands left running by a pause or fault finish.

        A result is journaled by the next ``service``. A command that ended in
        an error is taken off: on an instrument that can reconcile, its step is
        sent again under the same command id and reconciled, as after a crash;
        on one that cannot, an error the instrument answered (its run stopped
        when a fault made it safe) is a known outcome, so the experiment fails
        as it would in the sequential loop (nothing resent, nothing left
        unknown); any other error leaves it to ``_before_send`` (unknown).
        """
        r = self.r
        for job in list(self._jobs.values()):
            try:
                job.future.result(timeout=r._worker.watchdog_real_s)
            except Exception as exc:  # noqa: BLE001 - journaled or reconciled below
                del self._jobs[job.eid]
                answered = isinstance(exc, (InstrumentError, SafetyLimitError))
                record = r.store.command(job.cid)
                if answered and not r._reconciles.get(job.spec.name, True) and record and record["status"] == "sent":
                    log.warning("%s ended with %s while the campaign was held: experiment %d failed",
                                job.cid, exc, job.eid)
                    r.store.command_failed(job.cid, str(exc))
                    r.store.update_experiment(job.eid, status=st.FAILED, event="failed",
                                              error=f"{job.spec.name}: {exc} (while the campaign was held)")
                else:
                    log.warning("%s left in flight ended with %s; it is reconciled", job.cid, exc)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
