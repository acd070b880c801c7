"""OpenAPI response documentation shared by the routes: the success example and the problem+json errors."""

from __future__ import annotations

from coopchain.app.api.schemas import ProblemDetails

_ERROR_TEXT = {400: "a proof the log cannot give (RFC 9162 error type)", 401: "no API key, or an unknown or revoked one", 403: "this key's role may not use this route",
               404: "no such thing, or not yours", 409: "the ledger refuses", 413: "request body too large", 422: "invalid request: the field's path is in errors[]",
               429: "the front job pool is full: retry later", 503: "the transaction could not be queued (the database failed): submit it again"}


def documented(model=None, *errors: int, status: int = 200, example=None, public: bool = False) -> dict:
    """`responses=` for a route: its success example (the model's own, unless given) and its errors as problem+json."""
    out: dict = {}
    if model is not None:
        if example is None:
            example = (model.model_config.get("json_schema_extra") or {}).get("examples", [None])[0]
        if example is not None:
            out[status] = {"content": {"application/json": {"example": example}}}
    for code in sorted(({422} if public else {401, 403, 422}) | set(errors)):
        out[code] = {"model": ProblemDetails, "description": _ERROR_TEXT.get(code, "error"),
                     "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}
    return out
