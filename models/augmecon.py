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

Linear objectives (F1, F3, T) and the ε-rows live in one HiGHS model per worker
(built once per front and process, `_built`); every grid point re-solves it from one
fixed basis, the payoff table's first row's, so that a point's answer does not depend
on which points the process solved before it.  F2 enters as the
primary objective through models.coordination (its ε-rows and augmentation are
linear additions to the certified method); the LP model then serves as the
feasibility oracle of each grid point.  F2 is never an ε-constraint.

Spread over processes (SPEC §9).  The payoff rows and the grid points are tasks —
plain functions of picklable data (`payoff_row_task`, `solve_grid_point`) that a
local process pool or a Dask cluster runs alike — and `augmecon` walks the grid in
AUGMECON2's order whatever runs them: it commits each point's outcome in that order,
so the flags, the points found and every sentence are those of the sequential walk.
A grid point can only be settled by an earlier point to its lower left (both ε only
tighten), so a point none of whose unsettled predecessors lies there is safe to
solve at once; `width` such points run together, and when there are none (a front
of two objectives has one row) the next points in order run speculatively, their
results dropped if an earlier point settles them.  The front is the same for any
number of processes, the sequential walk's (`width` 1, tasks run in this process).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import highspy
import numpy as np
from threadpoolctl import threadpool_limits

from coopchain.models.certificate import Instance, evaluate
from coopchain.models.front import OBJECTIVE_SENSE, Front, FrontPoint
from coopchain.models.front_metrics import nondominated
from coopchain.models.scalarise import ScalarisedProblem, payoff_row

Progress = Callable[[float, str], None]
Submit = Callable[..., Future]  # submit(fn, *args) -> a future (concurrent.futures or Dask)

# AUGMECON2's augmentation weight, relative to the primary objective's range.
EPS = 1e-3
_POLL_S = 0.1  # how often a waiting walk asks `stop`
_BUILT_PER_THREAD = 4  # fronts whose HiGHS model a worker keeps (jobs interleave in a shared pool)


class FrontStopped(Exception):
    """`stop()` turned true: the walk cancelled its pending points and returns nothing."""


@dataclass(frozen=True, eq=False)
class GridSpec:
    """What every task of one front needs: the instance and the objectives, primary first.
    `key` names this front run, so that a worker builds its HiGHS model once per front."""

    key: str
    inst: Instance
    objectives: tuple[str, ...]  # as asked
    names: tuple[str, ...]  # primary (F2 when asked for), then the ε-constrained ones

    @property
    def primary(self) -> str:
        return self.names[0]

    @property
    def constrained(self) -> tuple[str, ...]:
        return self.names[1:]


@dataclass(frozen=True, eq=False)
class PayoffRow:
    values: np.ndarray  # max sense, F2 as ψ, in the order of GridSpec.names
    basis: tuple[tuple[int, ...], tuple[int, ...]]  # the LP's final basis (column, row statuses)


@dataclass(frozen=True, eq=False)
class GridPlan:
    """The ε-grid: `grids[0]` over the inner constrained objective (index i), `grids[1]` over the
    outer one (index j; absent with two objectives), in max sense."""

    per_axis: int
    rows: int
    grids: tuple[np.ndarray, ...]
    steps: tuple[float, ...]
    augment: dict[str, float]
    basis: tuple[tuple[int, ...], tuple[int, ...]]  # every grid point starts from it

    @property
    def total(self) -> int:
        return self.per_axis * self.rows


@dataclass(frozen=True, eq=False)
class GridOutcome:
    """One grid point's answer: "solved" (allocation and the constrained objectives' values, max
    sense), "infeasible", or "failed" (message)."""

    cell: tuple[int, int]
    status: str
    allocation: np.ndarray | None = None
    inner: float = 0.0
    outer: float = 0.0
    message: str = ""


@dataclass
class WalkStats:
    """How the walk ran: tasks solved, speculative results dropped (the price of `width` > 1)."""

    solved: int = 0
    dropped: int = 0
    peak: int = 0  # the most grid points in flight at once
    cancelled: int = 0
    seconds: dict = field(default_factory=dict)


