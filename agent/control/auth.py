"""Who may talk to the control endpoint: bind policy, shared tokens, CURVE keys.

The policy (DESIGN.md section 3): a control endpoint bound to loopback
(``127.0.0.0/8``, ``::1``, ``localhost``) or to a local ``ipc://`` path needs
no credentials, because only processes on the lab PC can reach it. Anything
wider (``0.0.0.0``, ``*``, a LAN address, an interface name) must be
protected, by a shared token carried in every request, or by ZeroMQ CURVE
with an allow-list of client public keys, or both, and is refused without.

A token authenticates but does not encrypt: on a network you do not trust,
use CURVE (which encrypts and authenticates), optionally plus a token.
"""

from __future__ import annotations

from labpilot.errors import ControlSecurityError
import hmac
import ipaddress
import os
import secrets
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

MIN_TOKEN_CHARS = 16
"""Shorter shared tokens are refused: they can be guessed over a LAN."""

TOKEN_ENV_VAR = "LABPILOT_CONTROL_TOKEN"
"""Where the CLI (and the agent) may read the shared token from."""


# ----------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    """A parsed ZeroMQ endpoint: ``transport://address``; host/port for tcp."""

    transport: str
    address: str
    host: str | None = None
    port: str | None = None

    @property
    def is_ipv6(self) -> bool:
        return self.host is not None and ":" in self.host


