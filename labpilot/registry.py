"""Names resolved to code, lazily: the one place that lists instrument kinds, simulators and planners.

Everything is found through entry points (``importlib.metadata``), in three
groups: ``labpilot.drivers`` (instrument kind -> driver class),
``labpilot.simulators`` (instrument kind -> simulator module or class, with
``serve(args)`` and ``TRANSPORTS``) and ``labpilot.planners`` (planner name
-> planner class). labpilot's own six drivers, their simulators and the
planners register in its ``pyproject.toml`` through the same groups as any
plugin package; there is no private path for them.

A :class:`Registry` maps a name to a ``"module:attr"`` (or ``"module"``)
target and imports it only when asked, so listing the kinds, validating a
campaign or starting a simulator never imports torch or a driver it does not
use. A name may also be a class path, ``"mylab.probe:FourPointProbe"``: a
class that no package registered (a campaign names it directly). A target
that fails to import raises :class:`~labpilot.errors.PluginError`, one line
naming the entry point and the error.

Everything else about a kind (its role, the scalars and arrays it measures
with their units, the axes of its arrays, its safety limits, its options) is
declared on the driver class (``labpilot.drivers.base.DriverBase``); the
simulators declare the transports they serve (``TRANSPORTS``).
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from labpilot.errors import ConfigurationError, PluginError

log = logging.getLogger("labpilot.registry")

#: ``package.module:Class`` (or ``module:attr.attr``): a target named by its import path.
CLASS_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

#: The distribution labpilot's own entries come from.
OWN_DISTRIBUTION = "labpilot"


def is_class_path(name: object) -> bool:
    """Whether ``name`` is a ``module:attr`` import path rather than a registered name."""
    return isinstance(name, str) and CLASS_PATH.fullmatch(name) is not None


@dataclass(frozen=True)
class Entry:
    """One name of a group: its target and the distribution that registered it."""

    name: str
    target: str
    distribution: str

    def where(self, group: str) -> str:
        """How an error names it: the entry point, or the class path a campaign gave."""
        if self.distribution:
            return f"entry point {group}: {self.name} = {self.target} (distribution {self.distribution})"
        return f"class path {self.target}"


@functools.lru_cache(maxsize=None)
def _installed(group: str) -> tuple[Entry, ...]:
    """The entry points of ``group`` over every installed distribution, labpilot's first, de-duplicated."""
    seen: dict[str, Entry] = {}
    found = []
    for ep in metadata.entry_points(group=group):
        dist = ep.dist.metadata["Name"] if ep.dist is not None else "?"
        found.append(Entry(ep.name, ep.value, dist))
    found.sort(key=lambda e: (e.distribution.lower() != OWN_DISTRIBUTION, e.distribution.lower(), e.name))
    for entry in found:
        other = seen.get(entry.name)
        if other is None:
            seen[entry.name] = entry
        elif other.target != entry.target:  # the same checkout seen twice (egg-info + dist-info) agrees
            log.warning("%s: %s is registered by %s and by %s; using %s's",
                        group, entry.name, other.distribution, entry.distribution, other.distribution)
    return tuple(seen.values())


#: The source tree's project file (absent from an installed wheel, which always has its metadata).
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@functools.lru_cache(maxsize=None)
def source_tree_entry_points(group: str) -> dict[str, str]:
    """``[project.entry-points."<group>"]`` of the source tree's ``pyproject.toml`` (empty without one)."""
    import tomllib

    try:
        data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return dict(data.get("project", {}).get("entry-points", {}).get(group, {}))


def clear_cache() -> None:
    """Forget the scanned entry points (after installing a plugin into this running interpreter)."""
    _installed.cache_clear()


