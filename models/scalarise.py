"""Scalarisations of (F1, F2, F3): weighted sum, ε-constraint, lexicographic, augmented Chebyshev (SPEC §1).

Each returns one allocation with a certificate that models.certificate checks with
numpy alone, and says whether the allocation is efficient or only weakly efficient.

All of them are one problem shape, which is what makes them certifiable:

    max ℓ·W + κ ψ(W)   subject to the SPEC's constraints and ε-rows f_k(W) >= e_k,

with F1, F3 (negated) and T linear, and F2 entering through ψ = log F2² (κ >= 0).
log F2 is a strictly increasing function of F2, so an optimum of this shape is an
efficient point of (F1, F2, F3) exactly when it would be with F2 itself, and it
keeps the problem within the certified methods: an LP on HiGHS when κ = 0, the
Lagrangian method of models.coordination when κ > 0.  F2 as an ε-constraint
(F2 >= D) is priced by one more multiplier, found by bisection (uniform α, where
ψ is concave), or by one multiplier per piece of S (general α).  The augmented Chebyshev scalarisation takes the
linear objectives only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import highspy
import numpy as np

from coopchain.models.certificate import (
    GAP_LIMIT,
    LINEAR_OBJECTIVES,
    Extras,
    Instance,
    certificate_document,
    epsilon_rows,
    evaluate,
    linear_objective,
    log_coupling,
)
from coopchain.models.coordination import maximise_linear_with_floor, maximise_psi
from coopchain.models.feasibility import NoFeasibleAllocation, make_feasible
from coopchain.models.formulation import SOLVER_TIME_LIMIT, formulate, highs_lp, new_highs
from coopchain.models.front import OBJECTIVE_SENSE
from coopchain.models.linear import _multipliers as coupling_multipliers
from coopchain.models.solution import Solution, certified_solution

METHODS = ("weighted", "epsilon", "lexicographic", "chebyshev")


class ScalarisationError(ValueError):
    """A scalarisation asked for something it cannot do; the message says what instead."""


def max_sense(name: str, value: float) -> float:
    return value if OBJECTIVE_SENSE[name] == "max" else -value


class LinearModel:
    """The allocation LP in one persistent HiGHS model, plus one free row per linear objective.

    Fronts re-solve it from the previous basis at every grid point; its row duals
    become certificate multipliers.
    """

    def __init__(self, inst: Instance, names: tuple[str, ...]):
        self.inst, self.n = inst, inst.n
        self.highs = new_highs()
        self.highs.passModel(highs_lp(formulate(inst), "F1"))
        self.highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
        self.coupling = self.highs.getNumRow()
        self.rows = {}
        self.index = np.arange(self.n, dtype=np.int32)
        for name in names:
            coef, const = linear_objective(inst, name)
            self.rows[name] = (self.highs.getNumRow(), const)
            self.highs.addRow(-highspy.kHighsInf, highspy.kHighsInf, self.n, self.index, coef)
        self.scale = 1.0

    def solve(self, cost: np.ndarray, at_least: dict[str, float]) -> np.ndarray | None:
        """max cost·W with f_k(W) >= e_k for the named objectives (max sense); None when infeasible."""
        self.scale = float(np.abs(cost).max(initial=0.0)) or 1.0
        self.highs.changeColsCost(self.n, self.index, cost / self.scale)
        for name, (row, const) in self.rows.items():
            lower = at_least[name] - const if name in at_least else -highspy.kHighsInf
            self.highs.changeRowBounds(row, lower, highspy.kHighsInf)
        self.highs.run()
        status = self.highs.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return np.array(self.highs.getSolution().col_value)
        if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return None
        if status == highspy.HighsModelStatus.kTimeLimit:
            raise ArithmeticError(f"HiGHS stopped at its time limit of {SOLVER_TIME_LIMIT:g} s (COOPCHAIN_SOLVER_TIME_LIMIT)")
        raise ArithmeticError(f"HiGHS: {self.highs.modelStatusToString(status)}")

    def multipliers(self, constrained: list[str]) -> np.ndarray:
        """The last solve's duals as certificate multipliers: coupling rows, then the named ε-rows."""
        y = np.array(self.highs.getSolution().row_dual) * self.scale
        eps = [max(-y[self.rows[name][0]], 0.0) for name in constrained]  # f >= e is −f <= −e
        return np.concatenate([coupling_multipliers(y[: self.coupling], "F1"), eps])


