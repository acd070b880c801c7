"""Compromise picks on a front: knee, closest to the ideal, TOPSIS (SPEC §1, issue 4).

A front leaves the choice to the manager; a pick proposes one allocation and
says in one sentence, with the numbers, why.  Three rules, each a function of
the front's objective values only:

- knee: the point whose every departure costs most for what it gains — for
  each other point, the sum of what is lost over the sum of what is gained
  (each objective as a share of its range on the front); the point whose
  smallest such ratio is largest.  This is the trade-off measure of Rachmawati
  and Zhang that pymoo's `HighTradeoffPoints` uses, taken over the whole front
  instead of a neighbourhood, so that it names a single point;
- closest to the ideal: the smallest Euclidean distance to the ideal point
  (the best value of each objective) after mapping each objective to [0, 1]
  between the ideal and the nadir of the front;
- TOPSIS (Hwang and Yoon): vector normalisation, weights, distances to the
  positive and the negative ideal, closeness = d⁻ / (d⁺ + d⁻); highest wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from coopchain.models.certificate import Values
from coopchain.models.front import Front
from coopchain.models.front_metrics import ideal_and_nadir, normalise

# What each objective is called in a sentence for a manager.
WORDS = {"F1": "economic benefit", "F2": "coordination", "F3": "ecological footprint", "T": "development level"}


@dataclass(frozen=True)
class Pick:
    """One proposed allocation: the rule that chose it, its index in the front, its values, why."""

    name: str  # "knee", "closest to ideal", "TOPSIS"
    index: int
    values: Values
    sentence: str


# --- the rules on matrices ---------------------------------------------------------------


def _normalised(matrix, senses) -> np.ndarray:
    """Each objective in [0, 1]: 0 at its best value on the front, 1 at its worst."""
    ideal, nadir = ideal_and_nadir(matrix, senses)
    return normalise(matrix, ideal, nadir)


def tradeoffs(matrix, senses) -> np.ndarray:
    """Per point, the least loss per unit gain of moving to any other point (normalised objectives).

    inf when no other point gains anything over it (it is the only point, or it
    is at least as good as every other point in every objective).
    """
    N = _normalised(matrix, senses)
    diff = N[None, :, :] - N[:, None, :]  # [i, j] = point j minus point i; smaller is better
    loss = np.maximum(diff, 0.0).sum(axis=2)
    gain = np.maximum(-diff, 0.0).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gain > 0, loss / np.where(gain > 0, gain, 1.0), np.inf)
    return ratio.min(axis=1) if len(N) > 1 else np.full(len(N), np.inf)


def ideal_distances(matrix, senses) -> np.ndarray:
    """Euclidean distance of each point to the ideal point, objectives normalised to [0, 1]."""
    return np.linalg.norm(_normalised(matrix, senses), axis=1)


def topsis_closeness(matrix, senses, weights=None) -> np.ndarray:
    """TOPSIS relative closeness of each row (Hwang and Yoon 1981), in [0, 1], larger is better.

    r_ij = x_ij / sqrt(Σ_i x_ij²); v_ij = w_j r_ij with Σ w_j = 1 (default equal);
    A⁺ = best v per column (max for "max" columns, min for "min"), A⁻ = worst;
    closeness = d(v, A⁻) / (d(v, A⁺) + d(v, A⁻)).  A column of zeros stays zero;
    a row at both ideals at once (every row equal) has closeness 1.
    """
    X = np.asarray(matrix, dtype=float)
    m = X.shape[1]
    w = np.full(m, 1.0 / m) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (m,) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(f"weights must be {m} non-negative numbers, not all zero")
    w = w / w.sum()
    norms = np.sqrt((X**2).sum(axis=0))
    V = w * X / np.where(norms > 0, norms, 1.0)
    maximise = np.array([s == "max" for s in senses])
    if len(maximise) != m:
        raise ValueError(f"{len(senses)} senses for {m} objectives")
    best = np.where(maximise, V.max(axis=0), V.min(axis=0))
    worst = np.where(maximise, V.min(axis=0), V.max(axis=0))
    d_best = np.linalg.norm(V - best, axis=1)
    d_worst = np.linalg.norm(V - worst, axis=1)
    total = d_best + d_worst
    return np.where(total > 0, d_worst / np.where(total > 0, total, 1.0), 1.0)


# --- sentences ---------------------------------------------------------------------------


def _a(text: str) -> str:
    """The indefinite article for text as it is read aloud ("an 8% smaller", "an ecological")."""
    vowel = text[0] in "aeiou" or text.startswith("8") or re.match(r"1[18](?![0-9])", text) is not None
    return f"{'an' if vowel else 'a'} {text}"


def _pct(x: float) -> str:
    x = abs(x)
    return f"{x:.0f}%" if x >= 10 else f"{x:.1f}%" if x >= 1 else f"{x:.2f}%"


def _change(front: Front, i: int, j: int) -> str:
    """"gives up … to gain …": what point i loses and gains against point j."""
    gives, takes, gains = [], [], []
    for name, sense in zip(front.objectives, front.senses):
        a, b = front.points[i].objective(name), front.points[j].objective(name)
        if a == b:
            continue
        share = _pct(100.0 * (a - b) / abs(b)) if b != 0 else f"{abs(a - b):.4g}"
        better = a > b if sense == "max" else a < b
        if better:
            gains.append(f"{share} more {WORDS[name]}" if sense == "max" else _a(f"{share} smaller {WORDS[name]}"))
        elif sense == "max":
            gives.append(f"{share} of the {WORDS[name]}")
        else:
            takes.append(_a(f"{share} larger {WORDS[name]}"))
    cost = " and ".join(
        part for part in (f"gives up {' and '.join(gives)}" if gives else "", f"takes {' and '.join(takes)}" if takes else "") if part
    )
    if not gains:
        return cost or "is the same"
    return f"{cost} to gain {' and '.join(gains)}" if cost else f"gains {' and '.join(gains)} at no cost"


def _against_best(front: Front, i: int) -> str:
    """"keeps 96% of the best economic benefit, …": point i against the best value of each objective."""
    ideal, _ = ideal_and_nadir(front.matrix(), front.senses)
    parts = []
    for k, (name, sense) in enumerate(zip(front.objectives, front.senses)):
        v, best = front.points[i].objective(name), float(ideal[k])
        if sense == "max":
            parts.append(f"{_pct(100.0 * v / best)} of the best {WORDS[name]}" if best > 0 else f"{WORDS[name]} {v:.4g} (best {best:.4g})")
        elif v == best:
            parts.append(f"the lowest {WORDS[name]}")
        else:
            parts.append(_a(f"{WORDS[name]} {_pct(100.0 * (v - best) / abs(best))} above the lowest") if best != 0 else _a(f"{WORDS[name]} of {v:.4g} (lowest {best:.4g})"))
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _words(front: Front) -> str:
    names = [WORDS[o] for o in front.objectives]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _best_in(matrix: np.ndarray, senses, k: int) -> int:
    """The index of the point best in objective k (the first of equals)."""
    return int(np.argmax(matrix[:, k]) if senses[k] == "max" else np.argmin(matrix[:, k]))


def _require(front: Front) -> None:
    if not front.points:
        raise ValueError("an empty front has no compromise to pick")


# --- the picks ---------------------------------------------------------------------------


def knee(front: Front) -> Pick:
    """The point with the largest marginal trade-off: leaving it costs most for what it gains."""
    _require(front)
    matrix = front.matrix()
    mu = tradeoffs(matrix, front.senses)
    i = int(np.argmax(mu))
    if len(front.points) == 1:
        sentence = "This is the only allocation on the front, so it is the knee."
    elif not np.isfinite(mu[i]):
        sentence = f"This allocation is at least as good as every other on the front in {_words(front)} at once: there is no trade-off to make."
    else:
        # Compare with the point best in the first objective, or the second when it is that point.
        # Compare with the allocation best in the first objective; when the knee is
        # that one (or ties with it), with the allocation best in the second.
        k = 0
        j = _best_in(matrix, front.senses, k)
        if matrix[j, k] == matrix[i, k]:
            k = 1
            j = _best_in(matrix, front.senses, k)
        name = front.objectives[k]
        named = f"the allocation with the {'highest' if front.senses[k] == 'max' else 'lowest'} {WORDS[name]}"
        sentence = (
            f"Compared with {named}, this allocation {_change(front, i, j)}; leaving it for any other allocation "
            f"on the front costs at least {mu[i]:.2f} times what it gains (objectives as shares of their range "
            f"on the front): the largest trade-off on the front."
        )
    return Pick("knee", i, front.points[i].values, sentence)


def closest_to_ideal(front: Front) -> Pick:
    """The point nearest the ideal point, each objective normalised between the front's ideal and nadir."""
    _require(front)
    distance = ideal_distances(front.matrix(), front.senses)
    i = int(np.argmin(distance))
    sentence = (
        f"This allocation is the nearest to the ideal — the best {_words(front)} at once, which no allocation reaches: "
        f"it has {_against_best(front, i)}, at a normalised distance of {distance[i]:.3f} "
        f"(0 is the ideal, 1 is the worst value on the front in one objective)."
    )
    return Pick("closest to ideal", i, front.points[i].values, sentence)


