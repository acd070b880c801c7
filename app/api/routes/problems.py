"""Problems (SPEC §6): a JSON document or a CSV upload in, stored by content hash.

A manager stores and reads only the problems of their cooperatives; another
cooperative's problem is 404 as if it did not exist."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from coopchain.app.api.deps import Allow, PageDep, StoreDep, may_see, scope_of
from coopchain.app.api.errors import not_found
from coopchain.app.api.responses import documented
from coopchain.app.api.schemas import ProblemCreated, ProblemPublic, ProblemsPublic, ProblemSummary
from coopchain.service.api_store import ApiKey, StoredProblem
from coopchain.service.problems import LoadedProblem, problem_from_csv, problem_from_json

router = APIRouter(prefix="/problems", tags=["problems"])
Writer = Annotated[ApiKey, Depends(Allow("admin", "manager"))]
Reader = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor"))]

_SAMPLE = {"schema": "coopchain/problem/v1", "cooperative": "green-valley", "round": "2026-Q4",
           "indicators": {"profit": 0.5, "wages": 0.3, "tax": 0.2},
           "resources": {"water": {"cap": 5400, "weight": 0.5}, "energy": {"cap": 900, "weight": 0.5}},
           "demand": {"min": 300, "max": 520},
           "enterprises": [{"id": "e01", "name": "Li family farm", "min": 0, "max": 120, "benefit": {"profit": 41.0, "wages": 12.5, "tax": 3.0},
                            "use": {"water": 9.5, "energy": 1.2}, "cap": {"water": 1000, "energy": 140}, "u0": 0.12, "g": 0.004}]}


def summary(p: StoredProblem) -> dict:
    return {"hash": p.hash, "cooperative": p.cooperative, "round": p.round, "created": p.created, "url": f"/problems/{p.hash}"}


def _store(store, caller: ApiKey, loaded: LoadedProblem) -> ProblemCreated:
    if not may_see(caller, loaded.cooperative):
        raise not_found(f"cooperative {loaded.cooperative!r} among yours")
    stored = store.put_problem(loaded.hash, loaded.cooperative, loaded.round, loaded.canonical)
    return ProblemCreated(**summary(stored), notices=list(loaded.notices))


@router.post("", status_code=201, response_model=ProblemCreated, responses=documented(ProblemCreated, 404, 413, status=201),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "description": "a problem document, coopchain/problem/v1 (docs/problem-format.md)"}, "example": _SAMPLE}}}})
async def create_problem(request: Request, store: StoreDep, caller: Writer) -> ProblemCreated:
    """Store a problem document (JSON); its identity is the SHA-256 of its canonical form. Storing it again changes nothing."""
    body = await request.body()
    loaded = await run_in_threadpool(problem_from_json, body)
    return await run_in_threadpool(_store, store, caller, loaded)


@router.post("/csv", status_code=201, response_model=ProblemCreated, responses=documented(ProblemCreated, 404, 413, status=201))
async def upload_problem_csv(store: StoreDep, caller: Writer,
                             table: Annotated[UploadFile, File(description="the enterprise table: one row per enterprise, columns id, min, max, u0, g, benefit.<k>, use.<r>, cap.<r>, …")],
                             header: Annotated[str, Form(description="the cooperative-level fields as JSON (schema, cooperative, round, indicators, resources, demand)")]) -> ProblemCreated:
    """Store a problem from a CSV upload (multipart: `table` and `header`)."""
    data = await table.read()
    loaded = await run_in_threadpool(problem_from_csv, data, header)
    return await run_in_threadpool(_store, store, caller, loaded)


@router.get("", response_model=ProblemsPublic, responses=documented(ProblemsPublic))
def list_problems(store: StoreDep, caller: Reader, page: PageDep) -> ProblemsPublic:
    """The problems stored here, newest first (a manager sees their cooperatives' only)."""
    items, count = store.problems(scope_of(caller), *page)
    return ProblemsPublic(data=[ProblemSummary(**summary(p)) for p in items], count=count, offset=page[0], limit=page[1])


def visible_problem(store, caller: ApiKey, digest: str) -> StoredProblem:
    stored = store.problem(digest.lower()) if len(digest) == 64 else None
    if stored is None or not may_see(caller, stored.cooperative):
        raise not_found(f"problem {digest}")
    return stored


@router.get("/{digest}", response_model=ProblemPublic, responses=documented(ProblemPublic, 404))
def read_problem(digest: str, store: StoreDep, caller: Reader) -> ProblemPublic:
    """One problem by content hash, with its canonical document."""
    stored = visible_problem(store, caller, digest)
    return ProblemPublic(**summary(stored), document=json.loads(stored.canonical))
