"""Evolutionary Pareto fronts with pymoo's NSGA-II and NSGA-III (SPEC §1 "the Pareto front", issue 4).

What, how and when are separate, as in pymoo: `AllocationProblem` is the
problem (W in the enterprises' box, objectives negated where maximised, the
coupling rows as inequality constraints), `CouplingRepair` moves each new
individual onto the feasible set, `Budget` is the termination (generations
and/or wall time, with progress in [0, 1]), and `evolutionary_front` composes
them with pymoo's algorithm and returns a `models.front.Front`.

Feasibility.  Per-enterprise limits are a box (`enterprise_box`); only the
cooperative caps and the demand window couple enterprises (`coupling_rows`).
The box handed to pymoo is tightened by what the coupling rows imply for one
enterprise alone (every other one at its own lower, or upper, limit), which
changes no feasible allocation.  The repair is vectorised over the population:

1. the caps and the demand maximum grow with every W_j, so an individual that
   breaks any of them is scaled towards the box's lower corner just far enough;
2. the demand minimum shrinks with W, so one short of it is moved towards the
   upper corner just far enough;
3. when step 2 broke a cap again, the individual is moved along the segment to
   an interior anchor allocation (found once by a small LP that maximises the
   smallest slack of the coupling rows) just far enough for all rows at once —
   a segment to a point that meets every row meets them all near it.

Each step aims at the limits tightened by `_MARGIN` so that floating point
cannot undo it; what is still broken (only when the data admit no interior
point) is counted as constraint violation, which NSGA ranks below every
feasible individual.  The final points are repaired exactly
(`models.feasibility.make_feasible`) and evaluated by `models.certificate.evaluate`.

Reproducible: the seed goes to pymoo (np.random.default_rng inside), so the
same seed, data and generation budget give the same front.  A `time_limit`
makes the number of generations depend on the machine, and with it the front.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import highspy
import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.algorithms.moo.nsga3 import NSGA3
from pymoo.core.callback import Callback
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.core.termination import Termination
from pymoo.optimize import minimize
from pymoo.util.ref_dirs import get_reference_directions
from threadpoolctl import threadpool_limits

from coopchain.models.certificate import Instance, coupling_rows, enterprise_box, evaluate
from coopchain.models.coordination import Progress
from coopchain.models.feasibility import make_feasible
from coopchain.models.formulation import new_highs
from coopchain.models.front import OBJECTIVE_SENSE, Front, FrontPoint
from coopchain.models.front_metrics import nondominated
from coopchain.models.solve import Prepared

METHODS = {"nsga2": "NSGA-II", "nsga3": "NSGA-III"}
DEFAULT_GENERATIONS = 200

# The repair aims this far (relative to max(1, |h|)) inside each coupling row, so
# that the rounding of a product cannot carry a repaired individual back out.
_MARGIN = 1e-10


class EvolutionaryError(ValueError):
    """The arguments of a front run are not usable (unknown objective or method, too few points)."""


# --- the search space ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SearchSpace:
    """The box pymoo samples from and the coupling rows the repair meets.

    Rows of G W <= h in the order of `coupling_rows`: caps and demand maximum
    first (coefficients >= 0, "upper" rows), the demand minimum last.
    """

    lo: np.ndarray
    hi: np.ndarray
    G: np.ndarray
    h: np.ndarray
    target: np.ndarray  # h tightened by the margin: what the repair aims at
    anchor: np.ndarray | None  # an allocation meeting every row, strictly where possible


def search_space(inst: Instance) -> SearchSpace:
    """The tightened box, the coupling rows and an interior anchor of an instance.

    Raises EvolutionaryError when the box is empty (the data are infeasible);
    `anchor` is None when no allocation meets the coupling rows.
    """
    lo, hi = (np.array(a, dtype=float) for a in enterprise_box(inst))
    _, G, h = coupling_rows(inst)
    upper, hu = G[:-1], h[:-1]
    # One enterprise alone: every upper row holds with the others at their lower limits.
    room = hu - upper @ lo
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = np.where(upper > 0, lo + room[:, None] / upper, math.inf)
    hi = np.minimum(hi, reach.min(axis=0))
    # And the demand minimum with the others at their upper limits.
    lo = np.maximum(lo, inst.demand_min - (hi.sum() - hi))
    if np.any(lo > hi) or not np.all(np.isfinite(hi)):
        raise EvolutionaryError("the enterprises' limits and the coupling rows leave no allocation to search")
    target = h - _MARGIN * np.maximum(1.0, np.abs(h))
    return SearchSpace(lo, hi, np.array(G), np.array(h), target, _interior_anchor(lo, hi, G, h))


def _interior_anchor(lo: np.ndarray, hi: np.ndarray, G: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """max s s.t. G_i W + s·max(1, |h_i|) <= h_i, lo <= W <= hi, s <= 1: the point deepest inside the rows."""
    n, m = G.shape[1], len(h)
    scale = np.maximum(1.0, np.abs(h))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n + 1, m
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.append(np.zeros(n), 1.0)
    lp.col_lower_ = np.append(lo, -np.inf)
    lp.col_upper_ = np.append(hi, 1.0)
    lp.row_lower_ = np.full(m, -np.inf)
    lp.row_upper_ = h
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n + 1, m
    lp.a_matrix_.start_ = np.arange(m + 1, dtype=np.int32) * (n + 1)
    lp.a_matrix_.index_ = np.tile(np.arange(n + 1, dtype=np.int32), m)
    lp.a_matrix_.value_ = np.hstack([G, scale[:, None]]).ravel()
    highs = new_highs()
    highs.passModel(lp)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.array(highs.getSolution().col_value)
    if x[-1] < 0:
        return None  # no allocation meets every row
    W = np.clip(x[:-1], lo, hi)
    return W if np.all(G @ W <= h) else None


def repair_population(space: SearchSpace, X: np.ndarray) -> np.ndarray:
    """Each row of X (one individual per row) moved onto the coupling rows; see the module docstring."""
    lo, hi, G, target = space.lo, space.hi, space.G, space.target
    X = np.clip(np.asarray(X, dtype=float), lo, hi)
    upper, hu = G[:-1], target[:-1]
    demand_min = -target[-1]

    # 1. Caps and demand maximum: scale towards lo.  Along W = lo + t (X − lo) each
    #    upper row grows linearly from its value at lo (which meets it) to its value at X.
    at_lo = upper @ lo
    A = X @ upper.T
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(A > hu, (hu - at_lo) / (A - at_lo), math.inf)
    t = np.clip(ratio.min(axis=1), 0.0, 1.0)
    X = lo + t[:, None] * (X - lo)

    # 2. Demand minimum: move towards hi.
    total, top = X.sum(axis=1), hi.sum()
    short = total < demand_min
    if short.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = np.clip((demand_min - total[short]) / (top - total[short]), 0.0, 1.0)
        X[short] += tau[:, None] * (hi - X[short])

    # 3. Whatever still breaks a row: towards the anchor, far enough for every row at once.
    if space.anchor is not None:
        A = X @ G.T
        broken = np.any(A > target, axis=1)
        if broken.any():
            there = G @ space.anchor
            Ab = A[broken]
            with np.errstate(divide="ignore", invalid="ignore"):
                need = np.where(Ab > target, (Ab - target) / (Ab - there), 0.0)
            tau = np.clip(np.nan_to_num(need, nan=1.0).max(axis=1), 0.0, 1.0)
            X[broken] += tau[:, None] * (space.anchor - X[broken])
    return np.clip(X, lo, hi)


# --- objectives ------------------------------------------------------------------------


def population_objectives(inst: Instance, X: np.ndarray, objectives: tuple[str, ...]) -> np.ndarray:
    """Raw values of the named objectives for each row of X, shape (len(X), len(objectives)).

    The same definitions as `models.certificate.evaluate`, vectorised: F2 in
    logarithms, ψ = log n + mean(log U) + log T − log Σ U and F2 = exp(ψ / 2),
    because the product of n levels below 1 underflows.
    """
    X = np.atleast_2d(X)
    columns = []
    U = T = None
    for name in objectives:
        if name == "F1":
            columns.append(X @ inst.unit_benefit)
        elif name == "F3":
            columns.append(X @ inst.unit_footprint)
        else:
            if U is None:
                U = inst.u0 + inst.g * X
                T = U @ inst.alpha
            if name == "T":
                columns.append(T)
            else:  # F2
                psi = math.log(inst.n) + np.log(U).mean(axis=1) + np.log(T) - np.log(U.sum(axis=1))
                columns.append(np.exp(psi / 2.0))
    return np.column_stack(columns) if columns else np.empty((len(X), 0))


# --- the pymoo parts -------------------------------------------------------------------


class AllocationProblem(Problem):
    """W in the tightened box; minimise the objectives (maximised ones negated); G W <= h as constraints."""

    def __init__(self, inst: Instance, objectives: tuple[str, ...], space: SearchSpace):
        self.inst, self.objectives, self.space = inst, objectives, space
        self.signs = np.array([-1.0 if OBJECTIVE_SENSE[o] == "max" else 1.0 for o in objectives])
        self.row_scale = np.maximum(1.0, np.abs(space.h))
        super().__init__(n_var=inst.n, n_obj=len(objectives), n_ieq_constr=len(space.h), xl=space.lo, xu=space.hi)

    def _evaluate(self, x, out, *args, **kwargs):
        # pymoo's interface: the results go into the dictionary it passes.
        out["F"] = population_objectives(self.inst, x, self.objectives) * self.signs
        out["G"] = (x @ self.space.G.T - self.space.h) / self.row_scale


class CouplingRepair(Repair):
    """pymoo's hook for `repair_population`: every sampled and every offspring individual passes here."""

    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space

    def _do(self, problem, X, **kwargs):
        return repair_population(self.space, X)


