"""The HTTP API: routes that parse a request, call one use case of `app/` and answer its result as
JSON (`json_values`: exact decimals as text). Every failure is answered here, once, from
`errors.problems_from`, in the one error shape; never a traceback.

Who may see what is decided in the use cases (`app.access`), never in a route.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import __version__
from ..accounts.security import seen_as
from ..app import Actor, Context
from ..deployment.stored import stored_settings, under_deployment
from ..errors import (
    CannotRead,
    CheckFailed,
    FileRejected,
    NotAllowed,
    NotFound,
    NotSignedIn,
    Problem,
    RoughtraceError,
    StoreError,
    UsageError,
    error_body,
    problems_from,
)
from ..json_values import dumps
from ..settings import redacted
from .caches import AnswerCache, AnsweredBefore, SignedInCache, StateWatch, StoreState, read_state
from .stores import ServiceStores
from .worker import ImportWorker

access_log = logging.getLogger("roughtrace.service.access")
log = logging.getLogger("roughtrace.service")

STATUSES: tuple[tuple[type[RoughtraceError], int], ...] = (
    (NotSignedIn, 401), (NotAllowed, 403), (NotFound, 404), (FileRejected, 422), (CheckFailed, 422),
    (UsageError, 400), (CannotRead, 400), (StoreError, 503), (RoughtraceError, 400))
"""The HTTP status of each kind of library error (the first class that matches); anything else is 500."""


class UploadTooLarge(UsageError):
    """An upload's body is larger than the setting upload_max_bytes allows."""

    code = "upload_too_large"


# -- the shapes OpenAPI documents -------------------------------------------------------------------
ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorBody", "type": "object", "required": ["ok", "errors"],
    "description": 'The one error shape of every interface of roughtrace: {"ok": false, "errors": [...]}.',
    "properties": {
        "ok": {"type": "boolean", "const": False},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["code", "message", "source"],
            "properties": {
                "code": {"type": "string", "description": "A stable code: unauthorized, forbidden, box_not_found ..."},
                "message": {"type": "string", "description": "A sentence a user can act on."},
                "source": {"type": "object", "description": "Where in a file, when the problem is in one.",
                           "properties": {"file": {"type": ["string", "null"]}, "row": {"type": ["integer", "null"]},
                                          "column": {"type": ["string", "null"]}, "line": {"type": "integer"}}}}}}}}
"""The error shape as JSON Schema, for OpenAPI."""

ANSWER_SCHEMA: dict[str, Any] = {
    "title": "Answer", "type": "object", "required": ["ok"], "additionalProperties": True,
    "description": "A result: ok true and the result's own fields; amounts are exact decimal text, dates ISO 8601.",
    "properties": {"ok": {"type": "boolean", "const": True}}}


def _answers(status: int = 200, description: str = "The result.") -> dict[int | str, dict[str, Any]]:
    return {status: {"description": description, "content": {"application/json": {"schema": ANSWER_SCHEMA}}}}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    words = {400: "The request is wrong.", 401: "No token, or one that is unknown, expired or revoked.",
             403: "The caller's role may not do this.", 404: "Not there, or not the caller's to see (the same answer).",
             413: "The upload is larger than upload_max_bytes.", 422: "The file cannot be read as its format.",
             503: "The store cannot be reached or its schema is behind."}
    words[500] = "An internal error (internal_error), never a traceback."
    return {s: {"description": words[s], "content": {"application/json": {"schema": ERROR_SCHEMA}}}
            for s in (401, *statuses, 500)}


