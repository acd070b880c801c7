"""The witness as a small HTTP service (C2SP tlog-witness; SPEC §10; docs/trust.md).

A witness runs at a member enterprise or an outside auditor, not beside the node's API, so
it is its own FastAPI application with two routes:

- ``POST /add-checkpoint``: the request body of tlog-witness; 200 with the cosignature
  line (``text/plain``), or the refusal's status: 409 answers the size held with
  ``Content-Type: text/x.tlog.size`` as the protocol demands, the others an
  ``application/problem+json`` body naming the reason;
- ``GET /<SHA-256 of the origin, hex>/checkpoint``: the last checkpoint cosigned for that
  origin, with the node's signature and this witness's cosignature (404 if none).

`coopchain witness serve --store FILE --key FILE [--host H] [--port P]`.  Each request opens
its own connection to the store: the check and persist of chain.witness are one SQLite
transaction with a compare-and-swap, so concurrent requests stay atomic.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from coopchain.chain.keys import PrivateKey
from coopchain.chain.witness import MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE, Conflict, Witness, WitnessRefusal, WitnessStore, origin_hash

TEXT = "text/plain; charset=utf-8"


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail}, status_code=status,
                        media_type="application/problem+json")


def create_witness_app(store_path: str | Path, key: PrivateKey) -> FastAPI:
    """The witness's application over the store at `store_path`, cosigning with `key`."""
    store_path = Path(store_path)
    WitnessStore.open(store_path).close()  # a wrong path or another program's file fails at start, not per request
    app = FastAPI(title="coopchain witness", version="0.1.0",
                  description="C2SP tlog-witness add-checkpoint over this witness's store; docs/trust.md.")

    def add(body: bytes) -> bytes:
        store = WitnessStore.open(store_path)
        try:
            return Witness(store, key).add_checkpoint(body)
        finally:
            store.close()

    @app.post("/add-checkpoint", response_class=Response, responses={
        200: {"content": {TEXT: {}}, "description": "the cosignature line"},
        409: {"content": {SIZE_CONTENT_TYPE: {}}, "description": "the size this witness holds"},
    })
    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST_BYTES:
                return _problem(400, "Bad Request", f"the request is larger than {MAX_REQUEST_BYTES:,} bytes")
        try:
            answer = await run_in_threadpool(add, body)
        except Conflict as e:
            # exactly this type (Starlette would append a charset to a text/* media_type)
            return Response(e.body(), status_code=409, headers={"Content-Type": SIZE_CONTENT_TYPE})
        except WitnessRefusal as e:
            return _problem(e.status, e.reason, str(e))
        return Response(answer, media_type=TEXT)

    @app.get("/{hashed}/checkpoint", response_class=Response, responses={200: {"content": {TEXT: {}}}})
    def checkpoint(hashed: str) -> Response:
        store = WitnessStore.open(store_path)
        try:
            origins = [row[0] for row in store.db.execute("SELECT origin FROM logs")]
            origin = next((o for o in origins if origin_hash(o) == hashed), None)
            held = store.latest(origin) if origin is not None else None
        finally:
            store.close()
        if held is None:
            return _problem(404, "Not Found", "this witness has cosigned no checkpoint of that origin")
        return Response(held.note, media_type=TEXT)

    return app
