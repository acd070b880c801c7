"""max F2, the coupling coordination degree, as a certified global optimum (SPEC §1).

F2 = D = sqrt(C·T) with C = n·GM(U)/S, S = Σ U_j and T = Σ α_j U_j, so

    ψ = log D² = log n + mean(log U) + log T − log S.

Uniform α makes T = S/n and ψ = mean(log U): a separable concave maximum over
each enterprise's box and the R + 2 coupling rows.  Its Lagrangian dual has
R + 2 variables and a closed form (models.certificate.log_dual_terms); it is
convex and once differentiable, and projected Newton minimises it in a few
dozen evaluations.  The Lagrangian maximiser at the dual optimum is the primal
optimum; made exactly feasible (models.feasibility), its value and the dual
value bracket the optimum: that is the certificate.

General α adds log T − log S, and −log S is convex: ψ is not concave.  On a piece
s_lo <= S <= s_hi the chord of −log S lies above it and log T lies below its
tangents, so ψ has a concave upper bound on the piece whose excess is at most
(log(s_hi/s_lo))²/8; its dual adds the two rows of the piece and the tangent
point τ (models.certificate.coupling_piece_bound).  Branch and bound over S
splits the piece with the highest bound until every piece's bound is within the
gap of the best allocation found; the pieces and their multipliers are the
certificate.  Because the excess shrinks with the square of a piece's width, a
few dozen pieces suffice.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from coopchain.models.certificate import (
    Extras,
    GAP_LIMIT,
    Instance,
    certificate_document,
    coupling_rows,
    enterprise_box,
    evaluate,
    level_sum_range,
    log_coupling,
    log_dual_terms,
    piece_rows,
    piece_value,
    secant_slope,
)
from coopchain.models.feasibility import NoFeasibleAllocation, make_feasible
from coopchain.models.solution import Solution, certified_solution

Progress = Callable[[float, str], None]

# The solver aims at a hundredth of the gap a certificate may claim, so that rounding
# on the auditor's machine cannot push a certificate over the limit.
_AIM = 1e-2
_MAX_NEWTON_STEPS = 200
# A Newton step that promises less than this (relative) is rounding noise.
_CONVERGED = 1e-15
# A Newton step that promises more than this (relative) but finds no descent is not converged.
_FAR = 1e-9
# Branch and bound stops splitting here and reports what it has proven; at n = 100,000
# rounding in the dual's sum stops the bounds improving near a gap of 1e-9 in D.
_MAX_PIECES = 400


@dataclass(frozen=True, eq=False)
class CoordinationResult:
    """The best allocation found for max ψ + ℓ·W, its value, the dual bound, and the dual data that prove it."""

    allocation: np.ndarray
    value: float
    bound: float
    multipliers: np.ndarray | None  # uniform α: the coupling rows' (then the extra rows')
    pieces: list | None  # general α: (s_lo, s_hi, tau, multipliers) tiling the level sum's range


@dataclass
class _Dual:
    """The state of one dual minimisation: multipliers, dual value, maximiser W and the gradient."""

    lam: np.ndarray
    q: float
    W: np.ndarray
    grad: np.ndarray


class _PieceDual:
    """The dual of a piece, in units of ψ, as a function of z = (multipliers, and τ for general α).

    B(z) = constant(τ) + (z·c + Σ_j max_{W_j in box} [log U_j − k_j W_j]) / n,
    k = Aᵀz + k0.  Without τ: A = G, c = h, k0 = 0, constant = 0 (uniform α).
    With τ (the last coordinate): A = [G_piece; −n α g], c = [h_piece; n T0],
    k0 = n β g, constant = log n − log τ − 1 − log s_lo + β s_lo − β Σ u0.
    """

    def __init__(self, inst: Instance, extras: Extras, s_lo: float | None = None, s_hi: float | None = None):
        self.inst, n = inst, inst.n
        self.lo, self.hi = enterprise_box(inst)
        if s_lo is None:
            _, G, h = coupling_rows(inst)
            self.A, self.c = np.vstack([G, extras.rows]), np.append(h, extras.rhs)
            self.k0, self.constant, self.has_tau = -n * extras.linear, 0.0, False
        else:
            G, h = piece_rows(inst, s_lo, s_hi)
            beta = secant_slope(s_lo, s_hi)
            self.A = np.vstack([G, extras.rows, -n * inst.alpha * inst.g])
            self.c = np.concatenate([h, extras.rhs, [n * float(inst.alpha @ inst.u0)]])
            self.k0 = n * beta * inst.g - n * extras.linear
            self.constant = math.log(n) - 1.0 - math.log(s_lo) + beta * s_lo - beta * float(inst.u0.sum())
            self.has_tau = True
        self.n = n
        # With every g_j > 0 (the usual case) `_terms` is log_dual_terms's arithmetic without its
        # masks and wrappers: most of the solver's time is this evaluation, tens of thousands of
        # times on a small problem, where numpy's per-call overhead is most of its cost.
        self.u0_over_g = inst.u0 / inst.g if bool(np.all(inst.g > 0)) else None

    def _terms(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.u0_over_g is None:
            return log_dual_terms(k, self.inst.u0, self.inst.g, self.lo, self.hi)
        # 1/k − u0/g for k > 0, else +inf (the term increases in W: take hi), as log_dual_terms.
        stationary = np.divide(1.0, k, out=np.full_like(k, math.inf), where=k > 0) - self.u0_over_g
        W = np.minimum(np.maximum(stationary, self.lo), self.hi)
        return W, np.log(self.inst.u0 + self.inst.g * W) - k * W

    def at(self, z: np.ndarray) -> _Dual:
        n = self.n
        if self.has_tau and z[-1] <= 0:
            return _Dual(z, math.inf, self.hi, np.zeros_like(z))
        W, terms = self._terms(self.A.T @ z + self.k0)
        value = self.constant + (float(z @ self.c) + float(terms.sum())) / n
        grad = (self.c - self.A @ W) / n
        if self.has_tau:
            value -= math.log(z[-1])
            grad[-1] -= 1.0 / z[-1]
        return _Dual(z, value, W, grad)

    def curvature(self, d: _Dual) -> np.ndarray:
        """The Hessian: A diag(1/k_j²) Aᵀ / n over enterprises strictly inside their box, plus 1/τ²."""
        k = self.A.T @ d.lam + self.k0
        inside = (d.W > self.lo) & (d.W < self.hi) & (k > 0) & (self.inst.g > 0)
        Ai = self.A[:, inside]
        H = (Ai / k[inside] ** 2) @ Ai.T / self.inst.n
        if self.has_tau:
            H[-1, -1] += 1.0 / d.lam[-1] ** 2
        return H

    def start(self) -> np.ndarray:
        """A first z of the right magnitude: at the optimum k_j is about g_j / U_j, and τ about 1/T."""
        m = self.A.shape[0]
        z = np.zeros(m)
        W = self.hi
        if self.has_tau:
            z[-1] = 1.0 / float(self.inst.alpha @ (self.inst.u0 + self.inst.g * W))
        grad = self.at(z).grad
        marginal = self.inst.g / (self.inst.u0 + self.inst.g * W)
        rows = range(m - 1 if self.has_tau else m)
        broken = [i for i in rows if grad[i] < 0]
        for i in broken:
            positive = self.A[i] > 0
            if positive.any():
                z[i] = _median(marginal[positive] / self.A[i, positive]) / len(broken)
        return z


def _median(x: np.ndarray) -> float:
    """np.median's value (the mean of the middle two when their count is even) without its import of numpy.ma,
    50 ms of a command's start-up: x here is finite, so np.median's NaN check has nothing to find."""
    k = len(x)
    part = np.partition(x, [(k - 1) // 2, k // 2])
    return float((part[(k - 1) // 2] + part[k // 2]) / 2)


def _minimise(dual: _PieceDual, lam: np.ndarray, good_enough: Callable[[_Dual], bool]) -> _Dual:
    """Projected Newton (Bertsekas 1982) on the convex dual over lam >= 0.

    Stops as soon as `good_enough` accepts the current point (the gap is closed, or
    the piece is pruned), when no step decreases q any more, or after a fixed
    number of steps; the caller judges the result by its bound, which holds for
    any lam >= 0.
    """
    d = dual.at(lam)
    for _ in range(_MAX_NEWTON_STEPS):
        if good_enough(d):
            return d
        projected = d.lam - np.maximum(d.lam - d.grad, 0.0)
        eps = min(1e-12 + float(np.abs(projected).max()), 1e-3) * max(1.0, float(np.abs(d.lam).max()))
        active = (d.lam <= eps) & (d.grad > 0)
        free = ~active
        H = dual.curvature(d)
        step = np.zeros_like(d.lam)
        step[active] = -d.grad[active] / np.maximum(np.diag(H)[active], 1e-300)
        if free.any():
            Hf = H[np.ix_(free, free)]
            scale = float(np.trace(Hf)) / max(1, Hf.shape[0])
            try:
                step[free] = -np.linalg.solve(Hf + (1e-12 * scale + 1e-300) * np.eye(len(Hf)), d.grad[free])
            except np.linalg.LinAlgError:
                step[free] = -d.grad[free]
            if not np.all(np.isfinite(step)) or scale == 0.0:
                step[free] = -d.grad[free]
        step[~np.isfinite(step)] = 0.0
        predicted = -float(d.grad @ step)
        if predicted <= _CONVERGED * max(1.0, abs(d.q)):
            return d  # the predicted decrease is below rounding: converged
        improved = _line_search(dual, d, step)
        if improved is None and predicted > _FAR * max(1.0, abs(d.q)):
            # Far from the optimum a singular curvature (every enterprise at a bound) can make
            # the Newton step useless; the projected gradient still descends.
            improved = _line_search(dual, d, -d.grad * max(1.0, float(np.abs(d.lam).max())) / max(1e-300, float(np.abs(d.grad).max())))
        if improved is None:
            return d  # converged to rounding: no step decreases q
        d = improved
    return d


def _line_search(dual: _PieceDual, d: _Dual, step: np.ndarray) -> _Dual | None:
    """Armijo backtracking along `step`, projected on lam >= 0; None if no point decreases q."""
    t = 1.0
    for _ in range(60):
        trial = dual.at(np.maximum(d.lam + t * step, 0.0))
        if trial.q <= d.q + 1e-4 * float(d.grad @ (trial.lam - d.lam)):
            return trial if trial.q < d.q else None  # equal: rounding, nothing to gain
        t *= 0.5
    return None


def _warm_start(dual: _PieceDual, z0: np.ndarray, ratio: float) -> np.ndarray:
    """z0, found for another κ, or z0 with the rows' multipliers scaled by ratio = κ_old/κ: whichever
    has the lower dual value.  Where ℓ/κ dominates the Lagrangian (small κ) the multipliers are
    about an LP's duals over κ, so they scale with 1/κ; where ψ dominates they barely move."""
    if ratio == 1.0:
        return z0
    scaled = z0.copy()
    scaled[:-1] *= ratio
    return scaled if dual.at(scaled).q < dual.at(z0).q else z0


