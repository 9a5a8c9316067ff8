"""The campaign commands: run, validate, status, graph, export, plot, sim.

Every command that touches a campaign takes ``--db DB`` (default
``./labpilot.db``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labpilot.errors import CampaignError, UsageError
from labpilot.agent.campaign import Campaign, load_campaign

if TYPE_CHECKING:
    from labpilot.agent.loop.reconfigure import Flags


DEFAULT_DB = "labpilot.db"
#: Virtual-clock speed of a dry run: a 30-minute deposition takes about a second.
DEFAULT_DRY_RUN_SPEED = 2000.0


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=DEFAULT_DB, help=f"campaign database (default ./{DEFAULT_DB})")


def add_parser(sub: Any) -> None:
    """Register the campaign commands on an argparse subparsers object."""
    p = sub.add_parser("run", help="run (or resume) a campaign")
    p.add_argument("file", help="campaign file (TOML)")
    _add_db(p)
    p.add_argument("--dry-run", action="store_true", help="start simulators for every instrument and run against them")
    p.add_argument("--max-experiments", type=int, help="override budget.max_experiments")
    p.add_argument("--seed", type=int, help="override the campaign's seed")
    p.add_argument("--mode", choices=["unattended", "supervised"], help="override the campaign's mode")
    p.add_argument("--speed", type=float, help=f"virtual-clock speed of a dry run (default {DEFAULT_DRY_RUN_SPEED:g})")
    p.add_argument("--faults", help="dry run: fault rates for every simulator, e.g. drop=0.05,garble=0.05; "
                   "INSTRUMENT:KIND=RATE for one instrument only, e.g. xrd:error=0.3")
    p.add_argument("--ledger-dir", help="dry run: keep the simulators' ledgers (JSON lines) here")
    p.add_argument("--deadline", help="override budget.deadline (ISO 8601 date and time)")
    p.add_argument("--approval-timeout", type=float, help="override supervision.approval_timeout_s")
    p.add_argument("--watchdog", type=float, help="override faults.watchdog_s")
    p.add_argument("--accept-changes", action="store_true",
                   help="resume even though the campaign file changed (only budget, mode, supervision "
                        "and faults may change once experiments have started)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    from labpilot.agent.web import DEFAULT_PORT  # a constant only: the parser never imports the web stack

    p.add_argument("--serve", nargs="?", type=int, const=DEFAULT_PORT, metavar="PORT",
                   help=f"also serve the dashboard on 127.0.0.1:PORT (default {DEFAULT_PORT}) while the campaign runs")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a campaign file; print ok or every error")
    p.add_argument("file", help="campaign file (TOML)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("status", help="where a campaign stands")
    from labpilot.agent.cli.operator_commands import add_target_arguments

    add_target_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--watch", action="store_true", help="print again every --interval seconds until the campaign ends")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between --watch updates")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("graph", help="draw the campaign state machine (from the machine itself)")
    p.add_argument("--out", required=True, help="FILE.png, or FILE.mmd / FILE.md for mermaid text")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("export", help="export experiments (CSV) and measured arrays (CSV per experiment, or Parquet)")
    _add_db(p)
    p.add_argument("--csv", help="one row per experiment: provenance, parameters, scalar results")
    p.add_argument("--arrays", metavar="DIR", help="one CSV per experiment and instrument, units in the headers")
    p.add_argument("--parquet", metavar="FILE", help="every measured array in one Parquet file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="plot the campaign: objective per experiment, best so far, patterns")
    _add_db(p)
    p.add_argument("--out", required=True, help="output PNG file")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("sim", help="run one simulated instrument (see `labpilot sim --help`)",
                       add_help=False)
    p.add_argument("sim_args", nargs=argparse.REMAINDER,
                   help="passed to the simulator entry point (`python -m labpilot.simulators`)")
    p.set_defaults(func=cmd_sim)


def _load(path: str) -> Campaign:
    return load_campaign(path)


def cmd_validate(args: argparse.Namespace) -> int:
    from labpilot.agent.preflight import check

    try:
        c = load_campaign(args.file)
        check(c, args.file)
    except CampaignError as exc:
        print(f"{exc.source}: invalid campaign ({len(exc.problems)} problem(s))", file=sys.stderr)
        for path, reason in exc.problems:
            print(f"  {path}: {reason}", file=sys.stderr)
        return 1
    print(f"{args.file}: ok (campaign {c.name!r}, {len(c.parameters)} parameters, "
          f"planner {c.planner.name}, {len(c.instruments)} instruments, "
          f"budget {c.budget.max_experiments})")
    return 0


def _flags(args: argparse.Namespace) -> "Flags":
    from labpilot.agent.loop.reconfigure import Flags

    return Flags(max_experiments=args.max_experiments, seed=args.seed, mode=args.mode, deadline=args.deadline,
                 approval_timeout_s=args.approval_timeout, watchdog_s=args.watchdog)


def cmd_run(args: argparse.Namespace) -> int:
    from labpilot.agent.loop.session import run_campaign

    campaign = _load(args.file)
    source = Path(args.file).read_text(encoding="utf-8-sig")
    if args.speed is not None and args.speed <= 0:
        raise UsageError("--speed must be positive")
    if not args.dry_run and (args.faults or args.ledger_dir or args.speed):
        raise UsageError("--faults, --ledger-dir and --speed only make sense with --dry-run")
    speed = args.speed if args.speed is not None else (DEFAULT_DRY_RUN_SPEED if args.dry_run else 1.0)
    from labpilot.agent.store_open import is_server_url

    dashboard = None
    if args.serve is not None:
        from labpilot.agent.web.server import Dashboard

        dashboard = Dashboard([args.db], host="127.0.0.1", port=args.serve)
        print(f"dashboard at {dashboard.start()}", flush=True)
    try:
        final = run_campaign(
            campaign, source, args.db if is_server_url(args.db) else Path(args.db), dry_run=args.dry_run,
            speed=speed, faults=args.faults, ledger_dir=Path(args.ledger_dir) if args.ledger_dir else None,
            quiet=args.quiet, flags=_flags(args), accept_changes=args.accept_changes,
        )
    finally:
        if dashboard is not None:
            dashboard.stop()
    return 0 if final in ("completed", "aborted") else 3


def cmd_status(args: argparse.Namespace) -> int:
    from labpilot.agent.report import campaign_status as local_status
    from labpilot.agent.report import format_status

    import time

    from labpilot.agent.cli.operator_commands import target_of
    from labpilot.agent.operate import operate

    target = target_of(args)
    store = _open_store(target.db) if target.db else None

    def campaign_status(store: Any) -> dict[str, Any]:  # noqa: F811 -- the store, or the remote agent
        if store is not None:
            return local_status(store)
        return operate(target, "status", {})[0]

    while True:
        status = campaign_status(store)
        print(json.dumps(status, default=str) if args.json else format_status(status), flush=True)
        if not args.watch or status["state"] in ("completed", "aborted"):
            return 0
        time.sleep(args.interval)
        if not args.json:
            print()


def cmd_graph(args: argparse.Namespace) -> int:
    from labpilot.agent.machine import CampaignMachine
    from labpilot.agent.plotting import plot_machine

    out = Path(args.out)
    m = CampaignMachine()
    if out.suffix.lower() in (".mmd", ".md", ".txt"):
        text = m.mermaid()
        out.write_text(("```mermaid\n" + text + "```\n") if out.suffix.lower() == ".md" else text)
    elif out.suffix.lower() == ".png":
        plot_machine(m, out)
    else:
        raise UsageError(f"--out {out}: use a .png, .mmd or .md file")
    print(f"wrote {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from labpilot.agent.arrays_export import export_arrays_csv, export_arrays_parquet
    from labpilot.agent.report import export_csv

    if not (args.csv or args.arrays or args.parquet):
        raise UsageError("export: give --csv FILE, --arrays DIR and/or --parquet FILE")
    store = _open_store(args.db)
    if args.csv:
        n = export_csv(store, Path(args.csv))
        print(f"wrote {n} experiments to {args.csv}")
    if args.arrays:
        files = export_arrays_csv(store, Path(args.arrays))
        print(f"wrote {len(files)} array files to {args.arrays}")
    if args.parquet:
        n = export_arrays_parquet(store, Path(args.parquet))
        print(f"wrote {n} arrays to {args.parquet}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from labpilot.agent.plotting import plot_campaign

    plot_campaign(_open_store(args.db), Path(args.out))
    print(f"wrote {args.out}")
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    """Hand over to the simulator process entry point (the agent never imports simulators)."""
    argv = [sys.executable, "-m", "labpilot.simulators", *args.sim_args]
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover


def _open_store(db: str):  # noqa: ANN202
    from labpilot.agent.store_open import open_store

    return open_store(db)
