"""The one error type the CLI turns into a clean one-line message (exit code 2).

It lives apart from ``agent.cli`` so that subcommand modules share the same
class even when the CLI runs as ``python -m agent.cli`` (``__main__``).
"""


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""
