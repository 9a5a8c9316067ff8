"""Operator commands on the command line, one sub-command per registered command.

The sub-parsers, their arguments and help come from the registry
(``control.commands.COMMANDS``); nothing here names a command. Each needs only
``--db``: the campaign records where its control endpoint listens. When the
agent is not running (or cannot be reached), the command is applied to the
database directly through the same ``OperatorDesk`` method and takes effect
when ``labpilot run`` resumes the campaign.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from labpilot.agent.cli.arguments import add_model_arguments, namespace_to_args
from labpilot.agent.control.commands import COMMANDS, OperatorCommand
from labpilot.errors import ControlUnavailable

DEFAULT_DB = "labpilot.db"


def add_parser(sub: Any) -> None:
    """One sub-parser per registered command that has a command line."""
    for command in COMMANDS.values():
        if not command.cli:
            continue
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        add_model_arguments(p, command.args)
        p.add_argument("--db", default=DEFAULT_DB, help=f"campaign database (default ./{DEFAULT_DB})")
        p.add_argument("--timeout", type=float, default=5.0,
                       help="seconds to wait for the running agent's reply (default 5)")
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")
        p.set_defaults(func=cmd_operator, operator_command=command)


def send(db: str, op: str, args: dict[str, Any], timeout: float = 5.0) -> tuple[dict[str, Any], bool]:
    """Send one operator command; return (result, reached the running agent?)."""
    from labpilot.agent.control.auth import token_from_env
    from labpilot.agent.control.client import ControlClient
    from labpilot.agent.operator import OperatorDesk
    from labpilot.agent.store import Store

    store = Store.open(db)
    endpoint = store.control_endpoint()
    store.close()
    if endpoint:
        try:
            with ControlClient(endpoint, token=token_from_env(), timeout_s=timeout) as client:
                return client.request(op, **args), True
        except ControlUnavailable as exc:
            if not COMMANDS.is_idempotent(op):
                print(f"note: {exc}", file=sys.stderr)
    desk = OperatorDesk(db)
    try:
        return COMMANDS.run(desk, op, args), False
    finally:
        desk.close()


def cmd_operator(a: argparse.Namespace) -> int:
    command: OperatorCommand = a.operator_command
    result, live = send(a.db, command.name, namespace_to_args(a, command.args), a.timeout)
    if a.json:
        print(json.dumps(result, default=str))
    elif "queue" in result:
        print(format_queue(result))
    else:
        where = "" if live else " (agent not running: recorded in the database, applied when `labpilot run` resumes)"
        note = result.get("note") or f"experiment {result.get('id')} is now {result.get('status')}"
        print(f"{command.name}: {note}{where}")
        if "params" in result:
            print("  parameters: " + ", ".join(f"{k}={v}" for k, v in result["params"].items()))
    return 0


def format_queue(q: dict[str, Any]) -> str:
    from labpilot.agent.report import format_manual_step

    manual = [format_manual_step(step) for step in q.get("waiting_for_operator") or []]
    if not q["queue"]:
        return "\n".join([f"no proposals waiting (campaign {q['state']}, {q['mode']})", *manual])
    lines = [*manual, f"{len(q['queue'])} proposal(s) (campaign {q['state']}, {q['mode']}):"]
    for item in q["queue"]:
        params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in item["params"].items())
        score = "" if item["score"] is None else f" score={item['score']:.3g}"
        lines.append(f"  #{item['id']:<4} {item['status']:<17} {item['chosen_by']}/{item['planner']}{score}  {params}")
    return "\n".join(lines)
