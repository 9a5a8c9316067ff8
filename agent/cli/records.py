"""``labpilot report`` (the morning after, one HTML file) and ``labpilot events`` (the journal)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

from labpilot.errors import UsageError

DEFAULT_DB = "labpilot.db"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report of a campaign")
    p.add_argument("--db", default=DEFAULT_DB, help="campaign database or postgresql://... URL")
    p.add_argument("--out", required=True, help="output .html file")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("events", help="the campaign's journal: transitions, faults, operator actions, timings")
    p.add_argument("--db", default=DEFAULT_DB, help="campaign database or postgresql://... URL")
    p.add_argument("--kind", action="append", help="only events of this kind (repeat for several)")
    p.add_argument("--since", help="only events since a time (2026-12-01T06:00) or an age (30m, 2h, 1d)")
    p.add_argument("--experiment", type=int, help="only events of this experiment")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_events)


_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")


def parse_since(text: str, now: float | None = None) -> float:
    """An ISO time or an age (``90s``, ``30m``, ``2h``, ``1d``) -> a Unix time."""
    m = _AGE.match(text.strip())
    if m:
        factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return (now if now is not None else time.time()) - float(m.group(1)) * factor
    try:
        return dt.datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise UsageError(f"--since {text!r}: give a time like 2026-12-01T06:00 or an age like 30m, 2h, 1d") from None


def cmd_report(args: argparse.Namespace) -> int:
    from labpilot.agent.morning_report import write_report
    from labpilot.agent.store_open import open_store

    store = open_store(args.db)
    try:
        out = write_report(store, Path(args.out))
    finally:
        store.close()
    print(f"wrote {out}")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from labpilot.agent.store_open import open_store

    since = parse_since(args.since) if args.since else None
    store = open_store(args.db)
    try:
        events = store.events()
    finally:
        store.close()
    try:
        _print_events(events, args, since)
    except BrokenPipeError:  # `labpilot events ... | head`
        pass
    return 0


def _print_events(events: list[dict[str, Any]], args: argparse.Namespace, since: float | None) -> None:
    from labpilot.agent.web.views import _describe, when

    kinds = set(args.kind or [])
    for ev in events:
        if kinds and ev["kind"] not in kinds:
            continue
        if since is not None and ev["ts"] < since:
            continue
        if args.experiment is not None and ev["experiment_id"] != args.experiment:
            continue
        if args.json:
            print(json.dumps({**ev, "time": dt.datetime.fromtimestamp(ev["ts"]).isoformat()}, default=str))
        else:
            exp = "" if ev["experiment_id"] is None else f"exp {ev['experiment_id']}"
            print(f"#{ev['seq']:<6} {when(ev['ts'])}  {ev['kind']:<20} {exp:<8} {_describe(ev)}")
