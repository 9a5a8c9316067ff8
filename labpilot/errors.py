"""Every error labpilot raises, under one root: :class:`LabpilotError`.

The command line catches the root once and prints one line; anything else is a
bug and prints a traceback with a request to report it. Subtrees group errors
by who can fix them:

- :class:`ConfigurationError`: a campaign file, option or table is wrong
  (the user edits a file).
- :class:`HardwareError`: an instrument, its transport or its wire protocol
  failed (the lab fixes the instrument or the cable, then resumes).
- :class:`PlannerError`: a planner cannot propose (or is done).
- :class:`StoreError`: the campaign database is missing, foreign, locked or
  inconsistent.
- :class:`OperatorError`: an operator command was refused, or the control
  endpoint cannot be reached or bound.
- :class:`SimulatorError`: a simulated instrument failed or could not start.

Builtin bases (``ValueError``, ``RuntimeError``, ``TimeoutError``, ``OSError``)
are kept where callers have always caught them. Two signals are not errors and
stand outside the root on purpose: :class:`Terminated` (SIGTERM, like Ctrl-C)
and :class:`Stop` (the campaign loop leaving itself).
"""

from __future__ import annotations


class LabpilotError(Exception):
    """Root of every error labpilot raises on purpose."""


# ------------------------------------------------------------ configuration


class ConfigurationError(LabpilotError, ValueError):
    """Something the user wrote (a file, a flag, an option) is not usable."""


class CampaignError(ConfigurationError):
    """A campaign file is unreadable or invalid; ``problems`` lists (path, reason)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {path}: {reason}" for path, reason in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


class OptionsError(ConfigurationError):
    """A driver's options table is invalid; ``problems`` lists (option name, reason)."""

    def __init__(self, owner: str, problems: list[tuple[str, str]]) -> None:
        self.owner = owner
        self.problems = problems
        super().__init__(f"{owner}: invalid options: " + "; ".join(f"options.{p}: {r}" for p, r in problems))


class TableError(ConfigurationError):
    """A CSV file that cannot be used, with the file, line and column named."""


class UsageError(ConfigurationError):
    """A command-line usage error: printed as one line, exit code 2."""


class PriorError(ConfigurationError):
    """Prior data (``[[prior]]``, ``--prior``) that cannot be used; ``field`` names the entry and its key.

    ``field`` is a path like ``prior[0](old run).columns``; the message says
    what is wrong (a missing file, a column the source lacks, a parameter no
    column covers).
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class PoolError(TableError):
    """A campaign's candidate pool (``[space]``) that cannot be used; ``field`` names the key (``space.pool``).

    The message names the file and, for a bad cell, its data row and column.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class PluginError(ConfigurationError):
    """A plugin (an entry point, or a ``module:Class`` a campaign names) that cannot be loaded or used.

    One line: which entry point (group, name, target, distribution) or class
    path, and the error it raised, never a traceback.
    """


class ConformanceError(PluginError):
    """A driver class that does not declare or implement what labpilot relies on (``labpilot.testing``)."""

    def __init__(self, driver: str, problems: list[str]) -> None:
        self.driver = driver
        self.problems = problems
        super().__init__(f"{driver} does not conform: " + "; ".join(problems))


# --------------------------------------------------------------- instruments


class HardwareError(LabpilotError):
    """Base of every error about an instrument, its transport or its wire protocol."""


class DriverError(HardwareError):
    """Base class of every error a driver raises."""


class InstrumentError(DriverError):
    """The instrument reported an error (e.g. from its ``SYST:ERR?`` queue)."""

    def __init__(self, instrument: str, code: int, message: str) -> None:
        self.instrument = instrument
        self.code = int(code)
        self.message = message
        super().__init__(f"{instrument}: instrument error {code}: {message}")


class TransportTimeout(DriverError):
    """No valid reply arrived after the bounded retries were spent."""


class ProtocolError(DriverError):
    """A malformed frame or reply, or an incompatible protocol."""