def topsis(front: Front, weights: Sequence[float] | Mapping[str, float] | None = None) -> Pick:
    """The point of highest TOPSIS closeness; `weights` per objective (a sequence in the front's order or a mapping by name)."""
    _require(front)
    if isinstance(weights, Mapping):
        unknown = set(weights) - set(front.objectives)
        if unknown:
            raise ValueError(f"weights for objectives not on the front: {', '.join(sorted(unknown))}")
        weights = [float(weights.get(o, 0.0)) for o in front.objectives]
    closeness = topsis_closeness(front.matrix(), front.senses, weights)
    i = int(np.argmax(closeness))
    if weights is None:
        how = f"equal weights on {_words(front)}"
    else:
        w = np.asarray(weights, dtype=float) / float(np.sum(weights))
        how = "weights " + ", ".join(f"{x:.2f} on {WORDS[o]}" for x, o in zip(w, front.objectives))
    sentence = (
        f"This allocation ranks first by TOPSIS with {how}: it is the nearest to the best and the farthest from the "
        f"worst values on the front (closeness {closeness[i]:.3f} of 1), with {_against_best(front, i)}."
    )
    return Pick("TOPSIS", i, front.points[i].values, sentence)


def compromise_picks(front: Front, weights: Sequence[float] | Mapping[str, float] | None = None) -> tuple[Pick, ...]:
    """Knee, closest to the ideal and TOPSIS; none for an empty front."""
    if not front.points:
        return ()
    return knee(front), closest_to_ideal(front), topsis(front, weights)
