"""Send one operator command the one way every front end does: CLI, remote CLI, dashboard.

An ``OperatorTarget`` says where the campaign is:

* ``endpoint`` (``tcp://host:port``, with a token or CURVE keys): a running
  agent's control endpoint, possibly on another PC; no database file needed.
* ``db``: a campaign database. If it records a live control endpoint the
  command goes there (the running agent applies it); if the agent is not
  running the same ``OperatorDesk`` applies it to the database, and it takes
  effect when ``labpilot run`` resumes the campaign.

Every command carries ``actor`` (who sent it: ``cli:alice@lab-pc``,
``web:bob@10.0.0.9``), which the desk journals with the command and its outcome.
"""

from __future__ import annotations

import getpass
import socket
import sys
from dataclasses import dataclass
from typing import Any

from labpilot.errors import ControlUnavailable, UsageError

def _read_only(op: str) -> bool:
    from labpilot.agent.control.commands import COMMANDS

    return COMMANDS.is_idempotent(op)


@dataclass(frozen=True)
class OperatorTarget:
    """Where operator commands go (exactly one of ``db`` and ``endpoint``)."""

    db: str | None = None
    endpoint: str | None = None
    token: str | None = None
    curve_secret_file: str | None = None
    curve_server_public_file: str | None = None
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if (self.db is None) == (self.endpoint is None):
            raise UsageError("give either --db DB or --endpoint tcp://HOST:PORT")


def default_actor(prefix: str = "cli") -> str:
    """``cli:user@host``: who runs this process."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (containers): still say which host
        user = "unknown"
    return f"{prefix}:{user}@{socket.gethostname()}"


def _client(target: OperatorTarget, endpoint: str, actor: str | None):  # noqa: ANN202
    from labpilot.agent.control.client import ControlClient

    return ControlClient(endpoint, token=target.token, timeout_s=target.timeout_s,
                         curve_secret_file=target.curve_secret_file,
                         curve_server_public_file=target.curve_server_public_file, actor=actor)


def operate(target: OperatorTarget, op: str, args: dict[str, Any], actor: str | None = None,
            quiet: bool = False) -> tuple[dict[str, Any], bool]:
    """Run one command; return (result, reached a running agent?). Refusals raise ``OperatorRefused``."""
    if target.endpoint is not None:
        with _client(target, target.endpoint, actor) as client:
            return client.request(op, **args), True
    from labpilot.agent.control.bridge import live_endpoint
    from labpilot.agent.operator import OperatorDesk
    from labpilot.agent.store_open import open_store

    assert target.db is not None
    store = open_store(target.db)
    try:
        endpoint = live_endpoint(store)
    finally:
        store.close()
    if endpoint:
        try:
            with _client(target, endpoint, actor) as client:
                return client.request(op, **args), True
        except ControlUnavailable as exc:
            if not _read_only(op) and not quiet:
                print(f"note: {exc}", file=sys.stderr)
    from labpilot.agent.control.commands import COMMANDS

    desk = OperatorDesk(target.db)
    try:
        return COMMANDS.run(desk, op, args, actor=actor), False
    finally:
        desk.close()
