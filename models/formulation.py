"""The allocation model of SPEC §1 as one description, and its two renderings.

`formulate` writes the model once, as named constraint families.  From that one
description come

* `pyomo_model`: the formulation of record, readable and exportable to .lp/.mps
  for OR people (``model.write("allocation.lp")``), every constraint by name;
* `highs_lp`: numpy arrays handed to HiGHS directly, with every per-enterprise
  family folded into column bounds.  Pyomo spends about 0.4 s per 10,000
  columns building its model; arrays cost a few milliseconds, which is what the
  SPEC §7 targets at n = 100,000 demand.

Both read the same families, so they cannot drift apart (tests/models/test_formulation.py
solves both and compares).

Only the cooperative caps and the demand window couple enterprises ("R + 2 rows");
everything else is a bound on one W_j.  That structure is what the Lagrangian
methods of models.coordination and the certificates of models.certificate use.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import highspy
import numpy as np

from coopchain.models.certificate import Instance


@dataclass(frozen=True, eq=False)
class EnterpriseLimit:
    """A family of single-enterprise constraints lower_j <= coef_j · W_j <= upper_j (level 2 of SPEC §1)."""

    name: str
    description: str  # what the family means, in a manager's words
    coef: np.ndarray
    lower: np.ndarray  # -inf where the family sets no lower limit
    upper: np.ndarray  # +inf where it sets no upper limit


@dataclass(frozen=True, eq=False)
class CouplingRow:
    """A constraint over all enterprises, lower <= coef · W <= upper (level 1 of SPEC §1)."""

    name: str
    description: str
    coef: np.ndarray
    lower: float
    upper: float


@dataclass(frozen=True, eq=False)
class Formulation:
    """Decision W_j for each enterprise, its limits, the coupling rows and the linear objectives."""

    ids: tuple[str, ...]
    limits: tuple[EnterpriseLimit, ...]
    rows: tuple[CouplingRow, ...]
    objectives: dict  # "F1" -> c (maximise c·W), "F3" -> f (minimise f·W)


SENSE = {"F1": "max", "F3": "min"}

# Seconds one HiGHS solve may take (COOPCHAIN_SOLVER_TIME_LIMIT overrides): far above any solve of
# SPEC §7 (n = 10^6 in under 15 s), low enough that no request holds a worker for ever.
SOLVER_TIME_LIMIT = float(os.environ.get("COOPCHAIN_SOLVER_TIME_LIMIT", "600"))

_banner_shown = False


def new_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing.

    HiGHS writes its banner to the process's standard output when the first
    instance is built, before any option can silence it; `coopchain solve` prints
    JSON there, so the first construction runs with that descriptor pointed at
    /dev/null.
    """
    global _banner_shown
    if _banner_shown:
        highs = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                highs = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
    highs.setOptionValue("output_flag", False)
    # Every HiGHS call stops at SOLVER_TIME_LIMIT seconds; the caller reports HiGHS's status
    # ("Time limit reached") as its message instead of running on (issue 10).
    highs.setOptionValue("time_limit", SOLVER_TIME_LIMIT)
    return highs


def formulate(inst: Instance) -> Formulation:
    """SPEC §1: volume bounds, enterprise caps and reservations; cooperative caps and demand."""
    n = inst.n
    inf = np.full(n, np.inf)
    c = inst.unit_benefit
    limits = [
        EnterpriseLimit("volume", "volume limits min_j <= W_j <= max_j", np.ones(n), inst.volume_min, inst.volume_max),
        EnterpriseLimit("reservation", "reservation benefit c_j W_j >= pi_j", c, inst.reservation, inf),
    ]
    for r, res in enumerate(inst.resources):
        limits.append(
            EnterpriseLimit(f"enterprise_cap[{res}]", f"{res} use within the enterprise's cap", inst.use[:, r], -inf, inst.enterprise_cap[:, r])
        )
    rows = [
        CouplingRow(f"cooperative_cap[{res}]", f"{res} use within the cooperative's cap", inst.use[:, r], -np.inf, float(inst.cooperative_cap[r]))
        for r, res in enumerate(inst.resources)
    ]
    rows.append(CouplingRow("demand", "total volume within the demand window", np.ones(n), inst.demand_min, inst.demand_max))
    return Formulation(inst.ids, tuple(limits), tuple(rows), {"F1": c, "F3": inst.unit_footprint})


