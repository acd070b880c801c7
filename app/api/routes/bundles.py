"""Audit bundles: everything an auditor needs to check a committed record offline (`coopchain verify`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from coopchain.app.api.deps import Allow, LedgerDep
from coopchain.app.api.responses import documented
from coopchain.app.api.routes.transactions import TxHash, visible_transaction
from coopchain.app.api.schemas import BundlePublic
from coopchain.service import ledger_reads
from coopchain.service.api_store import ApiKey

router = APIRouter(prefix="/bundles", tags=["bundles"])
Reader = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor"))]


@router.get("/{tx_hash}", response_model=BundlePublic, responses=documented(BundlePublic, 400, 404))
def read_bundle(tx_hash: TxHash, ledger: LedgerDep, caller: Reader, request: Request,
                since: Annotated[int | None, Query(ge=0, le=2**62, description="height of an earlier head you hold: adds a consistency proof")] = None) -> BundlePublic:
    """The audit bundle of a transaction, with the latest published checkpoint that covers it (its head is then
    the checkpoint's last block; `coopchain verify BUNDLE --policy FILE`), else against the current head."""
    visible_transaction(ledger, caller, tx_hash)
    return BundlePublic(**ledger_reads.bundle(ledger, tx_hash, since, request.app.state.checkpoints))
