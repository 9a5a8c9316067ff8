"""``labpilot plugins [--json] [--planner-options]``: every installed instrument kind and planner.

Exit status 0, or 1 when a plugin cannot be loaded (it is listed with its
one-line error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    """Register ``plugins`` on an argparse subparsers object."""
    p = sub.add_parser("plugins", help="list installed instrument kinds and planners (what they measure, "
                                       "limits, options, simulators)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--planner-options", action="store_true",
                   help="also import each planner to show its options (imports torch)")
    p.set_defaults(func=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    from labpilot.plugins import describe, format_text

    info = describe(planner_options=args.planner_options)
    try:
        print(json.dumps(info, indent=2) if args.json else format_text(info), flush=True)
    except BrokenPipeError:  # `labpilot plugins | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    broken = [d for d in info["instruments"] + info["planners"] if d.get("error")]
    return 1 if broken else 0
