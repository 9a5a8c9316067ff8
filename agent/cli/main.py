"""The ``labpilot`` command line: the main parser and ``main``.

The sub-commands live in their own modules (campaign commands, backtest, the
operator commands built from the command registry). Errors labpilot raises on
purpose (``LabpilotError``) print one line, ``labpilot COMMAND: reason``, and
exit 2; anything else is a bug: a traceback and a request to report it. Every
exit code is listed in ``exit_codes.py``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import Sequence

from labpilot import __version__
from labpilot.errors import LabpilotError, StoreUnavailable, Terminated
from labpilot.agent.cli import backtest, campaign_commands, operator_commands, plugins_command, records, serve
from labpilot.agent.cli.exit_codes import (EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_SIGTERM,
                                           EXIT_STORE_UNAVAILABLE)

#: Modules that add sub-commands, in the order ``labpilot --help`` lists them.
COMMAND_MODULES = (campaign_commands, plugins_command, backtest, operator_commands, serve, records)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labpilot", description="Autonomous-lab agent: plan, synthesize, measure, learn.")
    parser.add_argument("--version", action="version", version=f"labpilot {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("--log-file", metavar="FILE",
                        help="also log to FILE (INFO and above, progress lines included), rotated by size")
    parser.add_argument("--log-max-bytes", type=int, default=10_000_000, metavar="N",
                        help="rotate the log file at N bytes (default 10 MB)")
    parser.add_argument("--log-backups", type=int, default=5, metavar="N",
                        help="rotated log files to keep (default 5)")
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


def _import_from_cwd() -> None:
    """Modules in the working folder are importable, after every installed one (as ``python -m`` would, but last).

    A campaign may name an unpackaged driver class (``kind = "mylab.probe:Probe"``);
    operator commands re-read the stored campaign, so run from the campaign's
    folder they find ``mylab/`` too.
    """
    from pathlib import Path

    from labpilot.import_path import add_import_path

    add_import_path(Path.cwd())


def _terminate_gracefully(signum: int, frame: object) -> None:
    """SIGTERM (a service manager, `kill`) stops a run like Ctrl-C: journaled, nothing left behind."""
    raise Terminated


def _setup_logging(args: argparse.Namespace) -> None:
    """The console at -v's level; with ``--log-file`` also a size-rotated file at INFO (standard library)."""
    from logging.handlers import RotatingFileHandler

    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt)
    for h in logging.getLogger().handlers:  # progress lines are printed already; the log file keeps them too
        h.addFilter(lambda record: record.name != "labpilot.progress")
    if args.log_file:
        if args.log_max_bytes < 1 or args.log_backups < 0:
            raise SystemExit("labpilot: --log-max-bytes must be >= 1 and --log-backups >= 0")
        root = logging.getLogger()
        for h in root.handlers:
            if not isinstance(h, RotatingFileHandler):
                h.setLevel(level)
        try:
            handler = RotatingFileHandler(args.log_file, maxBytes=args.log_max_bytes, backupCount=args.log_backups,
                                          encoding="utf-8")
        except OSError as exc:
            raise SystemExit(f"labpilot: cannot open the log file {args.log_file}: {exc.strerror}") from None
        handler.setLevel(min(level, logging.INFO))
        handler.setFormatter(logging.Formatter(fmt))
        root.addHandler(handler)
        root.setLevel(min(level, logging.INFO))


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the real command line: labpilot's own warnings as one line, not a source excerpt
        _one_line_warnings()
    code = _main(argv)
    if argv is None:
        _exit_past_abandoned_planning(code)
    return code


def _one_line_warnings() -> None:
    """``labpilot status: warning: control token file ... is readable by other users; chmod 600 it``.

    labpilot warns with ``UserWarning`` (e.g. a token file others can read);
    Python's default format adds the file, line and source of the call, which
    is noise to an operator. Other kinds of warning keep the default format.
    """
    import warnings

    default = warnings.formatwarning

    def fmt(message, category, filename, lineno, line=None):  # noqa: ANN001, ANN202
        if category is UserWarning:
            return f"labpilot: warning: {message}\n"
        return default(message, category, filename, lineno, line)

    warnings.formatwarning = fmt


def _exit_past_abandoned_planning(code: int) -> None:
    """A planning step abandoned by SIGTERM/abort may still run (a daemon thread inside torch).

    Letting the interpreter finalize under it aborts the process ("terminate
    called without an active exception") and loses the exit code, so the
    process ends here instead, after flushing; everything was journaled.
    """
    import os
    import threading

    if any(t.name == "planning" and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _import_from_cwd()
    words, sim_args = _split_sim(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(words)
    if sim_args is not None:
        args.sim_args = sim_args
    if args.command == "run":
        import signal

        signal.signal(signal.SIGTERM, _terminate_gracefully)
    _setup_logging(args)
    try:
        return int(args.func(args) or 0)
    except StoreUnavailable as exc:
        print(f"labpilot {args.command}: {exc}", file=sys.stderr)
        return EXIT_STORE_UNAVAILABLE
    except LabpilotError as exc:
        # Every error labpilot raises on purpose: one clean line, no traceback.
        print(f"labpilot {args.command}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Terminated:
        print(f"labpilot {args.command}: stopped by SIGTERM", file=sys.stderr)
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        print(f"labpilot {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `labpilot status | head`: the reader has what it wanted. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        traceback.print_exc()
        print(f"labpilot {args.command}: unexpected error (a bug in labpilot {__version__}); "
              "please report it with the traceback above", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
