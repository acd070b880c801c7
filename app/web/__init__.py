"""The web page for managers and auditors (SPEC §5), served by `coopchain serve` at `/`.

Plain HTML, CSS and JavaScript modules in `static/`, shipped as package data: no
build step and nothing fetched from the internet (plots are SVG drawn by
static/plot.js).  The page is a client of the HTTP API like any other: it holds the
API key in the browser tab's session storage and calls the same routes."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = files("coopchain.app.web") / "static"

# The page holds an API key in the tab's session storage: it runs only its own scripts and
# styles, talks only to this server, and may not be framed (RFC 7034 / CSP frame-ancestors).
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def install(app: FastAPI) -> None:
    """`/` answers the page; its scripts and styles are under `/web/`.

    Not a catch-all mount at `/`: that would answer every unknown API path (and a
    wrong method on a known one) instead of the API's own problem+json."""
    index = str(STATIC / "index.html")

    from coopchain.app.api.deps import public  # the page itself needs no key (the role × route test reads this rule)

    @app.get("/", include_in_schema=False, tags=["web"], dependencies=[public()])
    def page() -> FileResponse:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=HEADERS)

    app.mount("/web", StaticFiles(directory=str(STATIC)), name="web")
