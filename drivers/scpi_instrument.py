"""Base class of the SCPI-style serial drivers: handshake, errors, action polling.

The exchanges are those of any standard SCPI client (what PyVISA does with
``write`` and ``query``): a query is answered with one line; a set-command is
answered with nothing, so ``set`` writes it followed by ``SYST:ERR?`` and
reads that (the error it caused, or ``0,"No error"``), re-sending both when
the reply is lost; a query that gets no reply is followed by ``SYST:ERR?``,
which tells a refused query (its error is raised at once, never retried)
from a lost reply (retried). The error queue is drained at connect, so an
old error is never blamed on a new command.

A concrete driver sets ``kind``, ``model_hint`` (a word expected in the
``*IDN?`` model field, so a driver refuses the wrong instrument), ``action``
(the action mnemonic, ``DEP`` or ``MEAS``) and ``nominal_s`` (the action's
nominal duration on the instrument's clock), and implements its capability
method on top of ``ask``, ``run_action`` and ``command_outcome``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, ClassVar, TypeVar

from labpilot.errors import InstrumentError, ProtocolError, ScpiProtocolError, TransportTimeout
from labpilot.drivers.base import ActionState, DriverBase
from pydantic import Field

from labpilot.drivers.options import DriverOptions

from labpilot.drivers.serial_transport import SerialTransport
from labpilot.protocols.capabilities import CommandOutcome, Measurement, Sample
from labpilot.protocols.scpi import NO_ERROR, ActionStatus, ErrorEntry, ErrorReply, Identity, check_id, check_reply

log = logging.getLogger("labpilot.drivers")

T = TypeVar("T")


class ScpiOptions(DriverOptions):
    """Options of every SCPI-style serial driver."""

    model: str | None = None
    """A word the ``*IDN?`` model field must contain (default: the driver's own, e.g. ``DSC``);
    set it to accept an instrument whose model name differs."""
    baud_rate: int = Field(115200, gt=0, le=10_000_000)
    """Serial line speed (a device path; ignored by a pty or ``socket://``)."""


class ScpiInstrument(DriverBase):
    """Common behaviour of every SCPI-style driver (``Instrument`` capability)."""

    Options: ClassVar[type[DriverOptions]] = ScpiOptions
    settings: ScpiOptions

    #: Labpilot's own instruments keep each command id's outcome.
    can_reconcile: ClassVar[bool] = True

    kind: str = "scpi"
    model_hint: str = ""
    action: str = "MEAS"
    nominal_s: float = 60.0
    min_poll_s = 0.005

    def _open_transport(self, address: str, *, timeout_s: float, retries: int, backoff_s: float) -> SerialTransport:
        return SerialTransport(address, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
                               baudrate=self.settings.baud_rate, name=self.kind)

    def _connected(self, greeting: Identity) -> None:
        self.identity = greeting

    # ---------------------------------------------------------------- basics
    def _handshake(self) -> Identity:
        """``*IDN?``: check the protocol version and that this is the right kind of instrument."""
        ident = self.ask("*IDN?", parse=Identity.parse)
        try:
            ident.check_compatible()
        except ScpiProtocolError as exc:
            raise ProtocolError(f"{self.kind} at {self.address}: {exc}") from None
        wanted = self.settings.model if self.settings.model is not None else self.model_hint
        if wanted and wanted.upper() not in ident.model.upper():
            raise ProtocolError(
                f"{self.kind} driver at {self.address} found a {ident.vendor} {ident.model!r}, "
                f"expected a model containing {wanted!r} (set options['model'] to override)"
            )
        log.info("%s: connected to %s at %s", self.kind, ident.text(), self.address)
        self._drain_errors()  # errors left from before: logged, never blamed on our commands
        return ident

    def ask(self, header: str, *args: float | int | str, parse: Callable[[str], T] | None = None) -> T | str:
        """Send one query and return its parsed reply; a query the instrument refuses raises ``InstrumentError``.

        A refused query gets no reply (its error is queued): after a silent
        attempt, ``SYST:ERR?`` says whether the instrument refused it (raised
        at once) or the reply was lost (retried).
        """

        def checked(text: str) -> Any:
            err = check_reply(text)  # a protocol-1 instrument's ERR line
            if err is not None:
                return err
            return parse(text) if parse is not None else text

        def refused() -> None:
            entry = self.transport.try_once("SYST:ERR?", ErrorEntry.parse)
            if entry is not None and entry.code != NO_ERROR.code:
                self._drain_errors()
                raise InstrumentError(self.kind, entry.code, f"{entry.message} (command {header})")

        silence = None if header.upper().startswith("SYST:ERR") else refused
        reply = self.transport.query(header, *args, parse=checked, on_silence=silence)
        if isinstance(reply, ErrorReply):
            self._drain_errors()
            raise InstrumentError(self.kind, reply.code, f"{reply.message} (command {header})")
        return reply

    def set(self, header: str, *args: float | int | str) -> None:
        """Send a set-command with ``SYST:ERR?`` after it; an error it caused raises ``InstrumentError``."""
        line = self.transport.build(header, *args)
        entry = self.transport.query("SYST:ERR?", parse=ErrorEntry.parse, before=(line,))
        if entry.code != NO_ERROR.code:
            self._drain_errors()
            raise InstrumentError(self.kind, entry.code, f"{entry.message} (command {header})")

    def _drain_errors(self, limit: int = 32) -> list[ErrorEntry]:
        """Pop the error queue until ``0,"No error"`` (best effort, bounded)."""
        entries: list[ErrorEntry] = []
        for _ in range(limit):
            try:
                entry = self.transport.query("SYST:ERR?", parse=ErrorEntry.parse)
            except (TransportTimeout, ProtocolError) as exc:
                log.warning("%s: could not read the error queue: %s", self.kind, exc)
                break
            if entry.code == NO_ERROR.code:
                break
            log.warning("%s: instrument error %d: %s", self.kind, entry.code, entry.message)
            entries.append(entry)
        return entries

    def errors(self) -> list[ErrorEntry]:
        """Read and clear the instrument's error queue."""
        return self._drain_errors()

    def identify(self) -> str:
        """The ``*IDN?`` string."""
        return self.ask("*IDN?", parse=lambda t: Identity.parse(t).text())

    # ---------------------------------------------------------------- actions
    def action_status(self, command_id: str) -> ActionStatus:
        """``<ACT>:STAT? <id>``."""
        return self.ask(f"{self.action}:STAT?", self._id(command_id), parse=ActionStatus.parse)

    def _id(self, command_id: str) -> str:
        try:
            return check_id(command_id)
        except ScpiProtocolError as exc:
            raise ValueError(f"{self.kind}: {exc}") from None

    def wait_limit_s(self, nominal_s: float | None = None) -> float:
        """Real seconds to wait for an action (this driver's nominal duration by default)."""
        return super().wait_limit_s(self.nominal_s if nominal_s is None else nominal_s)

    def _state(self, command_id: str) -> ActionState:
        st = self.action_status(command_id)
        return ActionState(st.state, st.code or 0, st.message or "", st.progress)

    def wait(self, command_id: str, nominal_s: float | None = None) -> ActionState:
        """Poll ``<ACT>:STAT?`` until the action is done; failures raise ``InstrumentError``."""
        n = self.nominal_s if nominal_s is None else nominal_s
        return self.wait_for(command_id, lambda: self._state(command_id), n)

    def action_failed(self, command_id: str, st: ActionState) -> InstrumentError:
        """Log and clear the instrument's error queue, then name the failure."""
        self._drain_errors()
        return super().action_failed(command_id, st)

    def run_action(
        self,
        command_id: str,
        start: Callable[[], None],
        fetch: Callable[[str], T],
        nominal_s: float | None = None,
        after_wait: Callable[[], None] | None = None,
    ) -> T:
        """``perform`` over ``<ACT>:STAT?``: ``start`` sends the commands that begin the action.

        ``after_wait`` runs once the wait ends, whatever its outcome (e.g.
        close a shutter), only when this call waited.
        """
        cid = self._id(command_id)

        def wait(_: ActionState) -> None:
            try:
                self.wait(cid, nominal_s)
            finally:
                if after_wait is not None:
                    after_wait()

        return self.perform(cid, status=lambda: self._state(cid), start=start, wait=wait, fetch=lambda: fetch(cid))

    def fetch_result(self, command_id: str) -> dict[str, Any]:
        """The result of a finished action, as the ``CommandOutcome.result`` dict."""
        raise NotImplementedError

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """What the instrument knows about ``command_id`` (with the result once done)."""
        st = self.action_status(command_id)
        if st.state == "done":
            return CommandOutcome(command_id, "done", result=self.fetch_result(command_id))
        if st.state == "failed":
            return CommandOutcome(command_id, "failed", error=f"{st.code}: {st.message}")
        return CommandOutcome(command_id, st.state)

    def status(self) -> dict[str, Any]:
        """``STAT?`` → a dict of ``key=value`` fields (numbers where they parse)."""
        text = self.ask("STAT?")
        out: dict[str, Any] = {"identity": self.identity.text()}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                continue
            value = value.strip()
            for convert in (int, float, str):
                try:
                    out[key.strip().lower()] = convert(value)
                    break
                except ValueError:
                    continue
        return out


class ScpiMeasurer(ScpiInstrument):
    """A SCPI-style ``Measurer``: ``MEAS:START <id>,<sample>``, poll, ``MEAS:RES? <id>``.

    Subclasses implement ``read_result(command_id) -> Measurement``.
    """

    action = "MEAS"
    role = "measure"

    def read_result(self, command_id: str) -> Measurement:
        """Fetch and parse the finished measurement of ``command_id``."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Settings sent before a new measurement starts (none by default)."""

    def measure(self, sample: Sample, command_id: str) -> Measurement:
        """Measure ``sample``; safe to call again with the same ``command_id`` (never measures twice)."""
        cid = self._id(command_id)
        sid = self._sample_id(sample)

        def start() -> None:
            self.prepare()
            self.set(f"{self.action}:START", cid, sid)

        return self.run_action(cid, start, self.read_result)

    def _sample_id(self, sample: Sample) -> str:
        sid = getattr(sample, "sample_id", None)
        try:
            return check_id(str(sid), "sample id") if sid else check_id("", "sample id")
        except ScpiProtocolError as exc:
            raise ValueError(f"{self.kind}: {exc}") from None

    def fetch_result(self, command_id: str) -> dict[str, Any]:
        m = self.read_result(command_id)
        return {"scalars": dict(m.scalars), "arrays": dict(m.arrays)}

    def make_safe(self) -> None:
        """Abort a running measurement (the instrument idles safely)."""
        self.set(f"{self.action}:ABOR")
