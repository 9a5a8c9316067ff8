"""Who may use the dashboard, and protection of its forms.

* **Bind policy** (the control endpoint's rules): loopback needs nothing; a
  wider bind (``0.0.0.0``, a LAN address, a host name) is refused without a
  shared token of at least 16 characters (``--token-file`` or
  ``$LABPILOT_CONTROL_TOKEN``).
* **Sign-in**: with a token, every page but ``/login`` and ``/static`` needs
  a session that presented it (compared in constant time). Sessions live in
  the server's memory: a restarted server asks again.
* **CSRF**: every form carries ``csrf`` = HMAC(server secret, session id);
  a POST without the matching value, or whose ``Origin`` is another site,
  is refused. The session cookie is ``HttpOnly`` and ``SameSite=Strict``.
* **DNS rebinding**: a server bound to loopback answers only requests whose
  ``Host`` is a loopback name, so a web page elsewhere cannot reach it
  through a hostname that resolves to 127.0.0.1.
* **Who**: each session carries an operator name (given at sign-in, or set
  on the page); actions are journaled as ``web:NAME@CLIENT-ADDRESS``.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
import threading
from dataclasses import dataclass, field
from hashlib import sha256
from urllib.parse import urlsplit

from labpilot.agent.control.auth import check_token, is_loopback_endpoint, token_matches
from labpilot.errors import ControlSecurityError

SESSION_COOKIE = "labpilot_session"
NAME_RE = re.compile(r"^[\w .@-]{1,40}$")


def check_serve_bind(host: str, token: str | None) -> None:
    """Refuse a dashboard reachable from the network without a token (``ControlSecurityError``)."""
    if token is not None:
        check_token(token)
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if is_loopback_endpoint(f"tcp://{bracketed}:1") or token is not None:
        return
    raise ControlSecurityError(
        f"dashboard host {host!r} is reachable from the network; serving beyond loopback requires a token "
        "(--token-file FILE or $LABPILOT_CONTROL_TOKEN, at least 16 characters). Use --host 127.0.0.1 for local use."
    )


def is_loopback_host(host: str) -> bool:
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host name of a ``Host`` header (``127.0.0.1:8000`` -> ``127.0.0.1``, ``[::1]:80`` -> ``::1``)."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass
class Session:
    sid: str
    authenticated: bool
    who: str = "anonymous"


@dataclass
class Guard:
    """The server's secret, its token (if any) and its sessions."""

    token: str | None
    loopback_only: bool
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _sessions: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self, sid: str | None) -> Session | None:
        with self._lock:
            return self._sessions.get(sid or "")

    def new_session(self, authenticated: bool, who: str = "anonymous") -> Session:
        s = Session(secrets.token_urlsafe(24), authenticated, who)
        with self._lock:
            self._sessions[s.sid] = s
        return s

    def sign_in(self, given: str) -> bool:
        return self.token is not None and token_matches(self.token, given)

    def csrf_for(self, sid: str) -> str:
        return hmac.new(self.secret, sid.encode(), sha256).hexdigest()

    def csrf_ok(self, sid: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf_for(sid), str(given))

    def host_allowed(self, host_header: str | None) -> bool:
        if not self.loopback_only:
            return True
        return bool(host_header) and is_loopback_host(host_of(host_header or ""))

    @staticmethod
    def origin_ok(origin: str | None, host_header: str | None) -> bool:
        """A cross-site POST says where it comes from; it must be this server."""
        if not origin or origin == "null":
            return origin is None
        return urlsplit(origin).netloc == (host_header or "")


def clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        return "anonymous"
    if not NAME_RE.match(name):
        raise ControlSecurityError("operator name: use up to 40 letters, digits, spaces, '.', '@' or '-'")
    return name