class Budget(Termination):
    """Stop after `generations`, or after `seconds` of wall time counted from `start`, whichever comes first."""

    def __init__(self, generations: int | None, seconds: float | None, start: float):
        super().__init__()
        self.generations, self.seconds, self.start = generations, seconds, start

    def _update(self, algorithm):
        parts = []
        if self.generations is not None:
            parts.append(algorithm.n_gen / self.generations)
        if self.seconds is not None:
            parts.append((time.perf_counter() - self.start) / self.seconds)
        return max(parts)


class _Report(Callback):
    """Calls progress(fraction, message) once per generation."""

    def __init__(self, progress: Progress, label: str):
        super().__init__()
        self.progress, self.label = progress, label

    def notify(self, algorithm):
        fraction = min(1.0, float(algorithm.termination.perc))
        self.progress(fraction, f"{self.label}: generation {algorithm.n_gen}")


def reference_directions(m: int, points: int) -> np.ndarray:
    """Das and Dennis's evenly spread directions, as many as fit in `points` (at least m).

    The count for p partitions is C(p + m − 1, m − 1); the largest p with a count
    <= points is taken and the population is `points` (pymoo allows a population
    larger than the directions).  Riesz energy directions fit any count exactly
    but cost seconds to compute.
    """
    p = 1
    while math.comb(p + 1 + m - 1, m - 1) <= points:
        p += 1
    return get_reference_directions("das-dennis", m, n_partitions=p)


