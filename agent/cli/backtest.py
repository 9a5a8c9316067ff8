"""``labpilot backtest``: replay planners on a table of past experiments.

    labpilot backtest --csv FILE --objective COL (--minimize|--maximize)
        [--inputs A,B,...] --planners random,bo,... --budget N --repeats R
        --initial K --seed S [--json OUT] [--plot PNG]
        [--no-header] [--columns a,b,...] [--options JSON]
        [--measured COLS] [--descriptors PATTERN ...] [--prior FILE ...] [--protocol liang]

For a file without a header row (e.g. the OER plate), pass ``--no-header``
and either name the columns with ``--columns ni,fe,co,mn,ce,la,overpotential``
or give ``--objective`` as a 0-based column index; a header line made only of
numbers is warned about. Text columns with repeated values (a solvent) are
categorical inputs. ``--measured`` names the columns measured on each row
(patterns allowed: ``'xrd_*'``), which ``used`` and ``boed`` model (they are
refused without them). ``--descriptors 'd_*'`` names columns that describe each
row for the model (read by the campaigns' pool reader, ``planners.pool_table``),
modelled instead of the inputs. ``--prior FILE`` (repeatable) is earlier data with the
same column names (CSV, Parquet or a labpilot store), used by ``bo``.
``--options`` is a JSON object of per-planner options, e.g.
``'{"bo": {"acquisition": "ucb"}, "ae-bo": {"latent_dim": 2}}'`` (acquisition
names: ``logei``, ``ucb``, the same for every planner; ``bo`` also ``ts``, Thompson sampling).

Defaults: 5 initial random rows, 5 repeats, budget 50, top 5 % of the merged
rows as the target set, enhancement factor against random's exact
expectation. ``--protocol liang`` sets the initial design of Liang et al.,
npj Comput. Mater. 7, 188 (2021): 2 random initial rows (explicit
``--initial`` still wins), so figures compare with that benchmark.
The engine is ``planners.backtest``; this module is only the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labpilot.errors import UsageError

#: Named presets: option -> value, applied where the flag was not given.
PROTOCOLS: dict[str, dict[str, Any]] = {"liang": {"initial": 2}}
DEFAULTS: dict[str, Any] = {"initial": 5}


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
    p.add_argument("--inputs", help="comma-separated input columns (default: every other numeric column and every "
                                    "text column with repeated values, as a categorical input)")
    p.add_argument("--measured", help="comma-separated columns measured on each row (fnmatch patterns allowed), "
                                      "for used/boed")
    p.add_argument("--descriptors", nargs="+", metavar="PATTERN",
                   help="columns (fnmatch patterns, e.g. 'd_*') the model uses instead of the inputs: what describes "
                        "each row, as a campaign's [space] descriptors (read by the same pool reader)")
    p.add_argument("--prior", action="append", default=[], metavar="FILE",
                   help="prior data with the same column names (CSV, Parquet or a labpilot store); repeatable; used by bo")
    p.add_argument("--planners", default="random,bo", help="comma-separated planner names (default random,bo)")
    p.add_argument("--budget", type=int, default=50, help="experiments per replay, initial ones included (default 50)")
    p.add_argument("--repeats", type=int, default=5, help="replays per planner (default 5)")
    p.add_argument("--initial", type=int, default=None, help="random rows before the planner starts (default 5; "
                                                             "--protocol liang: 2)")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), help="a literature preset: liang = 2 initial rows "
                                                                 "(Liang et al. 2021)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the first replay (default 0)")
    p.add_argument("--json", help="write the results (with every repeat) here")
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
    from labpilot.errors import PriorError
    from labpilot.planners.backtest import load_table, plot_backtest, run_backtest
    from labpilot.planners.prior import PriorSpec, load_prior

    try:
        options = json.loads(args.options) if args.options else {}
        if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
            raise ValueError("must map planner names to objects of options")
    except ValueError as e:
        raise UsageError(f"--options is not valid: {e}") from None
    preset = {**DEFAULTS, **PROTOCOLS.get(getattr(args, "protocol", None) or "", {})}
    initial = args.initial if args.initial is not None else preset["initial"]
    planners = _split(args.planners) or []
    table = load_table(
        args.csv, args.objective, args.direction, inputs=_split(args.inputs),
        header=not args.no_header, columns=_split(args.columns), measured=_split(getattr(args, "measured", None)),
        descriptors=[p for item in getattr(args, "descriptors", None) or [] for p in _split(item) or []] or None,
    )
    if table.descriptors is not None and getattr(args, "prior", None):
        raise UsageError("--prior cannot be combined with --descriptors yet (prior rows have no descriptors)")
    for w in table.warnings:
        print(f"[backtest] warning: {w}", file=sys.stderr, flush=True)
    priors = []
    for i, path in enumerate(getattr(args, "prior", None) or []):
        try:
            priors.append(load_prior(PriorSpec(source=path), table.space, [table.objective], i))
        except PriorError as e:
            raise UsageError(f"--prior {path}: {e.reason}") from None
    cats = f", categorical {[table.inputs[j] for j in table.categorical]}" if table.categorical else ""
    meas = f", {len(table.measured_names)} measured column(s)" if table.measured_names else ""
    if table.descriptor_names:
        meas += f", the model sees {len(table.descriptor_names)} descriptor column(s)"
    print(
        f"[backtest] {table.source}: {table.n_raw} rows, {len(table.y)} distinct inputs "
        f"{table.inputs}{cats}{meas}; {args.direction} {table.objective.name}"
        + "".join(f"; prior {p.name}: {len(p)} rows ({p.dropped} outside the table's ranges left out)" for p in priors),
        file=sys.stderr, flush=True,
    )
    result = run_backtest(
        table, planners, args.budget, args.repeats, initial, args.seed, options=options, priors=priors,
    )
    result["protocol"] = getattr(args, "protocol", None) or "default"
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.plot:
        plot_backtest(result, args.plot)
    n = result["n_rows"]
    print(f"{'planner':<14}{'top found (mean ± sd)':>24}{'enhancement (± sd)':>22}{'s/proposal':>12}  per repeat")
    for name, r in result["planners"].items():
        frac, sd = r["top_fraction"][-1], r["top_fraction_sd"][-1]
        each = " ".join(str(x["top_found"]) for x in r["repeats"])
        label = name + (" +prior" if r["uses_priors"] else "")
        print(f"{label:<14}{frac:>14.1%} ± {sd:>6.1%}{r['enhancement_factor']:>14.2f} ± {r['enhancement_factor_sd']:<5.2f}"
              f"{r['seconds_per_proposal']:>12.3f}  [{each}] of {result['n_top']}")
    print(f"(random expects {args.budget / n:.1%} of the {result['n_top']} top rows in {args.budget} experiments; "
          f"{initial} initial random rows, {args.repeats} repeats)")
    return 0
