"""Capability interfaces: what the agent may ask of an instrument driver.

In the spirit of bluesky's ``protocols.py``: the agent depends on these small
structural interfaces, never on a concrete driver class. A driver implements
``Instrument`` plus one of ``Synthesizer`` or ``Measurer``; a driver that can
pause mid-step also implements ``Holdable``.

Non-idempotent commands (``synthesize``, ``measure``) carry a ``command_id``
chosen by the agent and journaled *before* the command is sent. After a crash
or reconnect, ``command_outcome(command_id)`` asks the instrument what became
of it, so the agent never makes a sample twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

CommandState = Literal["unknown", "running", "done", "failed"]


@dataclass
class CommandOutcome:
    """What an instrument knows about a command id.

    ``state`` is ``unknown`` if the instrument never received it; ``result``
    is the command's result once ``done`` (same shape as the original reply).
    """

    command_id: str
    state: CommandState
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class Sample:
    """A physical sample made by a synthesizer, identified on the instrument side."""

    sample_id: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Measurement:
    """What a measurer returns: named scalars and named arrays (e.g. 2θ, counts)."""

    scalars: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class Instrument(Protocol):
    """Every driver: identify, status, make safe, close."""

    kind: str

    def identify(self) -> str:
        """The instrument's identity string (``*IDN?`` or equivalent)."""

    def status(self) -> dict[str, Any]:
        """A snapshot of the instrument's state (idempotent)."""

    def make_safe(self) -> None:
        """Bring the instrument to a safe state (powers off, shutters closed...)."""

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """Ask what became of a command id (reconciliation after a crash)."""

    def close(self) -> None:
        """Release the transport."""


@runtime_checkable
class Synthesizer(Instrument, Protocol):
    """Makes a sample from a parameter dict (composition, process conditions)."""

    def synthesize(self, params: dict[str, Any], command_id: str) -> Sample:
        """Make one sample; blocks until done. Idempotent per ``command_id``."""


@runtime_checkable
class Measurer(Instrument, Protocol):
    """Measures an existing sample."""

    def measure(self, sample: Sample, command_id: str) -> Measurement:
        """Measure ``sample``; blocks until done. Idempotent per ``command_id``."""


@runtime_checkable
class Holdable(Protocol):
    """Instruments that can pause a step in flight and continue it later."""

    def hold(self) -> None: ...

    def release(self) -> None: ...
