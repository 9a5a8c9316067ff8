"""The operator command registry: one entry per command, everything else derived from it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field

from labpilot.agent.control.commands import COMMANDS, CommandArgs, CommandRegistry, NoArgs
from labpilot.agent.control.messages import REQUEST_TYPES, _request_model, decode_request
from labpilot.agent.operator import OperatorDesk


def test_the_wire_knows_exactly_the_registered_commands() -> None:
    assert list(REQUEST_TYPES) == list(COMMANDS)


def test_only_commands_that_change_nothing_are_idempotent() -> None:
    assert {name for name, c in COMMANDS.items() if c.idempotent} == {"status", "queue", "ping"}
    assert not COMMANDS.is_idempotent("no-such-command")


def test_every_handler_is_an_operator_desk_method_taking_the_model_fields() -> None:
    for name, command in COMMANDS.items():
        if command.handler is None:
            assert name == "ping"  # answered by the control server itself
            continue
        assert getattr(OperatorDesk, command.handler.__name__) is command.handler


class _Note(CommandArgs):
    text: str = Field(description="what to write")


class _Desk:
    def note(self, text: str) -> dict[str, Any]:
        return {"noted": text}


def test_a_new_command_is_one_entry_and_one_method() -> None:
    registry = CommandRegistry()
    command = registry.register("note", _Note, _Desk.note, idempotent=False, help="write a note")
    assert command.call(_Desk(), _Note(text="hi")) == {"noted": "hi"}  # type: ignore[arg-type]
    model = _request_model(command)
    assert model.model_validate({"v": 1, "cmd": "note", "args": {"text": "hi"}}).args == _Note(text="hi")


def test_a_handler_that_does_not_match_its_model_is_refused_at_registration() -> None:
    registry = CommandRegistry()
    with pytest.raises(TypeError, match="handler of 'note' takes \\['text'\\], but NoArgs has fields \\[\\]"):
        registry.register("note", NoArgs, _Desk.note, idempotent=False, help="x")
    registry.register("note", _Note, _Desk.note, idempotent=False, help="x")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("note", _Note, _Desk.note, idempotent=False, help="x")


def test_decoded_requests_carry_the_registered_arguments_model() -> None:
    for name, command in COMMANDS.items():
        args = ({"id": 1, "values": {"Fe": 1}} if name == "override" else {"mode": "supervised"} if name == "mode"
                else {"id": 1, "not_made": True} if name == "resolve"
                else {"id": 1} if "id" in command.args.model_fields else {})
        request = decode_request(f'{{"v": 1, "cmd": "{name}", "args": {__import__("json").dumps(args)}}}'.encode())
        assert type(request.args) is command.args
