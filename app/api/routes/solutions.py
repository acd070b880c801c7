"""Solutions: optimise a stored problem (one objective or a scalarisation) and return the certified result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from coopchain.app.api.deps import Allow, StoreDep
from coopchain.app.api.responses import documented
from coopchain.app.api.routes.problems import visible_problem
from coopchain.app.api.schemas import SolutionPublic, SolveCreate
from coopchain.service.api_store import ApiKey
from coopchain.service.problems import problem_from_canonical
from coopchain.service.solving import SolveRequest, solve_problem

router = APIRouter(prefix="/problems", tags=["solutions"])
Solver = Annotated[ApiKey, Depends(Allow("admin", "manager"))]


def _solve(canonical: str, digest: str, body: SolveCreate) -> SolutionPublic:
    request = SolveRequest(body.objective, body.method, body.weights, body.limits, tuple(body.order), body.reference, body.backend)
    solution = solve_problem(problem_from_canonical(canonical), request)
    return SolutionPublic(**solution.as_json(), problem=digest)


@router.post("/{digest}/solutions", response_model=SolutionPublic, responses=documented(SolutionPublic, 404))
async def solve(digest: str, body: SolveCreate, store: StoreDep, caller: Solver) -> SolutionPublic:
    """Solve: `{"objective": "F2"}` for one optimum, or a `method` of scalarisation. Infeasible data is a result
    (status infeasible, the conflicting constraints by name), not an error."""
    stored = await run_in_threadpool(visible_problem, store, caller, digest)
    return await run_in_threadpool(_solve, stored.canonical, stored.hash, body)
