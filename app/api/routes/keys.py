"""API keys (admin only): make, list, read, revoke.  The key itself is shown once; only its hash is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from coopchain.app.api.deps import Allow, PageDep, StoreDep
from coopchain.app.api.errors import not_found
from coopchain.app.api.responses import documented
from coopchain.app.api.schemas import KeyCreate, KeyCreated, KeyPublic, KeysPublic
from coopchain.service.api_store import ApiKey

router = APIRouter(prefix="/keys", tags=["keys"])
Admin = Annotated[ApiKey, Depends(Allow("admin"))]
KeyId = Annotated[str, Path(min_length=1, max_length=64)]


def key_public(key: ApiKey) -> KeyPublic:
    return KeyPublic(id=key.id, role=key.role, cooperatives=list(key.cooperatives), label=key.label, created=key.created, revoked=key.revoked)


@router.post("", status_code=201, response_model=KeyCreated, responses=documented(KeyCreated, status=201))
def create_key(body: KeyCreate, store: StoreDep, caller: Admin) -> KeyCreated:
    """Make an API key for a role (a manager's names their cooperatives)."""
    made = store.create_key(body.role, tuple(body.cooperatives), body.label)
    return KeyCreated(key=key_public(made.key), token=made.token)


@router.get("", response_model=KeysPublic, responses=documented(KeysPublic))
def list_keys(store: StoreDep, caller: Admin, page: PageDep) -> KeysPublic:
    """Every key, oldest first (never a secret)."""
    keys, count = store.keys(*page)
    return KeysPublic(data=[key_public(k) for k in keys], count=count, offset=page[0], limit=page[1])


@router.get("/{key_id}", response_model=KeyPublic, responses=documented(KeyPublic, 404))
def read_key(key_id: KeyId, store: StoreDep, caller: Admin) -> KeyPublic:
    key = store.key(key_id)
    if key is None:
        raise not_found(f"key {key_id}")
    return key_public(key)


@router.post("/{key_id}/revoke", response_model=KeyPublic, responses=documented(KeyPublic, 404))
def revoke_key(key_id: KeyId, store: StoreDep, caller: Admin) -> KeyPublic:
    """Revoke a key: it authenticates nothing from now on."""
    key = store.revoke_key(key_id)
    if key is None:
        raise not_found(f"key {key_id}")
    return key_public(key)