@dataclass(order=True)
class _Piece:
    neg_bound: float  # heap order: the highest bound first
    s_lo: float
    s_hi: float
    z: np.ndarray = None


def maximise_psi(inst: Instance, extras: Extras, psi_tol: float, progress: Progress | None = None) -> CoordinationResult:
    """max ψ(W) + ℓ·W over feasible W with the extra rows, to within psi_tol, with the dual data that prove it.

    Allocations are made exactly feasible for the SPEC's constraints; the extra rows
    hold as the Lagrangian maximiser holds them (to rounding).
    """
    best_value, best_W = -math.inf, None

    def offer(W: np.ndarray) -> None:
        nonlocal best_value, best_W
        V = make_feasible(inst, W, extras.rows, extras.rhs)
        value = log_coupling(inst, V) + float(extras.linear @ V)
        if value > best_value:
            best_value, best_W = value, V

    def settle(dual: _PieceDual, z0: np.ndarray, tol: float) -> _Dual:
        # Each piece's first and last Lagrangian maximisers are offered as allocations;
        # offering every step's would cost a repair each for no better pruning.
        offer(dual.at(z0).W)
        d = _minimise(dual, z0, lambda d: d.q <= best_value + tol)
        offer(d.W)
        return d

    if inst.uniform_alpha:
        # One dual, so run Newton to convergence: the allocation comes out as exact as
        # the value (a value gap ε leaves the allocation only within about √ε).
        dual = _PieceDual(inst, extras)
        d = settle(dual, dual.start(), 0.0)
        return CoordinationResult(best_W, best_value, d.q, d.lam, None)

    s_min, s_max = level_sum_range(inst)

    def piece(s_lo: float, s_hi: float, z0: np.ndarray | None) -> _Piece:
        dual = _PieceDual(inst, extras, s_lo, s_hi)
        d = settle(dual, dual.start() if z0 is None else z0, psi_tol)
        return _Piece(-d.q, s_lo, s_hi, d.lam)

    heap = [piece(s_min, s_max, None)]
    first_gap = None
    while True:
        top = heap[0]
        gap = -top.neg_bound - best_value
        first_gap = first_gap or max(gap, psi_tol)
        if progress is not None and first_gap > psi_tol:
            done = math.log(first_gap / max(gap, psi_tol)) / math.log(first_gap / psi_tol)
            progress(min(1.0, max(0.0, done)), f"F2 gap {max(gap, 0.0) / 2:.1e}")
        if gap <= psi_tol or len(heap) >= _MAX_PIECES or not top.s_lo < 0.5 * (top.s_lo + top.s_hi) < top.s_hi:
            break  # proven, or splitting can prove no more: the bound says what is proven
        heapq.heappop(heap)
        mid = 0.5 * (top.s_lo + top.s_hi)
        heapq.heappush(heap, piece(top.s_lo, mid, top.z))
        heapq.heappush(heap, piece(mid, top.s_hi, top.z))
    ordered = sorted(heap, key=lambda p: p.s_lo)
    pieces = [(p.s_lo, p.s_hi, p.z[-1], p.z[:-1]) for p in ordered]
    return CoordinationResult(best_W, best_value, -heap[0].neg_bound, None, pieces)


