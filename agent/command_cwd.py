"""A ``command`` instrument's working directory, made absolute against the campaign file's folder.

Everything else a campaign file names (``[space] pool``, a ``file.py:function``
featurizer or instrument function) is relative to the file's folder, so a
``command`` instrument runs there too: ``load_campaign`` sets its
``options.cwd`` to that folder when the file gives none, and makes a relative
one absolute against it (an absolute one stays). Relative ``argv`` items (the
script), ``result_file`` and its run markers then resolve in the campaign's
folder whatever directory ``labpilot run`` starts in, and the stored
configuration says explicitly where the program runs.

The same holds for a plugin's (or a class path's) subclass of the
``command`` driver under a kind of its own (``runs_in_cwd``).

A configuration read without a folder (``loads_campaign(text)`` with no
``base``; a database stored before this rule) keeps no ``cwd``: the driver
then runs the program in the working directory, as it always did.
A resumed run treats a ``cwd`` that moved with the campaign folder as the same
campaign (``agent.loop.cwd_resume``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from labpilot import registry
from labpilot.agent.code_refs import instrument_options
from labpilot.errors import LabpilotError

#: labpilot's own instrument kinds whose program runs in ``options.cwd`` (declared here once).
CWD_KINDS = ("command",)
#: The option.
CWD_OPTION = "cwd"


def runs_in_cwd(kind: object) -> bool:
    """Whether an instrument of ``kind`` runs a program in ``options.cwd``: ``command``, or a subclass of its driver.

    labpilot's other own kinds are known not to without importing them; a
    plugin's kind or a class path is imported (as ``validate`` does) and
    checked. One that cannot be loaded is not a command here: validation
    names it.
    """
    if kind in CWD_KINDS:
        return True
    if not isinstance(kind, str):
        return False
    entry = registry.DRIVERS.entries().get(kind)
    if entry is not None and entry.distribution.lower().startswith(registry.OWN_DISTRIBUTION):
        return False
    if entry is None and not registry.is_class_path(kind):
        return False  # an unknown kind
    try:
        cls = registry.driver_class(kind)
    except LabpilotError:
        return False
    from labpilot.drivers.generic.command import CommandDriver  # only for a plugin's kind

    return issubclass(cls, CommandDriver)


def command_options(config: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(instrument index, options) for every command instrument of a (raw or dumped) configuration."""
    return ((i, options) for i, kind, options in instrument_options(config) if runs_in_cwd(kind))


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


__all__ = ["CWD_KINDS", "CWD_OPTION", "command_options", "runs_in_cwd", "field_path", "instrument_cwds", "make_cwds_absolute",
           "raw_cwd"]
