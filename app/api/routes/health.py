"""GET /health: the chain this server serves and its head; no key needed."""

from __future__ import annotations

from fastapi import APIRouter

from coopchain.app.api.deps import LedgerDep, public
from coopchain.app.api.responses import documented
from coopchain.app.api.schemas import Health
from coopchain.service import ledger_reads

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", response_model=Health, dependencies=[public()], responses=documented(Health, public=True))
async def health(ledger: LedgerDep) -> Health:
    """The server is up; its chain id and head."""
    head = ledger_reads.block(ledger, ledger_reads.head_height(ledger))
    return Health(status="ok", chain_id=ledger.config.chain_id, height=head.height, head=head.hash)