def parse_endpoint(endpoint: str) -> Endpoint:
    """Split ``tcp://HOST:PORT`` or ``ipc://PATH``; ``ValueError`` otherwise."""
    if not isinstance(endpoint, str) or "://" not in endpoint:
        raise ValueError(f"control endpoint {endpoint!r} must look like tcp://HOST:PORT or ipc://PATH")
    transport, _, address = endpoint.partition("://")
    if transport == "ipc":
        if not address:
            raise ValueError(f"control endpoint {endpoint!r} has no path after ipc://")
        return Endpoint("ipc", address)
    if transport != "tcp":
        raise ValueError(f"control endpoint {endpoint!r}: transport {transport!r} is not supported (use tcp or ipc)")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port:
        raise ValueError(f"control endpoint {endpoint!r} must look like tcp://HOST:PORT")
    if port != "*" and not (port.isdigit() and 0 <= int(port) <= 65535):
        raise ValueError(f"control endpoint {endpoint!r}: port {port!r} is not a number in 0..65535 (0 = any free port)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return Endpoint("tcp", address, host=host, port=port)


def is_loopback_endpoint(endpoint: str) -> bool:
    """True when only processes on this machine can reach ``endpoint``."""
    ep = parse_endpoint(endpoint)
    if ep.transport == "ipc":
        return True
    assert ep.host is not None
    if ep.host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(ep.host).is_loopback
    except ValueError:
        return False  # '*', an interface name or a hostname: may face the network


# -------------------------------------------------------------------- tokens


def generate_token() -> str:
    """A fresh random shared token (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str:
    """Return ``token`` if it is strong enough to guard a network endpoint."""
    if not isinstance(token, str):
        raise ControlSecurityError(f"control token must be a string, got {type(token).__name__}")
    if token != token.strip():
        raise ControlSecurityError("control token must not start or end with whitespace")
    if len(token) < MIN_TOKEN_CHARS:
        raise ControlSecurityError(
            f"control token is too short ({len(token)} characters; at least {MIN_TOKEN_CHARS} are needed); "
            "generate one with agent.control_auth.generate_token()"
        )
    return token


def token_matches(expected: str, given: object) -> bool:
    """Constant-time comparison, so response timing does not leak the token."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def read_token_file(path: str | os.PathLike[str]) -> str:
    """Read a shared token from a file (one line); warn when others can read it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ControlSecurityError(f"control token file {str(p)!r} does not exist") from None
    except OSError as exc:
        raise ControlSecurityError(f"cannot read control token file {str(p)!r}: {exc.strerror}") from None
    mode = p.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.warn(
            f"control token file {str(p)!r} is readable by other users (mode {stat.filemode(mode)}); chmod 600 it",
            stacklevel=2,
        )
    token = text.strip()
    if not token:
        raise ControlSecurityError(f"control token file {str(p)!r} is empty")
    return check_token(token)


def token_from_env(environ: dict[str, str] | None = None) -> str | None:
    """The token from ``$LABPILOT_CONTROL_TOKEN``, or None when it is unset."""
    value = (os.environ if environ is None else environ).get(TOKEN_ENV_VAR)
    return value.strip() if value and value.strip() else None


# --------------------------------------------------------------------- CURVE


def curve_available() -> bool:
    """Whether this libzmq was built with CURVE security."""
    return bool(zmq.has("curve"))


def _require_curve() -> None:
    if not curve_available():
        raise ControlSecurityError(
            f"this libzmq ({zmq.zmq_version()}) was built without CURVE; use a shared token instead"
        )


def create_curve_keys(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """Write a CURVE key pair (``NAME.key`` public, ``NAME.key_secret``).

    A thin wrapper over ``zmq.auth.create_certificates``: give the server the
    ``.key_secret`` of its own pair and a directory holding the ``.key``
    (public) files of the clients it admits.
    """
    _require_curve()
    Path(directory).mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(os.fspath(directory), name)
    return Path(public), Path(secret)


def _load_keys(path: str | os.PathLike[str], *, need_secret: bool, role: str) -> tuple[bytes, bytes | None]:
    p = Path(path)
    if not p.is_file():
        raise ControlSecurityError(f"{role} key file {str(p)!r} does not exist")
    try:
        public, secret = zmq.auth.load_certificate(os.fspath(p))
    except (ValueError, OSError) as exc:
        raise ControlSecurityError(f"{role} key file {str(p)!r} is not a ZeroMQ certificate: {exc}") from None
    if need_secret and not secret:
        raise ControlSecurityError(
            f"{role} key file {str(p)!r} has no secret key; give the '.key_secret' file, not the public '.key'"
        )
    return public, secret


@dataclass(frozen=True)
class CurveServerKeys:
    """The server's key pair and the allow-list of client public keys."""

    public: bytes
    secret: bytes
    clients_dir: Path | None

    @classmethod
    def load(
        cls, secret_file: str | os.PathLike[str], clients_dir: str | os.PathLike[str] | None
    ) -> "CurveServerKeys":
        _require_curve()
        public, secret = _load_keys(secret_file, need_secret=True, role="CURVE server")
        assert secret is not None
        cdir = None
        if clients_dir is not None:
            cdir = Path(clients_dir)
            if not cdir.is_dir():
                raise ControlSecurityError(f"CURVE client key directory {str(cdir)!r} does not exist")
            if not any(cdir.glob("*.key")):
                raise ControlSecurityError(
                    f"CURVE client key directory {str(cdir)!r} holds no public '.key' files: no client could connect"
                )
        return cls(public, secret, cdir)

    @property
    def authenticates_clients(self) -> bool:
        """Without an allow-list CURVE only encrypts: any client may connect."""
        return self.clients_dir is not None


@dataclass(frozen=True)
class CurveClientKeys:
    """A client's own key pair and the server public key it expects."""

    public: bytes
    secret: bytes
    server_public: bytes

    @classmethod
    def load(
        cls, secret_file: str | os.PathLike[str], server_public_file: str | os.PathLike[str]
    ) -> "CurveClientKeys":
        _require_curve()
        public, secret = _load_keys(secret_file, need_secret=True, role="CURVE client")
        server_public, _ = _load_keys(server_public_file, need_secret=False, role="CURVE server public")
        assert secret is not None
        return cls(public, secret, server_public)


# -------------------------------------------------------------------- policy


def check_bind_policy(endpoint: str, *, token: str | None, curve: CurveServerKeys | None) -> None:
    """Refuse to expose the control endpoint beyond this machine without auth."""
    if token is not None:
        check_token(token)
    if is_loopback_endpoint(endpoint):
        return
    if token is not None:
        return
    if curve is not None and curve.authenticates_clients:
        return
    if curve is not None:
        raise ControlSecurityError(
            f"control endpoint {endpoint!r} is reachable from the network and CURVE without a client key "
            "directory only encrypts, it does not authenticate; give curve_clients_dir or a token"
        )
    raise ControlSecurityError(
        f"control endpoint {endpoint!r} is reachable from the network; binding it beyond loopback "
        "requires authentication (a shared token or CURVE keys). Bind tcp://127.0.0.1:PORT for local control."
    )
