#!/usr/bin/env python3
"""Run the `pyaugmecon` package (1.0.8) on one allocation instance; used by bench/bench_front.py.

This file runs inside bench/.pyaugmecon-venv (pyaugmecon 1.0.8 pins numpy 1.x,
so it cannot share the project's venv) and imports nothing from the project.

    bench/.pyaugmecon-venv/bin/python bench/pyaugmecon_runner.py INPUT.json OUTPUT.json

INPUT holds the instance as arrays, already reduced to the allocation LP of
SPEC §1 the way models/formulation.py reduces it: one interval per enterprise
(volume limits, enterprise caps and reservations folded into column bounds
`lo`, `hi` — the same feasible set), the cooperative caps (`use`, `cap0`) and
the demand window (`dmin`, `dmax`); the objectives F1 = c·W (max), F3 = f·W
(min) and T = t·W + t0 (max), each multiplied by its `scale`; pyaugmecon's
options `grid_points`, `penalty_weight`, `cpu_count`, `solver`.  The
environment says which workarounds to apply (PYAUGMECON_WORKAROUNDS, default
all three).  `"kind": "knapsack"` instead builds a random 3-objective 0/1
knapsack (a MIP) to show what the start method does.

The Pyomo model is built here from those arrays, with its objectives in the
order pyaugmecon expects: the first is optimised, the others become
ε-constraints, the second being the innermost (bypassed) one.

Workarounds for Pyomo 6.10 + HiGHS, applied here only (pyaugmecon's code is
not modified on disk; these patch it in memory, in this process and — because
they sit at module level, which `spawn` re-imports — in its worker processes):

1. ``spawn``: pyaugmecon's workers are `multiprocessing.Process`es, which fork
   on Linux (Pyomo even fixes the default context to fork when imported, hence
   ``force=True``).  Once HiGHS has solved a MIP in the parent (the payoff
   table), forked workers hang in their first MIP solve (HiGHS's thread pool
   does not survive fork); on LPs fork works (bench_front.py times both).
2. Solver factory: pyaugmecon calls ``SolverFactory(name, solver_io="python",
   manage_env=True)``; Pyomo's HiGHS interfaces reject those keyword arguments,
   and SolverFactory then returns an UnknownSolver whose first solve raises
   "Attempting to use an unavailable solver".  Patched: ``SolverFactory(name)``.
3. ``load_solutions=False``: with the default (True) Pyomo raises RuntimeError
   ("A feasible solution was not found ...") on an infeasible grid point; in a
   worker process that exception ends the worker with exit code 1, which
   pyaugmecon does not notice (it only checks for negative exit codes, i.e.
   signals), so the rest of that worker's grid is silently lost.  Patched: solve
   with load_solutions=False and load the solution only when it is optimal.

Each patched solve also counts non-optimal outcomes (by phase: payoff table or
grid), so that nothing pyaugmecon does silently goes unreported.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyaugmecon.model as _pa_model
import pyaugmecon.solver_process as _pa_solver_process
import pyomo.environ as pyo

WORKAROUNDS = tuple(w for w in os.environ.get("PYAUGMECON_WORKAROUNDS", "spawn,factory,load").split(",") if w)


def _patched_solve(self):
    """pyaugmecon.model.Model.solve with workarounds 2 (factory) and/or 3 (load_solutions)."""
    if "factory" in WORKAROUNDS:
        opt = pyo.SolverFactory(self.opts.solver_name)
    else:
        opt = pyo.SolverFactory(self.opts.solver_name, solver_io=self.opts.solver_io, manage_env=True)
    opt.options.update(self.opts.solver_opts)
    if "load" in WORKAROUNDS:
        self.result = opt.solve(self.model, load_solutions=False)
    else:
        self.result = opt.solve(self.model)
    self.term = self.result.solver.termination_condition
    self.status = self.result.solver.status
    optimal = self.status == pyo.SolverStatus.ok and self.term == pyo.TerminationCondition.optimal
    if "load" in WORKAROUNDS and optimal:
        self.model.solutions.load_from(self.result)
    if not optimal:
        # The workers are separate processes: each appends to one notes file (PYAUGMECON_NOTES).
        phase = "grid" if hasattr(self.model, "Slack") else "payoff"
        _note(f"{phase}\t{self.term}")


def _note(line: str) -> None:
    path = os.environ.get("PYAUGMECON_NOTES")
    if path:
        with open(path, "a") as fh:
            fh.write(line + "\n")


if WORKAROUNDS != ("none",):
    _pa_model.Model.solve = _patched_solve
if os.environ.get("PYAUGMECON_EXACT_SLACK") == "1":
    # Not a workaround: pyaugmecon rounds each slack to an integer before the bypass
    # (`round(slack)`), written for integer objectives.  This variant lets the bypass
    # use the slack itself, as AUGMECON2 states it, for a sensitivity run only.
    _pa_solver_process.round = lambda x: x


def build_model(d: dict) -> pyo.ConcreteModel:
    """The allocation LP of SPEC §1 from arrays, with pyaugmecon's `obj_list` of F1 (max), F3 (min), T (max)."""
    n = len(d["lo"])
    lo, hi = np.asarray(d["lo"], float), np.asarray(d["hi"], float)
    use = np.asarray(d["use"], float)  # (n, R)
    m = pyo.ConcreteModel(name="coopchain allocation (SPEC §1)")
    m.J = pyo.RangeSet(0, n - 1)
    m.W = pyo.Var(m.J, domain=pyo.NonNegativeReals, bounds=lambda model, j: (float(lo[j]), float(hi[j]) if np.isfinite(hi[j]) else None))

    def linear(coef):
        return pyo.quicksum(float(coef[j]) * m.W[j] for j in range(n) if coef[j] != 0)

    m.R = pyo.RangeSet(0, use.shape[1] - 1)
    m.cooperative_cap = pyo.Constraint(m.R, rule=lambda model, r: linear(use[:, r]) <= float(d["cap0"][r]))
    m.demand = pyo.Constraint(expr=pyo.inequality(float(d["dmin"]), linear(np.ones(n)), float(d["dmax"])))
    # Each objective times its scale (1 / its largest coefficient, as models/formulation.py scales the
    # objective it hands to HiGHS, whose tolerances are absolute): same Pareto set, values / scale.
    s1, s3, st = (float(x) for x in d["scale"])
    m.obj_list = pyo.ObjectiveList()
    m.obj_list.add(expr=linear(s1 * np.asarray(d["c"], float)), sense=pyo.maximize)  # F1
    m.obj_list.add(expr=linear(s3 * np.asarray(d["f"], float)), sense=pyo.minimize)  # F3
    m.obj_list.add(expr=linear(st * np.asarray(d["t"], float)) + st * float(d["t0"]), sense=pyo.maximize)  # T
    for o in range(len(m.obj_list)):
        m.obj_list[o + 1].deactivate()
    return m


