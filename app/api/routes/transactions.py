"""Transactions (read): one by hash, where it is.  A manager reads only their cooperatives' (others: 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from coopchain.app.api.deps import Allow, LedgerDep, may_see
from coopchain.app.api.errors import not_found
from coopchain.app.api.responses import documented
from coopchain.app.api.routes.blocks import tx_public
from coopchain.app.api.schemas import TransactionPublic
from coopchain.service import ledger_reads
from coopchain.service.api_store import ApiKey

router = APIRouter(prefix="/transactions", tags=["transactions"])
Reader = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor"))]
TxHash = Annotated[str, Path(min_length=64, max_length=64, pattern="^[0-9a-fA-F]{64}$", description="SHA-256 of the canonical transaction, hex")]


def visible_transaction(ledger, caller: ApiKey, tx_hash: str) -> ledger_reads.TransactionView:
    try:
        view = ledger_reads.transaction(ledger, tx_hash)
    except ledger_reads.NotFound:
        raise not_found(f"transaction {tx_hash}") from None
    if not may_see(caller, ledger_reads.cooperative_of(view.transaction)):
        raise not_found(f"transaction {tx_hash}")
    return view


@router.get("/{tx_hash}", response_model=TransactionPublic, responses=documented(TransactionPublic, 404))
async def read_transaction(tx_hash: TxHash, ledger: LedgerDep, caller: Reader) -> TransactionPublic:
    """One transaction, its block height and position."""
    return tx_public(visible_transaction(ledger, caller, tx_hash))
