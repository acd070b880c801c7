"""The exact Pareto front by AUGMECON2 (Mavrotas & Florios 2013) on HiGHS and the certified F2 method.

One objective is optimised (the primary), the others become ε-constraints on a
grid between their worst and best values in the payoff table.  Each grid point
solves

    max f_1 + eps · r_1 · (s_2 / r_2 + 10⁻¹ s_3 / r_3)    s.t.  f_k − s_k = e_k, s_k >= 0,

whose optimum is efficient, not just weakly efficient (the augmentation).  AUGMECON2's
bypass skips the grid points that a solution's slacks say give the same allocation,
here in both constrained objectives (the flag array of AUGMECON-R), and an infeasible
grid point settles every tighter one.  No grid point is dropped silently: the
front reports every bypassed, infeasible or failed one.

Linear objectives (F1, F3, T) and the ε-rows live in one persistent HiGHS model
that every grid point re-solves from the previous basis.  F2 enters as the
primary objective through models.coordination (its ε-rows and augmentation are
linear additions to the certified method); the LP model then serves as the
feasibility oracle of each grid point.  F2 is never an ε-constraint.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from coopchain.models.certificate import Instance, evaluate
from coopchain.models.front import OBJECTIVE_SENSE, Front, FrontPoint
from coopchain.models.front_metrics import nondominated
from coopchain.models.scalarise import ScalarisedProblem, payoff_table

Progress = Callable[[float, str], None]

# AUGMECON2's augmentation weight, relative to the primary objective's range.
EPS = 1e-3


def augmecon(
    inst: Instance, objectives: tuple[str, ...] = ("F1", "F2", "F3"), points: int = 100, progress: Progress | None = None
) -> Front:
    """The exact front of the objectives by AUGMECON2; about `points` grid points in all."""
    start = time.perf_counter()
    if len(objectives) not in (2, 3) or len(set(objectives)) != len(objectives) or not set(objectives) <= set(OBJECTIVE_SENSE):
        raise ValueError("a front needs two or three distinct objectives among F1, F2, F3, T")
    primary = "F2" if "F2" in objectives else objectives[0]
    constrained = [k for k in objectives if k != primary]
    problem = ScalarisedProblem(inst, tuple([primary] + constrained))
    table = payoff_table(problem)
    names = problem.objectives
    low, high = table.min(axis=0), table.max(axis=0)
    ranges = np.maximum(high - low, 1e-12 * np.maximum(1.0, np.abs(high)))
    per_axis = max(2, round(points ** (1.0 / len(constrained))))
    grids = [np.linspace(low[names.index(k)], high[names.index(k)], per_axis) for k in constrained]
    steps = [ranges[names.index(k)] / (per_axis - 1) for k in constrained]
    # Augmentation: slack of the innermost objective weighs 1, the next 10⁻¹, relative to
    # the primary's range so that eps means the same for every scale.
    augment = {k: EPS * ranges[0] * 10.0 ** -i / ranges[names.index(k)] for i, k in enumerate(constrained)}

    # The grid as (i, j): i over the inner objective's ε, j over the outer one's (one
    # value when there are two objectives).  A flag marks a point already settled by
    # another: infeasible when a looser point was (both ε only tighten), or the same
    # allocation when a solution's slacks cover it in both objectives (the flag array
    # of AUGMECON-R, which extends AUGMECON2's bypass across rows).
    inner, outer = constrained[0], constrained[1:]
    outer_grid = [()] if not outer else [(e,) for e in grids[1]]
    rows = len(outer_grid)
    total = per_axis * rows
    flags: dict[tuple[int, int], str] = {}
    found: list[np.ndarray] = []
    reported: list[str] = []
    for j, outer_e in enumerate(outer_grid):
        for i in range(per_axis):
            if (i, j) in flags:
                continue
            at_least = {inner: grids[0][i], **dict(zip(outer, outer_e))}
            try:
                W = problem.solve(primary, augment, at_least)
            except ArithmeticError as e:
                reported.append(f"grid point ({i}, {j}) failed and is left out: {e}")
                flags[i, j] = "failed"
                continue
            if W is None:
                for jj in range(j, rows):
                    for ii in range(i, per_axis):
                        flags.setdefault((ii, jj), "infeasible")
                continue
            found.append(W)
            flags[i, j] = "solved"
            reach = [min(per_axis - 1, i + int(max(problem.value(W, inner) - grids[0][i], 0.0) / steps[0] * (1 + 1e-12)))]
            if outer:
                slack = problem.value(W, outer[0]) - outer_e[0]
                reach.append(min(rows - 1, j + int(max(slack, 0.0) / steps[1] * (1 + 1e-12))))
            else:
                reach.append(j)
            for jj in range(j, reach[1] + 1):
                for ii in range(i, reach[0] + 1):
                    flags.setdefault((ii, jj), "bypassed")
            if progress is not None:
                progress(len(flags) / total, f"{len(found)} points")
    counts = {kind: sum(1 for v in flags.values() if v == kind) for kind in ("bypassed", "infeasible")}
    bypassed, infeasible = counts["bypassed"], counts["infeasible"]
    if bypassed:
        reported.append(f"{bypassed} grid point(s) bypassed: their slacks show they give an allocation already found (AUGMECON2 bypass, flag array across rows)")
    if infeasible:
        reported.append(f"{infeasible} grid point(s) infeasible: the ε-constraints there ask more than the data allow")
    front_points = _distinct_nondominated(inst, found, objectives)
    return Front(
        method="augmecon",
        objectives=tuple(objectives),
        points=front_points,
        message=f"{len(front_points)} efficient points from {total} grid points",
        reported=tuple(reported),
        seconds=time.perf_counter() - start,
        ids=inst.ids,
    )


def _distinct_nondominated(inst: Instance, allocations: list[np.ndarray], objectives) -> tuple[FrontPoint, ...]:
    """The efficient points among the grid's allocations, each once (grid points often share one)."""
    points = [FrontPoint(W, evaluate(inst, W)) for W in allocations]
    if not points:
        return ()
    matrix = np.array([[p.objective(k) for k in objectives] for p in points])
    keep = nondominated(matrix, tuple(OBJECTIVE_SENSE[k] for k in objectives))
    seen, out = set(), []
    for p, row, efficient in zip(points, matrix, keep):
        key = tuple(f"{x:.9g}" for x in row)
        if efficient and key not in seen:
            seen.add(key)
            out.append(p)
    return tuple(out)
