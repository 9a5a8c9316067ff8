"""``manual``: an operator does the step and confirms it with ``labpilot done ID``.

Campaign TOML::

    [[instruments]]
    name = "hand"
    kind = "manual"
    address = "local"
    [instruments.options]
    role = "measure"
    scalars = { thickness = "nm" }
    instructions = "Measure the film thickness of sample {sample_id} with the profilometer"

The request and its confirmation live in the campaign's journal (the store's
events), so they are visible to everyone and survive a restart:

- the driver journals ``manual_requested`` (experiment, instrument, command
  id, what to do, the values wanted with their units) and logs a warning line
  saying how to confirm; ``labpilot status`` lists what waits for an operator;
- ``labpilot done ID [--value name=number ...]`` (``OperatorDesk.done``)
  journals ``manual_done`` with who confirmed and the values (every declared
  scalar, each a number, or the command is refused); ``--failed --reason``
  says the step could not be done (the experiment fails);
- the driver, polling the journal, returns the sample or the measurement.

Because the journal remembers every command id, the driver *can reconcile*
(``can_reconcile`` True): after a restart a step already confirmed is taken
from the journal, and one still waiting keeps waiting (it is never asked for
twice). The loop's watchdog does not apply to a manual step
(``waits_for_operator``): a person may take hours; ``labpilot abort`` still
stops the wait (``make_safe``).

The driver needs the journal: ``attach_journal(db)`` (the session calls it).
In a dry run, ``ManualStandIn`` takes its place: it confirms each step by
itself (journaled ``by = "dry-run stand-in"``) with values from
``dry_run_model`` (``module:function(params) -> dict``) or drawn, seeded by
the command id, from ``dry_run_values`` ranges, so a campaign with a manual
step dry-runs unattended; ``dry_run = "wait"`` makes it wait for ``labpilot
done`` like the real thing (to rehearse the operator's part).
"""

from __future__ import annotations

import logging
import math
import random
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping

from pydantic import Field

from labpilot.drivers.generic.local import LocalDriver, LocalOptions
from labpilot.errors import ConfigurationError, InstrumentError, OperatorRefused
from labpilot.protocols.capabilities import CommandOutcome, Sample

log = logging.getLogger("labpilot.manual")

REQUESTED = "manual_requested"
DONE = "manual_done"
#: Who confirms steps in a dry run.
STAND_IN = "dry-run stand-in"


class ManualOptions(LocalOptions):
    """What the operator is asked to do, and how a dry run stands in for them."""

    instructions: str = ""
    """Shown to the operator; ``{name}`` fields: the parameters, ``sample_id``, ``command_id``."""
    dry_run: Literal["confirm", "wait"] = "confirm"
    """Dry run: ``confirm`` (the stand-in confirms by itself) or ``wait`` (for ``labpilot done``)."""
    dry_run_model: str | None = Field(None, min_length=3)
    """Dry run: ``module:function(params) -> dict`` (or ``file.py:function``, relative to the campaign's folder)."""
    dry_run_values: dict[str, tuple[float, float]] = Field(default_factory=dict)
    """Dry run: ``[low, high]`` per scalar (default ``[0, 1]``) when there is no model."""


# -- the journal: requests and confirmations ---------------------------------------

def pending_steps(store: Any) -> list[dict[str, Any]]:
    """Manual steps requested and not yet confirmed, oldest first (one dict per request)."""
    done = {e["data"].get("command_id") for e in store.events(kind=DONE)}
    out = []
    for e in store.events(kind=REQUESTED):
        if e["data"].get("command_id") not in done:
            out.append({**e["data"], "experiment": e["experiment_id"], "requested": e["ts"]})
    return out


def step_outcome(store: Any, command_id: str) -> dict[str, Any] | None:
    """The confirmation journaled for ``command_id``, or None."""
    for e in store.events(kind=DONE):
        if e["data"].get("command_id") == command_id:
            return dict(e["data"])
    return None


