"""The ``labpilot`` command line; ``labpilot.agent.cli:main`` is the console entry point."""

from labpilot.agent.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
