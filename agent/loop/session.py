"""One ``labpilot run``: open or resume the store, connect instruments, run the loop.

A database that already holds the campaign is resumed, not restarted: the
configuration stored in it is the campaign's, and a changed file or flag is
applied and journaled, or refused by name (``reconfigure``), so a restart
never changes what an experiment in flight means and never ignores a change.
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from pathlib import Path

from labpilot.errors import AlreadyRunning, CampaignError, PlannerError, SessionError, StoreError, StoreUnavailable
from labpilot.agent import machine as sm
from labpilot.agent.campaign import Campaign, parse_campaign
from labpilot.agent.control.bridge import start_control
from labpilot.agent.dryrun import load_simulators, start_simulators, stop_simulators
from labpilot.agent import campaign_checks, preflight
from labpilot.agent.loop.code_resume import record_refs
from labpilot.agent.loop.pool_resume import identify_config, record_identity
from labpilot.agent.loop.reconfigure import Flags, apply_flags_new, reconcile
from labpilot.agent.loop.notify import Notifier
from labpilot.agent.loop.watch import Watch
from labpilot.agent.store_open import (campaign_exists, campaign_target, create_store, display_target, open_store,
                                       run_lock)
from labpilot.agent.loop.progress import Progress, format_progress
from labpilot.agent.loop.runner import CampaignRunner
from labpilot.agent.store import Store

from labpilot.protocols.capabilities import Instrument

log = logging.getLogger("labpilot.session")


def open_or_create(campaign: Campaign, source: str, db: Path | str, flags: Flags | None = None,
                   accept_changes: bool = False) -> tuple[Store, Campaign, bool]:
    """Return (store, effective campaign, resumed?).

    ``campaign`` is the file's campaign without the flags; ``flags`` are the
    command line's. A new database gets both; an existing one is reconciled
    with them (``reconfigure.reconcile``): changes are applied and journaled,
    or refused with a message naming them, never ignored. ``db`` is a SQLite
    file or a ``postgresql://`` URL (one server, many campaigns).
    """
    flags = flags or Flags()
    target = str(db)
    db = display_target(target)  # what messages name: never a server password
    try:  # once, up front, resumed or new: what `validate` checks against the drivers and the planner
        # but the files command instruments run: checked where the campaign that runs them has them (below)
        campaign_checks.check(campaign, str(db), command_paths=False)
    except CampaignError as exc:
        raise SessionError("; ".join(f"{p}: {r}" for p, r in exc.problems)) from None
    if campaign_exists(target, campaign.name):
        try:
            store = open_store(campaign_target(target, campaign.name))
            held = store.campaign()
        except StoreError as exc:
            raise SessionError(str(exc)) from None
        if held["name"] != campaign.name:
            store.close()
            raise SessionError(f"{db} holds campaign {held['name']!r}, not {campaign.name!r}: use another --db")
        try:
            effective = reconcile(store, campaign.model_dump(mode="json"), source, flags, accept_changes)
            _check_command_paths(effective)  # moved with the folder, or an older database's working directory
        except BaseException:
            store.close()
            raise
        return store, effective, True
    _check_command_paths(campaign)
    config = apply_flags_new(campaign.model_dump(mode="json"), flags)
    try:
        campaign = parse_campaign(config, str(db))
        # what `validate` checks beyond the file (the clock, the environment), before anything is stored
        preflight.check(campaign, str(db), declarations=False)
    except CampaignError as exc:
        raise SessionError("; ".join(f"{p}: {r}" for p, r in exc.problems)) from None
    try:
        store = create_store(target, campaign.name, campaign.model_dump(mode="json"), source)
    except StoreError as exc:
        raise SessionError(str(exc)) from None
    pool = identify_config(campaign.model_dump(mode="json"), source)
    if pool is not None:  # what a resume compares the pool with, wherever the folder is moved to
        record_identity(store, pool, "the campaign was created")
    record_refs(store, campaign.model_dump(mode="json"), "the campaign was created")  # function files, likewise
    return store, campaign, False


def _check_command_paths(campaign: Campaign) -> None:
    """The cwd, program and script of each command instrument exist (``validate`` names the same, by field)."""
    found = campaign_checks.command_path_problems(campaign)
    if found:
        raise SessionError("; ".join(f"{p}: {r}" for p, r in found))


def _best_effort(fn) -> None:  # noqa: ANN001
    """A clean-up write that must not hide the error that stopped the run (e.g. the disk is full)."""
    try:
        fn()
    except StoreUnavailable as exc:  # the error that stopped the run says it already
        log.debug("could not record the stop: %s", exc)
    except StoreError as exc:
        log.warning("could not record the stop: %s", exc)


def connect_instruments(campaign: Campaign, addresses: dict[str, str], speed: float, stack: ExitStack,
                        *, dry_run: bool = False, journal: Path | None = None) -> dict[str, Instrument]:
    """Open a driver for every instrument (addresses override the campaign's).

    ``dry_run`` opens a generic driver's dry-run class (the manual step's
    stand-in); a driver that keeps its state in the campaign's journal (the
    manual step) gets ``journal``, the database, through ``attach_journal``.
    """
    from labpilot.drivers import open_instrument

    out: dict[str, Instrument] = {}
    for spec in campaign.instruments:
        address = addresses.get(spec.name, spec.address)
        try:
            inst = open_instrument(spec.kind, address, limits=dict(spec.limits),
                                   options={**spec.options, "speed": speed},
                                   timeout_s=spec.timeout_s, retries=spec.retries, dry_run=dry_run)
        except Exception as exc:
            raise SessionError(f"instrument {spec.name!r} ({spec.kind} at {address}): {exc}") from None
        stack.callback(inst.close)
        attach = getattr(inst, "attach_journal", None)
        if attach is not None and journal is not None:
            attach(journal)
        out[spec.name] = inst
    return out


def _limit_checker(campaign: Campaign, instruments: dict[str, Instrument]):  # noqa: ANN202
    """Check an operator override against the synthesizer's safety limits, if its driver can."""
    driver = instruments[campaign.synthesizer.name]
    # Both synthesizer drivers validate parameters against their limits without I/O.
    check = getattr(driver, "recipe", None) or getattr(driver, "check_params", None)
    if check is None:
        return None

    def problems(params: dict) -> list[str]:
        try:
            check(params)
        except Exception as exc:
            return [str(exc)]
        return []

    return problems