@dataclass
class ScalarisedProblem:
    """Solves max f_primary + augmentation subject to ε-constraints for one set of objectives."""

    inst: Instance
    objectives: tuple[str, ...]

    def __post_init__(self):
        self.lp = LinearModel(self.inst, tuple(k for k in self.objectives if k in LINEAR_OBJECTIVES))
        self.psi_tol = 2.0 * GAP_LIMIT["F2-uniform" if self.inst.uniform_alpha else "F2-general"] * 1e-2

    def value(self, W: np.ndarray, name: str) -> float:
        """f(W) in max sense; F2 as ψ = log F2² (what the primary step maximises)."""
        if name == "F2":
            return 2.0 * math.log(evaluate(self.inst, W).F2)
        coef, const = linear_objective(self.inst, name)
        return float(coef @ W) + const

    def solve(self, primary: str, augment: dict[str, float], at_least: dict[str, float]) -> np.ndarray | None:
        """max f_primary + Σ augment_k f_k subject to f_k >= at_least_k (max sense); None when infeasible."""
        linear = _combine(self.inst, augment)
        if primary != "F2":
            return self.lp.solve(linear_objective(self.inst, primary)[0] + linear, at_least)
        result = self.solve_psi(linear, 1.0, at_least)
        return None if result is None else result.allocation

    def solve_psi(self, linear: np.ndarray, kappa: float, at_least: dict[str, float]):
        """max linear·W + κ ψ(W) subject to the ε-rows, by the Lagrangian method; None when infeasible."""
        # The LP model is the feasibility oracle: the Lagrangian method needs a non-empty set.
        if self.lp.solve(linear, at_least) is None:
            return None
        E, e = epsilon_rows(self.inst, list(at_least.items()))
        return maximise_psi(self.inst, Extras(E, e, linear / kappa), self.psi_tol)


def _combine(inst: Instance, weights: dict[str, float]) -> np.ndarray:
    return sum((w * linear_objective(inst, k)[0] for k, w in weights.items()), np.zeros(inst.n))


def payoff_table(problem: ScalarisedProblem) -> np.ndarray:
    """Row i: the values (max sense; F2 as ψ) of the lexicographic optimum with objective i first.

    After each stage the objective just optimised is kept at its optimum (to a
    relative 1e-9) as an ε-row; F2, which cannot be a row, is optimised last unless
    it comes first (its maximiser is unique when every g_j > 0).
    """
    return np.array([payoff_row(problem, first) for first in problem.objectives])


def payoff_row(problem: ScalarisedProblem, first: str) -> np.ndarray:
    """One row of `payoff_table`: the lexicographic optimum with `first` first (AUGMECON2's fronts
    compute the rows as separate tasks, models.augmecon)."""
    names = problem.objectives
    order = [first] if first == "F2" else [first] + [k for k in names if k != first and k in LINEAR_OBJECTIVES]
    if first != "F2" and "F2" in names:
        order.append("F2")
    held: dict[str, float] = {}
    W = None
    for name in order:
        try:
            W_next = problem.solve(name, {}, held)
        except NoFeasibleAllocation:
            W_next = None  # the LP found the held optima feasible only within its tolerance
        if W_next is None:
            break  # holding earlier optima to 1e-9 left nothing: keep the previous stage's
        W = W_next
        if name in LINEAR_OBJECTIVES:
            v = problem.value(W, name)
            held[name] = v - 1e-9 * max(1.0, abs(v))
    return np.array([problem.value(W, name) for name in names])


# --- the four scalarisations -------------------------------------------------------------


def _certified(
    inst: Instance, canonical: str, method: str, sentence: str, start: float, *, weights: dict, kappa: float, at_least: dict
) -> Solution:
    """Solve max Σ w_k f_k + κ ψ s.t. f_k >= e_k, and certify it."""
    problem = ScalarisedProblem(inst, tuple(dict.fromkeys([*weights, *at_least, *(["F2"] if kappa > 0 else [])])))
    linear = _combine(inst, weights)
    spec = {"method": method, "weights": dict(weights), "kappa": kappa, "constraints": [[k, e] for k, e in at_least.items()]}
    if kappa == 0:
        W = problem.lp.solve(linear, at_least)
        if W is None:
            return _infeasible(method, start)
        lam = problem.lp.multipliers(list(at_least))
        E, e = epsilon_rows(inst, list(at_least.items()))
        W = make_feasible(inst, W, E, e)
        cert = certificate_document(canonical, inst, "scalarised", W, multipliers=lam, scalarisation=spec)
    else:
        try:
            result = problem.solve_psi(linear, kappa, at_least)
        except NoFeasibleAllocation:
            result = None
        if result is None:
            return _infeasible(method, start)
        W = result.allocation
        cert = certificate_document(
            canonical, inst, "scalarised", W, multipliers=result.multipliers, pieces=result.pieces, scalarisation=spec
        )
    return _solution(inst, method, sentence, cert, W, start)


