"""Operator commands: pause, resume, abort, queue, approve, reject, override.

Each command needs only ``--db``: the campaign records where its control
endpoint listens. When the agent is not running (or cannot be reached), the
command is applied to the database directly through the same ``OperatorDesk``
and takes effect when ``labpilot run`` resumes the campaign.
"""

from __future__ import annotations

from labpilot.errors import ControlUnavailable, UsageError
import argparse
import json
import sys
from typing import Any


DEFAULT_DB = "labpilot.db"


def add_parser(sub: Any) -> None:
    def db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", default=DEFAULT_DB, help=f"campaign database (default ./{DEFAULT_DB})")
        p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the agent's reply")
        p.set_defaults(func=cmd_operator)
        return p

    p = db(sub.add_parser("pause", help="pause at the next checkpoint (--now: at once)"))
    p.add_argument("--now", action="store_true", help="stop at once; the command in flight is reconciled on resume")
    p.set_defaults(op="pause")
    db(sub.add_parser("resume", help="resume a paused or faulted campaign")).set_defaults(op="resume")
    p = db(sub.add_parser("abort", help="abort: make instruments safe, abandon the experiment in flight"))
    p.add_argument("--reason", help="why (recorded)")
    p.set_defaults(op="abort")
    p = db(sub.add_parser("queue", help="proposals awaiting review"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(op="queue")
    p = db(sub.add_parser("approve", help="approve a proposal"))
    p.add_argument("id", type=int)
    p.set_defaults(op="approve")
    p = db(sub.add_parser("reject", help="reject a proposal (the planner will not propose it again)"))
    p.add_argument("id", type=int)
    p.add_argument("--reason", help="why (recorded)")
    p.set_defaults(op="reject")
    p = db(sub.add_parser("override", help="replace a proposal's parameters with your own"))
    p.add_argument("id", type=int)
    p.add_argument("--set", dest="sets", action="append", required=True, metavar="NAME=VALUE",
                   help="a parameter value (repeat for several)")
    p.add_argument("--reason", help="why (recorded)")
    p.set_defaults(op="override")


def _args(a: argparse.Namespace) -> dict[str, Any]:
    from labpilot.agent.control_messages import parse_set_args

    if a.op == "pause":
        return {"now": a.now}
    if a.op == "abort":
        return {"reason": a.reason} if a.reason else {}
    if a.op == "approve":
        return {"id": a.id}
    if a.op == "reject":
        return {"id": a.id, **({"reason": a.reason} if a.reason else {})}
    if a.op == "override":
        try:
            values = parse_set_args(a.sets)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return {"id": a.id, "values": values, **({"reason": a.reason} if a.reason else {})}
    return {}


def send(db: str, op: str, args: dict[str, Any], timeout: float = 5.0) -> tuple[dict[str, Any], bool]:
    """Send one operator command; return (result, reached the running agent?)."""
    from labpilot.agent.control_bridge import META_ENDPOINT
    from labpilot.agent.control_client import ControlClient
    from labpilot.agent.control_auth import token_from_env
    from labpilot.agent.operator import OperatorDesk
    from labpilot.agent.store import Store

    store = Store.open(db)
    endpoint = store.get_meta(META_ENDPOINT)
    store.close()
    if endpoint:
        try:
            with ControlClient(endpoint, token=token_from_env(), timeout_s=timeout) as client:
                return client.request(op, **args), True
        except ControlUnavailable as exc:
            if op not in ("status", "queue", "ping"):
                print(f"note: {exc}", file=sys.stderr)
    desk = OperatorDesk(db)
    try:
        return desk.dispatch(op, args), False
    finally:
        desk.close()


def cmd_operator(a: argparse.Namespace) -> int:
    result, live = send(a.db, a.op, _args(a), a.timeout)
    if a.op == "queue":
        if a.json:
            print(json.dumps(result, default=str))
        else:
            print(format_queue(result))
        return 0
    where = "" if live else " (agent not running: recorded in the database, applied when `labpilot run` resumes)"
    note = result.get("note") or f"experiment {result.get('id')} is now {result.get('status')}"
    print(f"{a.op}: {note}{where}")
    if a.op == "override":
        print("  parameters: " + ", ".join(f"{k}={v}" for k, v in result["params"].items()))
    return 0


def format_queue(q: dict[str, Any]) -> str:
    from labpilot.agent.formatting import fmt_params, fmt_value
    from labpilot.agent.units import label

    if not q["queue"]:
        return f"no proposals waiting (campaign {q['state']}, {q['mode']})"
    lines = [f"{len(q['queue'])} proposal(s) (campaign {q['state']}, {q['mode']}):"]
    for item in q["queue"]:
        params = fmt_params(item["params"], sep=" ")
        pred = item.get("predicted") or {}
        expect = "".join(f"  predicted {label(k)} {fmt_value(m)} ± {fmt_value(s, 2)}" for k, (m, s) in pred.items())
        lines.append(f"  #{item['id']:<4} {item['status']:<17} {item['chosen_by']}/{item['planner']}  {params}{expect}")
        if item.get("reason") and item["status"] == "awaiting_approval":
            lines.append(f"        why: {item['reason']}")
    return "\n".join(lines)
