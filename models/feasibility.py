"""Turning a solver's nearly feasible allocation into an exactly feasible one.

Simplex solutions meet their rows to within HiGHS's tolerance (1e-7) and a
Lagrangian maximiser meets the coupling rows only in the limit.  A certificate
should not lean on tolerances, so before it is written the allocation is moved
the smallest step that makes every constraint hold in floating point, as the
verifier evaluates it.  Per-enterprise limits are met by clipping into the box;
the coupling rows (SPEC §1: cooperative caps, demand window) by moving towards a
point that meets them, or, when two of them pull in opposite directions, by a
small LP that stays next to the allocation.
"""

from __future__ import annotations

import highspy
import numpy as np

from coopchain.models.certificate import Instance, coupling_rows, enterprise_box
from coopchain.models.formulation import new_highs

class NoFeasibleAllocation(ArithmeticError):
    """Not even the whole box holds an allocation that meets the coupling rows: the data are infeasible."""


# Steps are shortened by this much so that rounding cannot undo them.
_SAFETY = 1e-12


def _holds(G: np.ndarray, h: np.ndarray, W: np.ndarray) -> bool:
    return bool(np.all(G @ W <= h))


def _towards(W: np.ndarray, target: np.ndarray, G: np.ndarray, h: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Move W along the segment to `target` just far enough that the chosen rows hold."""
    # Products with the whole G, as _holds and the verifier compute them: a product with
    # a slice of G may sum in another order and disagree in the last bit.
    now, there = (G @ W)[rows], (G @ target)[rows]
    broken = now > h[rows]
    if not broken.any():
        return W
    if np.any(there[broken] > h[rows][broken]):
        return W  # the target breaks them too: this direction cannot help
    t = float(np.max((now[broken] - h[rows][broken]) / (now[broken] - there[broken])))
    t = min(1.0, t * (1 + _SAFETY) + _SAFETY)
    return W + t * (target - W)


def make_feasible(inst: Instance, W: np.ndarray, rows: np.ndarray | None = None, rhs: np.ndarray | None = None) -> np.ndarray:
    """The allocation itself if it is feasible, else a feasible one next to it (SPEC §1 constraints).

    `rows` W <= `rhs` are further constraints to meet as well (the ε-constraints of a
    front); they hold to a relative 1e-9, the SPEC's constraints exactly.
    """
    lo, hi = enterprise_box(inst)
    W = np.clip(np.asarray(W, dtype=float), lo, hi)
    _, G, h = coupling_rows(inst)
    if rows is not None and len(rows):
        # An ε at the very end of an objective's range leaves one point: give it room.
        G, h = np.vstack([G, rows]), np.append(h, rhs + 1e-9 * np.maximum(1.0, np.abs(rhs)))
    if _holds(G, h, W):
        return W
    V = _moved(W, lo, hi, G, h)
    if V is not None:
        return V
    return _nearby_lp(W, lo, hi, G, h)


def _moved(W: np.ndarray, lo: np.ndarray, hi: np.ndarray, G: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """Meet the rows by moving towards lo (rows that grow with W) and towards hi (rows that shrink)."""
    growing = np.flatnonzero(np.all(G >= 0, axis=1))
    shrinking = np.flatnonzero(np.all(G <= 0, axis=1))
    if len(growing) + len(shrinking) != len(h):
        return None
    for first, second in (((lo, growing), (hi, shrinking)), ((hi, shrinking), (lo, growing))):
        V = np.clip(_towards(_towards(W, first[0], G, h, first[1]), second[0], G, h, second[1]), lo, hi)
        if _holds(G, h, V):
            return V
    return None


def _nearby_lp(W: np.ndarray, lo: np.ndarray, hi: np.ndarray, G: np.ndarray, h: np.ndarray) -> np.ndarray:
    """A feasible point within a small box around W, found by HiGHS; the box widens until one exists.

    After eight widenings by 100 the box is the enterprises' whole box, so failing
    then means the data admit no allocation at all.
    """
    width = 1e-7 * np.maximum(1.0, hi - lo)
    for _ in range(8):
        box_lo, box_hi = np.maximum(lo, W - width), np.minimum(hi, W + width)
        # Rows that leave no room (a cooperative cap equal to the demand it must serve) have no point
        # _SAFETY inside them all: then the rows themselves, and a point that breaks them by at most
        # a relative NEARLY of each row's terms is accepted (the verifier's tolerance is 1e-9 of them).
        for shrink in (_SAFETY, 0.0):
            V = _lp_point(box_lo, box_hi, G, h - shrink * np.maximum(1.0, np.abs(h)))
            if V is None:
                continue
            if _holds(G, h, V):
                return V
            moved = _moved(V, lo, hi, G, h)  # HiGHS meets rows to 1e-7; the last bit is a straight move away
            if moved is not None:
                return moved
            if _holds_nearly(G, h, V):
                return V
        width *= 100.0
    raise NoFeasibleAllocation("no allocation meets the cooperative caps and the demand window")


# A row that a tight allocation breaks by this much of its terms still holds for the verifier (1e-9).
NEARLY = 1e-11


def _holds_nearly(G: np.ndarray, h: np.ndarray, W: np.ndarray) -> bool:
    return bool(np.all(G @ W - h <= NEARLY * (np.abs(G) @ np.abs(W) + np.abs(h))))


def _lp_point(lo: np.ndarray, hi: np.ndarray, G: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """Any point of the box that meets G W <= h (HiGHS, rows not shrunk), or None."""
    h_model = new_highs()
    n, m = lo.size, len(h)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = np.zeros(n)
    lp.col_lower_, lp.col_upper_ = lo, hi
    lp.row_lower_ = np.full(m, -np.inf)
    lp.row_upper_ = h
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, m
    lp.a_matrix_.start_ = np.arange(m + 1, dtype=np.int32) * n
    lp.a_matrix_.index_ = np.tile(np.arange(n, dtype=np.int32), m)
    lp.a_matrix_.value_ = G.ravel()
    h_model.passModel(lp)
    h_model.run()
    if h_model.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return np.clip(np.array(h_model.getSolution().col_value), lo, hi)