def grid_spec(inst: Instance, objectives: tuple[str, ...]) -> GridSpec:
    if len(objectives) not in (2, 3) or len(set(objectives)) != len(objectives) or not set(objectives) <= set(OBJECTIVE_SENSE):
        raise ValueError("a front needs two or three distinct objectives among F1, F2, F3, T")
    primary = "F2" if "F2" in objectives else objectives[0]
    names = (primary, *(k for k in objectives if k != primary))
    return GridSpec(uuid.uuid4().hex, inst, tuple(objectives), names)


# --- the task functions: run in this process, a pool process or a Dask worker alike ---------------


def payoff_row_task(spec: GridSpec, index: int) -> PayoffRow:
    """Row `index` of the payoff table, on a model of its own (so any process gives the same row)."""
    problem = ScalarisedProblem(spec.inst, spec.names)
    with threadpool_limits(limits=1, user_api="blas"):  # as models.solve: one BLAS thread per process
        values = payoff_row(problem, spec.names[index])
    basis = problem.lp.highs.getBasis()
    return PayoffRow(values, (tuple(int(s) for s in basis.col_status), tuple(int(s) for s in basis.row_status)))


_built = threading.local()  # per thread: a Dask worker may run tasks in several threads


def _problem(spec: GridSpec) -> ScalarisedProblem:
    cache = getattr(_built, "problems", None)
    if cache is None:
        cache = _built.problems = OrderedDict()
    problem = cache.get(spec.key)
    if problem is None:
        problem = cache[spec.key] = ScalarisedProblem(spec.inst, spec.names)
        while len(cache) > _BUILT_PER_THREAD:
            cache.popitem(last=False)
    cache.move_to_end(spec.key)
    return problem


def _forget(key: str) -> None:
    cache = getattr(_built, "problems", None)
    if cache is not None:
        cache.pop(key, None)