def _solution(inst: Instance, method: str, sentence: str, cert: dict, W: np.ndarray, start: float) -> Solution:
    spec = cert.get("scalarisation", {})
    f2 = spec.get("kappa", 0.0) > 0 or spec.get("coordination_at_least") is not None
    limit = GAP_LIMIT[("F2-uniform" if inst.uniform_alpha else "F2-general") if f2 else "F1"]
    proven = f"{sentence} Certified optimal for this scalarisation"
    return certified_solution(method, inst.ids, W, evaluate(inst, W), cert, limit, proven, {"solve": time.perf_counter() - start})


def _infeasible(method: str, start: float, message: str = "No allocation meets the constraints and the ε-limits together.") -> Solution:
    return Solution(
        objective=method,
        status="infeasible",
        message=message,
        timings={"solve": time.perf_counter() - start},
    )


def _check_names(names, allowed=("F1", "F2", "F3")) -> None:
    for name in names:
        if name not in allowed:
            raise ScalarisationError(f"unknown objective {name!r}: choose among {', '.join(allowed)}")


def weighted_sum(inst: Instance, canonical: str, weights: dict[str, float] | None = None) -> Solution:
    """max Σ_k w_k (f_k − worst_k) / (best_k − worst_k), the ranges from the payoff table (F2 on log scale)."""
    start = time.perf_counter()
    weights = dict(weights or {"F1": 1.0, "F2": 1.0, "F3": 1.0})
    _check_names(weights)
    if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
        raise ScalarisationError("weights must be non-negative and not all zero")
    table = payoff_table(ScalarisedProblem(inst, tuple(weights)))
    span = np.maximum(table.max(axis=0) - table.min(axis=0), 1e-12)
    ranges = dict(zip(weights, span))
    linear = {k: w / ranges[k] for k, w in weights.items() if k != "F2" and w > 0}
    # F2's column of the payoff table is ψ = 2 log F2: weight w on log F2 / range is 2w/range on ψ... per unit of ψ, w / range.
    kappa = weights.get("F2", 0.0) / ranges["F2"] if "F2" in weights else 0.0
    every = all(w > 0 for w in weights.values()) and set(weights) == {"F1", "F2", "F3"}
    sentence = (
        f"Weighted sum ({', '.join(f'{k} {w:g}' for k, w in weights.items())}), each objective scaled by its range in the payoff table"
        f"{' (F2 on a log scale)' if 'F2' in weights else ''}: "
        + ("efficient, since every weight is positive." if every else "weakly efficient: an objective has no weight.")
    )
    return _certified(inst, canonical, "weighted", sentence, start, weights=linear, kappa=kappa, at_least={})


def epsilon_constraint(
    inst: Instance, canonical: str, objective: str, limits: dict[str, float], augmented: bool = True
) -> Solution:
    """Optimise `objective` with every other objective held to its limit (raw units: F1 >= x, F3 <= x)."""
    start = time.perf_counter()
    _check_names([objective, *limits])
    limits = dict(limits)
    floor = limits.pop("F2", None)
    if floor is not None and objective == "F2":
        raise ScalarisationError("F2 cannot be both the objective and a limit")
    if floor is not None and not 0 < floor <= 1:
        raise ScalarisationError(f"the F2 limit must lie in (0, 1], not {floor:g}")
    at_least = {k: max_sense(k, v) for k, v in limits.items()}
    weights, kappa = _primary(objective)
    if augmented and limits:
        problem = ScalarisedProblem(inst, tuple(dict.fromkeys([objective, *limits])))
        span = np.maximum(np.ptp(payoff_table(problem), axis=0), 1e-12)
        ranges = dict(zip(problem.objectives, span))
        primary_range = ranges[objective] / (2.0 if objective == "F2" else 1.0)
        for i, k in enumerate(limits):
            weights[k] = weights.get(k, 0.0) + 1e-3 * primary_range * 10.0**-i / ranges[k]
    limited = ", ".join(f"{k} {'>=' if OBJECTIVE_SENSE[k] == 'max' else '<='} {v:g}" for k, v in limits.items())
    if floor is not None:
        limited = ", ".join(filter(None, [limited, f"F2 >= {floor:g}"]))
    sentence = (
        f"Best {objective} with {limited or 'no limits'}: "
        + ("efficient (augmented ε-constraint)." if augmented or not limits else "weakly efficient (plain ε-constraint).")
    )
    if floor is not None:
        return _with_coordination_floor(inst, canonical, sentence, start, weights, at_least, floor)
    return _certified(inst, canonical, "epsilon", sentence, start, weights=weights, kappa=kappa, at_least=at_least)


