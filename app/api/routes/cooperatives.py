"""Cooperatives as the chain's state holds them: managers and endorsement policy (SPEC §4, §6).

Cooperatives are created and changed by signed `cooperatives.*` transactions (POST /transactions,
`coopchain cooperative …`); these routes read.  A manager sees its own cooperatives only:
another's is 404, exactly as one that does not exist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from coopchain.app.api.deps import Allow, LedgerDep, PageDep, may_see, scope_of
from coopchain.app.api.errors import not_found
from coopchain.app.api.responses import documented
from coopchain.app.api.schemas import CooperativePublic, CooperativesPublic
from coopchain.service import cooperatives
from coopchain.service.api_store import ApiKey

router = APIRouter(prefix="/cooperatives", tags=["cooperatives"])
Reader = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor"))]
CooperativeId = Annotated[str, Path(min_length=1, max_length=200, description="the cooperative's id", examples=["green-valley"])]


def cooperative_public(view: cooperatives.CooperativeView) -> CooperativePublic:
    return CooperativePublic(id=view.id, managers=list(view.managers), members=list(view.members), k=view.k, registered=view.registered)


@router.get("", response_model=CooperativesPublic, responses=documented(CooperativesPublic))
def list_cooperatives(ledger: LedgerDep, caller: Reader, page: PageDep) -> CooperativesPublic:
    """Registered cooperatives, in the order they were registered (a manager sees its own only)."""
    scope = scope_of(caller)
    ids = [c for c in cooperatives.cooperative_ids(ledger) if scope is None or c in scope]
    offset, limit = page
    views = [cooperatives.cooperative(ledger, c) for c in ids[offset : offset + limit]]
    return CooperativesPublic(data=[cooperative_public(v) for v in views if v is not None], count=len(ids), offset=offset, limit=limit)


@router.get("/{cooperative_id}", response_model=CooperativePublic, responses=documented(CooperativePublic, 404))
def read_cooperative(cooperative_id: CooperativeId, ledger: LedgerDep, caller: Reader) -> CooperativePublic:
    """One cooperative: its managers, its members and how many of them endorse each allocation."""
    view = cooperatives.cooperative(ledger, cooperative_id) if may_see(caller, cooperative_id) else None
    if view is None:
        raise not_found(f"cooperative {cooperative_id!r}")
    return cooperative_public(view)
