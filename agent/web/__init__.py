"""The web dashboard (``labpilot serve``): pages, live updates, operator actions.

Only constants live here: the command line's parser imports this package,
and must stay fast and work without the web stack installed, so nothing here
imports FastAPI, Starlette or uvicorn.
"""

#: The port ``labpilot serve`` and ``labpilot run --serve`` listen on by default.
DEFAULT_PORT = 8787
