"""The web dashboard (``labpilot serve``): pages, live updates, operator actions."""