def _with_coordination_floor(inst: Instance, canonical: str, sentence: str, start: float, weights: dict, at_least: dict, floor: float) -> Solution:
    """max ℓ·W subject to F2 >= floor (and the linear limits), by its Lagrangian in one multiplier μ.

    For μ >= 0 the maximiser W_μ of ℓ·W + μ ψ is a certified scalarised optimum, and
    ψ(W_μ) grows with μ.  Bisection finds the smallest μ whose W_μ meets ψ >= c =
    2 log floor; then ℓ·W_μ is optimal up to μ (ψ(W_μ) − c), which the certificate
    (weights ℓ, κ = μ, coordination_at_least) proves.  ψ is concave for uniform α, so
    there is no duality gap; with general α the floor is priced piece by piece.
    """
    c = 2.0 * math.log(floor)
    problem = ScalarisedProblem(inst, tuple(dict.fromkeys([*weights, *at_least, "F2"])))
    linear = _combine(inst, weights)
    spec = {"method": "epsilon", "weights": dict(weights), "kappa": 0.0, "constraints": [[k, e] for k, e in at_least.items()], "coordination_at_least": floor}
    W = problem.lp.solve(linear, at_least)
    if W is None:
        return _infeasible("epsilon", start)
    E, e = epsilon_rows(inst, list(at_least.items()))
    W = make_feasible(inst, W, E, e)
    if log_coupling(inst, W) >= c:
        # The floor does not bind: the LP optimum meets it, and the LP's bound holds.
        cert = certificate_document(canonical, inst, "scalarised", W, multipliers=problem.lp.multipliers(list(at_least)), scalarisation=spec)
        return _solution(inst, "epsilon", sentence, cert, W, start)
    top = problem.solve_psi(np.zeros(inst.n), 1.0, at_least)
    if top is None or log_coupling(inst, top.allocation) < c:
        best = math.exp(log_coupling(inst, top.allocation) / 2.0) if top is not None else float("nan")
        return _infeasible("epsilon", start, f"F2 cannot reach {floor:g} under the other limits: the most it can reach is {best:.6g}.")

    def at(mu: float):
        result = problem.solve_psi(linear, mu, at_least)
        return result, log_coupling(inst, result.allocation)

    scale = max(1.0, abs(float(linear @ W)))
    lo, hi = 0.0, scale
    result, psi = at(hi)
    while psi < c:
        lo, hi = hi, 4.0 * hi
        result, psi = at(hi)
    for _ in range(80):
        slack = hi * (psi - c)
        if slack <= 1e-10 * max(1.0, abs(float(linear @ result.allocation))):
            break
        mid = math.sqrt(lo * hi) if lo > 0 else hi / 16.0
        trial, trial_psi = at(mid)
        if trial_psi >= c:
            hi, result, psi = mid, trial, trial_psi
        else:
            lo = mid
    if not inst.uniform_alpha:
        # ψ is not concave: the multiplier's allocation meets the floor, but its bound can
        # leave a duality gap, so the floor is priced piece by piece over S instead
        # (models.coordination.maximise_linear_with_floor), from that allocation.
        tol = GAP_LIMIT["F2-general"] * 1e-2
        found = maximise_linear_with_floor(inst, Extras(E, e, linear), c, result.allocation, tol)
        cert = certificate_document(canonical, inst, "scalarised", found.allocation, pieces=found.pieces, scalarisation=spec)
        return _solution(inst, "epsilon", sentence, cert, found.allocation, start)
    spec["kappa"] = hi
    cert = certificate_document(
        canonical, inst, "scalarised", result.allocation, multipliers=result.multipliers, pieces=result.pieces, scalarisation=spec
    )
    return _solution(inst, "epsilon", sentence, cert, result.allocation, start)


def _primary(objective: str) -> tuple[dict[str, float], float]:
    """The primary objective as weights and κ: F2 enters as log F2 = ψ / 2."""
    return ({}, 0.5) if objective == "F2" else ({objective: 1.0}, 0.0)