def _start_from(problem: ScalarisedProblem, basis: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    """Forget the previous solve and start from `basis`: the answer is then the same in every process."""
    highs = problem.lp.highs
    highs.clearSolver()
    start = highspy.HighsBasis()
    start.col_status = [highspy.HighsBasisStatus(s) for s in basis[0]]
    start.row_status = [highspy.HighsBasisStatus(s) for s in basis[1]]
    start.valid = True
    highs.setBasis(start)


def solve_grid_point(spec: GridSpec, plan: GridPlan, cell: tuple[int, int]) -> GridOutcome:
    """The task of one grid point (i, j): max primary + augmentation with the ε-rows of the cell."""
    problem = _problem(spec)
    i, j = cell
    inner, outer = spec.constrained[0], spec.constrained[1:]
    at_least = {inner: float(plan.grids[0][i]), **{k: float(plan.grids[1][j]) for k in outer}}
    _start_from(problem, plan.basis)
    try:
        # One BLAS thread, as models.solve: the F2 method multiplies small matrices thousands of
        # times, and a pool already has a process per core.
        with threadpool_limits(limits=1, user_api="blas"):
            W = problem.solve(spec.primary, plan.augment, at_least)
    except ArithmeticError as e:
        return GridOutcome(cell, "failed", message=f"grid point ({i}, {j}) failed and is left out: {e}")
    if W is None:
        return GridOutcome(cell, "infeasible")
    return GridOutcome(cell, "solved", W, problem.value(W, inner), problem.value(W, outer[0]) if outer else 0.0)


# --- the plan and the walk --------------------------------------------------------------------


def grid_plan(spec: GridSpec, rows: list[PayoffRow], points: int) -> GridPlan:
    table = np.array([r.values for r in rows])
    names, constrained = spec.names, spec.constrained
    low, high = table.min(axis=0), table.max(axis=0)
    ranges = np.maximum(high - low, 1e-12 * np.maximum(1.0, np.abs(high)))
    per_axis = max(2, round(points ** (1.0 / len(constrained))))
    grids = tuple(np.linspace(low[names.index(k)], high[names.index(k)], per_axis) for k in constrained)
    steps = tuple(float(ranges[names.index(k)] / (per_axis - 1)) for k in constrained)
    # Augmentation: slack of the innermost objective weighs 1, the next 10⁻¹, relative to
    # the primary's range so that eps means the same for every scale.
    augment = {k: float(EPS * ranges[0] * 10.0 ** -i / ranges[names.index(k)]) for i, k in enumerate(constrained)}
    return GridPlan(per_axis, per_axis if len(constrained) > 1 else 1, grids, steps, augment, rows[0].basis)


class _Walk:
    """The flag array of AUGMECON-R over the grid, in AUGMECON2's order (j outer, i inner).

    A flag marks a point already settled by another: infeasible when a looser point was
    (both ε only tighten), or the same allocation when a solution's slacks cover it in
    both objectives.  Outcomes are committed in the grid's order only, so the flags are
    those of the sequential walk whatever order the outcomes arrive in."""

    def __init__(self, plan: GridPlan):
        self.plan = plan
        self.order = [(i, j) for j in range(plan.rows) for i in range(plan.per_axis)]
        self.flags: dict[tuple[int, int], str] = {}
        self.position = 0
        self.found: list[np.ndarray] = []
        self.reported: list[str] = []

    def current(self) -> tuple[int, int] | None:
        while self.position < len(self.order) and self.order[self.position] in self.flags:
            self.position += 1
        return self.order[self.position] if self.position < len(self.order) else None

    def next_cells(self, busy, room: int) -> list[tuple[int, int]]:
        """Up to `room` unsettled points to solve: safe ones (no unsettled earlier point at their
        lower left, i.e. with i' <= i, since every earlier point has j' <= j), then, in a grid of
        one row, the next ones in order."""
        safe, risky = [], []
        lowest = self.plan.per_axis  # the smallest i of the unsettled points passed so far
        for cell in self.order[self.position:]:
            if len(safe) >= room or (lowest == 0 and len(risky) >= room):
                break
            if cell in self.flags:
                continue
            if cell not in busy:
                (safe if cell[0] < lowest else risky).append(cell)
            lowest = min(lowest, cell[0])
        # Speculation only where nothing else can run: a one-row grid (two objectives).  In a
        # grid of rows, a safe point is usually at hand (the next row's first), and a
        # speculative one there was dropped four times in ten (the sample, 64 points).
        return (safe + (risky if self.plan.rows == 1 else []))[:room]

    def commit(self, outcome: GridOutcome) -> None:
        plan = self.plan
        i, j = outcome.cell
        if outcome.status == "failed":
            self.reported.append(outcome.message)
            self.flags[i, j] = "failed"
            return
        if outcome.status == "infeasible":
            for jj in range(j, plan.rows):
                for ii in range(i, plan.per_axis):
                    self.flags.setdefault((ii, jj), "infeasible")
            return
        self.found.append(outcome.allocation)
        self.flags[i, j] = "solved"
        reach_i = min(plan.per_axis - 1, i + int(max(outcome.inner - plan.grids[0][i], 0.0) / plan.steps[0] * (1 + 1e-12)))
        reach_j = j
        if plan.rows > 1:
            slack = outcome.outer - plan.grids[1][j]
            reach_j = min(plan.rows - 1, j + int(max(slack, 0.0) / plan.steps[1] * (1 + 1e-12)))
        for jj in range(j, reach_j + 1):
            for ii in range(i, reach_i + 1):
                self.flags.setdefault((ii, jj), "bypassed")


def _inline(fn, *args) -> Future:
    """Run a task here and now: the sequential walk (width 1) through the same task functions."""
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except Exception as e:  # handed to the walk through the future, as a pool would
        future.set_exception(e)
    return future


def _next_done(done: queue.Queue, stop: Callable[[], bool] | None):
    while True:
        if stop is not None and stop():
            raise FrontStopped("stopped on request")
        try:
            return done.get(timeout=_POLL_S)
        except queue.Empty:
            continue


def augmecon(
    inst: Instance,
    objectives: tuple[str, ...] = ("F1", "F2", "F3"),
    points: int = 100,
    progress: Progress | None = None,
    *,
    submit: Submit | None = None,
    width: int = 1,
    stop: Callable[[], bool] | None = None,
    stats: WalkStats | None = None,
) -> Front:
    """The exact front of the objectives by AUGMECON2; about `points` grid points in all.

    `submit(fn, *args)` runs a task and returns its future (a process pool's or a Dask
    client's); without it the tasks run here, one after another.  `width` grid points
    are in flight at once.  The front is the same for every `submit` and `width`.
    `stop()` is asked while the walk waits: when true, pending points are cancelled and
    FrontStopped raised.  `stats`, when given, is filled in."""
    start = time.perf_counter()
    spec = grid_spec(inst, tuple(objectives))
    submit = submit or _inline
    width = max(1, int(width))
    stats = stats if stats is not None else WalkStats()
    done: queue.Queue = queue.Queue()
    inflight: dict[tuple[int, int], Future] = {}
    try:
        for index in range(len(spec.names)):
            future = submit(payoff_row_task, spec, index)
            inflight[(-1, index)] = future
            future.add_done_callback(lambda f, key=(-1, index): done.put((key, f)))
        rows: dict[int, PayoffRow] = {}
        while len(rows) < len(spec.names):
            key, future = _next_done(done, stop)
            rows[key[1]] = future.result()
            del inflight[key]
        plan = grid_plan(spec, [rows[k] for k in range(len(spec.names))], points)
        stats.seconds["payoff"] = time.perf_counter() - start
        walk = _Walk(plan)
        results: dict[tuple[int, int], GridOutcome] = {}
        while True:
            cell = walk.current()
            while cell is not None and cell in results:
                walk.commit(results.pop(cell))
                if progress is not None:
                    progress(len(walk.flags) / plan.total, f"{len(walk.found)} points, {len(walk.flags)} of {plan.total} grid points settled")
                cell = walk.current()
            if cell is None:
                break
            for settled in [c for c in inflight if c in walk.flags]:  # settled by an earlier point
                if inflight.pop(settled).cancel():
                    stats.cancelled += 1
            for settled in [c for c in results if c in walk.flags]:
                del results[settled]
                stats.dropped += 1
            for cell in walk.next_cells(set(inflight) | set(results), width - len(inflight)):
                future = submit(solve_grid_point, spec, plan, cell)
                inflight[cell] = future
                future.add_done_callback(lambda f, key=cell: done.put((key, f)))
            stats.peak = max(stats.peak, len(inflight))
            key, future = _next_done(done, stop)
            if inflight.get(key) is not future:
                if not future.cancelled():
                    stats.dropped += 1  # settled while it ran
                continue
            del inflight[key]
            results[key] = future.result()  # a task's own error (a lost process) ends the walk
            stats.solved += 1
    finally:
        for future in inflight.values():
            future.cancel()
        _forget(spec.key)  # the tasks run here (width 1) built a model in this thread
    counts = {kind: sum(1 for v in walk.flags.values() if v == kind) for kind in ("bypassed", "infeasible")}
    bypassed, infeasible = counts["bypassed"], counts["infeasible"]
    reported = list(walk.reported)
    if bypassed:
        reported.append(f"{bypassed} grid point(s) bypassed: their slacks show they give an allocation already found (AUGMECON2 bypass, flag array across rows)")
    if infeasible:
        reported.append(f"{infeasible} grid point(s) infeasible: the ε-constraints there ask more than the data allow")
    front_points = _distinct_nondominated(inst, walk.found, objectives)
    stats.seconds["total"] = time.perf_counter() - start
    return Front(
        method="augmecon",
        objectives=tuple(objectives),
        points=front_points,
        message=f"{len(front_points)} efficient points from {plan.total} grid points",
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
