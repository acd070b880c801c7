"""The FastAPI application: settings, the ledger, the side tables and the job pool, the routers, the error handler.

`uvicorn --factory coopchain.app.api.main:create_app` or `coopchain serve`."""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from coopchain.app.api import errors
from coopchain.app.api.config import Settings
from coopchain.app.api.fast import FastLane
from coopchain.app.api.jobs import JobPool
from coopchain.app.api.limits import BodySizeLimit
from coopchain.app.api.routes import accounts, blocks, bundles, checkpoint, cooperatives, fronts, health, keys, problems, proofs, solutions, transactions
from coopchain.app.api.routes import history, market
from coopchain.app import web
from coopchain.service.wiring import open_ledger
from coopchain.service.api_store import ApiStore
from coopchain.service.checkpoints import CheckpointStore

ROUTERS = (health, problems, solutions, fronts, blocks, transactions, proofs, bundles, checkpoint, keys, accounts, cooperatives, history, market)


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}"


class Api(FastAPI):
    """FastAPI, with the hot routes answered first by app.api.fast (the same endpoints and rules, less machinery)."""

    fast_lane: FastLane | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            # RFC 9110 §9.3.2: HEAD is GET without the body, on every GET route (FastAPI's APIRoute does not add
            # it, and adding it to the routes would put a HEAD operation beside each GET in the OpenAPI document).
            # A copy of the scope: the server's own still says HEAD, and so sends no body and checks no length.
            scope, send = dict(scope, method="GET"), _without_body(send)
        if scope["type"] == "http" and self.fast_lane is not None and await self.fast_lane(scope, receive, send):
            return
        await super().__call__(scope, receive, send)


def _without_body(send):
    async def send_head(message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ledger = open_ledger(settings.db)  # read-only here: no node key; with the contracts its genesis names
        app.state.store = ApiStore(settings.db, settings.key_cache_s)
        app.state.checkpoints = CheckpointStore(settings.db)  # what `chain publish-checkpoint` stored
        app.state.submitter = None
        if settings.node_key:
            from coopchain.chain.keys import PrivateKey
            from coopchain.service.submission import Submitter

            # A second Ledger, with the node key, used only by the submitter's commit thread, and only
            # while this worker holds the committer lock (service.submission: one committer at a time).
            app.state.committer = open_ledger(settings.db, PrivateKey.load(settings.node_key))
            # The commit thread runs Python for milliseconds at a time; each time the event loop lets the
            # GIL go (libsodium, SQLite, a socket) it waits for the commit thread's switch interval (5 ms
            # by default) to get it back, several times a request.  A shorter interval bounds that wait.
            switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(settings.gil_switch_ms / 1000.0)
            app.state.submitter = Submitter(app.state.committer, settings.db, settings.batch_transactions, settings.batch_wait_ms, settings.standby_committer)
        app.state.jobs = JobPool(settings.db, settings.front_processes, app.state.store, settings.dask, walkers=settings.max_active_jobs)
        try:
            yield
        finally:
            if app.state.submitter is not None:
                app.state.submitter.close()  # what is acknowledged stays queued for the next committer
                app.state.committer.close()
                sys.setswitchinterval(switch_interval)
            app.state.jobs.close()
            app.state.store.close()
            app.state.checkpoints.close()
            app.state.ledger.close()

    # redirect_slashes off: Starlette's redirect of /blocks/1/ is an absolute URL built from the Host header
    # (a client following it goes where the request's Host said); a trailing slash is a 404 problem+json.
    app = Api(title="coopchain", version="0.1.0", lifespan=lifespan, generate_unique_id_function=_operation_id, redirect_slashes=False,
                  description="Certified allocations for supply-chain cooperatives, committed to a tamper-evident ledger. "
                              "Errors are application/problem+json (RFC 9457). A client guide is docs/api.md.")
    app.state.settings = settings
    errors.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    web.install(app)  # the page at / (app/web)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.fast_lane:
        app.fast_lane = FastLane(app, settings.max_body_bytes)
    return app
