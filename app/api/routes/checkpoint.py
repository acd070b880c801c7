"""GET /checkpoint: the node's latest cosigned checkpoint, as the node signed it and its witnesses
cosigned it (C2SP signed note, text/plain; docs/trust.md).  No key needed: a checkpoint is public,
that is what lets everyone compare the history they were shown.

This worker holds no node key and signs nothing: it serves the note `coopchain chain
publish-checkpoint` stored, after checking it against the node's key and the ledger's tree."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from coopchain.app.api.deps import LedgerDep, public
from coopchain.app.api.responses import documented
from coopchain.service.checkpoints import NoCheckpoint, published
from coopchain.service.ledger_reads import NotFound

router = APIRouter(prefix="/checkpoint", tags=["checkpoint"])
TEXT = "text/plain; charset=utf-8"
_EXAMPLE = ("coopchain/coopchain-demo/cdc789b31cb242ec033201c3e070c5858e57cdb3755cd7a67dd703e5d8a31859\n5\n"
            "UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFw=\n\n"
            "\u2014 coopchain/coopchain-demo/cdc789b31cb242ec033201c3e070c5858e57cdb3755cd7a67dd703e5d8a31859 "
            "urfF7WSB6tc0oO68i2oIL+8PxERVqfDo3tLwPnMGl/RS8MpdH6kKmBLRIyTPQ0BGGgVH0FwgbClYMpgLjS5ee8F9qQc=\n"
            "\u2014 auditor.example/w1 KgnoJQAAAABrD4s2nS4kSdbKXK/V8RhJOQ4ETPiOqfSLF4S8yJu3Ct8GVacXu5jCEJvgP9UlrJv+dg8cYVSfuVruCHH9MSyGe6XDBQ==\n")


@router.get("", response_class=Response, dependencies=[public()],
            responses={**documented(None, 404, public=True), 200: {"content": {TEXT: {"example": _EXAMPLE}}, "description": "the cosigned checkpoint"}})
async def read_checkpoint(ledger: LedgerDep, request: Request) -> Response:
    """The latest checkpoint the node published with its witnesses' cosignatures (404 before the first)."""
    try:
        found = await run_in_threadpool(published, ledger, request.app.state.checkpoints)
    except NoCheckpoint as e:
        raise NotFound(str(e)) from e
    return Response(found.note, media_type=TEXT, headers={"Cache-Control": "no-cache"})
