"""Conformance: does a driver class declare and implement what labpilot relies on?

``check_driver(cls)`` raises ``ConformanceError`` listing every problem (or
returns the class); ``driver_problems(cls)`` returns them as a list. It
checks what can be checked without an instrument:

- ``kind`` is a non-empty string and ``role`` is ``synthesize`` or ``measure``;
- the capability methods of its role are present and callable
  (``identify``, ``status``, ``make_safe``, ``command_outcome``, ``close``,
  plus ``synthesize`` or ``measure``);
- every measured scalar and array has a unit, a measurer measures
  something, every axis is one of its arrays, the limit names are unique;
- a generic kind (``role_from_options``: ``scpi``, ``manual``,
  ``command``, ``python``) has both ``synthesize`` and ``measure``, and an
  ``Options`` model with a required ``role`` and a ``scalars`` table instead
  (check ``registry.configured_class(kind, options)`` to see one
  configuration's declarations, as ``for_options`` gives them);
- ``Options`` subclasses ``DriverOptions`` and keeps ``extra="forbid"``
  (a misspelt option must be an error), and builds from its defaults when it
  has no required field;
- ``can_reconcile`` is a bool; a ``simulator`` attribute, if any, is a
  ``module:attr`` path.

``check_instrument(driver)`` exercises a connected driver (to a simulator,
or through ``expected_protocol``): ``identify`` and ``status`` answer, and
``make_safe`` is idempotent (twice in a row succeeds, and ``status`` still
answers after it).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from labpilot.drivers.options import DriverOptions
from labpilot.errors import ConformanceError
from labpilot.registry import is_class_path

#: Methods every driver implements (``protocols.capabilities.Instrument``).
INSTRUMENT_METHODS = ("identify", "status", "make_safe", "command_outcome", "close")
#: The method each role adds.
ROLE_METHODS = {"synthesize": ("synthesize",), "measure": ("measure",)}


def _units(cls: type, attr: str) -> list[str]:
    table = getattr(cls, attr, {})
    if not isinstance(table, Mapping):
        return [f"{attr} must be a mapping name -> unit, got {type(table).__name__}"]
    problems = []
    for name, unit in table.items():
        if not isinstance(name, str) or not name.isidentifier():
            problems.append(f"{attr}: {name!r} is not a plain name (letters, digits, underscores)")
        if not isinstance(unit, str) or not unit.strip():
            problems.append(f"{attr}[{name!r}] has no unit (use '1' for a dimensionless quantity)")
    return problems


def _options(cls: type) -> list[str]:
    options = getattr(cls, "Options", None)
    if not (isinstance(options, type) and issubclass(options, DriverOptions)):
        return [f"Options must be a subclass of labpilot.drivers.options.DriverOptions, got {options!r}"]
    problems = []
    if options.model_config.get("extra") != "forbid":
        problems.append("Options must keep extra='forbid' (a misspelt option would be silently ignored)")
    if not any(f.is_required() for f in options.model_fields.values()):
        try:
            options()
        except Exception as exc:  # a default that fails its own validation
            problems.append(f"Options() with its defaults fails: {exc}")
    return problems


def driver_problems(cls: Any) -> list[str]:
    """Everything wrong with driver class ``cls``, as readable lines (empty when it conforms)."""
    if not isinstance(cls, type):
        return [f"{cls!r} is not a class"]
    problems: list[str] = []
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        problems.append(f"kind must be a non-empty string, got {kind!r}")
    role = getattr(cls, "role", None)
    if role not in ROLE_METHODS:
        problems.append(f"role must be 'synthesize' or 'measure', got {role!r}")
    from_options = getattr(cls, "role_from_options", False) is True
    # a generic kind (role from each instrument's options) may be either: it needs both methods
    role_methods = ROLE_METHODS["synthesize"] + ROLE_METHODS["measure"] if from_options else ROLE_METHODS.get(role, ())
    for name in INSTRUMENT_METHODS + role_methods:
        method = getattr(cls, name, None)
        if not callable(method):
            problems.append(f"method {name}() is missing")
        elif getattr(method, "__isabstractmethod__", False):
            problems.append(f"method {name}() is abstract")
    measure = getattr(cls, "measure", None)
    if (role == "measure" or from_options) and callable(measure):
        params = list(inspect.signature(measure).parameters)
        if params[1:3] != ["sample", "command_id"]:
            problems.append(f"measure must take (sample, command_id), takes {params[1:]}")
    synthesize = getattr(cls, "synthesize", None)
    if (role == "synthesize" or from_options) and callable(synthesize):
        params = list(inspect.signature(synthesize).parameters)
        if params[1:3] != ["params", "command_id"]:
            problems.append(f"synthesize must take (params, command_id), takes {params[1:]}")
    problems += _units(cls, "scalars") + _units(cls, "arrays")
    scalars, arrays = dict(getattr(cls, "scalars", {}) or {}), dict(getattr(cls, "arrays", {}) or {})
    if from_options:
        fields = getattr(getattr(cls, "Options", None), "model_fields", {})
        if "role" not in fields or not fields["role"].is_required():
            problems.append("role_from_options: Options must have a required field 'role'")
        if "scalars" not in fields:
            problems.append("role_from_options: Options must have a field 'scalars' (name -> unit)")
    elif role == "measure" and not scalars and not arrays:
        problems.append("a measurer must declare what it measures (scalars and/or arrays, with units)")
    if set(scalars) & set(arrays):
        problems.append(f"{sorted(set(scalars) & set(arrays))} declared both as scalar and as array")
    axes = getattr(cls, "axes", ())
    if not isinstance(axes, tuple) or not set(axes) <= set(arrays):
        problems.append(f"axes {axes!r} must be a tuple of names among its arrays {sorted(arrays)}")
    limits = getattr(cls, "known_limits", ())
    if not isinstance(limits, tuple) or not all(isinstance(n, str) and n for n in limits):
        problems.append(f"known_limits must be a tuple of names, got {limits!r}")
    elif len(set(limits)) != len(limits):
        problems.append(f"known_limits has duplicates: {limits!r}")
    problems += _options(cls)
    if not isinstance(getattr(cls, "can_reconcile", None), bool):
        problems.append(f"can_reconcile must be True or False, got {getattr(cls, 'can_reconcile', None)!r}")
    simulator = getattr(cls, "simulator", None)
    if simulator is not None and not is_class_path(simulator):
        problems.append(f"simulator must be a 'module:attr' path, got {simulator!r}")
    return problems


def check_driver(cls: Any) -> Any:
    """``cls`` if it conforms; else ``ConformanceError`` listing every problem."""
    problems = driver_problems(cls)
    if problems:
        raise ConformanceError(getattr(cls, "__qualname__", repr(cls)), problems)
    return cls


def check_instrument(driver: Any) -> None:
    """Exercise a connected driver: identify and status answer; make_safe twice in a row succeeds."""
    name = f"{type(driver).__qualname__} at {getattr(driver, 'address', '?')}"
    problems: list[str] = []
    ident = driver.identify()
    if not isinstance(ident, str) or not ident:
        problems.append(f"identify() must return a non-empty string, got {ident!r}")
    if not isinstance(driver.status(), Mapping):
        problems.append("status() must return a mapping")
    driver.make_safe()
    driver.make_safe()  # idempotent: a second call on a safe instrument must succeed too
    if not isinstance(driver.status(), Mapping):
        problems.append("status() after make_safe() must return a mapping")
    if problems:
        raise ConformanceError(name, problems)


__all__ = ["INSTRUMENT_METHODS", "ROLE_METHODS", "check_driver", "check_instrument", "driver_problems"]
