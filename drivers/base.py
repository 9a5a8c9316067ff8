"""What every driver shares, whatever its transport: what it is, limits, actions, waits.

A driver class declares what it is (``kind``, ``role``, the ``scalars`` and
``arrays`` it measures with their units, which arrays are ``axes``, the
``known_limits`` it enforces); ``labpilot.registry`` maps kinds to classes,
and the campaign, the history and the simulators read those declarations
instead of keeping their own lists.

``DriverBase`` validates the campaign's safety limits at connect (an unknown
limit name is refused: a limit silently ignored is unsafe), checks values
against them before anything is sent, scales wait limits by a dry run's
virtual-clock speed, and opens the transport and handshakes once. Every
action (a deposition, a scan, one robot step) goes through ``perform``:
status → start if unknown → wait → fetch, so calling it again with the same
command id never acts twice, and through the one polling loop ``wait_for``.
The SCPI (serial) and ZeroMQ driver bases add their protocol on top.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal, Mapping, TypeVar

from labpilot.drivers.options import DriverOptions, parse_options
from labpilot.drivers.params import Accepts, LimitedOption
from labpilot.errors import InstrumentError, ProtocolError, SafetyLimitError, TransportTimeout

T = TypeVar("T")

#: The states of an action known by its command id.
ACTION_STATES = ("unknown", "running", "done", "failed")


@dataclass(frozen=True)
class StandIn:
    """What stands in for an instrument in a dry run: a simulator kind, how it is reached, extra arguments.

    ``transport`` is ``pty`` or ``tcp`` (a serial simulator), ``zmq``, or
    ``folder`` (a drop-folder simulator); ``args`` are more
    ``python -m labpilot.simulators`` arguments (``--option KEY=VALUE``).
    """

    kind: str
    transport: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionState:
    """What an instrument says of one command id, whatever its wire format."""

    state: str
    code: int = 0
    message: str = ""
    progress: float | None = None


class DriverBase:
    """Common constructor, self-description, safety limits and action logic of every driver."""

    kind: ClassVar[str] = "instrument"
    #: What the instrument does in the loop.
    role: ClassVar[Literal["synthesize", "measure"]] = "measure"
    #: Scalars it measures, name -> unit (the quantities a campaign may optimize).
    scalars: ClassVar[Mapping[str, str]] = {}
    #: Arrays it measures, name -> unit.
    arrays: ClassVar[Mapping[str, str]] = {}
    #: Which of ``arrays`` are an x axis (two_theta, temperature), not a signal.
    axes: ClassVar[tuple[str, ...]] = ()
    #: Safety-limit names this driver enforces; any other name is refused at connect.
    known_limits: ClassVar[tuple[str, ...]] = ()
    #: Shortest pause between two status polls.
    min_poll_s: ClassVar[float] = 0.0005
    #: The typed options this driver accepts (``extra="forbid"``); subclasses extend ``DriverOptions``.
    Options: ClassVar[type[DriverOptions]] = DriverOptions
    #: Whether the instrument can say what became of a command id after a restart
    #: (``command_outcome``). A driver that does not declare it is assumed unable:
    #: recovery then never resends blindly but asks an operator.
    can_reconcile: ClassVar[bool] = False
    #: The address is a device path, serial URL or ZeroMQ endpoint (checked by the campaign).
    #: False for drivers that talk to no device (``labpilot.drivers.generic``): their address is a label.
    device_address: ClassVar[bool] = True
    #: A dry run may use this instrument as configured (a program, a model, an operator stand-in:
    #: ``dry_run_class``) instead of starting a simulator process for it.
    dry_run_as_is: ClassVar[bool] = False
    #: The role and the measured quantities come from each instrument's options (the generic
    #: kinds ``scpi``, ``manual``, ``command``, ``python``; ``for_options`` returns the class
    #: describing one configuration): the class's ``role``/``scalars``/``arrays`` are only defaults.
    role_from_options: ClassVar[bool] = False
    #: How many commands the instrument takes at once (parallel execution, ``agent/loop/batch.py``).
    #: One for a device; a driver that can run several (``command``: ``max_parallel``) says so.
    capacity: int = 1

    #: The validated options (an instance of ``Options``).
    settings: DriverOptions

    # -- self-description given a campaign's options --------------------------
    # Built-in drivers declare their role and quantities on the class; generic
    # drivers (``scpi``, ``folder``, ``manual``, ``command``, ``python``) take
    # them from their options through ``for_options``. The campaign, validation
    # and the registry ask ``registry.configured_class(kind, options)``, never
    # the bare class's attributes.
    @classmethod
    def for_options(cls, options: Mapping[str, Any] | None = None) -> type["DriverBase"]:
        """The class describing an instrument configured with ``options`` (this class, for most drivers).

        A generic driver takes its role, measured quantities, accepted
        parameters and limits from the campaign's options: it returns a
        subclass carrying them, so whatever reads the class's declarations
        (the campaign's checks, ``validate``) sees this instrument's.
        """
        return cls

    @classmethod
    def stand_in(cls, options: Mapping[str, Any] | None = None) -> StandIn | None:
        """The simulator that stands in for this instrument in a dry run (``None``: the kind's own, by address)."""
        return None

    @classmethod
    def dry_run_class(cls) -> "type[DriverBase]":
        """The class a dry run opens for this kind when ``dry_run_as_is`` (itself, or a stand-in)."""
        return cls

    def __init__(
        self,
        address: str,
        *,
        limits: Mapping[str, float] | None = None,
        options: Mapping[str, Any] | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
    ) -> None:
        self.address = address
        self.limits = self._check_limits(limits or {})
        self.options = dict(options or {})
        #: The options, validated once by the class's ``Options`` model (an ``OptionsError`` names a bad one).
        self.settings = parse_options(self.Options, self.options, self.kind)
        self.speed = self.settings.speed
        self.timeout_s = float(timeout_s)
        self.transport = self._open_transport(
            address, timeout_s=timeout_s, retries=retries, backoff_s=self.settings.backoff_s)
        try:
            self._connected(self._handshake())
        except BaseException:
            self.transport.close()
            raise

    # -- self-description ---------------------------------------------------------
    @classmethod
    def accepts(cls, settings: DriverOptions, limits: Mapping[str, float]) -> Accepts | None:
        """The parameters a synthesizer takes under these options and limits (None: a measurer takes none)."""
        return None

    @classmethod
    def limited_options(cls, settings: DriverOptions) -> list[LimitedOption]:
        """Option values that safety limits cap (checked before an action, and by ``labpilot validate``)."""
        return []

    @classmethod
    def declaration(cls) -> dict[str, Any]:
        """Everything this driver declares, JSON-ready (what ``labpilot plugins`` lists)."""
        from dataclasses import asdict

        from pydantic import ValidationError

        from labpilot.drivers.options import describe_options

        try:
            accepts = cls.accepts(cls.Options(), {})
        except ValidationError:  # options without defaults: nothing to describe without a campaign
            accepts = None
        return {
            "kind": cls.kind,
            "role": "from options" if cls.role_from_options else cls.role,
            "role_from_options": cls.role_from_options,
            "scalars": dict(cls.scalars),
            "arrays": dict(cls.arrays),
            "axes": list(cls.axes),
            "limits": list(cls.known_limits),
            "options": describe_options(cls.Options),
            "can_reconcile": cls.can_reconcile,
            "accepts": None if accepts is None else {
                "params": [asdict(p) for p in accepts.params], "fractions": list(accepts.fractions)},
        }

    def check_limited_options(self) -> None:
        """Raise ``SafetyLimitError`` if an option value exceeds the limit that caps it."""
        for item in self.limited_options(self.settings):
            self.check_limit(item.limit, item.value, item.what)

    # -- hooks for the protocol bases ------------------------------------------
    def _open_transport(self, address: str, *, timeout_s: float, retries: int, backoff_s: float) -> Any:
        raise NotImplementedError

    def _handshake(self) -> Any:
        """Check the protocol version and the kind of instrument; return what it said."""
        raise NotImplementedError

    def _connected(self, greeting: Any) -> None:
        """Keep what the handshake returned (subclasses name it)."""

    # -- lifecycle --------------------------------------------------------------
    def close(self) -> None:
        """Release the transport."""
        self.transport.close()

    def __enter__(self) -> "DriverBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- limits -----------------------------------------------------------------
    def _check_limits(self, limits: Mapping[str, float]) -> dict[str, float]:
        """Validate the campaign's limits: known names, finite numbers (an ignored limit is unsafe)."""
        out: dict[str, float] = {}
        for name, value in dict(limits).items():
            if name not in self.known_limits:
                known = ", ".join(self.known_limits) or "none"
                raise ValueError(f"{self.kind}: unknown safety limit {name!r}; this driver enforces: {known}")
            try:
                out[name] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self.kind}: safety limit {name!r} must be a number, got {value!r}") from None
            if not math.isfinite(out[name]):
                raise ValueError(f"{self.kind}: safety limit {name!r} must be finite, got {value!r}")
        return out

    def check_limit(self, name: str, value: float, what: str = "") -> None:
        """Raise ``SafetyLimitError`` if ``value`` exceeds ``limits[name]`` (when that limit is set)."""
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{self.kind}: {what or name} value {value!r} is not a finite number")
        maximum = self.limits.get(name)
        if maximum is not None and value > maximum:
            raise SafetyLimitError(name, float(value), maximum, what)

    def wait_limit_s(self, nominal_s: float) -> float:
        """Real seconds to wait for an action: nominal / speed × 3 + timeout."""
        return nominal_s / self.speed * 3.0 + self.timeout_s

    # -- actions ----------------------------------------------------------------
    def perform(
        self,
        command_id: str,
        *,
        status: Callable[[], ActionState],
        start: Callable[[], ActionState | None],
        wait: Callable[[ActionState], object],
        fetch: Callable[[], T],
    ) -> T:
        """Run one action idempotently: status → start if unknown → wait unless done → fetch.

        After a lost reply or a restart, calling it again with the same
        command id resumes (waits for, or fetches) what the instrument
        already did instead of doing it twice.
        """
        st = status()
        if st.state == "failed":
            raise self.action_failed(command_id, st)
        if st.state == "unknown":
            st = start() or ActionState("running")
        if st.state != "done":
            wait(st)
        return fetch()

    def wait_for(
        self,
        command_id: str,
        status: Callable[[], ActionState],
        nominal_s: float,
        first: ActionState | None = None,
    ) -> ActionState:
        """Poll ``status`` until the action is done; failed, forgotten or late raise ``DriverError``s."""
        limit = self.wait_limit_s(nominal_s)
        poll = self.settings.poll_s or min(1.0, max(self.min_poll_s, nominal_s / self.speed / 50.0))
        deadline = time.monotonic() + limit
        st = first or status()
        while True:
            if st.state == "done":
                return st
            if st.state == "failed":
                raise self.action_failed(command_id, st)
            if st.state == "unknown":
                raise ProtocolError(f"{self.kind}: the instrument forgot command id {command_id!r} while it ran")
            if st.state != "running":
                raise ProtocolError(f"{self.kind}: status of {command_id!r} has no valid state: {st.state!r}")
            if time.monotonic() >= deadline:
                progress = "" if st.progress is None else f" (progress {st.progress})"
                raise TransportTimeout(
                    f"{self.kind}: command {command_id} still running after {limit:.1f}s{progress}; "
                    f"nominal {nominal_s:g}s at speed {self.speed:g}"
                )
            time.sleep(poll)
            st = status()

    def action_failed(self, command_id: str, st: ActionState) -> InstrumentError:
        """The error for an action the instrument reports failed (protocol bases add clean-up)."""
        return InstrumentError(self.kind, st.code, f"{st.message} (command id {command_id})")
