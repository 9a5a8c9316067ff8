"""Connects the control endpoint to the operator desk of a running campaign."""

from __future__ import annotations

from typing import Any

from labpilot.errors import OperatorRefused
from labpilot.agent.campaign import ControlSpec
from labpilot.agent.control.auth import read_token_file, token_from_env
from labpilot.agent.control.commands import COMMANDS
from labpilot.agent.control.messages import ControlRequest
from labpilot.agent.control.server import ControlServer
from labpilot.agent.operator import LimitCheck, OperatorDesk
from labpilot.agent.store import Store
from labpilot.agent.store_open import open_store


class DeskHandler:
    """``ControlServer`` handler: each request runs its registered ``OperatorDesk`` method."""

    def __init__(self, desk: OperatorDesk) -> None:
        self.desk = desk

    def handle(self, request: ControlRequest) -> dict[str, Any]:
        try:
            return COMMANDS[request.cmd].call(self.desk, request.args, actor=request.actor)
        except OperatorRefused as exc:
            raise OperatorRefused(str(exc)) from None


def control_token(spec: ControlSpec) -> str | None:
    """The shared token from the campaign's token file, else from the environment."""
    return read_token_file(spec.token_file) if spec.token_file else token_from_env()


def start_control(store: Store, spec: ControlSpec, limit_check: LimitCheck | None = None) -> ControlServer:
    """Start the endpoint for the campaign in ``store`` and record where it listens."""
    desk = OperatorDesk(store.target, limit_check=limit_check)

    def report_dead(reason: str) -> None:  # on the watchdog thread: its own connection
        own = open_store(store.target)
        try:
            own.log_event("control_dead", reason=reason)  # journal first: whoever sees the flag finds the entry
            own.set_control_dead(reason)
        finally:
            own.close()

    server = ControlServer(
        DeskHandler(desk), spec.endpoint, token=control_token(spec),
        curve_secret_file=spec.curve_secret_file, curve_clients_dir=spec.curve_clients_dir,
        on_dead=report_dead,
    )
    endpoint = server.start()
    store.set_control_dead(None)
    store.set_control_endpoint(endpoint)
    store.log_event("control_listening", endpoint=endpoint)
    return server


def live_endpoint(store: Store) -> str | None:
    """Where the campaign's running agent listens, or None when no agent is running."""
    return store.control_endpoint()
