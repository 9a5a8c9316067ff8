"""``python -m labpilot.agent.cli``: the same as the ``labpilot`` command."""

from labpilot.agent.cli.main import main

raise SystemExit(main())
