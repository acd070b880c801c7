"""One entry point for single-objective optima (SPEC §6 `coopchain solve --objective`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dataclasses import replace

from threadpoolctl import threadpool_limits

from coopchain.models.certificate import Instance
from coopchain.models.coordination import Progress, maximise_coordination
from coopchain.models.feasibility import NoFeasibleAllocation
from coopchain.models.linear import solve_linear
from coopchain.models.solution import Solution

if TYPE_CHECKING:
    from coopchain.models.problem import Problem

OBJECTIVES = ("F1", "F2", "F3")


@dataclass(frozen=True, eq=False)
class Prepared:
    """A problem ready to solve: its canonical text (what certificates embed) and its arrays."""

    canonical: str
    instance: Instance


def prepare(problem: Problem) -> Prepared:
    from coopchain.models.problem import canonical_json, to_instance  # pydantic's import is paid only by its callers

    canonical = canonical_json(problem)
    return Prepared(canonical, to_instance(problem))


def solve(problem: Problem | Prepared, objective: str, *, backend: str = "highs", progress: Progress | None = None) -> Solution:
    """Optimise one objective: max F1, max F2 (certified global optimum) or min F3.

    `backend` picks how the LPs of F1 and F3 reach HiGHS: "highs" (arrays, fast) or
    "pyomo" (the formulation of record).  max F2 always uses the Lagrangian method.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
    start = time.perf_counter()
    prepared = problem if isinstance(problem, Prepared) else prepare(problem)
    prepare_time = time.perf_counter() - start
    # The solvers multiply matrices of R + 3 rows by n-vectors thousands of times.
    # OpenBLAS spreads each over its threads and, on 2 busy cores, waits for them:
    # 8 ms per product at n = 100,000 against 0.1 ms on one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        solution = _solve(prepared, objective, backend, progress)
    solution.timings["prepare"] = prepare_time
    return solution


def _solve(prepared: Prepared, objective: str, backend: str, progress: Progress | None) -> Solution:
    if objective == "F2":
        try:
            solution = maximise_coordination(prepared.instance, prepared.canonical, progress)
        except NoFeasibleAllocation as e:
            # The LP path reports infeasibility with HiGHS's own proof of it.
            solution = replace(solve_linear(prepared.instance, prepared.canonical, "F3", backend), objective="F2")
            if solution.success:  # feasible, but no allocation of ours met every row exactly: say so, no traceback
                return Solution(objective="F2", status="failed",
                                message=f"Not certified: the data are feasible, but no allocation could be made to meet every constraint exactly ({e}).")
        return solution
    return solve_linear(prepared.instance, prepared.canonical, objective, backend)
