"""The ``labpilot`` command line: the main parser and ``main``.

The sub-commands live in their own modules (campaign commands, backtest, the
operator commands built from the command registry). Errors labpilot raises on
purpose (``LabpilotError``) print one line, ``labpilot COMMAND: reason``, and
exit 2; anything else is a bug: a traceback and a request to report it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import Sequence

from labpilot import __version__
from labpilot.errors import LabpilotError
from labpilot.agent.cli import backtest, campaign_commands, operator_commands, records, serve

#: Modules that add sub-commands, in the order ``labpilot --help`` lists them.
COMMAND_MODULES = (campaign_commands, backtest, operator_commands, serve, records)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labpilot", description="Autonomous-lab agent: plan, synthesize, measure, learn.")
    parser.add_argument("--version", action="version", version=f"labpilot {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="`labpilot COMMAND --help` for its arguments")
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return parser


def _split_sim(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``labpilot [-v] sim ARGS...``: everything after ``sim`` goes to the simulator untouched (``--help`` too)."""
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            return (argv[: i + 1], argv[i + 1:]) if arg == "sim" else (argv, None)
    return argv, None


def _terminate_gracefully(signum: int, frame: object) -> None:
    """SIGTERM (a service manager, `kill`) stops a run like Ctrl-C: journaled, nothing left behind."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words, sim_args = _split_sim(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(words)
    if sim_args is not None:
        args.sim_args = sim_args
    if args.command == "run":
        import signal

        signal.signal(signal.SIGTERM, _terminate_gracefully)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except LabpilotError as exc:
        # Every error labpilot raises on purpose: one clean line, no traceback.
        print(f"labpilot {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"labpilot {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(f"labpilot {args.command}: unexpected error (a bug in labpilot {__version__}); "
              "please report it with the traceback above", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