def column_bounds(form: Formulation) -> tuple[np.ndarray, np.ndarray]:
    """Fold every family into one interval per W_j (coefficients are non-negative by validation).

    A family with coefficient 0 constrains nothing unless 0 is outside its limits,
    in which case the interval is empty (lo = +inf).
    """
    n = len(form.ids)
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    for fam in form.limits:
        positive = fam.coef > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = np.maximum(lo, np.where(positive, fam.lower / fam.coef, np.where(fam.lower > 0, np.inf, -np.inf)))
            hi = np.minimum(hi, np.where(positive, fam.upper / fam.coef, np.where(fam.upper < 0, -np.inf, np.inf)))
    return lo, hi


def objective_scale(form: Formulation, objective: str) -> float:
    """The factor that brings the objective's largest coefficient to 1.

    HiGHS's tolerances are absolute (1e-7): F3's coefficients are about 1e-5 per
    tonne, so unscaled its "optimal" basis can be off by 1e-5 relative.
    """
    largest = float(np.abs(form.objectives[objective]).max(initial=0.0))
    return 1.0 / largest if largest > 0 else 1.0


def highs_lp(form: Formulation, objective: str) -> highspy.HighsLp:
    """The LP for max F1 or min F3 as arrays: folded column bounds, coupling rows row-wise, objective scaled."""
    n, m = len(form.ids), len(form.rows)
    lo, hi = column_bounds(form)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = form.objectives[objective] * objective_scale(form, objective)
    lp.col_lower_, lp.col_upper_ = lo, hi
    lp.row_lower_ = np.array([row.lower for row in form.rows])
    lp.row_upper_ = np.array([row.upper for row in form.rows])
    lp.sense_ = highspy.ObjSense.kMaximize if SENSE[objective] == "max" else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, m
    lp.a_matrix_.start_ = np.arange(m + 1, dtype=np.int32) * n
    lp.a_matrix_.index_ = np.tile(np.arange(n, dtype=np.int32), m)
    lp.a_matrix_.value_ = np.concatenate([row.coef for row in form.rows])
    lp.col_names_ = list(form.ids)
    lp.row_names_ = [row.name for row in form.rows]
    return lp


def pyomo_model(form: Formulation, objective: str | None = None):
    """The formulation of record as a Pyomo ConcreteModel, each family a named, indexed constraint.

    Expressions F1 and F3 are always present; `objective` picks the one to optimise.
    Limits that are infinite are left out, so the model holds only real constraints.
    """
    import pyomo.environ as pyo  # Pyomo's import costs a second; the array path never pays it.

    index = {eid: j for j, eid in enumerate(form.ids)}
    m = pyo.ConcreteModel(name="coopchain allocation (SPEC §1)")
    m.J = pyo.Set(initialize=form.ids, ordered=True, doc="member enterprises")
    m.W = pyo.Var(m.J, domain=pyo.NonNegativeReals, doc="volume allocated to each enterprise")

    def add_limit(fam: EnterpriseLimit) -> None:
        def rule(model, eid):
            j = index[eid]
            lo = fam.lower[j] if np.isfinite(fam.lower[j]) else None
            up = fam.upper[j] if np.isfinite(fam.upper[j]) else None
            if lo is None and up is None:
                return pyo.Constraint.Skip
            return pyo.inequality(lo, float(fam.coef[j]) * model.W[eid], up)

        m.add_component(pyomo_name(fam.name), pyo.Constraint(m.J, rule=rule, doc=fam.description))

    def linear(coef: np.ndarray):
        return sum(float(coef[j]) * m.W[eid] for j, eid in enumerate(form.ids) if coef[j] != 0)

    for fam in form.limits:
        add_limit(fam)
    for row in form.rows:
        lo = row.lower if np.isfinite(row.lower) else None
        up = row.upper if np.isfinite(row.upper) else None
        m.add_component(pyomo_name(row.name), pyo.Constraint(expr=pyo.inequality(lo, linear(row.coef), up), doc=row.description))
    m.F1 = pyo.Expression(expr=linear(form.objectives["F1"]), doc="economic benefit")
    m.F3 = pyo.Expression(expr=linear(form.objectives["F3"]), doc="ecological footprint")
    if objective is not None:
        sense = pyo.maximize if SENSE[objective] == "max" else pyo.minimize
        scale = objective_scale(form, objective)
        m.objective = pyo.Objective(expr=scale * getattr(m, objective), sense=sense, doc=f"{objective}, scaled by {scale:.6g}")
    return m


def pyomo_name(name: str) -> str:
    """A family's name as a Pyomo component name: ``cooperative_cap[water]`` -> ``cooperative_cap_water``.

    Brackets would read as indices in Pyomo and in .lp files.
    """
    return name.replace("[", "_").replace("]", "")
