"""Every operator command, declared once.

One ``COMMANDS.register(...)`` entry per command holds its name, its pydantic
arguments model, whether it is idempotent (a client may resend it after a
lost reply), a help text, and its handler, an ``OperatorDesk`` method whose
keyword parameters are the model's fields. Everything else is derived from
this table:

- the wire request models and their validation (``control.messages``),
- the control server's dispatch (``control.bridge``),
- the client's retry policy (``control.client``),
- the CLI's sub-parsers, arguments and help (``cli.operator_commands``),
- the offline path of the CLI, which runs the same handler on the database.

Adding a command is one entry here plus one ``OperatorDesk`` method. The
model follows bluesky's ``RunEngine._command_registry`` / ``register_command``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import Field, ValidationError, model_validator

from labpilot.agent.operator import OperatorDesk, acting_as
from labpilot.protocols.strict import Strict

MAX_REASON_CHARS = 2000

Number = Annotated[float, Field(allow_inf_nan=False)]
ParamValue = Union[int, Number, str]
"""An override value: an integer, a finite float or a string (categorical)."""

Reason = Annotated[str, Field(max_length=MAX_REASON_CHARS)]
REASON_HELP = "why (recorded in the journal)"
ExperimentId = Annotated[int, Field(ge=0, le=2**63 - 1, description="experiment id (see `labpilot queue`)")]
"""At most what SQLite stores: a larger id is refused here, not by SQLite (issue 14)."""


@dataclass(frozen=True)
class CliOption:
    """Field metadata: the command line spells this field as ``flag`` (e.g. ``--set NAME=VALUE``)."""

    flag: str
    metavar: str | None = None


@dataclass(frozen=True)
class CliHidden:
    """Field metadata: the field exists on the wire but has no command-line argument."""


class CommandArgs(Strict):
    """Base of every command's arguments: strict (a string is not an integer), no unknown fields."""


# ----------------------------------------------------------------- arguments


class NoArgs(CommandArgs):
    """Arguments of a command that takes none (``status``, ``queue``, ...)."""


class PauseArgs(CommandArgs):
    now: bool = Field(False, description="pause at once, asking instruments that can hold to hold; "
                                         "the command in flight is reconciled on resume")


class AbortArgs(CommandArgs):
    reason: Reason | None = Field(None, description=REASON_HELP)


class ReviewArgs(CommandArgs):
    """Approve or reject proposals: one ``id``, several ``ids`` (``approve 4 5 6``) or ``all`` waiting."""

    id: Annotated[ExperimentId | None, CliHidden()] = Field(
        None, description="one experiment id (the wire form of older clients; the CLI uses IDS)")
    ids: list[ExperimentId] = Field(default_factory=list, description="experiment id(s) (see `labpilot queue`)")
    all: bool = Field(False, description="every proposal waiting for review")
    reason: Reason | None = Field(None, description=REASON_HELP)

    @model_validator(mode="after")
    def _ids_or_all(self) -> "ReviewArgs":
        named = self.id is not None or bool(self.ids)
        if not named and not self.all:
            raise ValueError("give experiment id(s) in 'id'/'ids', or 'all'")
        if named and self.all:
            raise ValueError("give experiment id(s) or 'all', not both")
        return self


ApproveArgs = RejectArgs = ReviewArgs


class ModeArgs(CommandArgs):
    mode: Literal["unattended", "supervised"] = Field(description="unattended or supervised")


class OverrideArgs(CommandArgs):
    """Replace the parameters of proposal ``id`` with the operator's own."""

    id: ExperimentId
    values: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=200)], ParamValue],
        Field(description="a parameter value (repeat for several)"),
        CliOption("--set", metavar="NAME=VALUE"),
    ]
    reason: Reason | None = Field(None, description=REASON_HELP)

    @model_validator(mode="after")
    def _values_not_empty(self) -> "OverrideArgs":
        if not self.values:
            raise ValueError("override needs at least one NAME=VALUE in 'values'")
        return self


