"""Blocks: headers by height, newest first; a block's transactions and receipts (admin and auditor: they span cooperatives)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from coopchain.app.api.deps import Allow, LedgerDep, PageDep
from coopchain.app.api.responses import documented
from coopchain.app.api.schemas import BlockPublic, BlocksPublic, ReceiptPublic, ReceiptsPublic, TransactionPublic, TransactionsPublic
from coopchain.service import ledger_reads
from coopchain.service.api_store import ApiKey

router = APIRouter(prefix="/blocks", tags=["blocks"])
AnyRole = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor", "participant"))]
WholeChain = Annotated[ApiKey, Depends(Allow("admin", "auditor"))]
Height = Annotated[int, Path(ge=0, le=2**62, description="block height (0 = genesis)")]


def block_public(view: ledger_reads.BlockView) -> BlockPublic:
    return BlockPublic(height=view.height, hash=view.hash, header=view.header)


@router.get("", response_model=BlocksPublic, responses=documented(BlocksPublic))
async def list_blocks(ledger: LedgerDep, caller: AnyRole, page: PageDep) -> BlocksPublic:
    """Block headers, newest first."""
    result = ledger_reads.blocks(ledger, *page)
    return BlocksPublic(data=[block_public(b) for b in result.items], count=result.count, offset=result.offset, limit=result.limit)


@router.get("/head", response_model=BlockPublic, responses=documented(BlockPublic))
async def head(ledger: LedgerDep, caller: AnyRole) -> BlockPublic:
    """The head block."""
    return block_public(ledger_reads.block(ledger, ledger_reads.head_height(ledger)))


@router.get("/{height}", response_model=BlockPublic, responses=documented(BlockPublic, 404))
async def read_block(height: Height, ledger: LedgerDep, caller: AnyRole) -> BlockPublic:
    """One block header by height."""
    return block_public(ledger_reads.block(ledger, height))


def tx_public(view: ledger_reads.TransactionView) -> TransactionPublic:
    return TransactionPublic(hash=view.hash, height=view.height, position=view.position, transaction=view.transaction)


@router.get("/{height}/transactions", response_model=TransactionsPublic, responses=documented(TransactionsPublic, 404))
async def block_transactions(height: Height, ledger: LedgerDep, caller: WholeChain, page: PageDep) -> TransactionsPublic:
    """A block's transactions in block order."""
    result = ledger_reads.block_transactions(ledger, height, *page)
    return TransactionsPublic(data=[tx_public(t) for t in result.items], count=result.count, offset=result.offset, limit=result.limit)


@router.get("/{height}/receipts", response_model=ReceiptsPublic, responses=documented(ReceiptsPublic, 404))
def block_receipts(height: Height, ledger: LedgerDep, caller: WholeChain, page: PageDep) -> ReceiptsPublic:
    """A block's receipts in block order: each transaction applied, or rejected with its condition's code."""
    result = ledger_reads.block_receipts(ledger, height, *page)
    return ReceiptsPublic(data=[ReceiptPublic(hash=r.hash, height=r.height, position=r.position, receipt=r.receipt) for r in result.items],
                          count=result.count, offset=result.offset, limit=result.limit)
