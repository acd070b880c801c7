"""The hot routes as plain ASGI in front of FastAPI (SPEC §7: reads ≥ 1,000 req/s, p99 < 25 ms;
signed transactions ≥ 1,000 tx/s through HTTP, on 2 cores).

FastAPI's per-request machinery (matching the path against every included router, solving the
dependency tree, validating and serialising the response model, six middleware layers) costs
about 0.25 ms of CPU a request here, several times what a cached block read or a transaction's
admission costs.  This lane takes the requests of a few routes whose parameters are plainly
valid and calls the *same* endpoint functions with the *same* role rule (the `Allow` object read
from the endpoint's own signature), the same errors (app.api.errors.describe) and the same body
size limit (app.api.limits.BodySizeLimit).  Anything else, an unusual query string, a height
with a leading zero, a method it does not serve, goes to FastAPI untouched, which then answers
as it always did (its validation errors included).  The routes stay declared in FastAPI: the
OpenAPI document, the role × route test and schemathesis see them as before, and they reach
this lane through the served application.

Reads of what can never change (a block by height, a committed transaction, its receipt, its
inclusion proof, a block's proof in the tree of a given size) are kept as their JSON bytes:
the ledger is append-only, so such an answer is never stale.  A manager's scope is checked
against the cooperative kept beside each answer on every request; a caller it does not let see
the answer goes through the endpoint, which refuses as it always does.
"""

from __future__ import annotations

import inspect
import re
import typing

from fastapi import FastAPI
from starlette.requests import Request

from coopchain.app.api.deps import Allow, may_see
from coopchain.app.api.errors import describe, problem_response
from coopchain.app.api.limits import BodySizeLimit, BodyTooLarge
from coopchain.app.api.routes import blocks, proofs, transactions
from coopchain.service import ledger_reads
from coopchain.service.caches import Recent

KEPT_ANSWERS = 10_000  # immutable answers kept as bytes, 0.5 to 3 KiB each
_HEIGHT = r"(0|[1-9][0-9]{0,18})"  # a plain decimal; anything else (leading zeros, signs) is FastAPI's to judge
_HASH = r"([0-9a-fA-F]{64})"
_WAIT = {b"": False, b"wait=true": True, b"wait=false": False, b"wait=1": True, b"wait=0": False}
_MAX_HEIGHT = 2**62  # the routes' own bound (Path(le=2**62))
_ANY = object()  # an answer no manager's scope restricts


def rule_of(endpoint) -> Allow:
    """The Allow rule an endpoint declares in its signature (`caller: Annotated[ApiKey, Depends(Allow(...))]`)."""
    for parameter in inspect.signature(endpoint, eval_str=True).parameters.values():
        for meta in typing.get_args(parameter.annotation)[1:]:
            if isinstance(getattr(meta, "dependency", None), Allow):
                return meta.dependency
    raise LookupError(f"{endpoint.__name__} declares no Allow rule")


