"""Run the dashboard with uvicorn on a socket we bind ourselves (so port 0 works and is reported)."""

from __future__ import annotations

import socket
import threading
from typing import Callable

import uvicorn

from labpilot.agent.web import DEFAULT_PORT  # noqa: F401 (re-exported)
from labpilot.agent.web.app import create_app
from labpilot.agent.web.catalog import Catalog
from labpilot.agent.web.security import Guard, check_serve_bind, is_loopback_host



def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from labpilot.errors import UsageError

        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class Dashboard:
    """The dashboard server: ``start()`` in a thread (for ``run --serve``) or ``run()`` in the foreground."""

    def __init__(self, targets: list[str], host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 token: str | None = None, control_token: str | None = None) -> None:
        check_serve_bind(host, token)
        self.catalog = Catalog(targets)
        guard = Guard(token=token, loopback_only=is_loopback_host(host))
        self.app = create_app(self.catalog, guard, control_token=control_token)
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2, lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def run(self, announce: Callable[[str], None] | None = None) -> None:
        if announce:
            announce(self.url)
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.catalog.close()

    def start(self) -> str:
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name="dashboard", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.catalog.close()
        self.sock.close()