# --- the front -------------------------------------------------------------------------


def evolutionary_front(
    prepared: Prepared,
    objectives: tuple[str, ...] = ("F1", "F2", "F3"),
    method: str = "nsga2",
    points: int = 100,
    seed: int = 0,
    time_limit: float | None = None,
    generations: int | None = None,
    progress: Progress | None = None,
) -> Front:
    """The front found by NSGA-II or NSGA-III with a population of `points`.

    Runs `generations` generations, or until `time_limit` seconds have passed
    since the call, whichever comes first; with neither, DEFAULT_GENERATIONS.
    Returns the nondominated feasible individuals of the last population, each
    repaired exactly and evaluated by `models.certificate.evaluate`; the front
    holds at most `points` allocations (usually fewer: only the first rank).
    """
    start = time.perf_counter()
    objectives = tuple(objectives)
    if method not in METHODS:
        raise EvolutionaryError(f"unknown method {method!r}: choose {' or '.join(METHODS)}")
    unknown = [o for o in objectives if o not in OBJECTIVE_SENSE]
    if unknown or len(set(objectives)) != len(objectives) or len(objectives) < 2:
        raise EvolutionaryError(f"objectives must be two or more distinct names among {', '.join(OBJECTIVE_SENSE)}")
    if points < 2:
        raise EvolutionaryError("a front needs a population of at least 2 points")
    if generations is None and time_limit is None:
        generations = DEFAULT_GENERATIONS
    if (generations is not None and generations < 1) or (time_limit is not None and time_limit <= 0):
        raise EvolutionaryError("the budget must be at least one generation and a positive time")

    inst = prepared.instance
    label = METHODS[method]

    def failed(message: str) -> Front:
        return Front(method, objectives, (), message=message, seconds=time.perf_counter() - start, ids=inst.ids)

    try:
        space = search_space(inst)
    except EvolutionaryError as e:
        return failed(f"{label} found no allocation: {e}")
    if space.anchor is None:
        return failed(f"{label} found no allocation: none meets the cooperative caps and the demand window together")

    if method == "nsga2":
        algorithm = NSGA2(pop_size=points, repair=CouplingRepair(space))
    else:
        algorithm = NSGA3(ref_dirs=reference_directions(len(objectives), points), pop_size=points, repair=CouplingRepair(space))
    problem = AllocationProblem(inst, objectives, space)
    termination = Budget(generations, time_limit, start)
    hooks = {"callback": _Report(progress, label)} if progress is not None else {}
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(problem, algorithm, termination, seed=seed, verbose=False, **hooks)
        generations_run = result.algorithm.n_gen - 1  # pymoo counts on past the last generation
        front, reported = _final_points(inst, objectives, result.pop.get("X"), result.pop.get("CV").ravel())

    stopped_by = "the generation budget" if generations is not None and generations_run >= generations else "the time limit"
    message = (
        f"{label} ran {generations_run} generations of {points} allocations, stopped by {stopped_by}; "
        f"{len(front)} nondominated feasible allocations"
    )
    if not front:
        return failed(f"{message}: no feasible allocation in the last generation")
    return Front(method, objectives, front, message=message, reported=reported, seconds=time.perf_counter() - start, ids=inst.ids)


def _final_points(inst: Instance, objectives, X: np.ndarray, cv: np.ndarray) -> tuple[tuple[FrontPoint, ...], tuple[str, ...]]:
    """The nondominated, distinct, feasible individuals, repaired exactly, best first in the first objective."""
    reported = []
    feasible = cv <= 0
    if not feasible.all():
        reported.append(
            f"{int((~feasible).sum())} of {len(X)} allocations of the last generation break a coupling row and are left out"
        )
    allocations = [make_feasible(inst, W) for W in X[feasible]]
    if not allocations:
        return (), tuple(reported)
    values = [evaluate(inst, W) for W in allocations]
    matrix = np.array([[getattr(v, o) for o in objectives] for v in values])
    senses = [OBJECTIVE_SENSE[o] for o in objectives]
    keep = np.flatnonzero(nondominated(matrix, senses))
    # Distinct objective vectors only: NSGA's population may hold copies.
    _, first = np.unique(matrix[keep], axis=0, return_index=True)
    keep = keep[np.sort(first)]
    order = np.argsort(-matrix[keep, 0] if senses[0] == "max" else matrix[keep, 0], kind="stable")
    keep = keep[order]
    return tuple(FrontPoint(allocations[i], values[i]) for i in keep), tuple(reported)
