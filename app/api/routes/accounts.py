"""Accounts: what the chain's state says of a public key, above all the nonce its next transaction carries.

A client that signs its own transactions (`coopchain commit --api`, an httpx script, the web
page) reads its next nonce here instead of counting.  A manager's API key sees the key's roles
among its own cooperatives only (another cooperative is never named)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from coopchain.app.api.deps import Allow, LedgerDep, scope_of
from coopchain.app.api.errors import ApiError
from coopchain.app.api.responses import documented
from coopchain.app.api.schemas import AccountPublic
from coopchain.chain.errors import InvalidTransaction
from coopchain.service import cooperatives
from coopchain.service.api_store import ApiKey

router = APIRouter(prefix="/accounts", tags=["accounts"])
AnyRole = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor", "participant"))]
PublicKeyText = Annotated[str, Path(min_length=1, max_length=300, description="a public key text: ed25519:<64 hex> or p256:<hex>",
                                    examples=["ed25519:" + "cd" * 32])]


@router.get("/{public_key}", response_model=AccountPublic, responses=documented(AccountPublic))
def read_account(public_key: PublicKeyText, ledger: LedgerDep, caller: AnyRole) -> AccountPublic:
    """A key's next nonce and its roles on the chain (admin, the cooperatives it manages or endorses for), at the head."""
    try:
        height = ledger.height()
        view = cooperatives.account(ledger, public_key, scope_of(caller))
    except InvalidTransaction as e:
        raise ApiError(422, "invalid-request", str(e), [{"path": "path.public_key", "detail": str(e)}]) from None
    return AccountPublic(public_key=view.public_key, next_nonce=view.next_nonce, height=height, admin=view.admin,
                         manages=list(view.manages), endorses=list(view.endorses))
