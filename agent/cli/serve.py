"""``labpilot serve``: the web dashboard over one or more campaign databases."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    from labpilot.agent.web import DEFAULT_PORT  # a constant: the parser must not import the web stack

    p = sub.add_parser("serve", help="web dashboard: live campaigns, proposals, plots, journal, operator actions")
    p.add_argument("--db", action="append", required=True,
                   help="a campaign database, a folder of them, or postgresql://... (repeat for several)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; "
                   "anything wider needs a token)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--token-file", help="shared token operators sign in with (else $LABPILOT_CONTROL_TOKEN)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from labpilot.agent.control.auth import read_token_file, token_from_env
    from labpilot.agent.web.server import Dashboard

    token = read_token_file(args.token_file) if args.token_file else token_from_env()
    dash = Dashboard(args.db, host=args.host, port=args.port, token=token, control_token=token_from_env())
    dash.run(announce=lambda url: print(f"dashboard at {url} (Ctrl-C stops it)", flush=True))
    return 0
