"""An independent reference solver for the allocation model of SPEC §1 (test-only).

The solver layer (models/) exploits the structure of the model: every
per-enterprise constraint is folded into a box and only R + 2 rows couple the
enterprises.  This module deliberately does not: it writes every constraint of
SPEC §1 the way the SPEC states it, straight from the fields of
``models.certificate.Instance``, and hands the whole model to cvxpy

- max F1 and min F3 as LPs, solved by HiGHS;
- max F2 with uniform α as max Σ log U_j (D² is then the geometric mean of U),
  an exponential-cone program solved by Clarabel;
- max F2 with general α by a grid over s = Σ U_j: for fixed s the problem
  max mean(log U) + log(α·U) s.t. Σ U = s is concave, so each grid point is an
  exponential-cone program solved by Clarabel; the best point found is a
  *lower* reference (ours must be at least as good), not a certified optimum;
- a brute-force grid search for n <= 2, to check the above on hand-made cases.

The only things taken from models.certificate are the ``Instance`` fields and
``evaluate`` (the definition of F1, F2 = D, C, T, F3); never ``enterprise_box``
or ``coupling_rows``, so a slip in those is caught rather than copied.

Interior-point points are approximate.  Clarabel's answers can break a
constraint by about its tolerance (1e-8 relative); the F2 functions clip W into
the enterprise's own bounds (so U stays in its domain) and report D of the
returned point, which may therefore exceed the true optimum by about that much.
Compare with a tolerance of 1e-6 relative, not exactly.

Numerics, learnt the hard way (details at each function):
- LP objectives are scaled to coefficients of order 1: HiGHS's absolute
  reduced-cost tolerance otherwise accepts a suboptimal vertex for min F3.
- Clarabel stalls ("InsufficientProgress") on a few percent of the F2 problems,
  depending on how they are written, so each F2 problem has equivalent
  formulations tried in turn.

Each function raises ``ReferenceSolveError`` when cvxpy reports a status other
than ``optimal`` or ``optimal_inaccurate`` for every formulation.  One exception:
in ``reference_f2_general`` a grid point that fails is skipped and counted (it can
only weaken a lower reference); too many failures raise.
"""

from __future__ import annotations

import math
import time
import warnings

import cvxpy as cp
import numpy as np

from coopchain.models.certificate import Instance, evaluate

ACCEPTED_STATUSES = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


class ReferenceSolveError(RuntimeError):
    """cvxpy did not report an optimal solution; the message says which problem and status."""


# --- the constraints of SPEC §1, written out ------------------------------------------