@dataclass(frozen=True)
class Registry:
    """One entry-point group: ``name -> "module:attr"``, resolved on demand.

    The fallback table is used only when labpilot's own package metadata
    does not register this group (a source tree that was never installed, or
    metadata older than the entry points). By default it is read from the
    same ``[project.entry-points."<group>"]`` table of the source tree's
    ``pyproject.toml`` that an install registers, so the built-ins are
    listed in one place.
    """

    #: The entry-point group the table stands for.
    group: str
    #: What a name is, for error messages ("instrument kind").
    what: str
    #: Used only without labpilot's own metadata; None: the group's table in the source tree's pyproject.toml.
    fallback: Mapping[str, str] | None = None

    # ---------------------------------------------------------------- listing
    def entries(self) -> dict[str, Entry]:
        """Every registered name and where it comes from."""
        installed = _installed(self.group)
        out: dict[str, Entry] = {}
        if not any(e.distribution.lower() == OWN_DISTRIBUTION for e in installed):
            fallback = self.fallback if self.fallback is not None else source_tree_entry_points(self.group)
            out.update({n: Entry(n, t, f"{OWN_DISTRIBUTION} (source tree)") for n, t in fallback.items()})
        for entry in installed:
            out.setdefault(entry.name, entry)
        return out

    def targets(self) -> dict[str, str]:
        """Every registered name and its target."""
        return {name: e.target for name, e in self.entries().items()}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.targets() or is_class_path(name))

    def names(self) -> tuple[str, ...]:
        """The registered names, sorted (class paths are not listed: nothing registers them)."""
        return tuple(sorted(self.targets()))

    # ---------------------------------------------------------------- lookup
    def entry(self, name: str) -> Entry:
        """The entry of ``name`` (a registered name or a class path); unknown names list the known ones."""
        found = self.entries().get(name)
        if found is not None:
            return found
        if is_class_path(name):
            return Entry(name, name, "")
        noun = self.what.split()[-1]
        raise ConfigurationError(
            f"unknown {self.what} {name!r}; known {noun}s: {', '.join(self.names())} "
            f"(or a class path such as 'mypackage.module:MyClass')"
        )

    def target(self, name: str) -> str:
        """The ``module:attr`` target of ``name``."""
        return self.entry(name).target

    def load(self, name: str) -> Any:
        """Import and return what ``name`` stands for (a class, or a module for a bare target).

        Any failure while importing it is a ``PluginError``: one line with the
        entry point (or class path) and the error, no traceback.
        """
        entry = self.entry(name)
        module_name, _, attr = entry.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in filter(None, attr.split(".")):
                obj = getattr(obj, part)
        except Exception as exc:  # a plugin's import may raise anything; say which plugin and what
            first = (str(exc).strip().splitlines() or [""])[0]
            raise PluginError(
                f"cannot load {self.what} {name!r} from {entry.where(self.group)}: {type(exc).__name__}: {first}"
            ) from None
        return obj


#: Instrument kind -> its driver class.
DRIVERS = Registry("labpilot.drivers", "instrument kind")

#: Instrument kind -> its simulator (a module or class with ``serve(args)`` and ``TRANSPORTS``).
SIMULATORS = Registry("labpilot.simulators", "simulator kind")

#: Planner name -> its planner class.
PLANNERS = Registry("labpilot.planners", "planner")


def instrument_kinds() -> tuple[str, ...]:
    """Every registered instrument kind (a campaign may also name a class path)."""
    return DRIVERS.names()


#: Class-path kinds this process has loaded (a campaign named them): summaries over kinds include them.
_CLASS_PATH_KINDS: dict[str, type] = {}


def driver_class(kind: str) -> type:
    """The driver class of ``kind`` (imported on first use); a ``PluginError`` if it is not a driver."""
    cls = DRIVERS.load(kind)
    if not isinstance(cls, type) or getattr(cls, "role", None) not in ("synthesize", "measure"):
        raise PluginError(
            f"instrument kind {kind!r} ({DRIVERS.entry(kind).where(DRIVERS.group)}) is not a driver class: "
            "it needs a class attribute role = 'synthesize' or 'measure' (subclass labpilot.drivers.base.DriverBase)"
        )
    if is_class_path(kind) and kind not in DRIVERS.targets():
        _CLASS_PATH_KINDS[kind] = cls
    return cls