@dataclass(frozen=True, eq=False)
class FloorResult:
    """max ℓ·W subject to ψ >= c: the best allocation, its value, the bound and the pieces that prove it."""

    allocation: np.ndarray
    value: float
    bound: float
    pieces: list  # (s_lo, s_hi, tau, multipliers, kappa)


def maximise_linear_with_floor(inst: Instance, extras: Extras, floor: float, start: np.ndarray, tol: float) -> FloorResult:
    """max ℓ·W (ℓ = extras.linear) over feasible W with the extra rows and ψ(W) >= floor, general α.

    ψ is not concave, so one multiplier of ψ >= floor can leave a duality gap.  On a
    piece of S the concave over-estimator of ψ (models.certificate.coupling_piece_bound)
    replaces ψ; the relaxed problem is convex, and its bound min over κ > 0 of
    κ (bound of ψ + (ℓ/κ)·W − floor) is found by bisection on κ: the derivative is
    ψ̂(W_κ) − floor, which grows with κ.  Branch and bound over S then splits the
    piece with the highest bound until the bounds meet the best allocation found
    whose true ψ meets the floor.  `start` is such an allocation (e.g. max ψ).
    """
    s_min, s_max = level_sum_range(inst)
    best_W = start
    best_value = float(extras.linear @ start)
    scale = max(1.0, abs(best_value))

    def offer(W: np.ndarray) -> None:
        nonlocal best_W, best_value
        try:
            V = make_feasible(inst, W, extras.rows, extras.rhs)
        except NoFeasibleAllocation:
            return
        # ℓ is linear along the segment from V to `start`, and ℓ·start <= best_value (start was the
        # first incumbent), so no point of it beats the incumbent unless V does: then neither
        # the floor test nor the bisection below can change the outcome.
        if float(extras.linear @ V) <= best_value:
            return
        if log_coupling(inst, V) < floor:
            # The relaxation's maximiser meets the floor only through the over-estimate of ψ;
            # the shortest step towards `start` (which meets it) on the segment does too.
            # Both ends meet the linear constraints, so every point between does.
            lo, hi = 0.0, 1.0
            for _ in range(50):
                if float(extras.linear @ (V + lo * (start - V))) <= best_value:
                    return  # ℓ falls along the segment: every point from lo on is no better
                t = 0.5 * (lo + hi)
                if log_coupling(inst, V + t * (start - V)) >= floor:
                    hi = t
                else:
                    lo = t
            V = V + hi * (start - V)
        value = float(extras.linear @ V)
        if value > best_value and log_coupling(inst, V) >= floor:
            best_W, best_value = V, value

    def piece(s_lo: float, s_hi: float, kappa: float, z0: np.ndarray | None) -> _Piece:
        # Φ(κ) = κ (min_z B_κ(z) − floor) is convex in κ (a maximum of functions affine in κ) with
        # derivative ψ̂(W_κ) − floor, so a tangent at each end of a bracket [lo, hi] of its
        # minimum bounds it from below where they cross: the κ search stops once the best Φ
        # found is within a tenth of the tolerance (or a thousandth of its excess over the
        # incumbent) of that, or the piece is pruned, instead of narrowing the bracket to 1e-9.  Any κ > 0 and z >= 0
        # give a valid bound (the verifier recomputes it), so where it stops only decides
        # how tight the piece's bound is, never whether it holds.
        best = (math.inf, kappa, z0)
        z0_kappa = kappa  # the κ that z0 was found for
        lo = hi = None  # (κ, Φ, dΦ/dκ) at the ends of the bracket
        for _ in range(60):
            dual = _PieceDual(inst, Extras(extras.rows, extras.rhs, extras.linear / kappa), s_lo, s_hi)
            z = dual.start() if z0 is None else _warm_start(dual, z0, z0_kappa / kappa)
            d = _minimise(dual, z, lambda d, k=kappa: k * (d.q - floor) <= best_value + tol * scale)
            z0_kappa = kappa
            bound = kappa * (d.q - floor)
            if bound < best[0]:
                best = (bound, kappa, d.lam)
            offer(d.W)
            if bound <= best_value + tol * scale:
                break  # pruned: nothing on this piece beats the best allocation
            # ψ̂ at the Lagrangian maximiser against the floor: the sign of dΦ/dκ.
            slope = d.q - float(extras.linear @ d.W) / kappa - floor
            z0 = d.lam
            if slope < 0:
                lo = (kappa, bound, slope)
            else:
                hi = (kappa, bound, slope)
            if lo is None:
                kappa /= 4.0
                continue
            if hi is None:
                kappa *= 4.0
                continue
            (a, fa, da), (b, fb, db) = lo, hi
            if not b / a >= 1 + 1e-9:
                break
            cross = (fb - fa + da * a - db * b) / (da - db) if da < db else math.sqrt(a * b)
            floor_of_min = fa + da * (cross - a)  # the tangents' crossing: Φ's minimum is no lower
            # Below zero the values contradict convexity (an inner minimisation stopped short of
            # its optimum): then only the slopes' signs are trusted, and bisection goes on.
            if 0.0 <= best[0] - floor_of_min <= max(0.1 * tol * scale, 1e-3 * (best[0] - best_value)):
                break  # converged as far as the piece's bound can matter
            kappa = math.sqrt(a * b)
        bound, kappa, z = best
        proven = piece_value(inst, s_lo, s_hi, z[-1], z[:-1], extras, kappa, floor)  # exactly what the verifier computes
        return _Piece(-proven, s_lo, s_hi, np.append(z, kappa))

    heap = [piece(s_min, s_max, scale, None)]
    while True:
        top = heap[0]
        if -top.neg_bound - best_value <= tol * scale or len(heap) >= _MAX_PIECES:
            break
        mid = 0.5 * (top.s_lo + top.s_hi)
        if not top.s_lo < mid < top.s_hi:
            break
        heapq.heappop(heap)
        kappa, z = float(top.z[-1]), top.z[:-1]
        heapq.heappush(heap, piece(top.s_lo, mid, kappa, z))
        heapq.heappush(heap, piece(mid, top.s_hi, kappa, z))
    ordered = sorted(heap, key=lambda p: p.s_lo)
    pieces = [(p.s_lo, p.s_hi, p.z[-2], p.z[:-2], p.z[-1]) for p in ordered]
    return FloorResult(best_W, best_value, -heap[0].neg_bound, pieces)


def maximise_coordination(inst: Instance, canonical: str, progress: Progress | None = None) -> Solution:
    """max F2 with a certificate: relative gap <= 1e-7 (uniform α) or 1e-6 (general α)."""
    start = time.perf_counter()
    limit = GAP_LIMIT["F2-uniform" if inst.uniform_alpha else "F2-general"]
    # ψ = 2 log D, so a relative gap ε in D is a gap of about 2ε in ψ.
    result = maximise_psi(inst, Extras.none(inst.n), 2.0 * limit * _AIM, progress)
    best_W, multipliers, pieces = result.allocation, result.multipliers, result.pieces
    cert = certificate_document(canonical, inst, "F2", best_W, multipliers=multipliers, pieces=pieces)
    done = time.perf_counter()
    proof = "the dual bound" if pieces is None else f"{len(pieces)} pieces of the level sum"
    return certified_solution(
        "F2", inst.ids, best_W, evaluate(inst, best_W), cert, limit, f"F2 globally optimal: {proof} prove it", {"build": 0.0, "solve": done - start}
    )
