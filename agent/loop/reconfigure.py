"""What a resumed `labpilot run` does with a changed campaign file or command-line flags.

A database remembers the campaign it runs: its configuration (with the flags
it was started with) and the text of its file. On a resume, nothing that
differs is silently ignored:

- a flag that differs from the stored campaign is applied and journaled if it
  may change mid-campaign (budget, deadline, mode, supervision timeout, fault
  policy), or refused with a message naming it (the seed);
- a campaign file that differs from the stored one is printed as a
  difference; while no experiment has started, the campaign restarts from the
  file; afterwards the run is refused unless ``--accept-changes``, and even
  then only the fields above may change;
- a candidate pool (``[space] pool``) is compared by content, not path
  (``pool_resume``): a moved campaign folder resumes, an edited pool does not.
- so is an instrument's ``file.py:function`` and a command instrument's script
  (``code_resume``); one edited in place (a fixed driver function or
  simulation script) is listed as a change and, once experiments have
  started, runs only with ``--accept-changes`` (journaled ``code_changed``);
- a command instrument's ``cwd`` (the campaign file's folder, resolved on
  loading) that moved with the folder is the same campaign (``cwd_resume``);
  a database stored before that rule keeps its commands in the working
  directory;
- a completed campaign whose budget is raised continues; a budget that adds
  nothing says so (``completed_budget``).
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from labpilot.errors import CampaignError, SessionError
from labpilot.agent import store as st
from labpilot.agent.campaign import Campaign, loads_campaign, parse_campaign
from labpilot.agent import machine as sm
from labpilot.agent.loop import code_resume, cwd_resume
from labpilot.agent.loop.completed_budget import budget_used, changes_nothing, reopen_if_raised
from labpilot.agent.loop.pool_resume import PoolCheck, check_pool, record_identity
from labpilot.agent.store import Store

#: Configuration fields that may change once experiments have started (dotted prefixes).
MUTABLE = ("budget.", "mode", "supervision.", "faults.", "notify.")

_MISSING = "<absent>"


@dataclass(frozen=True)
class Flags:
    """The command-line flags of `labpilot run` that touch the campaign (None: not given)."""

    max_experiments: int | None = None
    seed: int | None = None
    mode: str | None = None
    deadline: str | None = None
    approval_timeout_s: float | None = None
    watchdog_s: float | None = None

    def settings(self) -> list[tuple[str, str, Any]]:
        """(dotted field, flag spelling, value) for every flag given."""
        table = [("budget.max_experiments", "--max-experiments", self.max_experiments),
                 ("seed", "--seed", self.seed), ("mode", "--mode", self.mode),
                 ("budget.deadline", "--deadline", self.deadline),
                 ("supervision.approval_timeout_s", "--approval-timeout", self.approval_timeout_s),
                 ("faults.watchdog_s", "--watchdog", self.watchdog_s)]
        return [(f, flag, v) for f, flag, v in table if v is not None]


def is_mutable(path: str) -> bool:
    return any(path == p or path.startswith(p) for p in MUTABLE)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "l": [x]}`` → ``{"a.b": 1, "l[0]": x}`` (leaves only)."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted field, old, new) for every leaf that differs."""
    a, b = flatten(old), flatten(new)
    return [(k, a.get(k, _MISSING), b.get(k, _MISSING)) for k in sorted(set(a) | set(b)) if a.get(k, _MISSING) != b.get(k, _MISSING)]


def format_diff(changes: list[tuple[str, Any, Any]]) -> str:
    return "\n".join(f"  {path}: {old!r} -> {new!r}" for path, old, new in changes)


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted leaf (``budget.max_experiments``); ``_MISSING`` deletes it."""
    parts = path.split(".")
    node = config
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    if value == _MISSING:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def _get(config: dict[str, Any], path: str) -> Any:
    node: Any = config
    for p in path.split("."):
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def apply_flags_new(config: dict[str, Any], flags: Flags) -> dict[str, Any]:
    """A new campaign: the file's configuration with the flags applied."""
    out = copy.deepcopy(config)
    for path, _, value in flags.settings():
        _set(out, path, value)
    if flags.max_experiments is not None:
        out["initial_design"] = min(out.get("initial_design", 5), flags.max_experiments)
    return out


def started(store: Store) -> bool:
    """Whether any experiment has started (a command went out, or one finished)."""
    if store.commands():
        return True
    return any(e.status not in (st.AWAITING_APPROVAL, st.APPROVED, st.REJECTED, st.ABANDONED)
               for e in store.experiments())


