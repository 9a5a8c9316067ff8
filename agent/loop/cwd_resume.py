"""A resumed campaign's command working directories (``options.cwd``): moved with the campaign folder.

``load_campaign`` makes a command instrument's ``cwd`` absolute against the
campaign file's folder (``agent.command_cwd``), so the stored configuration
names the folder the campaign was started in. When the folder has moved (or
is seen through another mount), the file's resolved ``cwd`` differs from the
stored one while the file says the same thing (no ``cwd``, or the same
relative one): that is the same campaign moved, not an edit. It is accepted,
printed and journaled (``cwd_moved``), as a moved pool or function file is
(``pool_resume``, ``code_resume``). A ``cwd`` the file itself changes stays a
change of the campaign (refused once experiments have started). Unlike a
pool or a function file, no content is compared here: a command's script is
identified by ``code_resume``, which journals it where it now lies.

A database from before this rule stored no ``cwd``: its command instruments
keep running in the working directory of ``labpilot run``, as they did when it
started (their run files and markers are there). The ``cwd`` the file now
gets by default is then not a change either (``legacy_cwds``);
a start from the file (a new database, or a restart before any experiment
started) follows the new rule.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from labpilot.agent.command_cwd import CWD_OPTION, command_options, field_path, instrument_cwds, raw_cwd

Move = tuple[int, str, str]  # (instrument index, stored cwd, the file's cwd)


def _raw(source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(source)
    except tomllib.TOMLDecodeError:
        return {}


def _as_written(value: Any) -> Any:
    """A ``cwd`` as the file gives it, for comparison (a relative one as a normalized path)."""
    return str(Path(value)) if isinstance(value, str) and value and not Path(value).is_absolute() else value


def moved_cwds(stored_source: str, file_source: str, stored: dict[str, Any], file_config: dict[str, Any]) -> list[Move]:
    """The stored ``cwd``s that differ from the file's only because the campaign folder moved; write nothing.

    ``stored_source``/``file_source``: the stored and current files' text; a
    move is where both say the same about ``cwd`` (nothing, or the same
    relative path) for a command instrument at the same index.
    """
    before, now = _raw(stored_source), _raw(file_source)
    current = dict(instrument_cwds(file_config))
    moves: list[Move] = []
    for i, old in instrument_cwds(stored):
        new = current.get(i)
        if new is None or new == old or not Path(old).is_absolute():  # relative: an older database's
            continue
        said, says = _as_written(raw_cwd(before, i)), _as_written(raw_cwd(now, i))
        if said == says and not (isinstance(says, str) and Path(says).is_absolute()):
            moves.append((i, old, new))
    return moves


def with_moves(config: dict[str, Any], moves: list[Move]) -> dict[str, Any]:
    """A copy of ``config`` naming each moved ``cwd`` where it now lies."""
    out = copy.deepcopy(config)
    options = dict(command_options(out))
    for i, _, new in moves:
        options[i][CWD_OPTION] = new
    return out


def copy_cwds(source: dict[str, Any], target: dict[str, Any]) -> None:
    """Give ``target`` (the stored file re-read without its folder) the ``cwd``s of ``source`` (the stored configuration).

    The stored file's text alone cannot say which folder it was in: the
    stored configuration has its ``cwd``s resolved (or as written: an older
    database).
    """
    resolved = dict(instrument_cwds(source))
    for i, options in command_options(target):
        if i in resolved:
            options[CWD_OPTION] = resolved[i]
        else:
            options.pop(CWD_OPTION, None)


def legacy_cwds(stored: dict[str, Any], file_source: str) -> dict[int, str | None]:
    """``{index: stored cwd}`` for command instruments of an older database that the file leaves as they were.

    A database stored before this rule holds no ``cwd`` (or a relative one,
    relative to the working directory). Where the file says the same (none,
    or the same relative path), the ``cwd`` it now resolves to is only the
    load-time rule, not an edit: such an instrument keeps running where it
    did (``reconfigure`` leaves it out of the differences).
    """
    now = _raw(file_source)
    out: dict[int, str | None] = {}
    for i, options in command_options(stored):
        cwd = options.get(CWD_OPTION)
        if isinstance(cwd, str) and Path(cwd).is_absolute():
            continue
        if _as_written(raw_cwd(now, i)) == _as_written(cwd):
            out[i] = cwd
    return out


def legacy_note(stored: dict[str, Any], legacy: dict[int, str | None]) -> str | None:
    """What to print about command instruments that still run relative to the working directory (None: none)."""
    if not legacy:
        return None
    where = "; ".join(f"{stored['instruments'][i].get('name')} in {Path.cwd() / cwd if cwd else Path.cwd()}"
                      for i, cwd in legacy.items())
    return (f"this campaign was stored before command instruments ran in the campaign file's folder: as when it "
            f"started, they run relative to the working directory ({where}); a new --db follows the new rule")


def describe(moves: list[Move]) -> str:
    return "; ".join(f"{field_path(i)} {old} -> {new}" for i, old, new in moves)


__all__ = ["copy_cwds", "describe", "field_path", "legacy_cwds", "legacy_note", "moved_cwds", "with_moves"]
