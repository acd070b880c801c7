"""Measuring fronts: the nondominated filter, hypervolume, reference and normalisation (SPEC §1, §7).

Every function takes raw objective values, one column per objective, with the
sense of each column ("max" or "min", see `models.front.OBJECTIVE_SENSE`), and
turns them into minimisation internally by negating the "max" columns.  That is
the only convention: callers never negate anything themselves.

Hypervolume is pymoo's indicator (`pymoo.indicators.hv.HV`, exact, computed by
moocore); a hypervolume is meaningless without its reference point, so the
reference is an explicit argument and `default_reference` documents the one
the command line uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymoo.indicators.hv import HV

from coopchain.models.front import Front

# How far beyond the nadir the default reference point lies, as a share of each
# objective's range over the fronts compared.
REFERENCE_MARGIN = 0.1

# Rows compared at once in `nondominated`: bounds the memory of the N × N × m test.
_CHUNK = 512


def _signs(senses: Sequence[str], m: int) -> np.ndarray:
    if len(senses) != m:
        raise ValueError(f"{len(senses)} senses for {m} objectives")
    bad = [s for s in senses if s not in ("max", "min")]
    if bad:
        raise ValueError(f"each sense must be 'max' or 'min', not {bad[0]!r}")
    return np.array([-1.0 if s == "max" else 1.0 for s in senses])


def to_minimisation(matrix, senses: Sequence[str]) -> np.ndarray:
    """The matrix with every "max" column negated, so that smaller is better everywhere."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2:
        raise ValueError("a front is a 2-D array: one row per point, one column per objective")
    return matrix * _signs(senses, matrix.shape[1])


def nondominated(matrix, senses: Sequence[str]) -> np.ndarray:
    """Boolean mask of the rows that no other row dominates.

    Row b dominates row a when b is at least as good in every objective and
    strictly better in one.  Equal rows do not dominate each other, so
    duplicates of a nondominated row are all kept (pick one with np.unique when
    a set is wanted).  O(N² m) time in chunks of rows; fine up to N of several
    thousands.
    """
    F = to_minimisation(matrix, senses)
    N = len(F)
    mask = np.ones(N, dtype=bool)
    for start in range(0, N, _CHUNK):
        a = F[start : start + _CHUNK, None, :]  # (c, 1, m): the rows tested
        b = F[None, :, :]  # (1, N, m): every row as a possible dominator
        dominated = (np.all(b <= a, axis=2) & np.any(b < a, axis=2)).any(axis=1)
        mask[start : start + _CHUNK] = ~dominated
    return mask


def ideal_and_nadir(matrix, senses: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The best and the worst value of each objective over the rows, in raw values."""
    F = to_minimisation(matrix, senses)
    if len(F) == 0:
        raise ValueError("an empty front has no ideal or nadir point")
    signs = _signs(senses, F.shape[1])
    return F.min(axis=0) * signs, F.max(axis=0) * signs


def default_reference(*matrices, senses: Sequence[str]) -> np.ndarray:
    """The nadir of the union of the fronts, pushed 10% of each objective's range further out.

    Pushing the reference beyond the nadir lets the extreme points of a front
    count: at the nadir itself they would add no volume.  Where an objective
    has no range (all points equal in it) it is pushed by 10% of its magnitude,
    or by 0.1 when that is zero too.  Compare fronts with one reference for all
    of them: pass them all here.
    """
    union = np.vstack([to_minimisation(M, senses) for M in matrices if len(M)])
    signs = _signs(senses, union.shape[1])
    best, worst = union.min(axis=0), union.max(axis=0)
    spread = worst - best
    spread = np.where(spread > 0, spread, np.maximum(np.abs(worst), 1.0))
    return (worst + REFERENCE_MARGIN * spread) * signs


def hypervolume(front_or_matrix, reference, senses: Sequence[str] | None = None) -> float:
    """The volume that the front dominates and that dominates the reference point.

    `front_or_matrix`: a `models.front.Front` (senses then default to its
    objectives') or raw values (N, m); `reference`: m raw values.  Points that do
    not strictly beat the reference in every objective contribute nothing.
    """
    if isinstance(front_or_matrix, Front):
        matrix = front_or_matrix.matrix()
        senses = front_or_matrix.senses if senses is None else senses
    else:
        matrix = np.asarray(front_or_matrix, dtype=float)
    if senses is None:
        raise ValueError("say whether each objective is maximised or minimised (senses)")
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1) if matrix.size else matrix.reshape(0, len(senses))
    F = to_minimisation(matrix, senses)
    ref = np.asarray(reference, dtype=float)
    if ref.shape != (F.shape[1],) or not np.all(np.isfinite(ref)):
        raise ValueError(f"the reference point must be {F.shape[1]} finite numbers")
    ref = ref * _signs(senses, F.shape[1])
    F = F[np.all(F < ref, axis=1)]
    if len(F) == 0:
        return 0.0
    return float(HV(ref_point=ref)(F))


def normalise(matrix, ideal, nadir) -> np.ndarray:
    """Each objective mapped so that the ideal value is 0 and the nadir value is 1.

    Works in either sense: ideal and nadir are raw values, and the map is
    (value − ideal) / (nadir − ideal).  An objective with ideal = nadir maps to 0.
    """
    matrix = np.asarray(matrix, dtype=float)
    ideal, nadir = np.asarray(ideal, dtype=float), np.asarray(nadir, dtype=float)
    span = nadir - ideal
    safe = np.where(span != 0, span, 1.0)
    return np.where(span != 0, (matrix - ideal) / safe, 0.0)
