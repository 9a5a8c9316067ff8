"""``labpilot backtest``: replay planners on a table of past experiments.

    labpilot backtest --csv FILE --objective COL (--minimize|--maximize)
        [--inputs A,B,...] --planners random,bo,... --budget N --repeats R
        --initial K --seed S [--json OUT] [--plot PNG]
        [--no-header] [--columns a,b,...] [--options JSON]

For a file without a header row (e.g. the OER plate), pass ``--no-header``
and either name the columns with ``--columns ni,fe,co,mn,ce,la,overpotential``
or give ``--objective`` as a 0-based column index. ``--options`` is a JSON
object of per-planner options, e.g. ``'{"ae-bo": {"latent_dim": 2}}'``.
The engine is ``planners.backtest``; this module is only the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labpilot.errors import UsageError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``backtest`` subcommand on an argparse subparsers object."""
    p = sub.add_parser("backtest", help="replay planners on a CSV of past experiments")
    p.add_argument("--csv", required=True, help="table of past experiments (CSV, UTF-8, BOM allowed)")
    p.add_argument("--objective", required=True, help="objective column name (or 0-based index)")
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--minimize", action="store_const", const="minimize", dest="direction",
                      help="lower objective values are better")
    goal.add_argument("--maximize", action="store_const", const="maximize", dest="direction",
                      help="higher objective values are better")
    p.add_argument("--inputs", help="comma-separated input columns (default: every other numeric column)")
    p.add_argument("--planners", default="random,bo", help="comma-separated planner names (default random,bo)")
    p.add_argument("--budget", type=int, default=50, help="experiments per replay, initial ones included (default 50)")
    p.add_argument("--repeats", type=int, default=5, help="replays per planner (default 5)")
    p.add_argument("--initial", type=int, default=5, help="random rows before the planner starts (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the first replay (default 0)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--plot", help="write a PNG of the top-fraction curves here")
    p.add_argument("--no-header", action="store_true", help="the first line of the CSV is data")
    p.add_argument("--columns", help="comma-separated names for the CSV's columns (renames a header if present)")
    p.add_argument("--options", help="JSON object: planner name -> options, e.g. '{\"bo\": {\"acquisition\": \"ucb\"}}'")
    p.set_defaults(func=run)
    return p


def _split(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def run(args: argparse.Namespace) -> int:
    """Run the backtest described by ``args``; print a summary; 0 on success, 2 on bad input."""
    from labpilot.planners.backtest import load_table, plot_backtest, run_backtest

    try:
        options = json.loads(args.options) if args.options else {}
        if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
            raise ValueError("must map planner names to objects of options")
    except ValueError as e:
        raise UsageError(f"--options is not valid: {e}") from None
    planners = _split(args.planners) or []
    table = load_table(
        args.csv, args.objective, args.direction, inputs=_split(args.inputs),
        header=not args.no_header, columns=_split(args.columns),
    )
    print(
        f"[backtest] {table.source}: {table.n_raw} rows, {len(table.y)} distinct inputs "
        f"{table.inputs}; {args.direction} {table.objective.name}",
        file=sys.stderr, flush=True,
    )
    result = run_backtest(
        table, planners, args.budget, args.repeats, args.initial, args.seed, options=options,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.plot:
        plot_backtest(result, args.plot)
    n = result["n_rows"]
    print(f"{'planner':<14}{'top found':>12}{'enhancement':>14}{'seconds':>10}")
    for name, r in result["planners"].items():
        frac = r["top_fraction"][-1]
        print(f"{name:<14}{frac:>11.1%} {r['enhancement_factor']:>13.2f}{r['seconds']:>10.1f}")
    print(f"(random expects {args.budget / n:.1%} of the {result['n_top']} top rows in {args.budget} experiments)")
    return 0
