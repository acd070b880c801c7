"""max F2 for uniform α by Kelley's tangent cuts on the Pyomo formulation: the slow, plain cross-check.

With uniform α, F2² = GM(U), so max F2 is max Σ_j log U_j: concave.  Replacing
each log U_j by an epigraph variable t_j under tangent cuts gives an LP whose
optimum bounds the true one from above; the LP's allocation gives a value from
below; each round adds the tangents at the new allocation (Kelley 1960).  It
needs hundreds of LPs where models.coordination needs one dual solve, so it
serves only to check that method on small instances, through the formulation of
record (models.formulation.pyomo_model) solved by HiGHS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coopchain.models.certificate import Instance, enterprise_box
from coopchain.models.formulation import formulate, pyomo_model


@dataclass(frozen=True)
class OuterApproximation:
    allocation: np.ndarray
    value: float  # F2 of the allocation
    bound: float  # F2 bound from the last LP
    rounds: int


def kelley_coordination(inst: Instance, gap: float = 1e-7, max_rounds: int = 2000) -> OuterApproximation:
    """Cut until the LP bound and the allocation's F2 are within `gap` (relative); uniform α only."""
    import pyomo.environ as pyo

    if not inst.uniform_alpha:
        raise ValueError("tangent cuts apply to uniform alpha only; general alpha needs models.coordination")
    form = formulate(inst)
    model = pyomo_model(form)
    lo, hi = enterprise_box(inst)
    ids = list(form.ids)
    n = inst.n
    # U_j <= 1 over the box, so log U_j <= 0 bounds each epigraph variable from the start.
    model.t = pyo.Var(model.J, bounds=(None, 0.0))
    model.objective = pyo.Objective(expr=sum(model.t[e] for e in ids) / n, sense=pyo.maximize)
    model.cuts = pyo.ConstraintList()

    def cut_at(W: np.ndarray) -> None:
        U = inst.u0 + inst.g * W
        for j, e in enumerate(ids):
            # log U_j(W) <= log U_j(W*) + g_j (W − W*) / U_j(W*)
            model.cuts.add(model.t[e] <= math.log(U[j]) + inst.g[j] / U[j] * (model.W[e] - float(W[j])))

    for W in (lo, hi, 0.5 * (lo + hi)):
        cut_at(W)
    solver = pyo.SolverFactory("appsi_highs")
    best_value, best_W = -math.inf, None
    for rounds in range(1, max_rounds + 1):
        solver.solve(model)
        W = np.clip(np.array([pyo.value(model.W[e]) for e in ids]), lo, hi)
        bound = math.exp(pyo.value(model.objective) / 2.0)
        value = math.exp(float(np.mean(np.log(inst.u0 + inst.g * W))) / 2.0)
        if value > best_value:
            best_value, best_W = value, W
        if bound - best_value <= gap * best_value:
            return OuterApproximation(best_W, best_value, bound, rounds)
        cut_at(W)
    raise ArithmeticError(f"tangent cuts did not close the gap in {max_rounds} rounds")