def check_values(step: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, float]:
    """The values an operator gives for ``step``: every wanted scalar, each a finite number, nothing else."""
    wanted = dict(step.get("values") or {})
    unknown = sorted(set(values) - set(wanted))
    if unknown:
        asked = ", ".join(wanted) or "none (it makes a sample)"
        raise OperatorRefused(f"this step does not take {', '.join(unknown)}; it takes: {asked}")
    out: dict[str, float] = {}
    bad = []
    for name in wanted:
        if name not in values:
            continue
        v = values[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            bad.append(f"{name}={v!r} is not a number")
        else:
            out[name] = float(v)
    missing = [n for n in wanted if n not in values]
    if missing or bad:
        eid = step.get("experiment")
        need = " ".join(f"--value {n}=NUMBER" for n in wanted)
        why = "; ".join(bad + ([f"missing {', '.join(missing)}"] if missing else []))
        raise OperatorRefused(f"{why}: give every value of this step, e.g. `labpilot done {eid} {need}`")
    return out


def confirm_step(store: Any, step: Mapping[str, Any], values: Mapping[str, float], *, by: str,
                 failed: bool = False, reason: str | None = None) -> None:
    """Journal that ``step`` was done (or could not be), by whom, with its values."""
    store.log_event(DONE, step.get("experiment"), command_id=step["command_id"], instrument=step.get("instrument"),
                    action=step.get("action"), values=dict(values), by=by, failed=failed, reason=reason)


class ManualDriver(LocalDriver):
    """Asks an operator to do a synthesis or a measurement, and waits for their confirmation."""

    kind: ClassVar[str] = "manual"
    Options = ManualOptions
    can_reconcile: ClassVar[bool] = True
    #: The loop's watchdog (``faults.watchdog_s``) does not apply: a person may take hours.
    waits_for_operator: ClassVar[bool] = True

    @property
    def request_log_level(self) -> int:
        """A request is a warning: someone must act (the console shows it)."""
        return logging.WARNING

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.config: ManualOptions
        self.store: Any = None
        self._stop = threading.Event()
        self._closed = False
        # one journal connection, used by the worker thread (the step) and the loop (outcome, status)
        self._journal_lock = threading.RLock()
        self.poll_s = self.config.poll_s or 0.25

    @classmethod
    def dry_run_class(cls) -> type["ManualDriver"]:
        return ManualStandIn

    def attach_journal(self, db: str | Path) -> None:
        """Open the campaign's journal (its own connection: the driver runs on the worker thread)."""
        from labpilot.agent.store import Store

        self.store = Store.open(db)

    def _journal(self) -> Any:
        if self.store is None or self._closed:
            raise ConfigurationError("manual: the instrument is closed, or no campaign journal is attached "
                                     "(the session calls attach_journal)")
        return self.store

    # -- the step --------------------------------------------------------------------
    def _step(self, command_id: str, action: str, params: Mapping[str, Any], sample_id: str | None) -> dict[str, Any]:
        store = self._journal()
        self._stop.clear()  # a make_safe interrupts the wait in flight, not the steps after a resume
        with self._journal_lock:
            done = step_outcome(store, command_id)
            if done is None:
                step = next((s for s in pending_steps(store) if s["command_id"] == command_id), None)
                if step is None:
                    step = self._request(store, command_id, action, params, sample_id)
                else:  # asked before a restart: say it again, do not ask twice
                    self._say(step, store, "still waiting")
                self.on_requested(store, step, params)
        if done is None:
            done = self._wait(store, command_id)
        if done.get("failed"):
            raise InstrumentError(self.kind, 0, f"manual step {command_id} could not be done "
                                                f"({done.get('by')}: {done.get('reason') or 'no reason given'})")
        return done

    def _request(self, store: Any, command_id: str, action: str, params: Mapping[str, Any],
                 sample_id: str | None) -> dict[str, Any]:
        record = store.command(command_id) or {}
        eid, instrument = record.get("experiment_id"), record.get("instrument", self.kind)
        fields = {**params, "sample_id": sample_id or "", "command_id": command_id}
        try:
            from labpilot.drivers.generic.command import render

            what = render(self.config.instructions, fields, "options.instructions") if self.config.instructions else ""
        except ConfigurationError as exc:
            what = f"{self.config.instructions} ({exc})"
        what = what or (f"make a sample with {dict(params)}" if action == "synthesize"
                        else f"measure sample {sample_id}")
        step = {"command_id": command_id, "instrument": instrument, "action": action, "instructions": what,
                "params": dict(params), "sample_id": sample_id, "values": dict(self.scalars)}
        store.log_event(REQUESTED, eid, **step)
        step = {**step, "experiment": eid}
        self._say(step, store, "waiting")
        return step

    def _say(self, step: Mapping[str, Any], store: Any, verb: str) -> None:
        """The log line an operator acts on: what to do, and the ``labpilot done`` that confirms it."""
        need = "".join(f"--value {n}=NUMBER " for n in step.get("values") or {})
        log.log(self.request_log_level, "%s for an operator: experiment %s on %s: %s; when done: labpilot done %s "
                "%s--db %s", verb, step.get("experiment"), step.get("instrument"), step.get("instructions"),
                step.get("experiment"), need, store.path)

    def on_requested(self, store: Any, step: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        """Hook: the request is journaled (the dry-run stand-in confirms here)."""

    def _wait(self, store: Any, command_id: str) -> dict[str, Any]:
        while True:
            with self._journal_lock:
                done = step_outcome(store, command_id)
            if done is not None:
                return done
            if self._stop.wait(self.poll_s) or self._closed:
                raise InstrumentError(self.kind, 0, f"stopped waiting for the operator on {command_id} "
                                                    "(instrument made safe or closed); the request stays journaled")

    # -- LocalDriver -------------------------------------------------------------------
    def _synthesize(self, params: dict[str, Any], command_id: str) -> dict[str, Any]:
        done = self._step(command_id, "synthesize", params, None)
        return {"sample_id": command_id, "confirmed_by": done.get("by"), "note": done.get("reason")}

    def _measure(self, sample: Sample, command_id: str) -> dict[str, Any]:
        done = self._step(command_id, "measure", dict(sample.info.get("params") or {}), sample.sample_id)
        return {"scalars": dict(done.get("values") or {})}

    # -- Instrument ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._journal_lock:
            waiting = [] if self.store is None else [s["command_id"] for s in pending_steps(self.store)]
        return {**super().status(), "waiting": waiting}

    def make_safe(self) -> None:
        """Stop waiting (an abort must not hang on an operator); the request stays in the journal."""
        self._stop.set()

    def close(self) -> None:
        self._closed = True
        self._stop.set()
        with self._journal_lock:
            if self.store is not None:
                self.store.close()
                self.store = None
        super().close()

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """From the journal: confirmed (done or failed), requested (running), or never asked (unknown)."""
        with self._journal_lock:
            store = self._journal()
            done = step_outcome(store, command_id)
            waiting = any(s["command_id"] == command_id for s in pending_steps(store))
        if done is not None:
            if done.get("failed"):
                return CommandOutcome(command_id, "failed", error=done.get("reason") or "operator: not done")
            return CommandOutcome(command_id, "done", {"values": done.get("values"), "by": done.get("by")})
        if waiting:
            return CommandOutcome(command_id, "running")
        return CommandOutcome(command_id, "unknown")


class ManualStandIn(ManualDriver):
    """A dry run's operator: confirms each manual step by itself with plausible values."""

    @property
    def request_log_level(self) -> int:
        return logging.WARNING if self.config.dry_run == "wait" else logging.INFO

    def on_requested(self, store: Any, step: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        if self.config.dry_run == "wait":
            return
        confirm_step(store, step, self.plausible_values(step, params), by=STAND_IN)

    def plausible_values(self, step: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, float]:
        """From ``dry_run_model`` if set, else drawn (seeded by the command id) from ``dry_run_values``."""
        wanted = list(step.get("values") or {})
        if not wanted:
            return {}
        if self.config.dry_run_model:
            from labpilot.drivers.generic.python import resolve_function

            fn = resolve_function(self.config.dry_run_model, "options.dry_run_model")
            result = fn(dict(params))
            found = result.get("scalars", result) if isinstance(result, Mapping) else {}
            return {n: float(found[n]) for n in wanted if n in found}
        rng = random.Random(str(step["command_id"]))
        out = {}
        for name in wanted:
            low, high = self.config.dry_run_values.get(name, (0.0, 1.0))
            out[name] = rng.uniform(low, high)
        return out


__all__ = ["DONE", "REQUESTED", "STAND_IN", "ManualDriver", "ManualOptions", "ManualStandIn",
           "check_values", "confirm_step", "pending_steps", "step_outcome"]