def build_knapsack(d: dict) -> pyo.ConcreteModel:
    """A random 3-objective 0/1 knapsack (a MIP), to show what the start method does to MIP solves."""
    rng = np.random.default_rng(int(d["seed"]))
    n = int(d["items"])
    profit = rng.integers(10, 100, (3, n))
    weight = rng.integers(10, 100, n)
    m = pyo.ConcreteModel(name="3-objective knapsack")
    m.J = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.J, domain=pyo.Binary)
    m.capacity = pyo.Constraint(expr=pyo.quicksum(int(weight[j]) * m.x[j] for j in range(n)) <= int(weight.sum()) // 2)
    m.obj_list = pyo.ObjectiveList()
    for k in range(3):
        m.obj_list.add(expr=pyo.quicksum(int(profit[k, j]) * m.x[j] for j in range(n)), sense=pyo.maximize)
    for o in range(len(m.obj_list)):
        m.obj_list[o + 1].deactivate()
    return m


def main() -> int:
    from pyaugmecon.pyaugmecon import PyAugmecon

    src, dst = sys.argv[1], sys.argv[2]
    d = json.loads(Path(src).read_text())
    if "spawn" in WORKAROUNDS:
        multiprocessing.set_start_method("spawn", force=True)
    workdir = tempfile.mkdtemp(prefix="pyaugmecon_")
    os.chdir(workdir)  # pyaugmecon writes its log folder and pickled model into the working directory
    notes = os.path.join(workdir, "notes.tsv")
    os.environ["PYAUGMECON_NOTES"] = notes  # inherited by the workers

    # Warm-up: the first HiGHS call of the process (library load) is not charged to the figure.
    w = pyo.ConcreteModel()
    w.x = pyo.Var(bounds=(0, 1))
    w.o = pyo.Objective(expr=w.x, sense=pyo.maximize)
    pyo.SolverFactory(d["solver"]).solve(w, load_solutions=False)

    t0 = time.perf_counter()
    model = build_model(d) if d.get("kind", "allocation") == "allocation" else build_knapsack(d)
    build_s = time.perf_counter() - t0
    opts = {
        "name": f"coopchain-{d.get('kind', 'allocation')}",
        "grid_points": int(d["grid_points"]),
        "penalty_weight": float(d["penalty_weight"]),
        "early_exit": True,
        "bypass_coefficient": True,
        "flag_array": True,
        "cpu_count": int(d["cpu_count"]),
        "output_excel": False,
        "logging_folder": "logs",
        "pickle_file": os.path.join(workdir, "model.p"),
        "solver_name": d["solver"],
    }
    # pyaugmecon adds MIPGap = 0 and NonConvex = 2 (Gurobi's names) to the solver options unless
    # they are given, then drops every option whose value is None (or truthy): None keeps both
    # out of HiGHS, which would reject them.
    solver_opts = {"MIPGap": None, "NonConvex": None}
    t1 = time.perf_counter()
    error = None
    try:
        pa = PyAugmecon(model, opts, solver_opts)
        pa.solve()
    except Exception as e:  # noqa: BLE001 — reported in the output, never swallowed
        error = f"{type(e).__name__}: {e}"
    solve_s = time.perf_counter() - t1

    out = {
        "workarounds": list(WORKAROUNDS),
        "exact_slack": os.environ.get("PYAUGMECON_EXACT_SLACK") == "1",
        "build_s": build_s,
        "solve_s": solve_s,
        "error": error,
        "rss_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "rss_children_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
        "notes": Path(notes).read_text().splitlines() if os.path.exists(notes) else [],
    }
    if error is None:
        keys = pa.get_pareto_solutions()
        scale = np.asarray(d["scale"], float)
        out.update(
            models_solved=pa.model.models_solved.value(),
            infeasibilities=pa.model.infeasibilities.value(),
            num_sols=pa.num_sols,
            num_unique_sols=pa.num_unique_sols,
            num_unique_pareto_sols=pa.num_unique_pareto_sols,
            # In the units of the instance (divided by the scales):
            payoff=(np.asarray(pa.get_payoff_table()) / scale).tolist(),  # rows: objective optimised; raw senses
            grid=(np.asarray(pa.model.e) / scale[1:, None]).tolist(),  # max sense (F3 negated), per constrained objective
            obj_range=(np.asarray(pa.model.obj_range) / scale[1:]).tolist(),
            points=[list(np.asarray(k) / scale) for k in keys],
            allocations=[np.asarray(pa.get_decision_variables(k)["W"].sort_index().values, float).tolist() for k in keys]
            if hasattr(model, "W") else [],
        )
    with open(dst, "w") as fh:
        json.dump(out, fh)
    os.chdir(os.path.dirname(os.path.abspath(dst)))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