class DoneArgs(CommandArgs):
    """Confirm the manual step experiment ``id`` waits on (``manual`` instruments), with its values."""

    id: ExperimentId
    values: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=200)], ParamValue],
        Field(default_factory=dict, description="a measured value (repeat for several); every value the step "
                                                "asks for, each a number"),
        CliOption("--value", metavar="NAME=NUMBER"),
    ]
    instrument: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="the manual instrument, when the experiment waits on more than one")
    failed: bool = Field(False, description="the step could not be done (the experiment fails)")
    reason: Reason | None = Field(None, description=REASON_HELP)


class ResolveArgs(CommandArgs):
    """Settle experiment ``id`` whose outcome its instrument cannot tell: exactly one of made, not_made, failed."""

    id: ExperimentId
    made: bool = Field(False, description="it happened: a synthesis made --sample ID, or a measurement gave "
                                          "--value NAME=NUMBER ...")
    not_made: bool = Field(False, description="it never happened: the step is retried under a new command id")
    failed: bool = Field(False, description="it went wrong: the experiment is recorded failed")
    values: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=200)], Number],
        Field(description="a value of the manual measurement (repeat for several)"),
        CliOption("--value", metavar="NAME=NUMBER"),
    ] = Field(default_factory=dict)
    sample: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="the id of the sample the synthesis made")
    reason: Reason | None = Field(None, description=REASON_HELP)

    @model_validator(mode="after")
    def _one_outcome(self) -> "ResolveArgs":
        said = [name for name in ("made", "not_made", "failed") if getattr(self, name)]
        if len(said) != 1:
            raise ValueError("say exactly one of 'made', 'not_made', 'failed' (--made, --not-made, --failed)"
                             + (f", not {' and '.join(said)}" if said else ""))
        return self


# ------------------------------------------------------------------ registry

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class OperatorCommand:
    """One operator command: everything the server, the client and the CLI need to know."""

    name: str
    args: type[CommandArgs]
    handler: Handler | None
    """An ``OperatorDesk`` method; None: answered by the control server itself (``ping``)."""
    idempotent: bool
    """It changes nothing, so a client may resend it after a lost reply."""
    help: str
    cli: bool = True
    """Whether ``labpilot NAME`` exists (``status`` has its own richer command; ``ping`` is for clients)."""

    def call(self, desk: OperatorDesk, args: CommandArgs, actor: str | None = None) -> dict[str, Any]:
        """Run the handler on ``desk`` with validated ``args``.

        A command that changes something (not idempotent) is journaled as
        ``operator_action`` with who sent it (``actor``), its arguments and
        its outcome, refusals included: the control server, the CLI's
        offline path and the dashboard all come through here. The handler
        runs ``acting_as(actor)``, so a command that records who did it in
        its own entry (``resolve``, ``done``, ``mode``) names the sender, not
        the agent's user.
        """
        from labpilot.errors import OperatorRefused

        if self.handler is None:
            raise TypeError(f"{self.name!r} is answered by the control server, not by the operator desk")
        if not isinstance(args, self.args):
            raise TypeError(f"{self.name} expects {self.args.__name__}, got {type(args).__name__}")
        kwargs = {name: getattr(args, name) for name in self.args.model_fields}
        journal = getattr(desk, "journal_action", None)  # a desk without a journal (a test double) records nothing
        if self.idempotent or journal is None:
            with acting_as(actor):
                return self.handler(desk, **kwargs)
        try:
            with acting_as(actor):  # what the command records as `by` (resolve, done, mode): the sender
                result = self.handler(desk, **kwargs)
        except OperatorRefused as exc:
            journal(self.name, kwargs, actor, ok=False, error=str(exc))
            raise
        journal(self.name, kwargs, actor, ok=True, error=None)
        return result