def lexicographic(inst: Instance, canonical: str, order: list[str]) -> Solution:
    """Optimise the objectives in `order`, each stage holding the earlier optima (to 1e-9 relative)."""
    start = time.perf_counter()
    _check_names(order)
    if len(set(order)) != len(order) or not order:
        raise ScalarisationError("the order must name distinct objectives")
    if "F2" in order[:-1] and order[0] != "F2":
        raise ScalarisationError("F2 can come first or last: it cannot be held as an ε-constraint")
    if order[0] == "F2":
        # The maximiser of F2 is unique when every g_j > 0: later stages change nothing.
        order = ["F2"]
    held: dict[str, float] = {}
    problem = ScalarisedProblem(inst, tuple(order))
    for name in order[:-1]:
        W = problem.solve(name, {}, held)
        if W is None:
            return _infeasible("lexicographic", start)
        v = problem.value(W, name)
        held[name] = v - 1e-9 * max(1.0, abs(v))
    weights, kappa = _primary(order[-1])
    sentence = f"Lexicographic optimum in the order {' > '.join(order)}: efficient."
    return _certified(inst, canonical, "lexicographic", sentence, start, weights=weights, kappa=kappa, at_least=held)


def chebyshev(
    inst: Instance, canonical: str, weights: dict[str, float] | None = None, reference: dict[str, float] | None = None, rho: float = 1e-4
) -> Solution:
    """min max_k w_k (z_k − f_k)/r_k − ρ Σ_k w_k f_k / r_k over the linear objectives (F1, F3, T).

    z defaults to the ideal point of the payoff table, r to its ranges.  With ρ > 0
    the optimum is efficient.
    """
    start = time.perf_counter()
    weights = dict(weights or {"F1": 1.0, "F3": 1.0})
    _check_names(weights, LINEAR_OBJECTIVES)
    if any(w <= 0 for w in weights.values()):
        raise ScalarisationError("Chebyshev weights must be positive")
    names = tuple(weights)
    problem = ScalarisedProblem(inst, names)
    table = payoff_table(problem)
    ideal, span = table.max(axis=0), np.maximum(np.ptp(table, axis=0), 1e-12)
    z = {k: max_sense(k, reference[k]) if reference and k in reference else float(ideal[i]) for i, k in enumerate(names)}
    scale = {k: weights[k] / span[i] for i, k in enumerate(names)}
    W, mu, lam = _chebyshev_lp(inst, names, z, scale, rho)
    W = make_feasible(inst, W)
    spec = {"method": "chebyshev", "chebyshev": {"reference": z, "scale": scale, "rho": rho}, "constraints": []}
    cert = certificate_document(canonical, inst, "scalarised", W, multipliers=lam, scalarisation=spec, mu=mu)
    sentence = (
        f"Closest to the reference point {', '.join(f'{k} {max_sense(k, v):g}' for k, v in z.items())} in the weighted "
        f"Chebyshev sense (augmented by ρ = {rho:g}): efficient."
    )
    return _solution(inst, "chebyshev", sentence, cert, W, start)


def _chebyshev_lp(inst: Instance, names, z, scale, rho) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """max −t + ρ Σ s_k f_k s.t. s_k (z_k − f_k(W)) <= t: the LP, its μ (max-row duals) and coupling multipliers."""
    n = inst.n
    highs = new_highs()
    highs.passModel(highs_lp(formulate(inst), "F1"))
    coupling = highs.getNumRow()
    highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
    # The ρ-terms are about 1e-4 of t's: HiGHS's absolute dual tolerance must sit below them.
    highs.setOptionValue("dual_feasibility_tolerance", 1e-10)
    highs.changeColsCost(n, np.arange(n, dtype=np.int32), rho * _combine(inst, dict(scale)))
    highs.addVar(-highspy.kHighsInf, highspy.kHighsInf)
    highs.changeColCost(n, -1.0)
    for k in names:
        coef, const = linear_objective(inst, k)
        # s_k f_k(W) + t >= s_k z_k
        idx = np.arange(n + 1, dtype=np.int32)
        highs.addRow(scale[k] * (z[k] - const), highspy.kHighsInf, n + 1, idx, np.append(scale[k] * coef, 1.0))
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise NoFeasibleAllocation(highs.modelStatusToString(highs.getModelStatus()))
    solution = highs.getSolution()
    y = np.array(solution.row_dual)
    W = np.array(solution.col_value[:n])
    mu = np.maximum(-y[coupling:], 0.0)
    return W, mu, coupling_multipliers(y[:coupling], "F1")
