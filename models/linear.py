"""max F1 and min F3: the two linear objectives of SPEC §1, solved by HiGHS with a dual certificate.

The LP is `formulation.highs_lp` (arrays, the default) or `formulation.pyomo_model`
(the formulation of record, solved through Pyomo).  Either way HiGHS's row duals
become the multipliers of the coupling rows; models.certificate turns them into
the closed-form bound an auditor recomputes.
"""

from __future__ import annotations

import time
from dataclasses import replace

import highspy
import numpy as np

from coopchain.models.certificate import GAP_LIMIT, Instance, certificate_document, evaluate
from coopchain.models.feasibility import make_feasible
from coopchain.models.formulation import SENSE, SOLVER_TIME_LIMIT, formulate, highs_lp, new_highs, objective_scale, pyomo_model, pyomo_name
from coopchain.models.infeasibility import _implied, explain_infeasibility
from coopchain.models.shadow_prices import shadow_prices
from coopchain.models.sifting import SIFT_FROM, sift
from coopchain.models.solution import Solution, certified_solution


# HiGHS 1.16's dual simplex on this shape (R + 1 dense rows, n boxed columns) costs
# about n² per solve: 0.04 s at n = 10,000 but 4.3 s at n = 100,000, for 1 to 17
# iterations.  Its interior point method with crossover stays linear (0.55 s at
# 100,000) and still ends at a vertex with exact duals.  Below this size simplex is
# the faster of the two (2 ms against 12 ms at n = 1,000).
INTERIOR_POINT_FROM = 10_000


def _multipliers(row_duals: np.ndarray, objective: str) -> np.ndarray:
    """HiGHS row duals -> non-negative multipliers of the certificate's rows (caps..., demand_max, demand_min).

    HiGHS reports y with reduced costs c − Aᵀy for either sense.  The certificate
    bounds a maximisation (of F1, or of −F3), so for min F3 the signs flip.  The
    demand row is ranged: a positive y belongs to its upper side, a negative one
    to its lower side, whose row in G is −1·W.
    """
    y = row_duals if SENSE[objective] == "max" else -row_duals
    caps, demand = y[:-1], y[-1]
    return np.concatenate([np.maximum(caps, 0.0), [max(demand, 0.0), max(-demand, 0.0)]])


def solve_linear(inst: Instance, canonical: str, objective: str, backend: str = "highs") -> Solution:
    """Optimise F1 (max) or F3 (min) and certify the optimum."""
    start = time.perf_counter()
    form = formulate(inst)
    sifted = _sifted(form, objective) if backend == "highs" and inst.n >= SIFT_FROM else None
    if sifted is not None:
        built = time.perf_counter()
        W, duals, reduced_costs = sifted.col_value, sifted.row_dual, sifted.col_dual
    elif backend == "highs":
        highs = new_highs()
        if inst.n >= INTERIOR_POINT_FROM:
            highs.setOptionValue("solver", "ipm")
        highs.passModel(highs_lp(form, objective))
        built = time.perf_counter()
        highs.run()
        status = highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            return _not_optimal(inst, objective, highs.modelStatusToString(status), start, built)
        solution = highs.getSolution()
        W, duals = np.array(solution.col_value), np.array(solution.row_dual)
        reduced_costs = np.array(solution.col_dual)
    elif backend == "pyomo":
        W, duals, built, status = _solve_pyomo(form, objective)
        if W is None:
            return _not_optimal(inst, objective, status, start, built)
        reduced_costs = None  # the Pyomo model's enterprise caps are rows; their duals are not read
    else:
        raise ValueError(f"unknown backend {backend!r}: use 'highs' or 'pyomo'")
    W = make_feasible(inst, W)
    prices = shadow_prices(inst, form, objective, duals, reduced_costs, W)
    duals = duals / objective_scale(form, objective)
    cert = certificate_document(canonical, inst, objective, W, multipliers=_multipliers(duals, objective))
    done = time.perf_counter()
    solution = certified_solution(
        objective, inst.ids, W, evaluate(inst, W), cert, GAP_LIMIT[objective], f"{objective} optimal: the dual bound proves it",
        {"build": built - start, "solve": done - built},
    )
    return replace(solution, shadow_prices=prices)


def _sifted(form, objective: str):
    """The LP by sifting (models.sifting), or None to solve it whole."""
    # column_bounds' values, folded from the implied bounds the enterprise caps' prices need next (computed once
    # per formulation): the same maximum and minimum, 0.15 s less at n = 10^6.
    lower, upper = _implied(form)
    lo, hi = lower.max(axis=0, initial=-np.inf), upper.min(axis=0, initial=np.inf)
    rows = np.vstack([row.coef for row in form.rows])
    return sift(new_highs, form.objectives[objective] * objective_scale(form, objective), lo, hi, rows,
                np.array([row.lower for row in form.rows]), np.array([row.upper for row in form.rows]), SENSE[objective] == "max")


def _not_optimal(inst: Instance, objective: str, status: str, start: float, built: float) -> Solution:
    infeasible = "infeasible" in status.lower()
    solved = time.perf_counter()
    # The conflicting constraints by name, from HiGHS's IIS (models.infeasibility).
    conflicts = explain_infeasibility(inst) if infeasible else ()
    if "time limit" in status.lower():
        message = f"HiGHS stopped at its time limit of {SOLVER_TIME_LIMIT:g} s (COOPCHAIN_SOLVER_TIME_LIMIT) before it proved an optimum"
    elif not infeasible:
        message = f"HiGHS: {status}"
    else:
        message = "The constraints cannot all be met at once." + (f" {conflicts[0].sentence}" if conflicts else "")
    return Solution(
        objective=objective,
        status="infeasible" if infeasible else "failed",
        message=message,
        conflicts=conflicts,
        timings={"build": built - start, "solve": solved - built, "explain": time.perf_counter() - solved},
    )


def _solve_pyomo(form, objective):
    import pyomo.environ as pyo

    model = pyomo_model(form, objective)
    model.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    built = time.perf_counter()
    solver = pyo.SolverFactory("appsi_highs")
    # Rows here include the per-enterprise limits that the array path folds into exact
    # bounds; HiGHS's default 1e-7 on them would cost 1e-7 of the optimum in the repair.
    solver.highs_options = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10, "time_limit": SOLVER_TIME_LIMIT}
    result = solver.solve(model, load_solutions=False)
    condition = str(result.solver.termination_condition)
    if condition != "optimal":
        return None, None, built, condition
    model.solutions.load_from(result)
    W = np.array([pyo.value(model.W[eid]) for eid in form.ids])
    duals = np.array([model.dual.get(getattr(model, pyomo_name(row.name)), 0.0) for row in form.rows])
    return W, duals, built, condition