def _document_bad_requests(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with every operation that takes parameters or a body declaring 400 in the error shape,
    the answer to a request that does not fit, in place of the validation error FastAPI would
    document and the service never sends."""
    bad_request = {"description": "The request does not fit: a parameter or body of the wrong type, missing or "
                                  "out of range (bad_request).",
                   "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            unproven = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if unproven.get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("400", bad_request)
    schemas = spec.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return spec


def _status(exc: BaseException) -> int:
    if isinstance(exc, UploadTooLarge):
        return 413
    return next((status for kind, status in STATUSES if isinstance(exc, kind)), 500)


def answer(body: dict[str, Any], status: int = 200) -> Response:
    """A result as JSON written by the one encoder, `ok` first."""
    return Response(dumps({"ok": True, **body}), status_code=status, media_type="application/json")


def problem_answer(problems: list[Problem], status: int) -> Response:
    from dataclasses import replace

    problems = [replace(p, message=redacted(p.message)) for p in problems]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(dumps(error_body(problems)), status_code=status, media_type="application/json", headers=headers)


def _spool_folder(settings: Any) -> Path:
    named = str(settings["service_spool"]).strip()
    if named:
        return Path(named)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "roughtrace" / "spool"


def _safe_name(name: str | None, kind: str) -> str:
    """The name an upload is spooled under: its own base name, cut to letters, digits, dot, dash and underscore."""
    base = Path(name or "").name
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".")[:120]
    return cleaned or f"{kind}.csv"


# -- the application --------------------------------------------------------------------------------
PROCESS = os.getpid()
"""The serving process, named in its log lines (`serve --workers N` runs several)."""


class AccessLog:
    """An ASGI middleware writing one JSON line per request: method, the route's path template,
    status, milliseconds, the account and the serving process, never the token or a query's values."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            access_log.info(json.dumps({
                "method": scope["method"], "path": getattr(route, "path", None) or (
                    scope["path"] if scope["path"] in ("/openapi.json", "/docs", "/redoc") else "(no route)"),
                "status": status["code"], "ms": round((time.perf_counter() - started) * 1000, 1),
                "account": scope.get("state", {}).get("account_id"), "process": PROCESS}))


BEARER = HTTPBearer(auto_error=False, description="A token from `roughtrace accounts add`.")


