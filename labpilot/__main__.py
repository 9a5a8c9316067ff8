"""``python -m labpilot``: the same as the ``labpilot`` command."""

from labpilot.agent.cli import main

raise SystemExit(main())
