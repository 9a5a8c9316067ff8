"""The typed options every driver accepts, and the base a driver's own options extend.

A campaign's ``[instruments.options]`` table is validated against the driver
class's ``Options`` model (``extra="forbid"``): a misspelt option is an error
that names it, never silently ignored. A driver adds its own fields by
subclassing :class:`DriverOptions` and naming the subclass ``Options`` on the
class.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DriverOptions(BaseModel):
    """Options common to every driver (dry-run speed, retry back-off, polling, reconciliation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Virtual-clock speed of a dry run's simulator; wait limits are divided by it.
    speed: float = Field(1.0, gt=0, allow_inf_nan=False)
    #: Pause before a transport retry, seconds.
    backoff_s: float = Field(0.05, ge=0, allow_inf_nan=False)
    #: Pause between status polls, seconds (default: scaled from the action's nominal time).
    poll_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    #: False: treat this instrument as unable to answer "what became of command id X"
    #: even when its driver can (recovery then asks an operator; see ``labpilot resolve``).
    reconcile: bool = True


__all__ = ["DriverOptions"]
