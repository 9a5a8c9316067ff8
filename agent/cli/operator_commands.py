"""Operator commands on the command line, one sub-command per registered command.

The sub-parsers, their arguments and help come from the registry
(``control.commands.COMMANDS``); nothing here names a command. Each needs only
``--db``: the campaign records where its control endpoint listens. When the
agent is not running (or cannot be reached), the command is applied to the
database directly through the same ``OperatorDesk`` method and takes effect
when ``labpilot run`` resumes the campaign. With ``--endpoint`` (and a token
or CURVE keys) an operator on another PC needs no database at all. Every
command carries who sent it (``cli:user@host``), journaled with its outcome.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from labpilot.agent.cli.arguments import add_model_arguments, namespace_to_args
from labpilot.agent.control.commands import COMMANDS, OperatorCommand
from labpilot.agent.operate import OperatorTarget, default_actor, operate
from labpilot.errors import UsageError

DEFAULT_DB = "labpilot.db"


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    """``--db DB``, or ``--endpoint tcp://HOST:PORT`` with a token or CURVE keys (no database needed)."""
    p.add_argument("--db", help=f"campaign database or postgresql:// URL (default ./{DEFAULT_DB})")
    p.add_argument("--endpoint", metavar="tcp://HOST:PORT",
                   help="the running campaign's control endpoint, instead of --db (from another PC)")
    p.add_argument("--token-file", help="the campaign's shared token (else $LABPILOT_CONTROL_TOKEN)")
    p.add_argument("--curve-secret-file", help="this operator's CURVE key pair (NAME.key_secret)")
    p.add_argument("--curve-server-key", help="the campaign's CURVE public key (SERVER.key)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for the running agent's reply (default 5)")


def target_of(a: argparse.Namespace) -> OperatorTarget:
    """Where the command goes, from ``--db`` / ``--endpoint`` and the credentials."""
    from labpilot.agent.control.auth import read_token_file, token_from_env

    if a.endpoint and a.db:
        raise UsageError("give either --db DB or --endpoint tcp://HOST:PORT, not both")
    if (a.curve_secret_file is None) != (a.curve_server_key is None):
        raise UsageError("CURVE needs both --curve-secret-file (yours) and --curve-server-key (the campaign's)")
    token = read_token_file(a.token_file) if a.token_file else token_from_env()
    if a.endpoint:
        from labpilot.agent.control.auth import parse_endpoint

        try:
            parse_endpoint(a.endpoint)
        except ValueError as exc:
            raise UsageError(f"--endpoint: {exc}") from None
        return OperatorTarget(endpoint=a.endpoint, token=token, curve_secret_file=a.curve_secret_file,
                              curve_server_public_file=a.curve_server_key, timeout_s=a.timeout)
    return OperatorTarget(db=a.db or DEFAULT_DB, token=token, curve_secret_file=a.curve_secret_file,
                          curve_server_public_file=a.curve_server_key, timeout_s=a.timeout)


def add_parser(sub: Any) -> None:
    """One sub-parser per registered command that has a command line."""
    for command in COMMANDS.values():
        if not command.cli:
            continue
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        add_model_arguments(p, command.args)
        add_target_arguments(p)
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")
        p.set_defaults(func=cmd_operator, operator_command=command)


def send(target: OperatorTarget, op: str, args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Send one operator command as this user; return (result, reached the running agent?)."""
    return operate(target, op, args, actor=default_actor("cli"))


def cmd_operator(a: argparse.Namespace) -> int:
    command: OperatorCommand = a.operator_command
    result, live = send(target_of(a), command.name, namespace_to_args(a, command.args))
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
    from labpilot.agent.formatting import fmt_params, fmt_value
    from labpilot.agent.report import format_manual_step
    from labpilot.agent.units import label

    manual = [format_manual_step(step) for step in q.get("waiting_for_operator") or []]
    unknown = q.get("outcome_unknown") or []
    if not q["queue"] and not unknown:
        return "\n".join([f"no proposals waiting (campaign {q['state']}, {q['mode']})", *manual])
    lines = [*manual]
    if q["queue"]:
        lines.append(f"{len(q['queue'])} proposal(s) (campaign {q['state']}, {q['mode']}):")
    for item in q["queue"]:
        params = fmt_params(item["params"], sep=" ")
        pred = item.get("predicted") or {}
        expect = "".join(f"  predicted {label(k, q.get('units'))} {fmt_value(m)} ± {fmt_value(s, 2)}" for k, (m, s) in pred.items())
        lines.append(f"  #{item['id']:<4} {item['status']:<17} {item['chosen_by']}/{item['planner']}  {params}{expect}")
        if item.get("reason") and item["status"] == "awaiting_approval":
            lines.append(f"        why: {item['reason']}")
    if unknown:
        lines.append(f"{len(unknown)} experiment(s) whose outcome is unknown (campaign {q['state']}): "
                     f"check the instrument, then resolve")
        for item in unknown:
            lines.append(f"  #{item['id']:<4} {item['action']} on {item['instrument']} (command {item['command_id']})"
                         f": {item['resolve']}")
    return "\n".join(lines)