async def signed_in(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> Actor:
    """The actor behind the request's bearer token (`NotSignedIn` without a good one), its account
    noted for the access log. The store's state is read first: it tells whether the account found
    behind the token before may still be trusted (`caches.SignedInCache`) and which cached answers
    hold. A token seen before costs no thread and no query of its own."""
    from ..accounts.tokens import token_hash

    token = credentials.credentials if credentials else None
    hashed = token_hash(token) if token else None
    state = request.state.store_state if hasattr(request.state, "store_state") else await request.app.state.store_state()
    held = request.app.state.signed_in
    actor = held.get(hashed, state) if hashed else None
    if actor is None:
        actor = await run_in_threadpool(_look_up, request, token, hashed, state)
    request.state.store_state = state
    request.state.actor = actor
    request.state.account_id = actor.account_id
    return actor


def _look_up(request: Request, token: str | None, hashed: str | None, state: StoreState | None) -> Actor:
    """The account behind a token, from the store, kept for the token's next requests."""
    from ..app.accounts import signed_in_account

    with request.app.state.stores.reading() as store:
        account = signed_in_account(Context(store, request.app.state.settings), token)
    actor = account.actor()
    if hashed:
        request.app.state.signed_in.put(hashed, actor, account.expires_at, state)
    return actor


Caller = Annotated[Actor, Depends(signed_in)]
ANYONE = Actor("anyone", "public")
"""Who reads the ledger's checkpoint and hash tiles: anyone, with no token (hashes and a signed head
tell nothing of a party's records; the entries themselves are for administrators)."""


async def known_query(request: Request) -> None:
    """Refuse a query parameter the route does not take, or one given twice (`bad_request`): a
    misspelt filter such as `?sigth=` would otherwise be dropped and the answer cover more than the
    caller asked for."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    taken = {param.alias for param in _query_params(dependant)}
    unknown = sorted(set(request.query_params) - taken)
    if unknown:
        raise UsageError(f"query: {', '.join(repr(name[:40]) for name in unknown[:5])} "
                         f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of this route",
                         code="bad_request")
    repeated = sorted({name for name in request.query_params if len(request.query_params.getlist(name)) > 1})
    if repeated:  # every parameter of the API takes one value: which of several was meant is not for us to guess
        raise UsageError(f"query: {', '.join(repr(name) for name in repeated[:5])} given more than once; "
                         "each parameter takes one value", code="bad_request")


def _query_params(dependant: Any) -> list[Any]:
    return [*dependant.query_params, *(p for d in dependant.dependencies for p in _query_params(d))]


async def spool_upload(chunks: AsyncIterator[bytes], folder: Path, name: str, limit: int) -> tuple[Path, int]:
    """An upload's chunks written to `folder/name` as they arrive, and its size; refused past `limit`
    bytes (`UploadTooLarge`), leaving nothing of it on disk."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / name
    size = 0
    try:
        with target.open("wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"the upload is larger than {limit:,} bytes, the most the service takes "
                                         "(the setting upload_max_bytes)")
                handle.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:
            pass
        raise
    return target, size


def create_app(settings: Any, clear_spool: bool = True) -> FastAPI:
    """The service over the store `settings["db"]`: its connections and import worker are opened
    when the application starts and closed when it stops. `clear_spool`: remove what a stopped
    server left in the spool at start (not when several processes serve, where the command does)."""
    spool = _spool_folder(settings)
    limit = int(settings["upload_max_bytes"])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        stores = await run_in_threadpool(ServiceStores, settings)
        worker = ImportWorker(stores, settings, spool, clear_spool)
        await run_in_threadpool(worker.start)
        app.state.stores, app.state.worker, app.state.settings = stores, worker, settings
        app.state.signed_in = SignedInCache(float(settings["service_token_cache_seconds"]))
        app.state.answers = AnswerCache(int(settings["service_answer_cache_entries"]))
        watch = StateWatch(settings["db"]) if stores.engine == "postgresql" else None

        async def store_state() -> StoreState | None:
            if watch is not None:
                return await watch.state()
            def read_now() -> StoreState | None:
                with stores.reading() as store:
                    return read_state(store)

            return await run_in_threadpool(read_now)

        app.state.store_state = store_state
        try:
            yield
        finally:
            await run_in_threadpool(worker.stop)
            if watch is not None:
                await watch.close()
            await run_in_threadpool(stores.close)

    async def library_error(request: Request, exc: Exception) -> Response:
        status = _status(exc)
        if status == 500:
            log.error("internal error on %s %s: %s", request.method, getattr(request.scope.get("route"), "path", "?"),
                      type(exc).__name__, exc_info=exc)
        return problem_answer(problems_from(exc), status)

    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = [Problem("bad_request", f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'query')}: {e.get('msg')}")
                    for e in exc.errors()]
        return problem_answer(problems, 400)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = int(getattr(exc, "status_code", 500))
        code = {404: "no_such_route", 405: "method_not_allowed"}.get(status, "http_error")
        if status == 404 and not request.url.path.startswith(("/v1/", "/log/")) \
                and "text/html" in request.headers.get("accept", ""):
            from ..web.pages import not_found_page  # a browser asking for a page the dashboard does not have

            return not_found_page(request)
        return problem_answer([Problem(code, str(getattr(exc, "detail", "")) or code.replace("_", " "))], status)

    # no /docs or /redoc: their pages load scripts from a CDN, and the service reaches no network
    app = FastAPI(
        title="roughtrace", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
        description="The rough-diamond pipeline's service for producers, sightholders, KP authorities and retailers. "
                    "Every /v1 route needs `Authorization: Bearer TOKEN`; failures answer "
                    '`{"ok": false, "errors": [{"code", "message", "source"}]}`.',
        dependencies=[Depends(known_query)],
        exception_handlers={RequestValidationError: bad_request, 404: http_error, 405: http_error,
                            Exception: library_error, RoughtraceError: library_error})
    app.add_middleware(AnsweredBefore)
    app.add_middleware(AccessLog)
    documented = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document_bad_requests(documented())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    deployed: dict[int, Any] = {}
    """The settings under each version of the deployment's (a version never changes once stored)."""

    def context_for(store: Any, actor: Actor, state: StoreState | None = None) -> Context:
        """A request's context: its settings under the deployment's, read from the store unless the
        request's store state names a version already read."""
        if store is None:
            return Context(store, settings, actor)
        version = state.settings_version if state is not None else None
        if version is None:
            return Context(store, under_deployment(settings, store), actor)
        held = deployed.get(version)
        if held is None:
            stored = stored_settings(store, version)
            held = settings.under(stored.values, stored.version) if stored.version else settings
            deployed.clear()
            deployed[version] = held
        return Context(store, held, actor)

    def read(request: Request, actor: Actor, use: Callable[[Context], Any], stone: tuple[str, str] | None = None) -> Any:
        """`use` on a reader that sees only the caller's rows (`accounts.security.seen_as`)."""
        state = getattr(request.state, "store_state", None)
        with request.app.state.stores.reading() as store, seen_as(store, actor, stone):
            return use(context_for(store, actor, state))

    quoters: dict[Any, Any] = {}
    loading = threading.Lock()

    def quoter_for(context: Context, state: StoreState | None) -> Any:
        """The quote model of the store as the request's state finds it, loaded once for the
        process (one load at a time), None when the state does not name the model's build."""
        if state is None or state.price_model is None:
            return None
        key = (state.price_model, state.settings_version)
        with loading:
            if key not in quoters:
                from ..pricing.quotes import Quoter

                quoters.clear()
                quoters[key] = Quoter.load(context.store, context.settings)
            return quoters[key]

    def write(request: Request, actor: Actor, use: Callable[[Context], Any]) -> Any:
        with request.app.state.stores.writing() as store:
            return use(context_for(store, actor))

    async def spooled(request: Request, folder: Path, name: str) -> tuple[Path, int]:
        """The request's body written to `folder/name` as it arrives, refused past the size limit."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise UploadTooLarge(f"the upload is {int(declared):,} bytes; the service takes at most {limit:,} "
                                 "(the setting upload_max_bytes)")
        return await spool_upload(request.stream(), folder, name, limit)

    # -- operations ----------------------------------------------------------------------------
    @app.get("/healthz", summary="The process is up", tags=["operations"])
    def healthz() -> Response:
        return answer({"status": "up"})

    @app.get("/readyz", summary="The store is reachable and its schema current", tags=["operations"],
             responses={**_answers(), 503: _errors(503)[503]})
    def readyz(request: Request) -> Response:
        from ..app.status import readiness

        version = read(request, Actor("readiness probe", "probe"), readiness)
        return answer({"status": "ready", "schema_version": version, "engine": request.app.state.stores.engine})

    @app.get("/v1/me", summary="The caller's account", tags=["accounts"], responses={**_answers(), **_errors()})
    def me(actor: Caller) -> Response:
        return answer({"account_id": actor.account_id, "name": actor.name, "role": actor.role, "party_id": actor.party,
                       "country": actor.country})

    # -- imports -------------------------------------------------------------------------------
    @app.post("/v1/imports/{kind}", status_code=202, summary="Send a file of one input kind; it is queued as a job",
              tags=["imports"], responses={**_answers(), **_errors(400, 403, 413)},
              openapi_extra={"requestBody": {"required": True, "description": "The file itself (CSV, XLSX, JSON, JSON Lines "
                                             "or Parquet), as the body: `curl --data-binary @file.csv`.",
                                             "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def upload(request: Request, actor: Caller,
                     kind: Annotated[str, PathParam(description="parties, rough_sales, polished_outcomes, rough_dispositions, "
                                                                "transactions, kp_certificates or parcel_contents")],
                     file_name: Annotated[str | None, Query(description="The file's name; its extension tells the format.")] = None,
                     file_format: Annotated[str | None, Query(alias="format", description="csv, xlsx, json, jsonl or parquet.")] = None) -> Response:
        from ..app.jobs import may_send, new_job_id, submit_import

        await run_in_threadpool(lambda: may_send(context_for(None, actor), kind))
        job_id = new_job_id()
        path, size = await spooled(request, spool / job_id, _safe_name(file_name, kind))
        try:
            job = await run_in_threadpool(
                lambda: submit_import(context_for(request.app.state.stores.desk, actor), job_id, kind,
                                      _safe_name(file_name, kind), path, size, file_format))
        except BaseException:  # not queued: nothing of the upload is kept
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        request.app.state.worker.submit(job.job_id)
        return answer({"job": job.as_dict()}, 202)

    @app.get("/v1/jobs/{job_id}", summary="An upload's job: state, rows read, accepted and quarantined, problems, receipt",
             tags=["imports"], responses={**_answers(), **_errors(403, 404)})
    def job(request: Request, actor: Caller, job_id: str) -> Response:
        from ..app.jobs import job_status

        found = job_status(context_for(request.app.state.stores.desk, actor), job_id)
        return answer({"job": found.as_dict()})

    @app.get("/v1/imports/{batch_id}/quarantine", summary="The rows an import batch quarantined, with their reasons",
             tags=["imports"], responses={**_answers(), **_errors(403, 404)})
    def quarantine(request: Request, actor: Caller, batch_id: int) -> Response:
        from ..app.quarantine import batch_quarantine

        rows = read(request, actor, lambda c: batch_quarantine(c, batch_id))
        return answer({"batch_id": batch_id, "rows": [r.as_dict() for r in rows]})

    # -- sightholders, boxes, stones ----------------------------------------------------------------
    @app.get("/v1/sightholders/risk", summary="The risk of the sightholders the caller may see, with findings",
             tags=["verification"], responses={**_answers(), **_errors(403)})
    def risk(request: Request, actor: Caller,
             sight: Annotated[str | None, Query(description="Only findings about this sight's boxes.")] = None) -> Response:
        from ..app.verify import sightholder_risks

        view = read(request, actor, lambda c: sightholder_risks(c, sight))
        return answer({"sight": view.sight, "sightholders": view.sightholders})

    @app.get("/v1/sightholders/{sightholder_id}", summary="One sightholder's risk, findings with evidence, and answers",
             tags=["verification"], responses={**_answers(), **_errors(403, 404)})
    def sightholder(request: Request, actor: Caller, sightholder_id: str) -> Response:
        from ..app.verify import sightholder_findings

        return answer({"sightholder": read(request, actor, lambda c: sightholder_findings(c, sightholder_id))})

    @app.post("/v1/findings/{finding_id}/answers", status_code=201, summary="A sightholder's answer to one of its findings",
              tags=["verification"], responses={**_answers(), **_errors(400, 403, 404)})
    def answer_finding(request: Request, actor: Caller, finding_id: str,
                       note: Annotated[str, Body(embed=True, description="What the sightholder says about the finding "
                                                                         "(1 to 4000 characters).")]) -> Response:
        from ..app.verify import answer_finding as store_answer

        given = write(request, actor, lambda c: store_answer(c, finding_id, note))
        return answer({"answer": given.as_dict()}, 201)

    @app.get("/v1/boxes/{box_id}", summary="A box: its sale, reported outcome, dispositions and findings",
             tags=["boxes"], responses={**_answers(), **_errors(403, 404)})
    def box(request: Request, actor: Caller, box_id: str) -> Response:
        from ..app.boxes import box_view

        return answer(read(request, actor, lambda c: box_view(c, box_id)).as_dict())

    @app.get("/v1/stones/{lab}/{report}/provenance", summary="A polished stone's provenance, by lab and report number",
             tags=["provenance"], responses={**_answers(), **_errors(403, 404)})
    def provenance(request: Request, actor: Caller, lab: str, report: str) -> Response:
        from ..app.provenance import stone_provenance

        return answer({"provenance": read(request, actor, lambda c: stone_provenance(c, lab, report),
                                             stone=(lab, report))})

    # -- KP certificates ---------------------------------------------------------------------------
    @app.get("/v1/kp/certificates/{certificate_id}", summary="A KP certificate's lines checked against the price book",
             tags=["kp"], responses={**_answers(), **_errors(403, 404)})
    def certificate(request: Request, actor: Caller, certificate_id: str) -> Response:
        from ..app.kp import certificate_verdict

        return answer(read(request, actor, lambda c: certificate_verdict(c, certificate_id)).as_dict())

    @app.post("/v1/kp/certificates/check", summary="Check a certificate file before it is lodged (nothing stored)",
              tags=["kp"], responses={**_answers(), **_errors(400, 403, 413, 422)},
              openapi_extra={"requestBody": {"required": True, "description": "A kp_certificates file, as the body.",
                                             "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def check_file(request: Request, actor: Caller,
                         file_name: Annotated[str | None, Query(description="The file's name; its extension tells the format.")] = None,
                         file_format: Annotated[str | None, Query(alias="format", description="csv, xlsx, json, jsonl or parquet.")] = None) -> Response:
        from ..app.kp import check_certificate_file, may_check_files

        await run_in_threadpool(lambda: may_check_files(context_for(None, actor)))
        folder = spool / f"check_{uuid.uuid4().hex[:20]}"
        path, _ = await spooled(request, folder, _safe_name(file_name, "kp_certificates"))
        try:
            checked = await run_in_threadpool(
                lambda: write(request, actor, lambda c: check_certificate_file(c, path, file_format)))
        finally:
            path.unlink(missing_ok=True)
            try:
                folder.rmdir()
            except OSError:
                pass
        return answer({"check": checked.as_dict()})

    # -- prices ------------------------------------------------------------------------------------
    @app.get("/v1/prices/quote", summary="A polished stone's price per carat with its band", tags=["prices"],
             responses={**_answers(), **_errors(400, 403, 404)})
    def quote(request: Request, actor: Caller,
              shape: Annotated[str, Query(description="round, oval, pear ...")],
              carat: Annotated[Decimal, Query(description="Weight in carats, e.g. 1.01.")],
              color: Annotated[str, Query(description="D to Z, or a fancy colour.")],
              clarity: Annotated[str, Query(description="FL to I3.")],
              cut: Annotated[str | None, Query(description="EX, VG, G ...")] = None,
              lab: Annotated[str | None, Query(description="GIA, IGI, HRD, AGS or none.")] = None,
              as_of: Annotated[dt.date | None, Query(description="The date the price is wanted for (default: latest).")] = None) -> Response:
        from ..app.pricing import quote_stone
        from ..pricing.quotes import Stone

        stone = Stone(shape, carat, color, clarity, cut, lab, as_of)
        state = getattr(request.state, "store_state", None)
        quoted = read(request, actor, lambda c: quote_stone(c, stone, quoter_for(c, state)))
        return answer({"stone": stone.__dict__, "quote": quoted.as_dict()})

    @app.get("/v1/prices/index", summary="The price index over time (headline, or one cell)", tags=["prices"],
             responses={**_answers(), **_errors(400, 403, 404)})
    def index(request: Request, actor: Caller,
              shape_family: Annotated[str | None, Query(description="A cell's shape family (all four, or none).")] = None,
              size: Annotated[str | None, Query(description="A cell's size bracket.")] = None,
              color: Annotated[str | None, Query(description="A cell's colour.")] = None,
              clarity: Annotated[str | None, Query(description="A cell's clarity.")] = None) -> Response:
        from ..app.pricing import price_history

        parts = (shape_family, size, color, clarity)
        if any(parts) and not all(parts):
            raise UsageError("a cell is named by shape_family, size, color and clarity together", code="bad_option")
        cell = parts if all(parts) else None
        rows = read(request, actor, lambda c: price_history(c, cell))  # type: ignore[arg-type]
        return answer({"cell": cell, "periods": rows})

    @app.get("/v1/pricebook", summary="The rough price book, every level", tags=["prices"],
             responses={**_answers(), **_errors(403)})
    def pricebook(request: Request, actor: Caller) -> Response:
        from ..app.valuation import price_book

        return answer({"entries": read(request, actor, price_book)})

    @app.get("/log/checkpoint", summary="The ledger's newest head as a signed checkpoint note (C2SP tlog-checkpoint)",
             tags=["ledger"], responses={200: {"description": "The signed note, text.",
                                               "content": {"text/plain": {"schema": {"type": "string"}}}},
                                         **_errors(404, 503)})
    def log_checkpoint_route(request: Request) -> Response:
        from ..app.ledger import log_checkpoint

        note = read(request, ANYONE, log_checkpoint)
        return Response(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})

    @app.get("/log/tile/entries/{index:path}", summary="A bundle of ledger entries (C2SP tlog-tiles), for administrators",
             tags=["ledger"], responses={200: {"description": "The entry bundle, bytes.",
                                               "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                                   "format": "binary"}}}},
                                         **_errors(403, 404)})
    def log_entries_route(request: Request, actor: Caller, index: str) -> Response:
        from ..app.access import require
        from ..app.ledger import log_tile

        require(actor, "ledger entries")
        bundle = read(request, actor, lambda c: log_tile(c, f"tile/entries/{index}"))
        return Response(bundle, media_type="application/octet-stream")

    @app.get("/log/tile/{level}/{index:path}", summary="A tile of the ledger's hashes (C2SP tlog-tiles)",
             tags=["ledger"], responses={200: {"description": "The tile's hashes, 32 bytes each.",
                                               "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                                   "format": "binary"}}}},
                                         **_errors(404)})
    def log_tile_route(request: Request, level: str, index: str) -> Response:
        from ..app.ledger import log_tile

        tile = read(request, ANYONE, lambda c: log_tile(c, f"tile/{level}/{index}"))
        full = ".p/" not in index
        return Response(tile, media_type="application/octet-stream",
                        headers={"Cache-Control": "public, max-age=31536000, immutable" if full else "no-cache"})

    @app.get("/v1/intelligence/report", summary="The caller's market intelligence report (a sightholder's own)",
             tags=["intelligence"], responses={**_answers(), **_errors(403, 404)})
    def intelligence_report(request: Request, actor: Caller,
                            period: Annotated[str | None, Query(description="The period, e.g. 2024-Q2 (default: the "
                                                                            "latest with a purchase).")] = None) -> Response:
        from ..app.intelligence import sightholder_report

        report = write(request, actor, lambda c: sightholder_report(c, c.actor.party or "", period))
        return answer({"report": report.as_dict()})

    @app.get("/v1/intelligence/producer", summary="The producer's full view of its own sales",
             tags=["intelligence"], responses={**_answers(), **_errors(403, 404)})
    def intelligence_producer(request: Request, actor: Caller,
                              period: Annotated[str | None, Query(description="One period (default: every period).")] = None
                              ) -> Response:
        from ..app.intelligence import producer_view

        view = write(request, actor, lambda c: producer_view(c, period))
        return answer({"view": view.as_dict()})

    from ..web.pages import dashboard  # the dashboard's pages at /, over the same use cases

    app.router.routes.extend(dashboard(settings, spool, limit).routes)
    return app
