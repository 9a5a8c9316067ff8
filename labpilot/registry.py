"""Names resolved to code, lazily: the one place that lists the instrument kinds.

A :class:`Registry` maps a name (an instrument kind) to a ``"module:attr"``
(or ``"module"``) target and imports it only when asked, so listing the
kinds, validating a campaign or starting a simulator never imports torch or a
driver it does not use. Each table is named after the entry-point group it
corresponds to (``labpilot.drivers``, ``labpilot.simulators``): the built-ins
below are the table's contents today; plugins (issue 9) add entries of the
same groups through :meth:`Registry.targets`, the single place that reads
them.

Everything else about a kind (its role, the scalars and arrays it measures
with their units, the axes of its arrays, its safety limits) is declared on
the driver class (see ``labpilot.drivers.base.DriverBase``); the simulators
declare the transports they serve (``TRANSPORTS`` in their module).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from labpilot.errors import ConfigurationError


@dataclass(frozen=True)
class Registry:
    """One table ``name -> "module:attr"``, resolved on demand."""

    #: The entry-point group the table stands for.
    group: str
    #: What a name is, for error messages ("instrument kind").
    what: str
    builtins: Mapping[str, str] = field(default_factory=dict)

    def targets(self) -> dict[str, str]:
        """Every name and its target (the built-ins; plugins join here)."""
        return dict(self.builtins)

    def __contains__(self, name: object) -> bool:
        return name in self.targets()

    def names(self) -> tuple[str, ...]:
        """The known names, sorted."""
        return tuple(sorted(self.targets()))

    def target(self, name: str) -> str:
        """The target of ``name``; an unknown name is a ``ConfigurationError`` listing the known ones."""
        try:
            return self.targets()[name]
        except KeyError:
            raise ConfigurationError(
                f"unknown {self.what} {name!r}; known {self.what.split()[-1]}s: {', '.join(self.names())}"
            ) from None

    def load(self, name: str) -> Any:
        """Import and return what ``name`` stands for (a class, or a module for a bare target)."""
        module_name, _, attr = self.target(name).partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module


#: Instrument kind -> its driver class.
DRIVERS = Registry(
    "labpilot.drivers",
    "instrument kind",
    {
        "sputter": "labpilot.drivers.sputter:SputterDriver",
        "magnetometer": "labpilot.drivers.magnetometer:MagnetometerDriver",
        "tensile": "labpilot.drivers.tensile:TensileDriver",
        "dsc": "labpilot.drivers.dsc:DscDriver",
        "robot": "labpilot.drivers.robot:RobotDriver",
        "xrd": "labpilot.drivers.xrd:XrdDriver",
        # generic drivers, configured in the campaign (no simulator: a dry run runs them as configured)
        "manual": "labpilot.drivers.generic.manual:ManualDriver",
        "command": "labpilot.drivers.generic.command:CommandDriver",
        "python": "labpilot.drivers.generic.python:PythonDriver",
    },
)

#: Instrument kind -> the module of its simulator (``serve(args)``, ``TRANSPORTS``).
SIMULATORS = Registry(
    "labpilot.simulators",
    "simulator kind",
    {kind: f"labpilot.simulators.{kind}_sim" for kind in DRIVERS.builtins
     if kind not in ("manual", "command", "python")},
)


def instrument_kinds() -> tuple[str, ...]:
    """Every instrument kind a campaign may name."""
    return DRIVERS.names()


def driver_class(kind: str) -> type:
    """The driver class of ``kind`` (imported on first use)."""
    return DRIVERS.load(kind)


def role(kind: str, options: Mapping[str, Any] | None = None) -> str:
    """``"synthesize"`` or ``"measure"``: what an instrument of ``kind`` (configured with ``options``) does.

    Generic kinds (``manual``, ``command``, ``python``) take their role from their options.
    """
    return driver_class(kind).declared_role(options)


def measured_scalars(kind: str, options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The scalars an instrument of ``kind`` (configured with ``options``) measures, with units."""
    return dict(driver_class(kind).declared_scalars(options))


def synthesizer_kinds() -> tuple[str, ...]:
    """The kinds that make samples (whatever their options: built-ins by class, generic ones by default)."""
    return tuple(k for k in instrument_kinds() if role(k) == "synthesize")


def axis_arrays() -> frozenset[str]:
    """Names of measured arrays that are an x axis (``two_theta``), not a signal, over every kind."""
    return frozenset(a for k in instrument_kinds() for a in driver_class(k).axes)


__all__ = [
    "DRIVERS",
    "Registry",
    "SIMULATORS",
    "axis_arrays",
    "driver_class",
    "instrument_kinds",
    "measured_scalars",
    "role",
    "synthesizer_kinds",
]