class SafetyLimitError(DriverError):
    """A value exceeds a safety limit; nothing was sent to the instrument."""

    def __init__(self, limit: str, value: float, maximum: float, what: str = "") -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        detail = f" ({what})" if what else ""
        super().__init__(
            f"safety limit {limit}={maximum:g} exceeded: requested {value:g}{detail}; nothing was sent"
        )


class WatchdogTimeout(HardwareError, TimeoutError):
    """An instrument command showed no reply and no progress within the campaign's watchdog."""


class OutcomeUnknown(HardwareError):
    """A command was journaled as sent but never finished, and its instrument cannot say what became of it.

    Raised (and journaled as the campaign's fault) instead of resending the
    command: only an operator can tell, with ``labpilot resolve ID --made |
    --not-made | --failed``, whether the sample was made or the measurement taken.
    """

    def __init__(self, experiments: list[int], detail: str) -> None:
        self.experiments = list(experiments)
        super().__init__(detail)


class CodecError(HardwareError, ValueError):
    """Bytes or objects that break a wire protocol (the message says what)."""


class ScpiProtocolError(CodecError):
    """A line that breaks the SCPI-style protocol (bad bytes, bad grammar, bad field)."""


class EnvelopeError(CodecError):
    """Bytes or objects that break the JSON envelope protocol."""


# ------------------------------------------------------------------ planners


class PlannerError(LabpilotError, ValueError):
    """A planner cannot propose (e.g. more points than the pool has left)."""


class PlannerDone(PlannerError):
    """The planner's goal is reached (e.g. the model is accurate enough): it proposes nothing more.

    The agent completes the campaign and journals the reason.
    """


# --------------------------------------------------------------------- store


class StoreError(LabpilotError, RuntimeError):
    """The database is missing, foreign or inconsistent."""


class StoreUnavailable(StoreError):
    """The database cannot be written (disk full, read-only file system, I/O error): ``labpilot run`` exits 4.

    Nothing is lost: every decision was journaled before it was acted on, so a
    resume once the cause is fixed picks up where the run stopped.
    """


class StaleExperiment(StoreError):
    """An experiment changed status before a conditional update."""


class AlreadyRunning(StoreError):
    """Another live process is running this campaign."""


class SessionError(StoreError):
    """The campaign cannot be started or resumed (the message says why)."""


# ------------------------------------------------------- operator / control


class OperatorError(LabpilotError):
    """Base of operator-command and control-endpoint errors."""


class OperatorRefused(OperatorError):
    """A command that cannot be carried out; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ControlProtocolError(OperatorError, ValueError):
    """A control request (or reply) that is not valid; the message names the problem."""


class ControlSecurityError(OperatorError):
    """A configuration that would expose the control endpoint unsafely."""


class ControlBindError(OperatorError, OSError):
    """The control endpoint could not be bound (address in use, bad interface...)."""


class ControlUnavailable(OperatorError):
    """No reply within the timeout: the campaign is not running, or not reachable."""


class DashboardNotFound(OperatorError, LookupError):
    """The dashboard was asked for a campaign or plot it does not hold: answered 404."""


# ---------------------------------------------------------------- simulators


class SimulatorError(LabpilotError):
    """A simulated instrument failed, or could not be started."""


class DryRunError(SimulatorError, RuntimeError):
    """A simulator process could not be started for a dry run."""


class SimulatedFault(SimulatorError):
    """An error a simulated instrument reports on the wire, with its ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service manager stopping the agent): a graceful stop like Ctrl-C, exit code 143.

    Not a ``LabpilotError``: like ``KeyboardInterrupt`` it must unwind past every
    ``except Exception`` so that the run stops cleanly where it is.
    """


class Stop(Exception):
    """The campaign loop's signal to leave the loop now (pause, abort, fault): raised and caught inside it.

    Not a ``LabpilotError``, not a failure: a handler that reports errors must
    never catch it for one, so it derives from ``Exception`` alone.
    """
