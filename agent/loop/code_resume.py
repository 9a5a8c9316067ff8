"""A resumed campaign's code files: function files (``file.py:function`` options) and command scripts.

The stored configuration names an instrument's function file by its absolute
path (``agent.code_refs``), and a ``command`` instrument's script (the file
``{python}`` runs, or a program named by a relative path: ``script_items``)
by its ``argv`` item, relative to its absolute ``cwd`` (``agent.command_cwd``).
So a moved campaign folder (or another mount) changes where the code lies,
not the code. Like the candidate pool (``pool_resume``), each file's SHA-256
is journaled when the campaign is created (``code_identified``), under the
field that names it (``instruments[0].options.function``,
``instruments[1].options.argv[2]``); one walk (``code_files``) gives both
kinds. On a resume a function reference or an absolute script path that
differs, naming a file of the same content (and the same function), is the
same code moved: accepted, printed and journaled (``code_moved``); a relative
script moves with its ``cwd`` (``cwd_resume``) and its identity is journaled
where it now lies. Another content or function stays a change of the
campaign (refused once experiments have started). A file edited where it
lies (same path, other content: a driver function or a simulation script
fixed after a fault) is listed as a change too (``edited_refs``); once
experiments have started it runs only with ``--accept-changes``, which
journals the new identity (``code_changed``).

A database from before identities were journaled (or from before these
paths were made absolute, relative to the working directory; or from before
command scripts were identified) lacks them: the files where the stored
configuration names them are hashed, and their identities journaled, on the
next resume (``unidentified``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from labpilot.agent.code_refs import code_file, field_path, instrument_refs, set_ref
from labpilot.agent.command_cwd import command_options
from labpilot.agent.journal_latest import latest_journaled
from labpilot.agent.store import Store
from labpilot.planners.pool_identity import file_sha256

#: Journal entries that hold the code files' identities (``{field: {"ref", "sha256"}}`` under ``refs``).
IDENTITY_EVENTS = ("code_identified", "code_moved", "code_changed")
#: A command instrument's option whose items name its script.
SCRIPT_OPTION = "argv"


@dataclass(frozen=True)
class CodeFile:
    """A file of code a configuration names: a function's ``file.py``, or a command's script."""

    i: int  # the instrument's index
    option: str  # "function", "dry_run_model" or "argv"
    item: int | None  # a script's index in argv; None for a function reference
    written: str  # the option (or argv item) as the configuration gives it
    file: Path  # where it lies (a script: resolved against the command's cwd)

    @property
    def field(self) -> str:
        """The dotted field, as ``reconfigure.diff`` names it."""
        return field_path(self.i, self.option) + ("" if self.item is None else f"[{self.item}]")

    @property
    def ref(self) -> str:
        """What its identity is journaled under: the function reference, or the script's resolved path."""
        return self.written if self.item is None else str(self.file)

    @property
    def noun(self) -> str:
        return "function file" if self.item is None else "command script"

    def where(self, ref: str) -> str:
        """The file of ``ref`` (this kind's reference), for messages."""
        return ref.rpartition(":")[0] if self.item is None else ref

    def function(self) -> str | None:
        return self.written.rpartition(":")[2] if self.item is None else None

    def put(self, config: dict[str, Any]) -> None:
        """Name this file in ``config`` (the same instrument and option) as it is written here, in place."""
        if self.item is None:
            set_ref(config, self.i, self.option, self.written)
        else:
            config["instruments"][self.i]["options"][self.option][self.item] = self.written


def code_files(config: dict[str, Any]) -> Iterator[CodeFile]:
    """Every code file of a (dumped) configuration: function files, then command scripts."""
    from labpilot.drivers.generic.command import script_items  # the driver's rule (a lazy import: drivers are heavy)

    for i, option, ref in instrument_refs(config):
        code = code_file(ref)
        if code is not None:
            yield CodeFile(i, option, None, ref, code)
    for i, options in command_options(config):
        argv, cwd = options.get(SCRIPT_OPTION), options.get("cwd")
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            continue  # validation names it
        base = Path(cwd) if isinstance(cwd, str) and cwd else Path.cwd()  # no cwd: the working directory (driver)
        for j in script_items(argv):
            yield CodeFile(i, SCRIPT_OPTION, j, argv[j], base / argv[j])


Move = tuple[CodeFile, CodeFile]  # (as stored, as the file names it)


def _sha(code: Path) -> str | None:
    try:
        return file_sha256(code)
    except OSError:
        return None  # validate names a missing file


