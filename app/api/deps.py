"""The API's dependencies as `Annotated` aliases, so routes read as typed parameters.

`SettingsDep`, `LedgerDep` (this worker's read-only Ledger), `StoreDep` (the side
tables: keys, problems, jobs), the caller (the authenticated API key, found by the role rule), and
`allow(*roles)`: the role rule every route declares.  The rule is a dependency
object carrying its roles, so the role × route test reads each route's rule from
the application itself.

The dependencies are coroutines: each is microseconds of work (a key lookup is one
indexed SELECT on the side table, none while the worker's key cache holds it), and a
synchronous dependency would cost a thread hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader

from coopchain.app.api.config import Settings
from coopchain.app.api.errors import ApiError
from coopchain.chain.ledger import Ledger
from coopchain.service.api_store import ROLES, ApiKey, ApiStore

PUBLIC = "public"
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key made with `coopchain keys api new` or POST /keys")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


async def get_store(request: Request) -> ApiStore:
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_settings)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
StoreDep = Annotated[ApiStore, Depends(get_store)]


def authenticate(store: ApiStore, token: str | None) -> ApiKey:
    if not token:
        detail = "this route needs an API key in the X-API-Key header"
        raise ApiError(401, "unauthenticated", detail, [{"path": "header.X-API-Key", "detail": "missing"}], headers={"WWW-Authenticate": "ApiKey"})
    key = store.authenticate(token)
    if key is None:
        detail = "the API key is unknown or revoked"
        raise ApiError(401, "unauthenticated", detail, [{"path": "header.X-API-Key", "detail": detail}], headers={"WWW-Authenticate": "ApiKey"})
    return key


class Allow:
    """The roles that may call a route; any other role gets 403 (a missing key 401)."""

    def __init__(self, *roles: str) -> None:
        assert all(r in ROLES or r == PUBLIC for r in roles), roles
        self.roles = frozenset(roles)

    # One dependency level for key and role: FastAPI's dependency resolution is a good part of
    # a read's cost, so the store comes from the app state here rather than through StoreDep.
    async def __call__(self, request: Request, token: Annotated[str | None, Depends(_api_key)]) -> ApiKey:
        return self.check(request.app.state.store, token)

    def check(self, store: ApiStore, token: str | None) -> ApiKey:
        """The caller, or ApiError 401 (no key, unknown, revoked) or 403 (another role); app.api.fast calls it too."""
        caller = authenticate(store, token)
        if caller.role not in self.roles:
            raise ApiError(403, "forbidden", f"{'an' if caller.role[0] in 'aeiou' else 'a'} {caller.role}'s key may not use this route (allowed: {', '.join(sorted(self.roles))})")
        return caller


def allow(*roles: str):
    """`dependencies=[allow("admin", "auditor")]` on a route."""
    return Depends(Allow(*roles))


def public():
    """The rule of a route that needs no key (health, the OpenAPI document)."""
    return Depends(_Public())


class _Public:
    roles = frozenset({PUBLIC})

    async def __call__(self) -> None:
        return None


def scope_of(caller: ApiKey) -> tuple[str, ...] | None:
    """The cooperatives a caller may see: a manager's own, None (all) for the others."""
    return caller.cooperatives if caller.role == "manager" else None


def may_see(caller: ApiKey, cooperative: str | None) -> bool:
    scope = scope_of(caller)
    return scope is None or (cooperative is not None and cooperative in scope)


async def _page(settings: SettingsDep, offset: Annotated[int, Query(ge=0, le=10**9, description="items to skip")] = 0,
          limit: Annotated[int, Query(ge=1, le=500, description="items in this page (at most 500)")] = 50) -> tuple[int, int]:
    return offset, min(limit, settings.page_limit)


PageDep = Annotated[tuple[int, int], Depends(_page)]