def _own_bounds(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """The per-enterprise interval implied by min/max, caps and reservation (used only to clip).

    Written independently of models.certificate.enterprise_box on purpose.
    """
    lo = inst.volume_min.astype(float).copy()
    hi = inst.volume_max.astype(float).copy()
    c = inst.benefit @ inst.indicator_weight
    for j in range(inst.n):
        if inst.reservation[j] > 0 and c[j] > 0:
            lo[j] = max(lo[j], inst.reservation[j] / c[j])
        for r in range(len(inst.resources)):
            if inst.use[j, r] > 0 and math.isfinite(inst.enterprise_cap[j, r]):
                hi[j] = min(hi[j], inst.enterprise_cap[j, r] / inst.use[j, r])
    return lo, hi


def spec_constraints(inst: Instance, W: cp.Variable) -> list:
    """Every constraint of SPEC §1 on W, one cvxpy constraint per line of the SPEC.

    - min_j <= W_j <= max_j (the upper bound where it is finite);
    - ρ_jr W_j <= R_j^r for every (j, r) with a finite enterprise cap;
    - f_j1 = Σ_k a_k e_jk W_j >= π_j for every enterprise with a reservation π_j > 0
      (π_j = 0 is "no reservation": SPEC §6 makes it optional);
    - Σ_j ρ_jr W_j <= R_0^r for every resource r;
    - D_min <= Σ_j W_j <= D_max.
    U_j in (0, 1] is a condition on the data over the whole box (SPEC §1: reject data
    where it cannot hold), not a constraint on W.
    """
    cons = [W >= inst.volume_min]
    finite_max = np.isfinite(inst.volume_max)
    if finite_max.all():
        cons.append(W <= inst.volume_max)
    elif finite_max.any():
        idx = np.flatnonzero(finite_max)
        cons.append(W[idx] <= inst.volume_max[idx])
    for r in range(len(inst.resources)):
        finite_cap = np.isfinite(inst.enterprise_cap[:, r])
        if finite_cap.all():
            cons.append(cp.multiply(inst.use[:, r], W) <= inst.enterprise_cap[:, r])
        elif finite_cap.any():
            idx = np.flatnonzero(finite_cap)
            cons.append(cp.multiply(inst.use[idx, r], W[idx]) <= inst.enterprise_cap[idx, r])
    reserved = np.flatnonzero(inst.reservation > 0)
    if reserved.size:
        economic = inst.benefit[reserved] @ inst.indicator_weight  # Σ_k a_k e_jk
        cons.append(cp.multiply(economic, W[reserved]) >= inst.reservation[reserved])
    for r in range(len(inst.resources)):
        cons.append(inst.use[:, r] @ W <= inst.cooperative_cap[r])
    cons.append(cp.sum(W) >= inst.demand_min)
    cons.append(cp.sum(W) <= inst.demand_max)
    return cons


def max_violation(inst: Instance, W: np.ndarray) -> float:
    """The largest violation of any SPEC §1 constraint by W, relative to max(1, |limit|); <= 0 when feasible."""
    c = inst.benefit @ inst.indicator_weight
    capped = np.isfinite(inst.enterprise_cap)
    caps = np.where(capped, inst.enterprise_cap, 0.0)
    total = float(W.sum())
    parts = [
        (inst.volume_min - W) / np.maximum(1.0, np.abs(inst.volume_min)),
        np.where(np.isfinite(inst.volume_max), W - inst.volume_max, -np.inf) / np.maximum(1.0, np.abs(inst.volume_max)),
        np.where(inst.reservation > 0, inst.reservation - c * W, -np.inf) / np.maximum(1.0, np.abs(inst.reservation)),
        (np.where(capped, inst.use * W[:, None] - caps, -np.inf) / np.maximum(1.0, np.abs(caps))).ravel(),
        (inst.use.T @ W - inst.cooperative_cap) / np.maximum(1.0, np.abs(inst.cooperative_cap)),
        np.array([inst.demand_min - total]) / max(1.0, abs(inst.demand_min)),
        np.array([total - inst.demand_max]) / max(1.0, abs(inst.demand_max)),
    ]
    return float(max(p.max() for p in parts if p.size))


def _attempt(prob: cp.Problem, solver: str, info: dict | None) -> str:
    """Solve once; the status cvxpy reports, or "solver error" when the solver gives up without one."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "may be inaccurate": the status says so too
        try:
            prob.solve(solver=solver)
            status = prob.status
        except cp.error.SolverError:
            status = "solver error"
    wall = time.perf_counter() - t0
    if info is not None:
        compile_s = float(getattr(prob, "compilation_time", None) or 0.0)
        info["compile_s"] = info.get("compile_s", 0.0) + compile_s
        info["solve_s"] = info.get("solve_s", 0.0) + wall - compile_s
        info["solves"] = info.get("solves", 0) + 1
        info["status"] = status
        info["solver"] = solver
    return status


def _solve_first(attempts, solver: str, what: str, info: dict | None) -> tuple[float, np.ndarray]:
    """Solve the first formulation in ``attempts`` that the solver reports optimal; (objective value, W).

    ``attempts`` are (label, build) pairs; build() returns (cvxpy problem, W expression, value of
    the problem's objective -> the quantity to report).  Equivalent formulations are tried in
    turn because Clarabel stalls ("InsufficientProgress") on a few percent of these problems,
    and which formulation stalls varies from instance to instance.  When every one fails the
    error lists each formulation's status.
    """
    failures = []
    for label, build in attempts:
        t0 = time.perf_counter()
        prob, W, report = build()
        if info is not None:
            info["build_s"] = info.get("build_s", 0.0) + time.perf_counter() - t0
        status = _attempt(prob, solver, info)
        if status in ACCEPTED_STATUSES and W.value is not None:
            if failures and info is not None:
                info["fallbacks"] = info.get("fallbacks", 0) + 1
            return report(prob.value), np.asarray(W.value, dtype=float).reshape(-1)
        failures.append(f"{label}: {status}")
    raise ReferenceSolveError(f"reference {what}: {solver} reports {'; '.join(failures)} (not optimal)")


def _unit_scale(coefficients: np.ndarray) -> float:
    """1 / max |coefficient|: LP objectives are scaled to coefficients of order 1.

    HiGHS judges optimality with absolute tolerances (1e-7 on reduced costs).  The
    footprint costs of F3 are about 1e-5 per unit, so unscaled, HiGHS stops at a
    vertex whose F3 is 5e-5 (n = 1,000) to 3e-3 (n = 10,000) above the optimum and
    calls it optimal.  The value is reported unscaled.
    """
    top = float(np.max(np.abs(coefficients))) if coefficients.size else 0.0
    return 1.0 / top if top > 0 and math.isfinite(top) else 1.0


# --- single objectives ----------------------------------------------------------------


def reference_f1(inst: Instance, info: dict | None = None) -> tuple[float, np.ndarray]:
    """max F1 = Σ_j (Σ_k a_k e_jk) W_j with cvxpy + HiGHS; returns (optimal value, W).

    ``info``, when given, receives build_s (expressions), compile_s (cvxpy's
    canonicalisation), solve_s (solver and unpacking), solves, status and solver.
    """

    def build():
        W = cp.Variable(inst.n, name="W")
        c = inst.benefit @ inst.indicator_weight
        scale = _unit_scale(c)
        prob = cp.Problem(cp.Maximize((scale * c) @ W), spec_constraints(inst, W))
        return prob, W, lambda v: float(v) / scale

    return _solve_first([("LP", build)], cp.HIGHS, "max F1", info)


def reference_f3(inst: Instance, info: dict | None = None) -> tuple[float, np.ndarray]:
    """min F3 = Σ_r ω_r (Σ_j ρ_jr W_j) / R_0^r with cvxpy + HiGHS; returns (optimal value, W)."""

    def build():
        W = cp.Variable(inst.n, name="W")
        per_unit = sum(
            inst.resource_weight[r] * inst.use[:, r] / inst.cooperative_cap[r] for r in range(len(inst.resources))
        )
        scale = _unit_scale(per_unit)
        footprint = sum(
            inst.resource_weight[r] * (inst.use[:, r] @ W) / inst.cooperative_cap[r] for r in range(len(inst.resources))
        )
        return cp.Problem(cp.Minimize(scale * footprint), spec_constraints(inst, W)), W, lambda v: float(v) / scale

    return _solve_first([("LP", build)], cp.HIGHS, "min F3", info)


def objective_term(inst: Instance, name: str, W):
    """A scalarisation's objective `name` in max sense, linear in W (a cvxpy expression or a numpy vector):
    F1, −F3, and for F2 its development index T = α·u0 + Σ_j α_j g_j W_j (docs/certificate.md)."""
    if name == "F1":
        return (inst.benefit @ inst.indicator_weight) @ W
    if name == "F3":
        return -((inst.use @ (inst.resource_weight / inst.cooperative_cap)) @ W)
    return (inst.alpha * inst.g) @ W + float(inst.alpha @ inst.u0)


def _development(inst: Instance, W):
    return inst.u0 + cp.multiply(inst.g, W)


def _clipped_D(inst: Instance, W: np.ndarray) -> tuple[float, np.ndarray]:
    lo, hi = _own_bounds(inst)
    Wc = np.clip(W, lo, hi)
    return evaluate(inst, Wc).F2, Wc


def _scaled_variable(inst: Instance):
    """W = scale ⊙ x with x of order 1 (scale = the finite maxima), for one fallback formulation."""
    scale = np.where(np.isfinite(inst.volume_max) & (inst.volume_max > 0), inst.volume_max, 1.0)
    x = cp.Variable(inst.n, name="x")
    return x, cp.multiply(scale, x)


def reference_f2_uniform(inst: Instance, info: dict | None = None) -> tuple[float, np.ndarray]:
    """max F2 for uniform α: max Σ log U with cvxpy + Clarabel; returns (D, W).

    With α_j = 1/n, T = mean(U) and C = GM(U)/mean(U), so D = sqrt(GM(U)) and
    maximising D maximises Σ log U_j (concave, exponential cone).  The objective
    is the plain sum: scaled by 1/n, Clarabel stalls on most generated instances
    from n = 1,000 on (kept only as a fallback, as is a rescaled variable).  W is
    clipped into the enterprises' own bounds and D is that of the clipped point,
    computed by models.certificate.evaluate (the point may break a coupling row by
    ~1e-8).
    """
    if not inst.uniform_alpha:
        raise ValueError("reference_f2_uniform needs uniform alpha; use reference_f2_general")

    def build(scale_objective: float, scaled: bool):
        def make():
            W = _scaled_variable(inst)[1] if scaled else cp.Variable(inst.n, name="W")
            obj = cp.sum(cp.log(_development(inst, W))) * scale_objective
            return cp.Problem(cp.Maximize(obj), spec_constraints(inst, W)), W, float

        return make

    attempts = [("sum log U", build(1.0, False)), ("mean log U", build(1.0 / inst.n, False)),
                ("sum log U, scaled W", build(1.0, True))]
    _, W = _solve_first(attempts, cp.CLARABEL, "max F2 (uniform alpha)", info)
    return _clipped_D(inst, W)


def _sum_u_range(inst: Instance, info: dict | None) -> tuple[float, np.ndarray, float, np.ndarray]:
    """min and max of S = Σ U_j over the feasible set (two LPs, HiGHS), with their points."""
    out = []
    for sense in (cp.Minimize, cp.Maximize):

        def build(sense=sense):
            W = cp.Variable(inst.n, name="W")
            scale = _unit_scale(inst.g)
            prob = cp.Problem(sense((scale * inst.g) @ W), spec_constraints(inst, W))
            return prob, W, lambda v: float(inst.u0.sum() + v / scale)

        out.append(_solve_first([("LP", build)], cp.HIGHS, f"{sense.__name__.lower()} sum U", info))
    (s_min, w_min), (s_max, w_max) = out
    return s_min, w_min, s_max, w_max


def _f2_at_sum(inst: Instance, s: float, info: dict | None) -> tuple[float, np.ndarray]:
    """max Σ log U + n·log(α·U) subject to Σ U = s and SPEC §1 (Clarabel); returns (D, W).

    That is n·(mean(log U) + log(α·U)), the s-dependent part of log D².  Written
    "balanced" first: n·log T as Σ_j log t_j with t_j <= T = α·U, so that every
    exponential cone carries weight 1 (with one cone weighted n, Clarabel stalls
    from its first iterations on most grid points at n = 10,000).  Then two
    equivalent formulations as fallbacks (see _solve_first): n·log(α·U) as one
    term, and the whole divided by n.
    """

    def build(variant: str):
        def make():
            W = cp.Variable(inst.n, name="W")
            U = _development(inst, W)
            cons = spec_constraints(inst, W) + [inst.g @ W == s - float(inst.u0.sum())]
            if variant == "balanced":
                T = cp.Variable(name="T")
                t = cp.Variable(inst.n, name="t")
                cons += [T == inst.alpha @ U, t <= T]
                obj = cp.sum(cp.log(U)) + cp.sum(cp.log(t))
            elif variant == "mean":
                obj = cp.sum(cp.log(U)) / inst.n + cp.log(inst.alpha @ U)
            else:
                obj = cp.sum(cp.log(U)) + inst.n * cp.log(inst.alpha @ U)
            return cp.Problem(cp.Maximize(obj), cons), W, float

        return make

    attempts = [("balanced", build("balanced")), ("n log T", build("sum")), ("mean", build("mean"))]
    _, W = _solve_first(attempts, cp.CLARABEL, f"max F2 at sum U = {s!r}", info)
    return _clipped_D(inst, W)


def reference_f2_general(
    inst: Instance, grid: int = 40, refine: int = 10, info: dict | None = None, max_skipped: float = 0.25
) -> tuple[float, np.ndarray]:
    """max F2 = D = sqrt(C·T) for any α, by a grid over s = Σ U_j; returns the best (D, W) found.

    C = n·GM(U)/ΣU and T = α·U.  For fixed s, log D² = log n − log s + mean(log U) +
    log(α·U) is concave in W, so each grid point is solved to optimality (Clarabel).
    The range of s comes from two LPs (min and max Σ U, HiGHS); the grid spans it,
    its end points moved inwards by 1e-3 of the range (at the ends the equality
    leaves almost no interior and Clarabel stalls), and the two LP points
    themselves are candidates too.  Then ``refine`` golden-section steps around the
    best grid point.  D is evaluated by models.certificate.evaluate at each
    (clipped) point.  This is a heuristic lower reference: the best D found; ours
    must be at least this (within tolerance).

    A grid or refinement point where every formulation fails is skipped (it only
    weakens this lower reference, it cannot make it wrong) and counted in
    ``info["skipped"]``; more than ``max_skipped`` of the grid failing raises
    ReferenceSolveError, as does the failure of either LP.
    """
    s_min, w_min, s_max, w_max = _sum_u_range(inst, info)
    candidates = [_clipped_D(inst, w_min), _clipped_D(inst, w_max)]
    width = s_max - s_min
    if width <= 1e-12 * max(1.0, abs(s_max)) or grid < 1:
        return max(candidates, key=lambda t: t[0])
    margin = 1e-3 * width
    points = [float(s) for s in np.linspace(s_min + margin, s_max - margin, max(grid, 2))]
    errors: list[str] = []

    def at(s: float) -> tuple[float, np.ndarray] | None:
        try:
            found = _f2_at_sum(inst, s, info)
        except ReferenceSolveError as e:
            errors.append(str(e))
            if info is not None:
                info["skipped"] = info.get("skipped", 0) + 1
            return None
        candidates.append(found)
        return found

    values = [at(s) for s in points]
    if len(errors) > max_skipped * len(points):
        raise ReferenceSolveError(
            f"reference max F2 (general alpha): {len(errors)} of {len(points)} grid points failed; first: {errors[0]}"
        )
    solved = [i for i, v in enumerate(values) if v is not None]
    best_i = max(solved, key=lambda i: values[i][0])
    # Golden-section search in the bracket around the best grid point (a local refinement).
    a, b = points[max(best_i - 1, 0)], points[min(best_i + 1, len(points) - 1)]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0

    def D(s: float) -> float:
        found = at(s)
        return -math.inf if found is None else found[0]

    if refine > 0:
        x1, x2 = b - ratio * (b - a), a + ratio * (b - a)
        f1, f2 = D(x1), D(x2)
        for _ in range(refine - 1):
            if f1 >= f2:
                b, x2, f2 = x2, x1, f1
                x1 = b - ratio * (b - a)
                f1 = D(x1)
            else:
                a, x1, f1 = x1, x2, f2
                x2 = a + ratio * (b - a)
                f2 = D(x2)
    return max(candidates, key=lambda t: t[0])


# --- brute force for n <= 2 ------------------------------------------------------------


def _dense_rows(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """SPEC §1 as dense rows A W <= b (small n only), written out again for the brute force."""
    n = inst.n
    rows: list[np.ndarray] = []
    rhs: list[float] = []

    def row(a: np.ndarray, limit: float) -> None:
        rows.append(np.asarray(a, dtype=float))
        rhs.append(float(limit))

    eye = np.eye(n)
    c = inst.benefit @ inst.indicator_weight
    for j in range(n):
        row(-eye[j], -inst.volume_min[j])
        if math.isfinite(inst.volume_max[j]):
            row(eye[j], inst.volume_max[j])
        for r in range(len(inst.resources)):
            if math.isfinite(inst.enterprise_cap[j, r]):
                row(inst.use[j, r] * eye[j], inst.enterprise_cap[j, r])
        if inst.reservation[j] > 0:
            row(-c[j] * eye[j], -inst.reservation[j])
    for r in range(len(inst.resources)):
        row(inst.use[:, r], inst.cooperative_cap[r])
    row(-np.ones(n), -inst.demand_min)
    row(np.ones(n), inst.demand_max)
    return np.array(rows, dtype=float), np.array(rhs, dtype=float)


def _feasible(A: np.ndarray, b: np.ndarray, W: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """For points W (m, n): does A W <= b hold, up to tol relative?"""
    return np.all(W @ A.T <= b + tol * np.maximum(1.0, np.abs(b)), axis=1)


def _vertices(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All vertices of the polygon / interval {W : A W <= b} for n <= 2 (by brute force)."""
    n = A.shape[1]
    found = []
    if n == 1:
        for a, rhs in zip(A[:, 0], b):
            if a != 0:
                found.append([rhs / a])
    else:
        m = len(b)
        for i in range(m):
            for k in range(i + 1, m):
                M = A[[i, k]]
                if abs(np.linalg.det(M)) < 1e-14 * max(1.0, np.abs(M).max() ** 2):
                    continue
                found.append(np.linalg.solve(M, b[[i, k]]))
    if not found:
        return np.empty((0, n))
    pts = np.array(found, dtype=float)
    return pts[_feasible(A, b, pts, tol=1e-9)]


def _batch_D(inst: Instance, W: np.ndarray) -> np.ndarray:
    """D for each row of W (m, n), from its definition in SPEC §1 (n <= 2 here)."""
    U = inst.u0 + inst.g * W
    n = W.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        C = n * np.exp(np.mean(np.log(U), axis=1)) / U.sum(axis=1)
        D = np.sqrt(C * (U @ inst.alpha))
    return np.where(np.all(U > 0, axis=1), D, -np.inf)


def _zoom_max(f, lo: np.ndarray, hi: np.ndarray, points: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise max of f over [lo_i, hi_i] (vectors): a dense grid, then zoom around the best, `levels` times.

    f maps an (m, p) array of abscissae to an (m, p) array of values (−inf where infeasible).
    """
    lo = lo.astype(float).copy()
    hi = hi.astype(float).copy()
    best_x = lo.copy()
    best_v = np.full(lo.shape, -np.inf)
    for _ in range(levels):
        t = np.linspace(0.0, 1.0, points)
        X = lo[:, None] + (hi - lo)[:, None] * t[None, :]
        V = f(X)
        i = np.argmax(V, axis=1)
        rows = np.arange(len(lo))
        v = V[rows, i]
        better = v > best_v
        best_v = np.where(better, v, best_v)
        best_x = np.where(better, X[rows, i], best_x)
        step = (hi - lo) / (points - 1)
        lo, hi = np.maximum(lo, best_x - 2 * step), np.minimum(hi, best_x + 2 * step)
    return best_x, best_v


def brute_force_f2(inst: Instance, points: int = 401, levels: int = 6) -> tuple[float, np.ndarray]:
    """max F2 for n <= 2 by exhaustive search: (D, W), accurate to far better than 1e-6 relative.

    The feasible set is an interval (n = 1) or a polygon (n = 2), found by
    enumerating the vertices of A W <= b.  For n = 2, every W_1 of a dense grid
    over the polygon's W_1 range gets the interval of feasible W_2, and D is
    maximised over W_2 on a dense grid zoomed in ``levels`` times around its best
    (all W_1 at once); the outer maximum over W_1 is zoomed the same way.  Each
    zoom shrinks the bracket by (points − 1)/4, so 401 points and 6 levels resolve
    W to about 1e-13 of its range.  Polygon vertices are candidates too.  Assumes
    D is unimodal near its maximum at the grid's resolution (true for tiny hand
    cases; this is a check, not a method).
    """
    if inst.n > 2:
        raise ValueError("brute_force_f2 is for n <= 2")
    A, b = _dense_rows(inst)
    verts = _vertices(A, b)
    if len(verts) == 0:
        raise ReferenceSolveError("brute force: the feasible set is empty")
    if inst.n == 1:
        lo, hi = np.array([verts[:, 0].min()]), np.array([verts[:, 0].max()])
        x, v = _zoom_max(lambda X: _batch_D(inst, X.reshape(-1, 1)).reshape(X.shape), lo, hi, points, levels)
        cands = [(float(v[0]), np.array([x[0]]))]
    else:

        def w2_range(w1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            lo2 = np.full(w1.shape, -np.inf)
            hi2 = np.full(w1.shape, np.inf)
            ok = np.ones(w1.shape, dtype=bool)
            for (a1, a2), rhs in zip(A, b):
                room = rhs - a1 * w1
                if a2 > 0:
                    hi2 = np.minimum(hi2, room / a2)
                elif a2 < 0:
                    lo2 = np.maximum(lo2, room / a2)
                else:
                    ok &= room >= -1e-12 * max(1.0, abs(rhs))
            ok &= lo2 <= hi2 + 1e-12 * np.maximum(1.0, np.abs(hi2))
            return np.where(ok, lo2, np.nan), np.where(ok, np.maximum(lo2, hi2), np.nan)

        def inner(W1: np.ndarray) -> np.ndarray:
            flat = W1.reshape(-1)
            lo2, hi2 = w2_range(flat)
            val = np.full(flat.shape, -np.inf)
            ok = ~np.isnan(lo2)
            if ok.any():
                w1 = flat[ok]

                def g(W2):
                    pts = np.stack([np.broadcast_to(w1[:, None], W2.shape), W2], axis=-1).reshape(-1, 2)
                    return _batch_D(inst, pts).reshape(W2.shape)

                _, v2 = _zoom_max(g, lo2[ok], hi2[ok], points, levels)
                val[ok] = v2
            return val.reshape(W1.shape)

        lo1, hi1 = verts[:, 0].min(), verts[:, 0].max()
        x1, _ = _zoom_max(inner, np.array([lo1]), np.array([hi1]), points, levels)
        lo2, hi2 = w2_range(x1)
        w1 = x1[0]

        def g1(W2):
            pts = np.stack([np.full(W2.shape, w1), W2], axis=-1).reshape(-1, 2)
            return _batch_D(inst, pts).reshape(W2.shape)

        x2, v = _zoom_max(g1, lo2, hi2, points, levels)
        cands = [(float(v[0]), np.array([w1, x2[0]]))]
    cands.extend((float(d), w) for d, w in zip(_batch_D(inst, verts), verts))
    W = max(cands, key=lambda t: t[0])[1]
    return evaluate(inst, W).F2, W
