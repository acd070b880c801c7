"""Every refusal as `application/problem+json` (RFC 9457), from one handler.

Our own handler rather than the fastapi-problem package: the body must carry the
failing field's path from three sources (FastAPI's request validation, the
problem document's own issues with paths such as ``enterprises[3].cap.water``,
and the RFC 9162 proof errors with their registered type URNs), and a handler of
~100 lines that maps our typed service errors says that more plainly than
subclassing a library's exception types in every layer below app/.

Body: ``type`` (a URN: ``urn:ietf:params:trans:error:<name>`` for RFC 9162's
errors, ``urn:coopchain:error:<name>`` for ours), ``title``, ``status``,
``detail`` (a sentence), ``instance`` (the request path) and ``errors``: a list
of ``{path, detail}``, one per field at fault.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from coopchain.chain.errors import ChainError
from coopchain.models.problem import ProblemError, loc_path  # a request body's field path is written as a document's
from coopchain.service.api_store import ApiKeyRequestError
from coopchain.service.fronts import FrontRequestError
from coopchain.service.ledger_reads import NotFound, ProofRequestError
from coopchain.service.solving import SolveRequestError

MEDIA_TYPE = "application/problem+json"
RFC9162 = "urn:ietf:params:trans:error:"
OURS = "urn:coopchain:error:"
log = logging.getLogger("coopchain.api")

_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed", 406: "Not acceptable",
           409: "Conflict", 413: "Request too large", 415: "Unsupported media type", 422: "Invalid request", 429: "Too many jobs", 500: "Internal error", 503: "Unavailable"}


class ApiError(Exception):
    """A refusal decided in app/ (authentication, roles, scoping, the job pool)."""

    def __init__(self, status: int, name: str, detail: str, errors: list[dict] | None = None, headers: dict | None = None) -> None:
        super().__init__(detail)
        self.status, self.name, self.detail, self.errors, self.headers = status, name, detail, errors or [], headers


def not_found(what: str) -> ApiError:
    """The one answer for absent and for not-yours (SPEC §6: another cooperative's data is 404, never a hint)."""
    return ApiError(404, "not-found", f"no {what}")


def problem_response(status: int, type_: str, detail: str, instance: str, errors: list[dict] = (), headers: dict | None = None) -> JSONResponse:
    body = {"type": type_, "title": _TITLES.get(status, "Error"), "status": status, "detail": detail, "instance": instance, "errors": list(errors)}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _clean(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")[:500]


def describe(exc: Exception) -> tuple[int, str, str, list[dict], dict | None]:
    """(status, type URN, detail, field errors, headers) of any exception that reaches the handler."""
    if isinstance(exc, ApiError):
        return exc.status, OURS + exc.name, exc.detail, exc.errors, exc.headers
    if isinstance(exc, RequestValidationError):
        errors = [{"path": loc_path(e.get("loc", ())), "detail": _clean(str(e.get("msg", "invalid")))} for e in exc.errors()]
        first = errors[0] if errors else {"path": "", "detail": "invalid"}
        return 422, OURS + "invalid-request", f"{first['path']}: {first['detail']}", errors, None
    if isinstance(exc, ProblemError):
        errors = [{"path": i.path, "detail": _clean(i.message)} for i in exc.issues]
        return 422, OURS + "invalid-problem", f"the problem document is not valid ({len(errors)} issue{'s' if len(errors) != 1 else ''}): " + _clean(str(exc).splitlines()[0] if str(exc) else ""), errors, None
    if isinstance(exc, (SolveRequestError, FrontRequestError)):
        return 422, OURS + "invalid-request", _clean(str(exc)), [{"path": f"body.{exc.field}", "detail": _clean(str(exc))}], None
    if isinstance(exc, ProofRequestError):
        # An unknown hash is 404 (as another cooperative's is: no hint which); RFC 9162's other errors are 400.
        return 404 if exc.error_type == "hashUnknown" else 400, RFC9162 + exc.error_type, _clean(str(exc)), [{"path": f"query.{exc.field}" if exc.field not in ("hash", "height") else f"path.{exc.field}", "detail": _clean(str(exc))}], None
    if isinstance(exc, NotFound):
        return 404, OURS + "not-found", _clean(str(exc)), [], None
    if isinstance(exc, ApiKeyRequestError):
        return 422, OURS + "invalid-request", _clean(str(exc)), [{"path": "body", "detail": _clean(str(exc))}], None
    if isinstance(exc, ChainError):
        return 409, OURS + "ledger-refused", _clean(str(exc)), [], None
    if isinstance(exc, StarletteHTTPException):
        name = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return exc.status_code, OURS + name, _clean(str(exc.detail)), [], getattr(exc, "headers", None)
    if isinstance(exc, ClientDisconnect):  # the client hung up before its body was complete: its end, not our fault
        log.info("the client ended the request before its body was complete")
        return 400, OURS + "incomplete-body", "the request ended before its body was complete", [{"path": "body", "detail": "incomplete"}], None
    log.exception("unexpected error", exc_info=exc)
    return 500, OURS + "internal", "the server failed on this request; it is logged", [], None


async def handle(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler: every refusal, whatever raised it, becomes problem+json."""
    status, type_, detail, errors, headers = describe(exc)
    return problem_response(status, type_, detail, request.url.path, errors, headers)


def install(app: FastAPI) -> None:
    for kind in (ApiError, RequestValidationError, ProblemError, SolveRequestError, FrontRequestError, ProofRequestError, NotFound,
                 ApiKeyRequestError, ChainError, StarletteHTTPException, ClientDisconnect, Exception):
        # ClientDisconnect has a handler of its own so that it is answered where it is raised (Starlette's
        # ExceptionMiddleware), not by ServerErrorMiddleware, which re-raises to the server's log.
        app.add_exception_handler(kind, handle)