def run_campaign(
    campaign: Campaign,
    source: str,
    db: Path,
    *,
    dry_run: bool,
    speed: float = 1.0,
    faults: str | None = None,
    ledger_dir: Path | None = None,
    quiet: bool = False,
    flags: Flags | None = None,
    accept_changes: bool = False,
) -> str:
    """Run (or resume) a campaign to a stop; return the final state."""
    lock = run_lock(str(db), campaign.name)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise SessionError(str(exc)) from None
    try:
        return _run_locked(campaign, source, db, dry_run=dry_run, speed=speed, faults=faults,
                           ledger_dir=ledger_dir, quiet=quiet, flags=flags, accept_changes=accept_changes)
    finally:
        lock.release()


def _run_locked(
    campaign: Campaign,
    source: str,
    db: Path,
    *,
    dry_run: bool,
    speed: float,
    faults: str | None,
    ledger_dir: Path | None,
    quiet: bool,
    flags: Flags | None = None,
    accept_changes: bool = False,
) -> str:
    store, campaign, resumed = open_or_create(campaign, source, db, flags, accept_changes)
    db = display_target(db)  # printed and sent from here on: never a server password
    if store.campaign()["state"] in sm.TERMINAL:
        state = store.campaign()["state"]
        print(f"campaign {campaign.name!r} in {db} is already {state}", file=sys.stderr)
        return state
    objective = campaign.objectives[0].name

    progress_log = logging.getLogger("labpilot.progress")

    def say(line: str) -> None:
        progress_log.info(line)  # reaches --log-file (INFO), not the console unless -v
        if not quiet:
            print(line, flush=True)

    def show(p: Progress) -> None:
        say(format_progress(p, objective))

    def on_state(old: str, new: str) -> None:
        if new in (sm.COMPLETED, sm.ABORTED, sm.FAULTED):
            notifier.send(new, previous=old, counts=store.counts(), fault=store.fault())

    final = "faulted"
    notifier = Notifier(campaign.notify, campaign.name, db)
    with ExitStack() as stack:
        stack.callback(store.close)
        stack.callback(notifier.flush)
        watch = Watch(store.target, notifier, lease=store.path).start()  # heartbeat: `status` tells a running agent from a dead one
        stack.callback(watch.stop)
        addresses: dict[str, str] = {}
        sims = []
        if dry_run:
            sims = start_simulators(campaign, store, speed=speed, faults=faults, ledger_dir=ledger_dir)
            addresses = {s.instrument: s.address for s in sims}
            if not quiet:
                for s in sims:
                    print(f"simulator {s.instrument:<13} ({s.kind}) pid {s.pid} at {s.address}", flush=True)
        if not quiet:
            verb = "resuming" if resumed else "starting"
            print(f"{verb} campaign {campaign.name!r}: planner {campaign.planner.name}, "
                  f"budget {campaign.budget.max_experiments}, mode {campaign.mode}, db {db}", flush=True)
        runner: CampaignRunner | None = None
        try:
            instruments = connect_instruments(campaign, addresses, speed, stack, dry_run=dry_run, journal=db)
            server = start_control(store, campaign.control, limit_check=_limit_checker(campaign, instruments))
            stack.callback(_best_effort, lambda: store.set_control_endpoint(None))
            stack.callback(server.stop)
            if not quiet:
                print(f"operator control at {server.endpoint} (labpilot status/pause/queue ... --db {db})",
                      flush=True)
            try:
                runner = CampaignRunner(campaign, store, instruments, progress=show, speed=speed,
                                        notice=say, on_state=on_state)
            except PlannerError as exc:
                raise SessionError(f"planner {campaign.planner.name!r}: {exc}") from None
            final = runner.run()
        except BaseException as exc:
            # Anything but SIGKILL: leave no simulator behind (a kill -9 keeps them for the resume).
            # First let the command in flight finish, so the simulator keeps its outcome for a resume.
            _best_effort(lambda exc=exc: store.log_event(
                "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped_by_error",
                error=f"{type(exc).__name__}: {exc}"))
            if isinstance(exc, StoreUnavailable) and runner is not None:
                print(f"instruments made safe: {', '.join(runner.made_safe) or 'none could be'}",
                      file=sys.stderr, flush=True)
            if dry_run and isinstance(exc, StoreUnavailable):
                # Like a SIGKILL: the simulators (instruments) keep what they did, the resume re-adopts
                # them, and their lease reaps them if no resume comes.
                pass
            elif dry_run:
                if runner is not None and not runner.wait_in_flight(timeout_s=30.0):
                    log.warning("an instrument command was still in flight when the simulators were stopped")
                stop_simulators(load_simulators(store))
            raise
        if final in sm.TERMINAL and dry_run:
            stop_simulators(sims)
            store.log_event("simulators_stopped")
        if not quiet:
            from labpilot.agent.report import campaign_status, format_status

            summary = campaign_status(store)
            summary.pop("agent", None)  # this process is the agent, and it is ending: not "running, pid N"
            print(format_status(summary), flush=True)
    return final

