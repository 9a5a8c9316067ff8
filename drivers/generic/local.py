"""The base of the generic drivers: no transport, role and quantities from the options.

A ``LocalDriver`` is configured entirely by its campaign options
(``LocalOptions``): ``role`` (``synthesize`` or ``measure``) and, for a
measurer, the ``scalars`` and ``arrays`` it returns with their units. The
campaign and ``labpilot validate`` ask ``for_options(options)``
(``registry.configured_class``), a subclass carrying that role and those
quantities, so an objective measured by a ``command`` instrument is checked
like one measured by an XRD.

What a generic instrument returns is a plain dict; ``to_measurement`` keeps
the declared scalars (each must be a finite number) and arrays, and names
what is missing or wrong, so a bad result fails the experiment with a clear
``InstrumentError`` rather than a traceback.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, Mapping

import numpy as np
from pydantic import Field, ValidationError

from labpilot.drivers.base import DriverBase
from labpilot.drivers.options import DriverOptions
from labpilot.errors import InstrumentError
from labpilot.protocols.capabilities import CommandOutcome, Measurement, Sample

class LocalOptions(DriverOptions):
    """Options every generic driver takes: what it does in the loop and what it returns."""

    role: Literal["synthesize", "measure"]
    """``synthesize``: makes the sample (returns its id and info); ``measure``: returns quantities."""
    scalars: dict[str, str] = Field(default_factory=dict)
    """Scalars a measurer returns, name -> unit (``{hardness = "GPa"}``)."""
    arrays: dict[str, str] = Field(default_factory=dict)
    """Arrays a measurer returns, name -> unit."""


class _NoTransport:
    """Stands where a device driver keeps its transport: nothing to open or close."""

    def close(self) -> None:
        pass


class LocalDriver(DriverBase):
    """A driver that talks to no device; subclasses implement ``_synthesize`` / ``_measure``."""

    kind: ClassVar[str] = "local"
    role = "measure"  # the default the registry lists; an instrument's own role is in its options
    Options: ClassVar[type[DriverOptions]] = LocalOptions
    device_address: ClassVar[bool] = False
    dry_run_as_is: ClassVar[bool] = True
    role_from_options: ClassVar[bool] = True

    # -- self-description from options -----------------------------------------
    @classmethod
    def _options_or_none(cls, options: Mapping[str, Any] | None) -> LocalOptions | None:
        try:
            parsed = cls.Options.model_validate(dict(options or {}))
        except ValidationError:
            return None  # the campaign's option check names the problem
        return parsed if isinstance(parsed, LocalOptions) else None

    @classmethod
    def for_options(cls, options: Mapping[str, Any] | None = None) -> type["LocalDriver"]:
        """A subclass declaring this configuration's role, scalars and arrays (no I/O).

        Options that do not validate are not raised here: the campaign's
        option check names each one (``labpilot validate``); until they are
        fixed the class declares the role given (if any) and measures nothing.
        """
        given = dict(options or {}).get("role")
        role = given if given in ("synthesize", "measure") else cls.role
        parsed = cls._options_or_none(options)
        measures = parsed is not None and parsed.role == "measure"
        declared = {"role": role,
                    "scalars": dict(parsed.scalars) if measures else {},
                    "arrays": dict(parsed.arrays) if measures else {}}
        return type(cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__, **declared})

    # -- construction -------------------------------------------------------------
    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)  # validates the options (an OptionsError names each bad one)
        assert isinstance(self.settings, LocalOptions)
        self.config = self.settings
        self.role_here = self.config.role
        for key, value in self.for_options(self.options).__dict__.items():
            if key in ("role", "scalars", "arrays"):
                setattr(self, key, value)  # an instance describes its own configuration too

    def _open_transport(self, address: str, *, timeout_s: float, retries: int, backoff_s: float) -> Any:
        return _NoTransport()

    def _handshake(self) -> Any:
        return f"labpilot,{self.kind},{self.address},generic"

    def _connected(self, greeting: Any) -> None:
        self.identity = str(greeting)

    # -- Instrument ------------------------------------------------------------------
    def identify(self) -> str:
        return self.identity

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, "role": self.role_here}

    def make_safe(self) -> None:
        """Nothing to power down; subclasses stop what they started."""

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """Without a memory of its own, a generic instrument cannot say (``can_reconcile`` False)."""
        return CommandOutcome(command_id, "unknown")

    # -- Synthesizer / Measurer -----------------------------------------------------
    def synthesize(self, params: dict[str, Any], command_id: str) -> Sample:
        if self.role_here != "synthesize":
            raise InstrumentError(self.kind, 0, f"this {self.kind} instrument measures; it was asked to synthesize")
        result = self._synthesize(dict(params), command_id)
        return self.to_sample(result, params, command_id)

    def measure(self, sample: Sample, command_id: str) -> Measurement:
        if self.role_here != "measure":
            raise InstrumentError(self.kind, 0, f"this {self.kind} instrument synthesizes; it was asked to measure")
        return self.to_measurement(self._measure(sample, command_id), command_id)

    def _synthesize(self, params: dict[str, Any], command_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def _measure(self, sample: Sample, command_id: str) -> dict[str, Any]:
        raise NotImplementedError

    # -- results -----------------------------------------------------------------------
    def to_sample(self, result: Mapping[str, Any], params: Mapping[str, Any], command_id: str) -> Sample:
        """A synthesizer's result: ``sample_id`` (default: the command id) and the rest as info.

        The info always holds ``params``, so a measurer of the same campaign
        (a simulation run on the sample) gets the parameters it was made with.
        """
        if not isinstance(result, Mapping):
            raise InstrumentError(self.kind, 0, f"result of {command_id} is {type(result).__name__}, not an object")
        info = {k: v for k, v in result.items() if k != "sample_id"}
        info.setdefault("params", dict(params))
        return Sample(str(result.get("sample_id") or command_id), info)

    def to_measurement(self, result: Mapping[str, Any], command_id: str) -> Measurement:
        """Keep the declared scalars and arrays of ``result``; a missing or non-number one is an error."""
        if not isinstance(result, Mapping):
            raise InstrumentError(self.kind, 0, f"result of {command_id} is {type(result).__name__}, not an object")
        found = result.get("scalars", result) if isinstance(result.get("scalars"), Mapping) else result
        scalars: dict[str, float] = {}
        problems = []
        for name in self.config.scalars:
            value = found.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                problems.append(f"{name} is {'missing' if value is None else repr(value)}, not a finite number")
            else:
                scalars[name] = float(value)
        arrays_in = result.get("arrays", result) if isinstance(result.get("arrays"), Mapping) else result
        arrays: dict[str, np.ndarray] = {}
        for name in self.config.arrays:
            try:
                arr = np.asarray(arrays_in[name], dtype=float)
            except (KeyError, TypeError, ValueError):
                problems.append(f"array {name} is missing or not numbers")
                continue
            if arr.ndim != 1:
                problems.append(f"array {name} has shape {arr.shape}, not a list of numbers")
            arrays[name] = arr
        if problems:
            raise InstrumentError(self.kind, 0, f"result of {command_id}: " + "; ".join(problems))
        return Measurement(scalars, arrays)


__all__ = ["LocalDriver", "LocalOptions"]
