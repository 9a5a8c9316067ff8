"""Campaign fields that name code as ``file.py:function``, made absolute against the campaign file's folder.

A ``python`` instrument's ``options.function`` (and a ``manual`` step's
``options.dry_run_model``) may name a file next to the campaign
(``sim.py:make``). A user runs ``labpilot run campaigns/x/campaign.toml``
from anywhere, so such a file is relative to the campaign file's folder, not
to the working directory: ``load_campaign`` makes it absolute before
validation, as it does ``[space] pool`` and a ``file.py:function``
featurizer, and a ``command`` instrument's ``cwd`` (``agent.command_cwd``).
``module:function`` (an importable module) is left as written.

The stored configuration then holds absolute paths; a resumed run compares
the file's content where the folder now lies (``agent.loop.code_resume``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from labpilot.planners.pool_identity import featurizer_file

#: Instrument kinds whose options name a function, and which options (declared here once).
CODE_OPTIONS: dict[str, tuple[str, ...]] = {"python": ("function",), "manual": ("dry_run_model",)}


def code_file(ref: str | None) -> Path | None:
    """The file of a ``file.py:function`` (or ``dir/module:function``) reference; None for ``module:function``."""
    return featurizer_file(ref)


def absolute_ref(ref: str, base: Path) -> str:
    """``ref`` with a relative file made absolute against ``base`` (a module reference unchanged)."""
    code = code_file(ref)
    if code is None or code.is_absolute():
        return ref
    return f"{base / code}:{ref.rpartition(':')[2]}"


def instrument_options(config: dict[str, Any]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(instrument index, kind, options) for every instrument of a (raw or dumped) configuration that has options.

    Raw: the file may be malformed (validation names it), so anything that is
    not a table is skipped here.
    """
    instruments = config.get("instruments")
    if not isinstance(instruments, list):
        return
    for i, inst in enumerate(instruments):
        if isinstance(inst, dict) and isinstance(inst.get("options"), dict):
            yield i, str(inst.get("kind")), inst["options"]


def instrument_refs(config: dict[str, Any]) -> Iterator[tuple[int, str, str]]:
    """(instrument index, option, reference) for every function reference in a (raw or dumped) configuration."""
    for i, kind, options in instrument_options(config):
        for option in CODE_OPTIONS.get(kind, ()):
            ref = options.get(option)
            if isinstance(ref, str) and ":" in ref:
                yield i, option, ref


def field_path(i: int, option: str) -> str:
    """The dotted field of a reference, as ``reconfigure.diff`` names it."""
    return f"instruments[{i}].options.{option}"


def make_refs_absolute(data: dict[str, Any], base: Path) -> None:
    """Every instrument's function reference relative to ``base`` (the campaign's folder), in place."""
    for i, option, ref in list(instrument_refs(data)):
        data["instruments"][i]["options"][option] = absolute_ref(ref, base)


def set_ref(config: dict[str, Any], i: int, option: str, ref: str) -> None:
    config["instruments"][i]["options"][option] = ref


__all__ = ["CODE_OPTIONS", "absolute_ref", "code_file", "field_path", "instrument_refs", "make_refs_absolute",
           "set_ref"]
