"""The operator control endpoint: a ZeroMQ REP socket served by a background thread.

The agent plugs in a *handler*, any object with ``handle(request) -> dict``;
the server does the rest: it parses and validates every request, checks the
token, calls the handler one request at a time, and always answers, with
``ok=true`` and the handler's result, or ``ok=false`` and a reason. A
malformed request, a refused command (``OperatorRefused``) or a bug in the
handler never stops the server and never leaves a client without a reply.

``ping`` is answered by the server itself (without the handler), so a client
can tell "endpoint alive" from "campaign busy".

Facing a network, one frame must not stop the endpoint: a request is decoded
by the bounded strict decoder (size, nesting depth, number length checked
before ``json.loads``); when a token is configured, the token is the only
thing read before authentication, and a sender without it learns nothing but
"authentication failed"; any exception from one request becomes an error
reply. Should the serving thread die anyway, a watchdog thread notices and
reports it (``dead``, and the ``on_dead`` callback, which the agent uses to
say so in ``labpilot status``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import zmq
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from labpilot.errors import ControlBindError, ControlProtocolError, OperatorRefused
from labpilot.agent.control.auth import CurveServerKeys, check_bind_policy, parse_endpoint, token_matches
from labpilot.agent.control.messages import PROTOCOL_VERSION, ControlReply, ControlRequest, decode_json_object, validate_request

log = logging.getLogger("labpilot.control")

POLL_INTERVAL_MS = 100
"""How often the serving thread checks whether it was asked to stop."""

MAX_WIRE_BYTES = 16 * 1024 * 1024
"""libzmq drops peers that send larger messages (protects memory)."""

WATCHDOG_INTERVAL_S = 0.5
"""How often the watchdog checks that the serving thread is alive."""

AUTH_FAILED = "authentication failed: missing or wrong token"


class ControlHandler(Protocol):
    """What the agent provides: turn a validated request into a result."""

    def handle(self, request: ControlRequest) -> Mapping[str, Any] | BaseModel: ...


class ControlServer:
    """Serve ``handler`` on ``endpoint`` until ``stop()``.

    ``endpoint`` defaults to loopback with a free port; ``start()`` returns
    the resolved endpoint to record in the campaign database. Binding beyond
    loopback needs ``token`` and/or CURVE keys (``curve_secret_file``, the
    server's ``.key_secret`` from ``zmq.auth.create_certificates``, and
    ``curve_clients_dir``, the public ``.key`` files of admitted clients);
    otherwise the constructor raises ``ControlSecurityError``.

    ``handler.handle`` runs on the server thread, one request at a time; pass
    ``lock`` to have the server hold it during each call, so the agent's own
    thread can exclude operator commands while it changes state.
    """

    def __init__(
        self,
        handler: ControlHandler,
        endpoint: str = "tcp://127.0.0.1:0",
        *,
        token: str | None = None,
        curve_secret_file: str | os.PathLike[str] | None = None,
        curve_clients_dir: str | os.PathLike[str] | None = None,
        lock: threading.Lock | threading.RLock | None = None,
        on_dead: Callable[[str], None] | None = None,
    ) -> None:
        if not callable(getattr(handler, "handle", None)):
            raise TypeError(f"handler {handler!r} has no handle(request) method")
        parse_endpoint(endpoint)  # ValueError naming a malformed endpoint
        if curve_clients_dir is not None and curve_secret_file is None:
            raise ValueError("curve_clients_dir given without curve_secret_file (the server's .key_secret)")
        self._curve = CurveServerKeys.load(curve_secret_file, curve_clients_dir) if curve_secret_file else None
        check_bind_policy(endpoint, token=token, curve=self._curve)
        self._handler = handler
        self._requested_endpoint = endpoint
        self._token = token
        self._lock = lock
        self._endpoint: str | None = None
        self._ctx: zmq.Context[Any] | None = None
        self._socket: zmq.Socket[Any] | None = None
        self._auth: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._on_dead = on_dead
        self._failure: str | None = None
        self.dead: str | None = None
        """Why the serving thread died (set by the watchdog), else None."""
        self.requests_served = 0
        #: The last successful reply and its bytes, serialized once inside the handler's guard and sent as is.
        self._made: tuple[ControlReply, bytes] | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def endpoint(self) -> str | None:
        """The bound endpoint (port resolved) while running, else None."""
        return self._endpoint

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Bind and start serving; returns the actual endpoint (free port resolved)."""
        if self._thread is not None:
            raise RuntimeError("control server already started")
        self._ctx = zmq.Context()
        sock = self._ctx.socket(zmq.REP)
        sock.linger = 0
        sock.maxmsgsize = MAX_WIRE_BYTES
        ep = parse_endpoint(self._requested_endpoint)
        if ep.is_ipv6 or ep.host in {"*", "::"}:
            sock.ipv6 = True
        if self._curve is not None:
            self._start_authenticator()
            sock.curve_secretkey = self._curve.secret
            sock.curve_publickey = self._curve.public
            sock.curve_server = True
        try:
            sock.bind(self._requested_endpoint)
        except zmq.ZMQError as exc:
            sock.close(0)
            self._shutdown_context()
            raise ControlBindError(f"cannot bind control endpoint {self._requested_endpoint!r}: {exc}") from None
        self._endpoint = sock.last_endpoint.decode("utf-8")
        self._socket = sock
        self._stop.clear()
        self.dead = self._failure = None
        self._thread = threading.Thread(target=self._serve_guarded, name="labpilot-control", daemon=True)
        self._thread.start()
        threading.Thread(
            target=self._watch, args=(self._thread,), name="labpilot-control-watchdog", daemon=True
        ).start()
        log.info("control endpoint listening on %s", self._endpoint)
        return self._endpoint

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving and release the port; safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("control server thread did not stop within %.1f s (handler stuck?)", timeout_s)
            return  # the daemon thread still owns the socket; do not close it under it
        self._shutdown_context()
        self._endpoint = None

    def __enter__(self) -> "ControlServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_authenticator(self) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        assert self._ctx is not None and self._curve is not None
        self._auth = ThreadAuthenticator(self._ctx, log=logging.getLogger("labpilot.control.zap"))
        self._auth.start()
        location = (
            os.fspath(self._curve.clients_dir) if self._curve.clients_dir is not None else zmq.auth.CURVE_ALLOW_ANY
        )
        self._auth.configure_curve(domain="*", location=location)

    def _shutdown_context(self) -> None:
        if self._socket is not None:
            self._socket.close(0)
            self._socket = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    # --------------------------------------------------------------- serving

    def _serve_guarded(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # logged and recorded for the watchdog; the thread ends
            self._failure = f"{type(exc).__name__}: {str(exc)[:200]}"
            log.critical("control endpoint thread died: %s", self._failure, exc_info=True)

    def _watch(self, thread: threading.Thread) -> None:
        """Notice a serving thread that ended without ``stop()``, and report it once."""
        while not self._stop.wait(WATCHDOG_INTERVAL_S):
            if thread.is_alive():
                continue
            if self._stop.is_set():
                return
            self.dead = self._failure or "control thread ended unexpectedly"
            log.error("control endpoint is dead (%s): operator commands cannot reach this campaign", self.dead)
            if self._on_dead is not None:
                try:
                    self._on_dead(self.dead)
                except Exception:
                    log.exception("could not report the dead control endpoint")
            return

    def _serve(self) -> None:
        sock = self._socket
        assert sock is not None
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        while not self._stop.is_set():
            try:
                if not poller.poll(POLL_INTERVAL_MS):
                    continue
                frames = sock.recv_multipart(copy=True)
            except zmq.ZMQError as exc:
                if self._stop.is_set():
                    break
                log.error("control socket receive failed: %s", exc)
                time.sleep(POLL_INTERVAL_MS / 1000)
                continue
            try:
                reply = self.reply_to(frames)
                made = self._made
                data = made[1] if made is not None and made[0] is reply else reply.to_bytes()
            except Exception as exc:  # never leave the REP socket without a reply
                log.exception("control request could not be answered")
                data = ControlReply.failure(f"internal error: {type(exc).__name__}").to_bytes()
            try:
                sock.send(data)
            except zmq.ZMQError as exc:  # peer gone: REP drops the reply, we carry on
                log.warning("could not send control reply: %s", exc)
            self.requests_served += 1

    def reply_to(self, frames: list[bytes]) -> ControlReply:
        """Compute the reply to one raw request; never raises.

        Order matters: the frame count and the bounded decoder first (cheap,
        linear, and unable to raise anything but ``ControlProtocolError``),
        then the token, then, only for an authenticated sender, validation
        and dispatch. With a token configured, a frame whose token cannot be
        read is an authentication failure: the sender learns nothing else.
        """
        try:
            return self._reply_to(frames)
        except Exception as exc:  # a bug here must not kill the endpoint
            log.exception("control request failed")
            return ControlReply.failure(f"internal error: {type(exc).__name__}: {str(exc)[:200]}")

    def _reply_to(self, frames: list[bytes]) -> ControlReply:
        try:
            if len(frames) != 1:
                if self._token is not None:
                    return self._refuse_unauthenticated()
                raise ControlProtocolError(f"request must be a single ZeroMQ frame, got {len(frames)} frames")
            try:
                obj = decode_json_object(frames[0])
            except ControlProtocolError:
                if self._token is not None:
                    return self._refuse_unauthenticated()
                raise
            if self._token is not None and not token_matches(self._token, obj.get("token")):
                return self._refuse_unauthenticated()
            request = validate_request(obj)
            if request.token is not None:  # handlers never see (or log) the secret
                request = request.model_copy(update={"token": None})
        except ControlProtocolError as exc:
            log.info("malformed control request: %s", exc)
            return ControlReply.failure(str(exc))
        if request.cmd == "ping":
            return ControlReply.success({"pong": True, "v": PROTOCOL_VERSION})
        return self._dispatch(request)

    @staticmethod
    def _refuse_unauthenticated() -> ControlReply:
        log.warning("control request refused: authentication failed")
        return ControlReply.failure(AUTH_FAILED)

    def _dispatch(self, request: ControlRequest) -> ControlReply:
        try:
            if self._lock is not None:
                with self._lock:
                    result = self._handler.handle(request)
            else:
                result = self._handler.handle(request)
        except OperatorRefused as exc:
            log.info("control command %s refused: %s", request.cmd, exc.reason)
            return ControlReply.failure(exc.reason or f"{request.cmd} refused")
        except Exception as exc:  # a handler bug must not kill the endpoint
            log.exception("control handler failed on %s", request.cmd)
            return ControlReply.failure(f"internal error while handling {request.cmd}: {type(exc).__name__}: {exc}")
        try:
            return self._success(request, result)
        except (TypeError, ValueError, PydanticSerializationError) as exc:
            log.error("control handler returned an unusable result for %s: %s", request.cmd, exc)
            return ControlReply.failure(f"internal error while handling {request.cmd}: {exc}")

    def _success(self, request: ControlRequest, result: object) -> ControlReply:
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        if result is None:
            result = {}
        if not isinstance(result, Mapping):
            raise TypeError(f"handler returned {type(result).__name__}, expected a dict")
        reply = ControlReply.success(dict(result))
        self._made = (reply, reply.to_bytes())  # fails here, inside the guard, if not JSON-serializable
        return reply