def _validated(config: dict[str, Any], db: str) -> Campaign:
    try:
        return parse_campaign(config, db)
    except CampaignError as exc:
        problems = "; ".join(f"{p}: {r}" for p, r in exc.problems)
        raise SessionError(f"the campaign after the changes is invalid: {problems}") from None


def _record_pool(store: Store, pool: PoolCheck, why: str) -> None:
    if pool.current is not None:
        record_identity(store, pool.current, why)


def reconcile(store: Store, file_config: dict[str, Any], file_source: str, flags: Flags,
              accept_changes: bool, *, say: Any = print) -> Campaign:
    """Bring the stored campaign in line with the file and flags, or refuse; return the effective campaign."""
    db = store.label
    held = store.campaign()
    stored = held["config"]
    pool = check_pool(store, stored, file_config, file_source)
    if pool.changed and started(store):
        raise SessionError(
            f"space.pool: {pool.current.path} is not the pool this campaign started with: its content changed "
            f"(was {pool.recorded.describe()}; now {pool.current.describe()}); restore the file or use another --db")
    if pool.gone and started(store):
        raise SessionError(pool.unverifiable())
    if pool.moved:  # the same pool elsewhere (a moved folder, another mount): compare the rest as if in place
        stored = copy.deepcopy(stored)
        stored["space"]["pool"] = pool.current.path
    featurizer_moved = pool.featurizer_moved and stored["space"].get("featurizer") == pool.recorded.featurizer
    if featurizer_moved:  # its file.py moved with the folder: same content, same function
        stored = copy.deepcopy(stored)
        stored["space"]["featurizer"] = pool.current.featurizer
    code_moves = code_resume.moved_refs(store, stored, file_config)  # a function's file.py or a script, moved
    if code_moves:
        stored = code_resume.with_moves(stored, code_moves)
    cwd_moves = cwd_resume.moved_cwds(held["source_toml"], file_source, stored, file_config)  # with the folder
    if cwd_moves:
        stored = cwd_resume.with_moves(stored, cwd_moves)
    legacy = cwd_resume.legacy_cwds(stored, file_source)  # an older database: commands in the working directory
    changes: list[tuple[str, Any, Any]] = []
    if held["source_toml"] != file_source:
        try:
            stored_file = loads_campaign(held["source_toml"], db).model_dump(mode="json")
            # [space] paths were made absolute against the file's folder when it was stored: the stored
            # configuration has them as that same text resolved (the text alone cannot say where it was)
            if isinstance(stored.get("space"), dict) and isinstance(stored_file.get("space"), dict):
                for key in ("pool", "featurizer"):
                    stored_file["space"][key] = stored["space"].get(key)
            code_resume.copy_refs(stored, stored_file)  # so are instruments' file.py:function options
            cwd_resume.copy_cwds(stored, stored_file)  # and command instruments' cwd
        except CampaignError:
            stored_file = None  # the stored file no longer validates: compare with the stored configuration
        base = stored_file if stored_file is not None else stored
        changes = diff(base, file_config)
        if stored_file is None:  # the stored configuration holds the flags of earlier runs: not file changes
            changes = [c for c in changes if not is_mutable(c[0])]
        kept = {cwd_resume.field_path(i) for i in legacy}  # the load-time default cwd: not the user's edit
        changes = [c for c in changes if c[0] not in kept]
    if pool.changed and not any(c[0] == "space.pool" for c in changes):  # edited in place: same path, new content
        changes.append(pool.change())
    for change in code_resume.changed_refs(stored, file_config):  # other code, even where the text is the same
        if not any(c[0] == change[0] for c in changes):
            changes.append(change)
    # a code file edited where it lies (the same reference, other code), or a script moved with its cwd and edited
    edits = [e for e in code_resume.edited_refs(store, stored) if not any(c[0] == e.field for c in changes)]
    changes.extend(e.change() for e in edits)
    edited = {e.field for e in edits if e.in_place}  # the others are other files: a change like any other
    if pool.gone and not any(c[0] == "space.pool" for c in changes):  # nothing started: restart from the file
        changes.append(("space.pool", pool.gone, pool.current.path if pool.current else None))
    if changes:
        say(f"the campaign file differs from the one stored in {db}:\n{format_diff(changes)}")
        if not started(store):
            config = apply_flags_new(file_config, flags)
            _validated(config, db)
            for exp in store.experiments((st.AWAITING_APPROVAL, st.APPROVED)):
                store.update_experiment(exp.id, status=st.ABANDONED, event="abandoned",
                                        reason="the campaign file changed before any experiment started")
            store.update_config(config, event="restarted_from_file", source_toml=file_source,
                                changes=[list(c) for c in changes])
            store.set_fault(None)
            if held["state"] != "idle":
                store.set_state("idle", trigger="restarted_from_file")
            _record_pool(store, pool, "the campaign restarted from the file")
            code_resume.record_refs(store, config, "the campaign restarted from the file")
            say("no experiment had started: the campaign restarts from the file")
            return _validated(config, db)
        fixed = [c[0] for c in changes if not is_mutable(c[0]) and c[0] not in edited]
        if fixed:
            raise SessionError(
                f"{', '.join(fixed)} cannot change once experiments have started (only budget, mode, "
                f"supervision, faults and the code inside a function file or command script may); restore the file or "
                "use another --db")
        if not accept_changes:
            what = "".join(f"{e.field}: the {e.code.noun} was edited; " for e in sorted(edits, key=lambda e: e.field))
            raise SessionError(f"experiments have started: {what}pass --accept-changes to apply these changes "
                               "(budget, mode, supervision, faults and edited function files or command scripts "
                               "only)")
        stored = copy.deepcopy(stored)
        for path, _, new in changes:
            if path not in edited:  # an edit is in the file, not the configuration
                _set(stored, path, new)
        _validated(stored, db)
        store.update_config(stored, event="config_changed", source_toml=file_source, by="campaign file",
                            changes=[list(c) for c in changes])
        say("applied the changes (--accept-changes)")
    if pool.moved or featurizer_moved:
        assert pool.recorded is not None and pool.current is not None
        store.update_config(stored, event="pool_moved", by="campaign file", **{"from": pool.recorded.as_dict()},
                            to=pool.current.as_dict())
        if pool.moved:
            say(f"pool moved from {pool.recorded.path} to {pool.current.path}, same content "
                f"({pool.current.describe()})")
        if featurizer_moved:
            say(f"featurizer moved from {pool.recorded.featurizer} to {pool.current.featurizer}, same content")
    elif not pool.recorded_journaled:
        _record_pool(store, pool, "first identified on a resume")
    if edits:
        store.log_event("code_changed", by="campaign file", refs=code_resume.identify_refs(stored),
                        edits=[[e.field, e.ref, e.was, e.now] for e in edits])
        for line in code_resume.describe_edits(edits):
            say(line)
    if code_moves:
        store.update_config(stored, event="code_moved", by="campaign file",
                            moves=[[old.field, old.ref, new.ref] for old, new in code_moves],
                            refs=code_resume.identify_refs(stored))
        for line in code_resume.describe(code_moves):
            say(line)
    if cwd_moves:
        store.update_config(stored, event="cwd_moved", by="campaign file",
                            moves=[[cwd_resume.field_path(i), old, new] for i, old, new in cwd_moves])
        say(f"command working directory moved with the campaign folder: {cwd_resume.describe(cwd_moves)}")
    why = code_resume.unidentified(store, stored)  # an older database, or scripts moved with their cwd
    if why:
        code_resume.record_refs(store, stored, why)
    note = cwd_resume.legacy_note(stored, legacy)
    if note:
        say(note)
    stored = copy.deepcopy(stored)
    completed = held["state"] == sm.COMPLETED
    used = budget_used(store.counts()) if completed else 0
    applied: list[tuple[str, Any, Any]] = []
    for path, flag, value in flags.settings():
        old = _get(stored, path)
        new = value
        if path == "budget.deadline" and isinstance(value, str):
            new = _validated({**stored, "budget": {**stored["budget"], "deadline": value}}, db).budget.deadline
            new = new.isoformat() if isinstance(new, dt.datetime) else new
        if completed and path == "budget.max_experiments" and new <= used:
            say(changes_nothing(stored["name"], used, f"{flag} {value}"))  # never silently ignored
            continue
        if old == new:
            continue
        if not is_mutable(path):
            if started(store):
                raise SessionError(f"{flag} {value}: this campaign was started with {path.split('.')[-1]} {old} "
                                   f"and it cannot change once experiments have started; use another --db")
        _set(stored, path, new)
        applied.append((path, old, new))
    if applied:
        _validated(stored, db)
        for path, old, new in applied:
            say(f"resuming with {path} {old!r} -> {new!r} (from the command line)")
        from labpilot.agent.operator import after_mode_switch

        store.update_config(stored, event="settings_changed", by="command line",
                            changes=[list(c) for c in applied])
        if any(p == "mode" for p, _, _ in applied):
            after_mode_switch(store, stored["mode"], by="command line")
    effective = _validated(store.campaign()["config"], db)
    if completed:  # a raised budget (flag or file) continues a completed campaign
        reopen_if_raised(store, held, effective, used, say)
    return effective