class CommandRegistry(Mapping[str, OperatorCommand]):
    """The table of operator commands, in registration order."""

    def __init__(self) -> None:
        self._commands: dict[str, OperatorCommand] = {}

    def register(
        self, name: str, args: type[CommandArgs], handler: Handler | None, *, idempotent: bool, help: str,
        cli: bool = True,
    ) -> OperatorCommand:
        """Add one command; its handler's parameters must be exactly the fields of ``args``."""
        if name in self._commands:
            raise ValueError(f"operator command {name!r} is registered twice")
        if handler is not None:
            params = list(inspect.signature(handler).parameters)[1:]  # drop self
            if params != list(args.model_fields):
                raise TypeError(f"handler of {name!r} takes {params}, but {args.__name__} has "
                                f"fields {list(args.model_fields)}")
        command = OperatorCommand(name, args, handler, idempotent, help, cli)
        self._commands[name] = command
        return command

    def __getitem__(self, name: str) -> OperatorCommand:
        return self._commands[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)

    def is_idempotent(self, name: str) -> bool:
        command = self._commands.get(name)
        return command is not None and command.idempotent

    def run(self, desk: OperatorDesk, name: str, args: Mapping[str, Any], actor: str | None = None) -> dict[str, Any]:
        """Validate ``args`` with the command's model and run it on ``desk`` (the CLI's offline path)."""
        from labpilot.errors import OperatorRefused

        command = self._commands.get(name)
        if command is None:
            raise OperatorRefused(f"unknown command {name!r}; expected one of: {', '.join(self)}")
        try:
            parsed = command.args.model_validate(dict(args))
        except ValidationError as exc:
            from labpilot.agent.control.messages import describe_validation_error

            raise OperatorRefused(f"invalid arguments: {describe_validation_error(exc)}") from None
        return command.call(desk, parsed, actor=actor)


COMMANDS = CommandRegistry()
"""Every operator command. One entry each; the handler is an ``OperatorDesk`` method."""

COMMANDS.register("status", NoArgs, OperatorDesk.status, idempotent=True, cli=False,
                  help="where the campaign stands")
COMMANDS.register("pause", PauseArgs, OperatorDesk.pause, idempotent=False,
                  help="pause at the next checkpoint (--now: at once)")
COMMANDS.register("resume", NoArgs, OperatorDesk.resume, idempotent=False,
                  help="resume a paused or faulted campaign")
COMMANDS.register("abort", AbortArgs, OperatorDesk.abort, idempotent=False,
                  help="abort: make instruments safe, abandon the experiment in flight")
COMMANDS.register("queue", NoArgs, OperatorDesk.queue, idempotent=True,
                  help="proposals awaiting review, and approved ones not started yet")
COMMANDS.register("approve", ReviewArgs, OperatorDesk.approve, idempotent=False,
                  help="approve proposals: `approve 4 5 6` or `approve --all`")
COMMANDS.register("reject", ReviewArgs, OperatorDesk.reject, idempotent=False,
                  help="reject proposals (the planner will not propose them again): `reject 4` or `reject --all`")
COMMANDS.register("mode", ModeArgs, OperatorDesk.mode, idempotent=False,
                  help="switch the campaign to unattended or supervised (running or stopped; journaled)")
COMMANDS.register("override", OverrideArgs, OperatorDesk.override, idempotent=False,
                  help="replace a proposal's parameters with your own (the result is approved)")
COMMANDS.register("done", DoneArgs, OperatorDesk.done, idempotent=False,
                  help="confirm a manual step: `done 4` or `done 4 --value thickness=120` (see `labpilot status`)")
COMMANDS.register("resolve", ResolveArgs, OperatorDesk.resolve, idempotent=False,
                  help="settle an experiment whose outcome its instrument cannot tell: "
                       "`resolve 5 --made --sample SP00012`, `--made --value magnetization=812`, "
                       "`--not-made` (retried under a new command id) or `--failed`")
COMMANDS.register("ping", NoArgs, None, idempotent=True, cli=False,
                  help="is the control endpoint alive? (answered by the server, even while the campaign is busy)")
