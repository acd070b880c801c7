"""Solving as a use case (SPEC §6 `coopchain solve`, `POST /problems/{hash}/solutions`).

One request type says what to optimise: a single objective (max F1, max F2, min
F3) or a scalarisation of the three (weighted sum, ε-constraint, lexicographic,
augmented Chebyshev).  The command line builds it from options, the API from a
JSON body; both get the same `Solution` (models.solution) or the same
`SolveRequestError` saying which part of the request is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


OBJECTIVES = ("F1", "F2", "F3")
METHODS = ("weighted", "epsilon", "lexicographic", "chebyshev")
BACKENDS = ("highs", "pyomo")

Progress = Callable[[float, str], None]


class SolveRequestError(ValueError):
    """A request that names no objective, an unknown method, or arguments the method cannot use.

    `field` is the request field at fault ("objective", "limits", ...), for an API error's path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SolveRequest:
    """What to optimise.  `objective` alone: one objective.  `method`: a scalarisation, with its arguments."""

    objective: str | None = None
    method: str | None = None
    weights: Mapping[str, float] = field(default_factory=dict)  # weighted, chebyshev
    limits: Mapping[str, float] = field(default_factory=dict)  # epsilon: F1/F2 at least, F3 at most
    order: tuple[str, ...] = ()  # lexicographic
    reference: Mapping[str, float] = field(default_factory=dict)  # chebyshev (default: the ideal point)
    backend: str = "highs"


def check_request(request: SolveRequest) -> None:
    """Refuse a request that cannot run, before any solving."""
    if request.method is None and request.objective is None:
        raise SolveRequestError("objective", "say what to optimise: an objective (F1, F2 or F3), or a method of scalarisation")
    if request.objective is not None and request.objective not in OBJECTIVES:
        raise SolveRequestError("objective", f"unknown objective {request.objective!r}: choose F1, F2 or F3")
    if request.method is not None and request.method not in METHODS:
        raise SolveRequestError("method", f"unknown method {request.method!r}: choose one of {', '.join(METHODS)}")
    if request.backend not in BACKENDS:
        raise SolveRequestError("backend", f"unknown backend {request.backend!r}: choose highs or pyomo")
    if request.method == "epsilon" and request.objective is None:
        raise SolveRequestError("objective", "the epsilon method needs an objective (what to optimise) and limits (the others)")
    if request.method == "lexicographic" and not request.order:
        raise SolveRequestError("order", "the lexicographic method needs an order, e.g. F1, F3, F2")
    for name, given in (("weights", request.weights), ("limits", request.limits), ("reference", request.reference)):
        unknown = sorted(set(given) - set(OBJECTIVES))
        if unknown:
            raise SolveRequestError(name, f"{name} names {', '.join(map(repr, unknown))}: only F1, F2 and F3 exist")


def solve_problem(problem, request: SolveRequest, progress: Progress | None = None):
    """The `Solution` of `request` on `problem` (a models Problem, a Prepared one, or a LoadedProblem).

    Raises SolveRequestError for a request that cannot run; an infeasible problem is
    not an error but a Solution with status "infeasible" and its conflicts."""
    from coopchain.models.scalarise import ScalarisationError
    from coopchain.models.solve import Prepared, prepare, solve

    check_request(request)
    prepared = _prepared(problem, prepare, Prepared)
    try:
        if request.method is None:
            return solve(prepared, request.objective, backend=request.backend, progress=progress)
        return _scalarised(prepared, request)
    except ScalarisationError as e:
        raise SolveRequestError(request.method or "objective", str(e)) from e


def _prepared(problem, prepare, prepared_type):
    if isinstance(problem, prepared_type):
        return problem
    from coopchain.models.problem import Problem  # not on the command line's path: its problem comes prepared

    if isinstance(problem, Problem):
        return prepare(problem)
    inner = problem.problem  # a service.problems.LoadedProblem
    if isinstance(inner, Problem):
        return prepare(inner)
    return prepared_type(problem.canonical, inner.instance)  # read by columns: its canonical text and instance are made


def _scalarised(prepared, request: SolveRequest):
    from coopchain.models import scalarise

    inst, canonical = prepared.instance, prepared.canonical
    if request.method == "weighted":
        return scalarise.weighted_sum(inst, canonical, dict(request.weights) or None)
    if request.method == "epsilon":
        return scalarise.epsilon_constraint(inst, canonical, request.objective, dict(request.limits))
    if request.method == "lexicographic":
        return scalarise.lexicographic(inst, canonical, list(request.order))
    return scalarise.chebyshev(inst, canonical, dict(request.weights) or None, dict(request.reference) or None)