def simulator_target(kind: str) -> str | None:
    """Where the simulator of ``kind`` lives, without importing it: the group's entry, else the driver's ``simulator``."""
    if not is_class_path(kind) and kind in SIMULATORS.targets():
        return SIMULATORS.target(kind)
    target = getattr(driver_class(kind), "simulator", None)
    return target if isinstance(target, str) and target else None


def simulator(kind: str) -> Any:
    """The simulator (module or class with ``serve(args)`` and ``TRANSPORTS``) of ``kind``."""
    if not is_class_path(kind) and kind in SIMULATORS.targets():
        return SIMULATORS.load(kind)
    if not is_class_path(kind) and kind not in DRIVERS.targets():
        # List what can be simulated, not every kind (manual, command, python have no simulator).
        raise ConfigurationError(
            f"unknown instrument kind {kind!r}; kinds with a simulator: {', '.join(SIMULATORS.names())}")
    target = simulator_target(kind)
    if target is None:
        raise PluginError(
            f"instrument kind {kind!r} has no simulator: register one in the entry-point group "
            f"{SIMULATORS.group}, or give the driver class an attribute simulator = 'module:Class'"
        )
    return SIMULATORS.load(target)


def configured_class(kind: str, options: Mapping[str, Any] | None = None) -> type:
    """The driver class describing an instrument of ``kind`` with ``options`` (a generic driver's role,
    scalars and limits come from its options: ``for_options``)."""
    return driver_class(kind).for_options(options or {})


def role(kind: str, options: Mapping[str, Any] | None = None) -> str:
    """``"synthesize"`` or ``"measure"``: what an instrument of ``kind`` does in the loop."""
    return configured_class(kind, options).role


def measured_scalars(kind: str, options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The scalars an instrument of ``kind`` measures, with their units (empty for a synthesizer)."""
    return dict(configured_class(kind, options).scalars)


def loadable_driver_classes() -> dict[str, type]:
    """Every registered kind's driver class (and the class-path kinds loaded so far); a plugin that fails to load is skipped with a warning.

    For summaries over all kinds (the axes, the synthesizer kinds): one broken
    plugin must not break a campaign that does not use it.
    """
    out: dict[str, type] = {}
    for kind in instrument_kinds():
        try:
            out[kind] = driver_class(kind)
        except PluginError as exc:
            log.warning("%s", exc)
    out.update(_CLASS_PATH_KINDS)
    return out


def synthesizer_kinds() -> tuple[str, ...]:
    """The registered kinds that make samples (a generic kind whose role is an option counts too)."""

    def can_make(cls: Any) -> bool:
        return cls.role == "synthesize" or bool(getattr(cls, "role_from_options", False))

    return tuple(k for k, cls in loadable_driver_classes().items() if can_make(cls))


def axis_arrays() -> frozenset[str]:
    """Names of measured arrays that are an x axis (``two_theta``), not a signal, over every registered kind."""
    return frozenset(a for cls in loadable_driver_classes().values() for a in cls.axes)


def planner_class(name: str) -> type:
    """The planner class registered as ``name`` (or named by a class path), imported on first use."""
    return PLANNERS.load(name)


__all__ = [
    "DRIVERS",
    "Entry",
    "PLANNERS",
    "Registry",
    "SIMULATORS",
    "axis_arrays",
    "clear_cache",
    "configured_class",
    "driver_class",
    "instrument_kinds",
    "is_class_path",
    "loadable_driver_classes",
    "measured_scalars",
    "planner_class",
    "source_tree_entry_points",
    "role",
    "simulator",
    "simulator_target",
    "synthesizer_kinds",
]
