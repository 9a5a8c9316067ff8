"""The exit codes of ``labpilot``, documented once (README "Exit codes", the systemd unit).

| code | meaning |
|---|---|
| 0 | done: the command succeeded; ``run``: the campaign completed or was aborted |
| 1 | ``validate``: the campaign file is invalid (every problem printed) |
| 2 | an error labpilot reports on purpose (bad usage, a refused command, a refused resume...) |
| 3 | ``run``: the campaign stopped paused or faulted; ``labpilot resume`` then ``run`` again continues it |
| 4 | ``run``: the database cannot be written (disk full, read-only file system); instruments were made safe; fix it and run again to resume |
| 70 | a bug in labpilot (a traceback is printed) |
| 130 | interrupted by Ctrl-C (SIGINT): stopped cleanly, resumable |
| 143 | stopped by SIGTERM (a service manager): stopped cleanly, resumable |
"""

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_ERROR = 2
EXIT_STOPPED = 3
EXIT_STORE_UNAVAILABLE = 4
EXIT_BUG = 70
EXIT_INTERRUPTED = 130
EXIT_SIGTERM = 143