def identify_refs(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``{field: {"ref": ..., "sha256": ...}}`` for every code file of ``config`` that can be read."""
    out: dict[str, dict[str, str]] = {}
    for code in code_files(config):
        sha = _sha(code.file)
        if sha is not None:
            out[code.field] = {"ref": code.ref, "sha256": sha}
    return out


def record_refs(store: Store, config: dict[str, Any], why: str) -> None:
    """Journal the code files' identities (nothing when the campaign names none)."""
    refs = identify_refs(config)
    if refs:
        store.log_event("code_identified", why=why, refs=refs)


def recorded_refs(store: Store) -> dict[str, dict[str, str]] | None:
    """The latest journaled identities, or None (an older database)."""
    def refs(_kind: str, data: dict[str, Any]) -> dict[str, dict[str, str]] | None:
        value = data.get("refs")
        return value if isinstance(value, dict) else None

    return latest_journaled(store, IDENTITY_EVENTS, refs)


def unidentified(store: Store, config: dict[str, Any]) -> str | None:
    """Why ``config``'s code files must be journaled now (None: the journal has them where they lie).

    An older database has none (or none for command scripts); a script that
    moved with its ``cwd`` (``cwd_resume``) has its identity where it lay.
    """
    recorded, current = recorded_refs(store), identify_refs(config)
    if recorded is None or any(field not in recorded for field in current):
        return "first identified on a resume" if current else None
    if any(recorded[field] != entry for field, entry in current.items()):
        return "moved with the campaign folder"
    return None


def moved_refs(store: Store, stored: dict[str, Any], file_config: dict[str, Any]) -> list[Move]:
    """The stored code files the file names elsewhere, with the same content (and function); write nothing.

    A script named by the same relative path is not one: it moves with its
    ``cwd`` (``cwd_resume``).
    """
    current = {code.field: code for code in code_files(file_config)}
    recorded = recorded_refs(store) or {}
    moves: list[Move] = []
    for old in code_files(stored):
        new = current.get(old.field)
        if new is None or new.written == old.written or old.function() != new.function():
            continue
        entry = recorded.get(old.field)
        was = entry.get("sha256") if isinstance(entry, dict) and entry.get("ref") == old.ref else _sha(old.file)
        if was is not None and was == _sha(new.file):
            moves.append((old, new))
    return moves


def with_moves(config: dict[str, Any], moves: list[Move]) -> dict[str, Any]:
    """A copy of ``config`` naming each moved file where it now lies."""
    out = copy.deepcopy(config)
    for _, new in moves:
        new.put(out)
    return out


def copy_refs(source: dict[str, Any], target: dict[str, Any]) -> None:
    """Give ``target`` (the stored file re-read) the code files of ``source`` (the stored configuration), in place.

    The stored file's text alone cannot say where its relative files were:
    the stored configuration has them resolved (and a moved file where it
    now lies: ``with_moves``). A command's ``cwd`` is ``cwd_resume.copy_cwds``'.
    """
    have = {code.field for code in code_files(target)}
    for code in code_files(source):
        if code.field in have:
            code.put(target)


def changed_refs(stored: dict[str, Any], file_config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, stored, file's) for function references that still differ once moves are applied: other code.

    The file's text may be the same (a moved folder whose code was edited),
    so this is what makes such a change a listed difference, not a path the
    runner would find gone. (A command script's argv item is compared as
    written; one that moved with its ``cwd`` and changed is ``edited_refs``'.)
    """
    current = {(i, option): ref for i, option, ref in instrument_refs(file_config)}
    return [(field_path(i, option), old, current[(i, option)]) for i, option, old in instrument_refs(stored)
            if (i, option) in current and current[(i, option)] != old]


@dataclass(frozen=True)
class Edit:
    """A code file whose content is not the one journaled for its field."""

    code: CodeFile
    recorded: str  # the journaled reference
    was: str  # the journaled SHA-256
    now: str  # the file's SHA-256

    @property
    def field(self) -> str:
        return self.code.field

    @property
    def ref(self) -> str:
        return self.code.ref

    @property
    def in_place(self) -> bool:
        """Edited where it lies (may run with --accept-changes); else it moved too (another file: a change)."""
        return self.recorded == self.code.ref

    def change(self) -> tuple[str, str, str]:
        """The edit as a listed difference (field, old, new): the file and the start of each hash."""
        return (self.field, f"{self.code.where(self.recorded)} (sha256 {self.was[:12]})",
                f"{self.code.where(self.ref)} (sha256 {self.now[:12]}, edited)")


def edited_refs(store: Store, config: dict[str, Any]) -> list[Edit]:
    """The code files of ``config`` (moves applied) whose content is not the one journaled for their field."""
    recorded = recorded_refs(store) or {}
    edits: list[Edit] = []
    for code in code_files(config):
        entry = recorded.get(code.field)
        if not isinstance(entry, dict) or not isinstance(entry.get("ref"), str) or \
                not isinstance(entry.get("sha256"), str):
            continue  # an older database: nothing to compare with (journaled on this resume)
        now = _sha(code.file)
        if now is not None and now != entry["sha256"]:  # a file that is gone is the runner's error, by field
            edits.append(Edit(code, entry["ref"], entry["sha256"], now))
    return edits


def _by_noun(items: list[tuple[CodeFile, str]], what: str) -> list[str]:
    """One line per kind of file: ``{noun} {what}: field text; ...``."""
    nouns = sorted({code.noun for code, _ in items})
    return [f"{noun} {what}: " + "; ".join(f"{code.field} {text}" for code, text in items if code.noun == noun)
            for noun in nouns]


def describe(moves: list[Move]) -> list[str]:
    """What to print about moved files (one line per kind)."""
    return _by_noun([(old, f"{Path(old.where(old.ref))} -> {Path(new.where(new.ref))}") for old, new in moves],
                    "moved, same content")


def describe_edits(edits: list[Edit]) -> list[str]:
    """What to print about files edited in place whose new code runs (one line per kind)."""
    return _by_noun([(e.code, e.code.where(e.ref)) for e in edits], "edited, its new code runs from now on")


__all__ = ["CodeFile", "Edit", "changed_refs", "code_files", "copy_refs", "describe", "describe_edits", "edited_refs",
           "identify_refs", "moved_refs", "record_refs", "recorded_refs", "unidentified", "with_moves"]
