"""The dashboard's pages: each parses a request, calls use cases of `app/` as the API's routes do (the
same reader seen as the caller, the same writer, the same desk for uploads) and renders the result
as HTML. Who may see what is decided in the use cases; a refusal is a page of its own, never a
traceback.
"""


import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from ..accounts.security import seen_as
from ..app import Actor, Context
from ..deployment.stored import under_deployment
from ..errors import NotAllowed, NotSignedIn, Problem, UsageError, problems_from
from ..json_values import dumps
from ..settings import redacted
from . import views
from .sessions import COOKIE, SIGN_IN_COOKIE, Session, Sessions, new_token, same_token

LABS = ("GIA", "IGI", "HRD", "AGS")
def paged(total: int, page_number: int, page_rows: int, query: dict[str, Any], anchor: str) -> dict[str, Any]:
    """Which rows of a list of `total` to show on page `page_number` of `page_rows` rows (held within
    the pages there are), for the template's `pager`: the page, the page count, the first row's
    index and the row after the last, the query that made the list, and the part of the page the
    list is in."""
    pages = max(1, -(-total // page_rows))
    shown = min(max(page_number, 1), pages)
    first = (shown - 1) * page_rows
    return {"page": shown, "pages": pages, "first": first, "end": min(first + page_rows, total), "total": total,
            "query": query, "anchor": anchor}


NAV: dict[str, tuple[tuple[str, str], ...]] = {
    "producer": (("/overview", "Overview"), ("/sightholders", "Sightholders"), ("/prices", "Price index"),
                 ("/pricebook", "Price book"), ("/certificates", "KP verdicts"), ("/ledger", "Ledger"),
                 ("/upload", "Upload"), ("/uploads", "Uploads")),
    "sightholder": (("/findings", "Findings"), ("/upload", "Upload"), ("/uploads", "Uploads"),
                    ("/intelligence", "Market report"), ("/prices", "Price index")),
    "kp_authority": (("/certificates", "Certificates"), ("/certificates/check", "Check a file"),
                     ("/pricebook", "Price book")),
    "retailer": (("/provenance", "Provenance"),),
    "admin": (("/overview", "Overview"), ("/sightholders", "Sightholders"), ("/prices", "Price index"),
              ("/pricebook", "Price book"), ("/certificates", "Certificates"), ("/certificates/check", "Check a file"),
              ("/ledger", "Ledger"), ("/upload", "Upload"), ("/uploads", "Uploads"), ("/provenance", "Provenance")),
}
"""Each role's pages, in the order its navigation lists them; the first is its home."""


@dataclass(frozen=True)
class Viewer:
    """Who looks at a page: the signed-in actor and the session (its form token)."""

    actor: Actor
    session: Session


class PageRoute(APIRoute):
    """A page's route: any failure is answered as a page (sign-in, refused, not found, the request
    is wrong, an internal error), with the HTTP status the API would give."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn:
                if request.method == "GET":
                    return RedirectResponse(f"/signin?next={_local(request.url.path)}", 303)
                return views.error_page(request, 401, [Problem("unauthorized", "sign in again: your session has ended")])
            except RequestValidationError as exc:
                problems = [Problem("bad_request", f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}")
                            for e in exc.errors()]
                return views.error_page(request, 400, problems)
            except HTTPException as exc:
                return views.error_page(request, exc.status_code, [Problem("http_error", str(exc.detail))])
            except Exception as exc:  # noqa: BLE001 - every failure is answered as a page, once, here
                from ..service.app import _status

                status = _status(exc)
                if status == 500:
                    import logging

                    logging.getLogger("roughtrace.service").error("internal error on page %s", request.url.path,
                                                                  exc_info=exc)
                return views.error_page(request, status, problems_from(exc))

        return guarded


def _local(path: str) -> str:
    """A path to come back to after signing in: this site's own, never another's."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/"


def dashboard(settings: Any, spool: Path, limit: int) -> APIRouter:
    """The dashboard's routes over the service's stores (on `request.app.state`)."""
    from ..service.app import UploadTooLarge, _safe_name, known_query, spool_upload

    sessions = Sessions()
    page_rows = settings["dashboard_page_rows"]
    router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(known_query)])

    def context_for(store: Any, actor: Actor) -> Context:
        return Context(store, under_deployment(settings, store), actor)

    def read(request: Request, actor: Actor, use: Callable[[Context], Any], stone: tuple[str, str] | None = None) -> Any:
        with request.app.state.stores.reading() as store, seen_as(store, actor, stone):
            return use(context_for(store, actor))

    def write(request: Request, actor: Actor, use: Callable[[Context], Any]) -> Any:
        with request.app.state.stores.writing() as store:
            return use(context_for(store, actor))

    def at_desk(request: Request, actor: Actor, use: Callable[[Context], Any]) -> Any:
        return use(context_for(request.app.state.stores.desk, actor))

    def viewer(request: Request) -> Viewer:
        from ..app.accounts import session_actor

        session = sessions.find(request.cookies.get(COOKIE))
        if session is None:
            raise NotSignedIn("sign in to see this page")
        with request.app.state.stores.reading() as store:
            actor = session_actor(Context(store, settings), session.account_id)
        request.state.account_id = actor.account_id
        return Viewer(actor, session)

    Who = Annotated[Viewer, Depends(viewer)]

    def page(request: Request, who: Viewer | None, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return views.render_page(request, template, status, actor=who.actor if who else None,
                            csrf=who.session.csrf if who else None, nav=NAV.get(who.actor.role, ()) if who else (),
                            **values)

    async def posted(request: Request, who: Viewer) -> Any:
        """The form of a POST, once its token is found to be the session's (`NotAllowed` otherwise)."""
        form = await request.form(max_files=1, max_fields=20)
        if not same_token(form.get("csrf"), who.session.csrf):  # type: ignore[arg-type]
            raise NotAllowed(Problem("bad_form_token", "the form did not come from this session's page: reload the "
                                                       "page and send it again"))
        return form

    # -- signing in and out ----------------------------------------------------------------------
    @router.get("/signin")
    def sign_in_form(request: Request, next_page: Annotated[str, Query(alias="next")] = "/") -> Response:
        token = new_token()
        answer = page(request, None, "signin.html", title="Sign in", form_token=token, next_page=_local(next_page))
        answer.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="strict", path="/signin", max_age=3600)
        return answer

    @router.post("/signin")
    async def sign_in(request: Request) -> Response:
        from ..app.accounts import signed_in

        form = await request.form(max_files=0, max_fields=10)
        if not same_token(form.get("form_token"), request.cookies.get(SIGN_IN_COOKIE, "")):  # type: ignore[arg-type]
            raise NotAllowed(Problem("bad_form_token", "the sign-in form has expired: reload it and sign in again"))
        token = str(form.get("token") or "").strip()

        def who(store_reader: Any) -> Actor:
            return signed_in(Context(store_reader, settings), token)

        def find() -> Actor:
            with request.app.state.stores.reading() as store:
                return who(store)

        try:
            actor = await run_in_threadpool(find)
        except NotSignedIn:
            fresh = new_token()
            answer = page(request, None, "signin.html", 401, title="Sign in", form_token=fresh,
                          next_page=_local(str(form.get("next") or "/")),
                          problem="That token is unknown, expired or revoked.")
            answer.set_cookie(SIGN_IN_COOKIE, fresh, httponly=True, samesite="strict", path="/signin", max_age=3600)
            return answer
        session_id, _ = sessions.open(actor.account_id or "")
        target = _local(str(form.get("next") or "/"))
        answer = RedirectResponse(target if target != "/signin" else "/", 303)
        answer.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/",
                          secure=request.url.scheme == "https")
        answer.delete_cookie(SIGN_IN_COOKIE, path="/signin")
        return answer

    @router.post("/signout")
    async def sign_out(request: Request, who: Who) -> Response:
        await posted(request, who)
        sessions.close(request.cookies.get(COOKIE))
        answer = RedirectResponse("/signin", 303)
        answer.delete_cookie(COOKIE, path="/")
        return answer

    @router.get("/")
    def home(who: Who) -> Response:
        pages = NAV.get(who.actor.role, ())
        return RedirectResponse(pages[0][0] if pages else "/signin", 303)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        found = views.static_file(name)
        if found is None:
            raise HTTPException(404, "no such file")
        body, media = found
        return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=3600"})

    # -- the producer analyst's pages ------------------------------------------------------------
    @router.get("/overview")
    def overview(request: Request, who: Who) -> Response:
        from ..app.dashboard import producer_overview

        view = read(request, who.actor, producer_overview)
        return page(request, who, "overview.html", title="Overview", view=view)

    @router.get("/sightholders")
    def sightholders(request: Request, who: Who,
                     risk: Annotated[str | None, Query()] = None,
                     category: Annotated[str | None, Query()] = None,
                     sight: Annotated[str | None, Query()] = None) -> Response:
        from ..app.dashboard import column_values
        from ..app.verify import sightholder_risks

        view = read(request, who.actor, lambda c: sightholder_risks(c, sight or None))
        rows = view.sightholders
        categories = column_values(rows, "category")
        if risk:
            rows = [r for r in rows if r["risk"] == risk]
        if category:
            rows = [r for r in rows if r["category"] == category]
        return page(request, who, "sightholders.html", title="Sightholders", rows=rows, risk=risk, category=category,
                    sight=sight, categories=categories)

    @router.get("/findings")
    def findings(who: Who) -> Response:
        if who.actor.role != "sightholder" or not who.actor.party:
            raise NotAllowed(f"a {who.actor.role} account has no findings of its own")
        return RedirectResponse(f"/sightholders/{who.actor.party}", 303)

    @router.get("/sightholders/{sightholder_id}")
    def sightholder(request: Request, who: Who, sightholder_id: str,
                    sight: Annotated[str | None, Query()] = None,
                    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1) -> Response:
        from ..app.dashboard import sightholder_boxes
        from ..app.verify import sightholder_findings

        sight = sight or None

        def both(context: Context) -> tuple[Any, Any]:
            return (sightholder_findings(context, sightholder_id),
                    sightholder_boxes(context, sightholder_id, sight, page_rows, (page_number - 1) * page_rows))

        risk, boxes = read(request, who.actor, both)
        pager = paged(boxes.total, page_number, page_rows, {"sight": sight}, "bought")
        if pager["page"] != page_number:  # past the last page: the last is shown
            boxes = read(request, who.actor,
                         lambda c: sightholder_boxes(c, sightholder_id, sight, page_rows, pager["first"]))
        return page(request, who, "sightholder.html", title=f"Sightholder {sightholder_id}", risk=risk, boxes=boxes,
                    sight=sight, answerable=who.actor.role == "sightholder", paging=pager)

    @router.post("/findings/{finding_id}/answer")
    async def answer_finding(request: Request, who: Who, finding_id: str) -> Response:
        from ..app.verify import answer_finding as store_answer

        form = await posted(request, who)
        note = str(form.get("note") or "")
        await run_in_threadpool(lambda: write(request, who.actor, lambda c: store_answer(c, finding_id, note)))
        return RedirectResponse(f"/sightholders/{who.actor.party}#{finding_id}", 303)

    @router.get("/boxes/{box_id}")
    def box(request: Request, who: Who, box_id: str) -> Response:
        from ..app.boxes import box_view
        from ..app.dashboard import mass_balance

        view = read(request, who.actor, lambda c: box_view(c, box_id))
        balance = mass_balance(view.sale, view.outcome, view.dispositions)
        return page(request, who, "box.html", title=f"Box {box_id}", view=view, balance=balance)

    @router.get("/prices")
    def prices(request: Request, who: Who, period: Annotated[str | None, Query()] = None,
               shape_family: Annotated[str | None, Query()] = None,
               size: Annotated[str | None, Query()] = None) -> Response:
        from ..app.dashboard import price_cells
        from ..app.pricing import price_history

        def both(context: Context) -> tuple[Any, Any]:
            return price_history(context), price_cells(context, period or None, shape_family or None, size or None)

        history, cells = read(request, who.actor, both)
        return page(request, who, "prices.html", title="Price index", history=history, cells=cells,
                    chart=views.index_chart(history))

    @router.get("/prices/cell")
    def price_cell(request: Request, who: Who, shape_family: Annotated[str, Query()], size: Annotated[str, Query()],
                   color: Annotated[str, Query()], clarity: Annotated[str, Query()]) -> Response:
        from ..app.pricing import price_history

        cell = (shape_family, size, color, clarity)
        rows = read(request, who.actor, lambda c: price_history(c, cell))
        return page(request, who, "cell.html", title=f"{shape_family} {size} {color} {clarity}", cell=cell, rows=rows,
                    chart=views.cell_chart(rows))

    @router.get("/pricebook")
    def pricebook(request: Request, who: Who, level: Annotated[str, Query()] = "assortment") -> Response:
        from ..app.dashboard import price_book_level
        from ..valuation.pricebook import LEVEL_NAMES

        rows = read(request, who.actor, lambda c: price_book_level(c, level))
        return page(request, who, "pricebook.html", title="Price book", rows=rows, level=level, levels=LEVEL_NAMES)

    @router.get("/ledger")
    def ledger(request: Request, who: Who) -> Response:
        from ..app.dashboard import ledger_state

        state = read(request, who.actor, ledger_state)
        return page(request, who, "ledger.html", title="Ledger", state=state)

    # -- KP certificates -------------------------------------------------------------------------
    @router.get("/certificates")
    def certificates(request: Request, who: Who, verdict: Annotated[str | None, Query()] = None,
                     page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1) -> Response:
        from ..app.dashboard import certificate_list
        from ..valuation.kp import VERDICTS

        if verdict and verdict not in VERDICTS:
            raise UsageError(f"verdict is one of {', '.join(VERDICTS)}", code="bad_request")
        rows = read(request, who.actor, lambda c: certificate_list(c, verdict or None))
        pager = paged(len(rows), page_number, page_rows, {"verdict": verdict}, "listed")
        return page(request, who, "certificates.html", title="KP certificates",
                    rows=rows[pager["first"]:pager["end"]], total=len(rows), verdict=verdict, verdicts=VERDICTS,
                    paging=pager)

    @router.get("/certificates/check")
    def check_form(request: Request, who: Who) -> Response:
        from ..app.kp import may_check_files

        may_check_files(Context(None, settings, who.actor))  # type: ignore[arg-type]
        return page(request, who, "check.html", title="Check a certificate file", checked=None)

    @router.post("/certificates/check")
    async def check_file(request: Request, who: Who) -> Response:
        import uuid

        from ..app.kp import check_certificate_file, may_check_files

        await run_in_threadpool(lambda: may_check_files(Context(None, settings, who.actor)))  # type: ignore[arg-type]
        form = await posted(request, who)
        upload = form.get("file")
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise UsageError("choose a certificate file to check", code="no_file")
        folder = spool / f"check_{uuid.uuid4().hex[:20]}"
        path = await spooled(upload, folder, _safe_name(upload.filename, "kp_certificates"))
        try:
            checked = await run_in_threadpool(
                lambda: write(request, who.actor, lambda c: check_certificate_file(c, path)))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return page(request, who, "check.html", title="Check a certificate file", checked=checked,
                    file_name=upload.filename)

    @router.get("/certificates/{certificate_id}")
    def certificate(request: Request, who: Who, certificate_id: str) -> Response:
        from ..app.dashboard import certificate_document
        from ..app.kp import certificate_verdict

        def both(context: Context) -> tuple[Any, Any]:
            return certificate_verdict(context, certificate_id), certificate_document(context, certificate_id)

        verdicts, document = read(request, who.actor, both)
        return page(request, who, "certificate.html", title=f"Certificate {certificate_id}", verdicts=verdicts,
                    blocks=views.blocks(document), document=document)

    @router.get("/certificates/{certificate_id}/pdf")
    def certificate_pdf(request: Request, who: Who, certificate_id: str) -> Response:
        from ..app.dashboard import certificate_pdf

        pdf = read(request, who.actor, lambda c: certificate_pdf(c, certificate_id))
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in certificate_id)[:80]
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="certificate-{safe}.pdf"'})

    # -- uploads ---------------------------------------------------------------------------------
    async def spooled(upload: Any, folder: Path, name: str) -> Path:
        """An uploaded form file copied into `folder/name`, refused past the size limit."""

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await upload.read(1 << 20):
                yield chunk

        path, _ = await spool_upload(chunks(), folder, name, limit)
        return path

    @router.get("/upload")
    def upload_form(request: Request, who: Who) -> Response:
        from ..app.access import UPLOADS, sees_all
        from ..domain.kinds import KINDS

        kinds = sorted(KINDS) if sees_all(who.actor) else sorted(UPLOADS.get(who.actor.role, ()))
        if not kinds:
            raise NotAllowed(f"a {who.actor.role} account sends no files")
        return page(request, who, "upload.html", title="Upload a file", kinds=kinds, limit=limit)

    @router.post("/upload")
    async def upload(request: Request, who: Who) -> Response:
        from ..app.jobs import may_send, new_job_id, submit_import

        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + 65536:
            raise UploadTooLarge(f"the upload is {int(declared):,} bytes; the service takes at most {limit:,} "
                                 "(the setting upload_max_bytes)")
        form = await posted(request, who)
        kind = str(form.get("kind") or "")
        await run_in_threadpool(lambda: may_send(Context(None, settings, who.actor), kind))  # type: ignore[arg-type]
        sent = form.get("file")
        if sent is None or isinstance(sent, str) or not sent.filename:
            raise UsageError("choose a file to upload", code="no_file")
        job_id = new_job_id()
        name = _safe_name(sent.filename, kind)
        path = await spooled(sent, spool / job_id, name)
        try:
            job = await run_in_threadpool(lambda: at_desk(request, who.actor, lambda c: submit_import(
                c, job_id, kind, name, path, path.stat().st_size)))
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        request.app.state.worker.submit(job.job_id)
        if "application/json" in request.headers.get("accept", ""):
            return Response(dumps({"ok": True, "job": job.as_dict(), "page": f"/jobs/{job.job_id}",
                                   "status": f"/jobs/{job.job_id}/status"}), 202, media_type="application/json")
        return RedirectResponse(f"/jobs/{job.job_id}", 303)

    @router.get("/uploads")
    def uploads(request: Request, who: Who) -> Response:
        from ..app.dashboard import uploads as listed

        rows = at_desk(request, who.actor, listed)
        return page(request, who, "uploads.html", title="Uploads", rows=rows)

    @router.get("/jobs/{job_id}")
    def job(request: Request, who: Who, job_id: str) -> Response:
        from ..app.jobs import job_status
        from ..app.quarantine import batch_quarantine

        found = at_desk(request, who.actor, lambda c: job_status(c, job_id)).as_dict()
        rows = []
        if found["state"] == "done" and found["batch_id"] is not None and found["rows_quarantined"]:
            rows = read(request, who.actor, lambda c: batch_quarantine(c, found["batch_id"]))
        return page(request, who, "job.html", title=f"Upload {found['file_name']}", job=found, rows=rows,
                    waiting=found["state"] in ("queued", "running"))

    @router.get("/jobs/{job_id}/status")
    def job_state(request: Request, who: Who, job_id: str) -> Response:
        from ..app.jobs import job_status

        found = at_desk(request, who.actor, lambda c: job_status(c, job_id)).as_dict()
        return Response(dumps({"ok": True, "job": found}), media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    @router.get("/jobs/{job_id}/receipt")
    def job_receipt(request: Request, who: Who, job_id: str) -> Response:
        from ..app.jobs import job_status
        from ..errors import NotFound

        found = at_desk(request, who.actor, lambda c: job_status(c, job_id)).as_dict()
        if not found.get("receipt"):
            raise NotFound(f"the upload {job_id} has no receipt: nothing of it was stored", code="no_receipt")
        return Response(dumps(found["receipt"]) + "\n", media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="receipt-{found["batch_id"]}.json"'})

    # -- a sightholder's market report, a retailer's lookup -----------------------------------------
    @router.get("/intelligence")
    def intelligence(request: Request, who: Who, period: Annotated[str | None, Query()] = None) -> Response:
        from ..app.intelligence import sightholder_report
        from ..app.verify import party_names
        from ..intelligence.document import intelligence_document

        def made(context: Context) -> Any:
            report = sightholder_report(context, context.actor.party or "", period or None)
            return intelligence_document(report, party_names(context).get(report.sightholder_id))

        document = write(request, who.actor, made)
        return page(request, who, "document.html", title="Market report", document=document,
                    blocks=views.blocks(document), period=period)

    @router.get("/provenance")
    def provenance(request: Request, who: Who, lab: Annotated[str | None, Query()] = None,
                   report: Annotated[str | None, Query()] = None) -> Response:
        from ..app.access import require
        from ..app.provenance import stone_provenance

        require(who.actor, "provenance")
        found = None
        if lab and report:
            found = read(request, who.actor, lambda c: stone_provenance(c, lab, report.strip()),
                         stone=(lab, report.strip()))
        return page(request, who, "provenance.html", title="Provenance", found=found, lab=lab, report=report,
                    labs=LABS)

    return router


def not_found_page(request: Request) -> HTMLResponse:
    """The page for a path the dashboard does not have."""
    return views.error_page(request, 404, [Problem("no_such_page", f"there is no page {redacted(request.url.path)[:80]}")])