class FastLane:
    """Serves the hot routes of `app`, or answers False so that FastAPI serves the request."""

    def __init__(self, app: FastAPI, max_body_bytes: int) -> None:
        self.app = app
        self.answers = Recent(KEPT_ANSWERS)  # (cooperative or _ANY, JSON bytes) by route and arguments
        self.max_body_bytes = max_body_bytes
        read = self._read
        # (method, compiled path, handler, endpoint); the endpoint's own rule is read once here.
        routes = [
            ("GET", rf"/blocks/{_HEIGHT}", read, blocks.read_block),
            ("GET", rf"/transactions/{_HASH}", read, transactions.read_transaction),
            ("GET", rf"/transactions/{_HASH}/receipt", read, transactions.read_receipt),
            ("GET", rf"/proofs/transactions/{_HASH}", read, proofs.transaction_inclusion),
            ("GET", rf"/proofs/blocks/{_HEIGHT}", read, proofs.block_inclusion),
            ("POST", r"/transactions", self._submit, transactions.submit_transaction),
            ("POST", r"/transactions/batch", self._submit, transactions.submit_batch),
        ]
        self.routes = [(method, re.compile(pattern), handler, endpoint, rule_of(endpoint)) for method, pattern, handler, endpoint in routes]

    async def __call__(self, scope, receive, send) -> bool:
        """True when this lane answered the request."""
        method, path = scope["method"], scope["path"]
        for want, pattern, handler, endpoint, rule in self.routes:
            if want != method:
                continue
            match = pattern.fullmatch(path)
            if match is None:
                continue
            call = handler(scope, match.groups(), endpoint)
            if call is None:  # a query string or a value this lane leaves to FastAPI
                return False
            scope["app"] = self.app

            async def run(scope, receive, send):
                try:
                    caller = rule.check(self.app.state.store, _api_key(scope))
                    await call(caller, scope, receive, send)
                except BodyTooLarge:
                    raise  # BodySizeLimit's 413
                except Exception as exc:  # the one handler's answer, as FastAPI would give it
                    status, type_, detail, errors, headers = describe(exc)
                    await problem_response(status, type_, detail, path, errors, headers)(scope, receive, send)

            if method == "POST":  # the body is read through the size limit, before the key is looked at, as on every route
                await BodySizeLimit(run, self.max_body_bytes)(scope, receive, send)
            else:
                await run(scope, receive, send)
            return True
        return False

    # -- reads of immutable answers ---------------------------------------------------------
    def _read(self, scope, groups, endpoint):
        ledger = self.app.state.ledger
        query = scope["query_string"]
        if endpoint is proofs.block_inclusion:
            size = re.fullmatch(rb"(?:tree_size=([1-9][0-9]{0,18}))?", query)
            if size is None:
                return None
            height, tree_size = int(groups[0]), int(size.group(1)) if size.group(1) else None
            if height > _MAX_HEIGHT or (tree_size or 0) > _MAX_HEIGHT:
                return None
            # Without tree_size the answer is for the whole history tree, which grows: asked and kept for its size
            # now, in `call` (after the key check, inside the error handler), never while matching the route.
            kwargs, key = {"height": height, "tree_size": tree_size}, ("block proof", height, tree_size)
            cooperative_of = None
        elif query:
            return None
        elif endpoint is blocks.read_block:
            height = int(groups[0])
            if height > _MAX_HEIGHT:
                return None
            kwargs, key, cooperative_of = {"height": height}, ("block", height), None
        else:
            tx_hash = groups[0]
            kwargs, key = {"tx_hash": tx_hash}, (endpoint.__name__, tx_hash.lower())
            cooperative_of = lambda: ledger_reads.cooperative_of(ledger_reads.transaction(ledger, tx_hash).transaction)  # noqa: E731

        async def call(caller, scope, receive, send):
            arguments, kept = kwargs, key
            if kept[0] == "block proof" and kept[2] is None:
                size = ledger_reads.history_size(ledger)
                arguments, kept = {**kwargs, "tree_size": size}, (kept[0], kept[1], size)
            found = self.answers.get(kept)
            if found is not None and (found[0] is _ANY or may_see(caller, found[0])):
                return await _send_json(send, found[1])
            # The endpoint decides (and refuses what this caller may not see); its answer is kept.
            answer = await endpoint(ledger=ledger, caller=caller, **arguments)
            body = answer.model_dump_json(by_alias=True).encode()
            self.answers.put(kept, (_ANY if cooperative_of is None else cooperative_of(), body))
            await _send_json(send, body)

        return call

    # -- submitting ------------------------------------------------------------------------
    def _submit(self, scope, groups, endpoint):
        wait = _WAIT.get(scope["query_string"])
        if wait is None:
            return None

        async def call(caller, scope, receive, send):
            response = await endpoint(Request(scope, receive), caller, wait)
            await response(scope, receive, send)

        return call


def _api_key(scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            return value.decode("latin-1")
    return None


async def _send_json(send, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
