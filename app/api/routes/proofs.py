"""Proofs in RFC 9162 shapes (hex): a transaction in its block, a block in the history, consistency
between two heads, a state key in the trie.  Errors carry RFC 9162's types (firstUnknown, …)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from coopchain.app.api.deps import Allow, LedgerDep, may_see, scope_of
from coopchain.app.api.errors import ApiError, not_found
from coopchain.app.api.responses import documented
from coopchain.app.api.routes.transactions import TxHash, visible_transaction
from coopchain.app.api.schemas import ConsistencyProofPublic, InclusionProofPublic, StateProofPublic
from coopchain.service import ledger_reads
from coopchain.service.api_store import ApiKey

router = APIRouter(prefix="/proofs", tags=["proofs"])
AnyRole = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor", "participant"))]
Reader = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor"))]
Size = Annotated[int, Query(ge=0, le=2**62)]


@router.get("/transactions/{tx_hash}", response_model=InclusionProofPublic, responses=documented(InclusionProofPublic, 400, 404))
async def transaction_inclusion(tx_hash: TxHash, ledger: LedgerDep, caller: Reader) -> InclusionProofPublic:
    """Inclusion of a transaction in its block's transaction tree (leaf = SHA-256(0x00 ‖ canonical transaction))."""
    try:
        visible_transaction(ledger, caller, tx_hash)
    except ApiError:  # absent or not yours: one answer, RFC 9162's
        raise ledger_reads.ProofRequestError("hashUnknown", "hash", f"no transaction {tx_hash} in this log") from None
    height, block, proof = ledger_reads.transaction_proof(ledger, tx_hash)
    return InclusionProofPublic(**proof, height=height, block=block)


@router.get("/blocks/{height}", response_model=InclusionProofPublic, responses=documented(InclusionProofPublic, 400, 404))
async def block_inclusion(height: Annotated[int, Path(ge=0, le=2**62)], ledger: LedgerDep, caller: AnyRole,
                    tree_size: Annotated[int | None, Query(ge=0, le=2**62, description="blocks in the history tree (default: all, head included)")] = None) -> InclusionProofPublic:
    """Inclusion of block `height`'s hash in the history tree of `tree_size` blocks."""
    return InclusionProofPublic(**ledger_reads.block_proof(ledger, height, tree_size))


@router.get("/consistency", response_model=ConsistencyProofPublic, responses=documented(ConsistencyProofPublic, 400))
async def consistency(first: Size, second: Size, ledger: LedgerDep, caller: AnyRole) -> ConsistencyProofPublic:
    """The history tree of `second` blocks extends that of `first` (RFC 9162 §2.1.4): an auditor's old head is still in the chain."""
    return ConsistencyProofPublic(**ledger_reads.consistency_proof(ledger, first, second))


@router.get("/state", response_model=StateProofPublic, responses=documented(StateProofPublic, 400, 404))
async def state(key: Annotated[str, Query(min_length=1, max_length=1024, description="a state key, e.g. record:allocation/green-valley/2026-Q4")],
          ledger: LedgerDep, caller: Reader, height: Annotated[int | None, Query(ge=0, le=2**62)] = None) -> StateProofPublic:
    """The trie nodes (RLP, root to leaf) proving a state key's value, or its absence, at a height (default: the head)."""
    if scope_of(caller) is not None and not may_see(caller, ledger_reads.state_key_cooperative(ledger, key, height)):
        raise not_found(f"state key {key}")
    at, root, nodes = ledger_reads.state_proof(ledger, key, height)
    return StateProofPublic(key=key, height=at, state_root=root, nodes=nodes)
