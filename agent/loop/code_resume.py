"""A resumed campaign's function files (``file.py:function`` options): the same code wherever the folder lies.

The stored configuration names an instrument's function file by its absolute
path (``agent.code_refs``), so a moved campaign folder (or another mount)
changes that path but not the code. Like the candidate pool
(``pool_resume``), each file's SHA-256 is journaled when the campaign is
created (``code_identified``); on a resume a reference whose path differs,
with the same function name and a file of the same content, is the same
code moved: accepted, printed and journaled (``code_moved``). Another
content or function stays a change of the campaign (refused once
experiments have started). A file edited where it lies (same path, other
content: a driver function fixed after a fault) is listed as a change too
(``edited_refs``); once experiments have started it runs only with
``--accept-changes``, which journals the new identity (``code_changed``).

A database from before identities were journaled (or from before these
paths were made absolute, relative to the working directory) has none: the
stored path is hashed if it is still there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labpilot.agent.code_refs import code_file, field_path, instrument_refs, set_ref
from labpilot.agent.journal_latest import latest_journaled
from labpilot.agent.store import Store
from labpilot.planners.pool_identity import file_sha256

#: Journal entries that hold the function files' identities (``{field: {"ref", "sha256"}}`` under ``refs``).
IDENTITY_EVENTS = ("code_identified", "code_moved", "code_changed")

Move = tuple[int, str, str, str]  # (instrument index, option, stored reference, the file's reference)


def identify_refs(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``{field: {"ref": ..., "sha256": ...}}`` for every function file of ``config`` that can be read."""
    out: dict[str, dict[str, str]] = {}
    for i, option, ref in instrument_refs(config):
        code = code_file(ref)
        if code is None:
            continue
        try:
            out[field_path(i, option)] = {"ref": ref, "sha256": file_sha256(code)}
        except OSError:
            continue  # validate names a missing file; nothing to record
    return out


def record_refs(store: Store, config: dict[str, Any], why: str) -> None:
    """Journal the function files' identities (nothing when the campaign names none)."""
    refs = identify_refs(config)
    if refs:
        store.log_event("code_identified", why=why, refs=refs)


def recorded_refs(store: Store) -> dict[str, dict[str, str]] | None:
    """The latest journaled identities, or None (an older database)."""
    def refs(_kind: str, data: dict[str, Any]) -> dict[str, dict[str, str]] | None:
        value = data.get("refs")
        return value if isinstance(value, dict) else None

    return latest_journaled(store, IDENTITY_EVENTS, refs)


def _sha(ref: str) -> str | None:
    code = code_file(ref)
    try:
        return file_sha256(code) if code is not None else None
    except OSError:
        return None


def moved_refs(store: Store, stored: dict[str, Any], file_config: dict[str, Any]) -> list[Move]:
    """The stored references whose file moved: same function, same content, another path; write nothing."""
    current = {(i, option): ref for i, option, ref in instrument_refs(file_config)}
    recorded = recorded_refs(store) or {}
    moves: list[Move] = []
    for i, option, old in instrument_refs(stored):
        new = current.get((i, option))
        if new is None or new == old or old.rpartition(":")[2] != new.rpartition(":")[2]:
            continue
        entry = recorded.get(field_path(i, option))
        was = entry.get("sha256") if isinstance(entry, dict) and entry.get("ref") == old else _sha(old)
        if was is not None and was == _sha(new):
            moves.append((i, option, old, new))
    return moves


def with_moves(config: dict[str, Any], moves: list[Move]) -> dict[str, Any]:
    """A copy of ``config`` naming each moved file where it now lies."""
    out = copy.deepcopy(config)
    for i, option, _, new in moves:
        set_ref(out, i, option, new)
    return out


def copy_refs(source: dict[str, Any], target: dict[str, Any]) -> None:
    """Give ``target`` (the stored file re-read) the references of ``source`` (the stored configuration), in place.

    The stored file's text alone cannot say where its relative files were:
    the stored configuration has them resolved.
    """
    have = {(i, option) for i, option, _ in instrument_refs(target)}
    for i, option, ref in instrument_refs(source):
        if (i, option) in have:
            set_ref(target, i, option, ref)


def changed_refs(stored: dict[str, Any], file_config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, stored, file's) for references that still differ once moves are applied: other code.

    The file's text may be the same (a moved folder whose code was edited),
    so this is what makes such a change a listed difference, not a path the
    runner would find gone.
    """
    current = {(i, option): ref for i, option, ref in instrument_refs(file_config)}
    return [(field_path(i, option), old, current[(i, option)]) for i, option, old in instrument_refs(stored)
            if (i, option) in current and current[(i, option)] != old]


@dataclass(frozen=True)
class Edit:
    """A function file whose content changed where it lies since its identity was journaled."""

    field: str
    ref: str
    was: str  # the journaled SHA-256
    now: str  # the file's SHA-256

    def change(self) -> tuple[str, str, str]:
        """The edit as a listed difference (field, old, new): the file and the start of each hash."""
        path = self.ref.rpartition(":")[0]
        return self.field, f"{path} (sha256 {self.was[:12]})", f"{path} (sha256 {self.now[:12]}, edited)"


def edited_refs(store: Store, config: dict[str, Any]) -> list[Edit]:
    """The function files of ``config`` at their journaled path whose content is not the journaled one."""
    recorded = recorded_refs(store) or {}
    edits: list[Edit] = []
    for i, option, ref in instrument_refs(config):
        entry = recorded.get(field_path(i, option))
        if not isinstance(entry, dict) or entry.get("ref") != ref or not isinstance(entry.get("sha256"), str):
            continue  # not journaled at this path (moved, or an older database): nothing to compare with
        now = _sha(ref)
        if now is not None and now != entry["sha256"]:  # a file that is gone is the runner's error, by field
            edits.append(Edit(field_path(i, option), ref, entry["sha256"], now))
    return edits


def describe(moves: list[Move]) -> str:
    return "; ".join(f"{field_path(i, option)} {Path(old.rpartition(':')[0])} -> {Path(new.rpartition(':')[0])}"
                     for i, option, old, new in moves)


__all__ = ["Edit", "changed_refs", "copy_refs", "describe", "edited_refs", "identify_refs", "moved_refs", "record_refs", "recorded_refs", "with_moves"]
