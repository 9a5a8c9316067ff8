"""A ``command`` instrument's working directory, made absolute against the campaign file's folder.

Everything else a campaign file names (``[space] pool``, a ``file.py:function``
featurizer or instrument function) is relative to the file's folder, so a
``command`` instrument runs there too: ``load_campaign`` sets its
``options.cwd`` to that folder when the file gives none, and makes a relative
one absolute against it (an absolute one stays). Relative ``argv`` items (the
script), ``result_file`` and its run markers then resolve in the campaign's
folder whatever directory ``labpilot run`` starts in, and the stored
configuration says explicitly where the program runs.

A configuration read without a folder (``loads_campaign(text)`` with no
``base``; a database stored before this rule) keeps no ``cwd``: the driver
then runs the program in the working directory, as it always did.
A resumed run treats a ``cwd`` that moved with the campaign folder as the same
campaign (``agent.loop.cwd_resume``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from labpilot.agent.code_refs import instrument_options

#: Instrument kinds whose program runs in ``options.cwd`` (declared here once).
CWD_KINDS = ("command",)
#: The option.
CWD_OPTION = "cwd"


def command_options(config: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(instrument index, options) for every command instrument of a (raw or dumped) configuration."""
    return ((i, options) for i, kind, options in instrument_options(config) if kind in CWD_KINDS)


def instrument_cwds(config: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """(instrument index, cwd) for every command instrument whose options give a ``cwd`` string."""
    for i, options in command_options(config):
        cwd = options.get(CWD_OPTION)
        if isinstance(cwd, str):
            yield i, cwd


def raw_cwd(config: dict[str, Any], i: int) -> Any:
    """What instrument ``i``'s options say ``cwd`` is (None when absent or not a command instrument)."""
    return next((options.get(CWD_OPTION) for j, options in command_options(config) if j == i), None)


def field_path(i: int) -> str:
    """The dotted field, as ``reconfigure.diff`` names it."""
    return f"instruments[{i}].options.{CWD_OPTION}"


def make_cwds_absolute(data: dict[str, Any], base: Path) -> None:
    """Every command instrument's ``cwd``: ``base`` when absent, else relative to ``base``; in place."""
    for _, options in command_options(data):
        cwd = options.get(CWD_OPTION)
        if cwd is None:
            options[CWD_OPTION] = str(base)
        elif isinstance(cwd, str) and cwd and not Path(cwd).is_absolute():
            options[CWD_OPTION] = str(base / cwd)  # an empty or mistyped one is left for validation to name


__all__ = ["CWD_KINDS", "CWD_OPTION", "command_options", "field_path", "instrument_cwds", "make_cwds_absolute",
           "raw_cwd"]
