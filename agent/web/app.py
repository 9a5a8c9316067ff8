"""The dashboard: a FastAPI app with server-rendered Jinja2 pages and server-sent events.

Why this stack: FastAPI/Starlette is a well-kept ASGI framework whose form
handling, static files and templates need no JavaScript build; Jinja2
renders every fragment on the server (the same HTML on first load and on
each live update); sse-starlette streams updates over plain HTTP (no
websocket upgrade for proxies to break). The only script is the small
``static/app.js`` shipped in the package: no CDN, works offline.

Pages read the store directly (read-only). Every action goes through
``labpilot.agent.operate.operate``, the CLI's own path: to the running
agent's control endpoint, or to the ``OperatorDesk`` on the database when
no agent runs, so the same rules and refusals apply, and the desk journals
each action with who made it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from labpilot.errors import DashboardNotFound, LabpilotError, StoreError
from labpilot.agent import charts
from labpilot.agent.control.messages import parse_value
from labpilot.agent.operate import OperatorTarget, operate
from labpilot.agent.units import campaign_units
from labpilot.agent.web import views
from labpilot.agent.web.catalog import Catalog, CampaignSource
from labpilot.agent.web.security import SESSION_COOKIE, Guard, Session, clean_name

HERE = Path(__file__).resolve().parent
POLL_S = 0.5
"""How often the live stream looks for new journal entries."""

_RENDER = threading.Lock()  # matplotlib is not thread-safe enough to draw two figures at once

ACTIONS = ("approve", "reject", "override", "pause", "pause_now", "resume", "abort")


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]))
    return Jinja2Templates(env=env)


def create_app(catalog: Catalog, guard: Guard, control_token: str | None = None,
               control_timeout_s: float = 5.0) -> FastAPI:
    """The dashboard over ``catalog``; ``guard`` holds the token and sessions."""
    app = FastAPI(title="labpilot dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    templates = _templates()
    plot_cache: dict[tuple[str, str, str], bytes] = {}

    # -- the gate: host check, sign-in, session cookie --------------------------
    @app.middleware("http")
    async def gate(request: Request, call_next: Callable[..., Any]) -> Response:
        if not guard.host_allowed(request.headers.get("host")):
            return Response("this dashboard answers only on loopback host names", status_code=421)
        path = request.url.path
        session = guard.session(request.cookies.get(SESSION_COOKIE))
        fresh = None
        if session is None:
            if guard.token is not None and not (path.startswith("/static/") or path == "/login"):
                if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
                    return RedirectResponse(f"/login?next={path}", status_code=303)
                return JSONResponse({"error": "sign in first"}, status_code=401)
            fresh = session = guard.new_session(authenticated=guard.token is None)
        elif guard.token is not None and not session.authenticated and path != "/login" \
                and not path.startswith("/static/"):
            return RedirectResponse("/login", status_code=303)
        request.state.session = session
        if request.method == "POST" and not guard.origin_ok(request.headers.get("origin"), request.headers.get("host")):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        response = await call_next(request)
        if fresh is not None:
            response.set_cookie(SESSION_COOKIE, fresh.sid, httponly=True, samesite="strict", path="/")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
        return response

    def _session(request: Request) -> Session:
        return request.state.session

    async def _form_checked(request: Request) -> tuple[Any, str | None]:
        form = await request.form()
        if not guard.csrf_ok(_session(request).sid, form.get("csrf")):
            return form, "form expired or forged (CSRF check failed); reload the page"
        return form, None

    def _ctx(request: Request, **extra: Any) -> dict[str, Any]:
        s = _session(request)
        return {"request": request, "csrf": guard.csrf_for(s.sid), "who": s.who,
                "signed_in": guard.token is not None, **extra}

    # -- sign-in and operator name ----------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        return templates.TemplateResponse(request, "login.html", _ctx(request, next=next, error=None))

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        target = str(form.get("next") or "/")
        target = target if target.startswith("/") and not target.startswith("//") else "/"
        if guard.token is None:
            return RedirectResponse(target, status_code=303)
        try:
            who = clean_name(str(form.get("name") or ""))
        except LabpilotError as exc:
            return templates.TemplateResponse(request, "login.html", _ctx(request, next=target, error=str(exc)),
                                              status_code=400)
        if not guard.sign_in(str(form.get("token") or "")):
            return templates.TemplateResponse(request, "login.html",
                                              _ctx(request, next=target, error="wrong token"), status_code=403)
        s = guard.new_session(authenticated=True, who=who)
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(SESSION_COOKIE, s.sid, httponly=True, samesite="strict", path="/")
        return resp

    @app.post("/whoami")
    async def whoami(request: Request) -> Response:
        form, error = await _form_checked(request)
        if error:
            return JSONResponse({"error": error}, status_code=403)
        try:
            _session(request).who = clean_name(str(form.get("name") or ""))
        except LabpilotError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return RedirectResponse(str(request.headers.get("referer") or "/"), status_code=303)

    # -- pages ---------------------------------------------------------------------
    def _source(cid: str) -> CampaignSource:
        try:
            return catalog.get(cid)
        except KeyError:
            raise DashboardNotFound(cid) from None

    def _read(cid: str, fn: Callable[[Any], Any]) -> Any:
        with _source(cid).store() as store:
            return fn(store)

    @app.exception_handler(StoreError)
    async def not_ready(request: Request, exc: StoreError) -> Response:
        return HTMLResponse(f"campaign not readable yet: {exc}", status_code=503)

    @app.exception_handler(DashboardNotFound)
    async def not_found(request: Request, exc: DashboardNotFound) -> Response:
        return HTMLResponse(f"no campaign {exc}", status_code=404)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        rows = []
        for src in catalog.refresh():
            try:
                with src.store() as store:
                    rows.append({"cid": src.cid, "target": _safe_target(src.target), **views.summary(store)})
            except LabpilotError as exc:
                rows.append({"cid": src.cid, "target": _safe_target(src.target), "error": str(exc)})
        return templates.TemplateResponse(request, "index.html", _ctx(request, campaigns=rows))

    def _fragments(request: Request, cid: str) -> dict[str, Any]:
        def read(store: Any) -> dict[str, Any]:
            return {"s": views.summary(store), "queue": views.queue(store), "exps": views.experiments(store)}

        data = _read(cid, read)
        ctx = _ctx(request, cid=cid, **data)
        env = templates.env
        return {
            "seq": data["s"]["seq"],
            "state": data["s"]["state"],
            "plot_version": f"{data['s']['done']}-{len(data['exps'])}",
            "finished": [e["id"] for e in data["exps"] if e["status"] == "completed"],
            "status": env.get_template("_status.html").render(ctx),
            "queue": env.get_template("_queue.html").render(ctx),
            "experiments": env.get_template("_experiments.html").render(ctx),
            "ctx": ctx,
        }

    @app.get("/c/{cid}", response_class=HTMLResponse)
    def campaign_page(request: Request, cid: str) -> Response:
        frag = _fragments(request, cid)
        ctx = frag.pop("ctx")
        journal = _read(cid, lambda st: views.journal(st))
        return templates.TemplateResponse(request, "campaign.html", {**ctx, "frag": frag, "journal": journal})

    @app.get("/c/{cid}/state.json")
    def state_json(request: Request, cid: str) -> Response:
        return JSONResponse(json.loads(json.dumps(_read(cid, views.summary), default=str)))

    @app.get("/c/{cid}/journal", response_class=HTMLResponse)
    def journal_fragment(request: Request, cid: str, kind: str = "", exp: str = "", since: str = "",
                         q: str = "") -> Response:
        experiment = int(exp) if exp.strip().isdigit() else None
        since_ts = _parse_since(since)
        journal = _read(cid, lambda st: views.journal(st, kind or None, experiment, since_ts, q or None))
        return templates.TemplateResponse(request, "_journal.html", _ctx(request, cid=cid, journal=journal))

    @app.get("/c/{cid}/stream")
    async def stream(request: Request, cid: str) -> Response:
        _source(cid)

        async def events():  # noqa: ANN202
            last = -1
            while True:
                if await request.is_disconnected():
                    return
                seq = await run_in_threadpool(_read, cid, views.last_seq)
                if seq != last:
                    frag = await run_in_threadpool(_fragments, request, cid)
                    frag.pop("ctx")
                    last = seq
                    yield {"event": "update", "data": json.dumps(frag)}
                await asyncio.sleep(POLL_S)

        return EventSourceResponse(events(), ping=15)

    # -- plots -----------------------------------------------------------------------
    @app.get("/c/{cid}/plot/{name}.svg")
    def plot(request: Request, cid: str, name: str, exp: str = "", v: str = "") -> Response:
        key = (cid, name, f"{exp}|{v}")
        if key not in plot_cache:
            svg = _read(cid, lambda st: _draw(st, name, exp))
            if len(plot_cache) > 256:
                plot_cache.clear()
            plot_cache[key] = svg
        return Response(plot_cache[key], media_type="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=3600" if v else "no-store"})

    # -- actions ---------------------------------------------------------------------
    @app.post("/c/{cid}/act")
    async def act(request: Request, cid: str) -> Response:
        src = _source(cid)
        form, error = await _form_checked(request)
        if error:
            results = [{"ok": False, "message": error}]
        else:
            actor = f"web:{_session(request).who}@{request.client.host if request.client else 'unknown'}"
            target = OperatorTarget(db=src.target, token=control_token, timeout_s=control_timeout_s)
            results = await run_in_threadpool(_run_action, target, form, actor)
        wants_json = "application/json" in request.headers.get("accept", "")
        if wants_json:
            return JSONResponse({"results": results}, status_code=200 if not error else 403)
        return RedirectResponse(f"/c/{cid}", status_code=303)

    return app


def _safe_target(target: str) -> str:
    """A database target fit to show: a server URL without its password."""
    from labpilot.agent.store_open import display_target

    return display_target(target)


def _parse_since(text: str) -> float | None:
    import datetime as dt

    text = text.strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _draw(store: Any, name: str, exp: str) -> bytes:
    camp = store.campaign()
    cfg = camp["config"]
    exps = store.experiments()
    objectives = cfg["objectives"]
    units = campaign_units(cfg)
    with _RENDER:
        if name == "objectives":
            fig = charts.objectives_figure(exps, objectives, units=units)
        elif name == "pattern":
            done = [e for e in exps if e.status == "completed"]
            pick = next((e for e in done if str(e.id) == exp), None)
            if pick is None and done:
                o = objectives[0]
                sign = 1 if o["direction"] == "maximize" else -1
                scored = [e for e in done if o["name"] in e.scalars]
                pick = max(scored, key=lambda e: sign * e.scalars[o["name"]]) if scored else done[-1]
            items = [(pick, store.arrays(pick.id))] if pick is not None else []
            fig = charts.patterns_figure(items, objectives[0]["name"], units=units) if items else \
                charts._empty("no completed experiment yet")
        elif name == "parameters":
            fig = charts.parameters_figure(exps, cfg["parameters"], objectives[0]["name"], units)
        elif name == "pareto":
            fig = charts.pareto_figure(exps, objectives, units)
        elif name == "timeline":
            fig = charts.timeline_figure(store.commands())
        else:
            raise DashboardNotFound(f"plot {name}")
        return charts.to_svg(fig)


def _ids(form: Any) -> list[int]:
    out = []
    for raw in form.getlist("ids"):
        text = str(raw).strip()
        if not text.isdigit():
            raise ValueError(f"experiment id {text!r} is not a number")
        out.append(int(text))
    return out


def _run_action(target: OperatorTarget, form: Any, actor: str) -> list[dict[str, Any]]:
    """One form submission -> one or more operator commands, each answered like the CLI answers."""
    op = str(form.get("op") or "")
    reason = str(form.get("reason") or "").strip() or None
    if op not in ACTIONS:
        return [{"ok": False, "message": f"unknown action {op!r}"}]
    try:
        if op in ("approve", "reject"):
            ids = _ids(form)
            if not ids:
                return [{"ok": False, "message": f"{op}: select at least one proposal"}]
            calls = [(op, {"id": i, **({"reason": reason} if reason and op == "reject" else {})}) for i in ids]
        elif op == "override":
            ids = _ids(form)
            if len(ids) != 1:
                return [{"ok": False, "message": "override: choose exactly one proposal"}]
            values = {k[2:]: parse_value(str(v).strip()) for k, v in form.multi_items()
                      if k.startswith("p.") and str(v).strip()}
            if not values:
                return [{"ok": False, "message": "override: give at least one parameter value"}]
            calls = [(op, {"id": ids[0], "values": values, **({"reason": reason} if reason else {})})]
        elif op in ("pause", "pause_now"):
            calls = [("pause", {"now": op == "pause_now"})]
        elif op == "abort":
            calls = [("abort", {"reason": reason} if reason else {})]
        else:
            calls = [("resume", {})]
    except ValueError as exc:
        return [{"ok": False, "message": f"{op}: {exc}"}]
    results = []
    for cmd, args in calls:
        try:
            result, live = operate(target, cmd, args, actor=actor, quiet=True)
            note = result.get("note") or f"experiment {result.get('id')} is now {result.get('status')}"
            where = "" if live else " (agent not running: recorded, applied when the campaign resumes)"
            results.append({"ok": True, "message": f"{cmd}: {note}{where}"})
        except LabpilotError as exc:
            label = f"{cmd} {args['id']}" if "id" in args else cmd
            results.append({"ok": False, "message": f"{label}: {exc}"})
    return results
