"""Pareto fronts: the shared result type of every front method (SPEC §1 "the Pareto front", §6 `coopchain front`).

A front is a set of allocations none of which is better than another in every
objective.  The exact method (AUGMECON2, `models.augmecon`) and the evolutionary
ones (NSGA-II/III, `models.evolutionary`) both return a `Front`; the metrics
(`models.front_metrics`) and the compromise picks (`models.picks`) read it.

Objectives are named as in `models.certificate.Values`: F1 (economic benefit,
maximise), F2 (coupling coordination degree D, maximise), F3 (ecological
footprint, minimise) and T (Σ α_j U_j, maximise) — T is linear in W and stands
in for F2 where a method takes linear objectives only (pyaugmecon).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coopchain.models.certificate import Values

OBJECTIVE_SENSE = {"F1": "max", "F2": "max", "F3": "min", "T": "max"}


@dataclass(frozen=True, eq=False)
class FrontPoint:
    """One allocation on a front and its values (computed by `models.certificate.evaluate`)."""

    allocation: np.ndarray
    values: Values
    certificate: dict | None = None  # exact methods attach one; evolutionary points have None

    def objective(self, name: str) -> float:
        """The value of objective `name` ("F1", "F2", "F3" or "T")."""
        if name not in OBJECTIVE_SENSE:
            raise ValueError(f"unknown objective {name!r}: choose among {', '.join(OBJECTIVE_SENSE)}")
        return float(getattr(self.values, name))


@dataclass(frozen=True, eq=False)
class Front:
    """The points a front method found, with what it has to say about them.

    `reported` holds one sentence per grid point or run that failed or was
    skipped: a method never drops a point silently.  `success` is False when
    there is no point at all; `message` then says why.
    """

    method: str  # "augmecon", "nsga2", "nsga3"
    objectives: tuple[str, ...]  # e.g. ("F1", "F2", "F3")
    points: tuple[FrontPoint, ...]
    message: str = ""
    reported: tuple[str, ...] = ()
    seconds: float = 0.0
    ids: tuple[str, ...] = ()  # enterprise ids, in the order of each allocation

    @property
    def success(self) -> bool:
        return len(self.points) > 0

    @property
    def senses(self) -> tuple[str, ...]:
        """"max" or "min" per objective, in the order of `objectives`."""
        return tuple(OBJECTIVE_SENSE[name] for name in self.objectives)

    def matrix(self) -> np.ndarray:
        """(len(points), len(objectives)): raw values, each in its own sense (F3 small is good)."""
        return np.array(
            [[p.objective(name) for name in self.objectives] for p in self.points], dtype=float
        ).reshape(len(self.points), len(self.objectives))

    def as_json(self, reference=None, picks=(), problem_text: str | None = None) -> dict:
        """The JSON of `coopchain front` (SPEC §6): points with values and allocation, hypervolume, picks.

        `problem_text`: the canonical problem text, written once at the top with its SHA-256
        (`problem_hash`), so that the document names its problem and carries it: `coopchain verify
        FRONT` checks its points' certificates against it and `coopchain commit FRONT --pick` needs
        no --problem (docs/certificate.md, "Fronts").

        `reference` is the hypervolume reference point in raw values (one number
        per objective); None takes `front_metrics.default_reference` of this
        front alone.  The reference used is always stated beside the value.
        `picks` are `models.picks.Pick`s of this front.
        """
        from coopchain.models.front_metrics import default_reference, hypervolume  # front_metrics reads Front

        matrix = self.matrix()
        if reference is None:
            reference = default_reference(matrix, senses=self.senses) if len(matrix) else None
        out = {
            "method": self.method,
            "objectives": list(self.objectives),
            "message": self.message,
            "seconds": self.seconds,
            "points": [
                {
                    "values": p.values.as_dict(),
                    "allocation": {eid: float(w) for eid, w in zip(self.ids, p.allocation)},
                    **({"certificate": p.certificate} if p.certificate is not None else {}),
                }
                for p in self.points
            ],
            "hypervolume": {
                "value": hypervolume(matrix, reference, self.senses) if reference is not None else 0.0,
                "reference": None if reference is None else [float(x) for x in reference],
            },
            "picks": [
                {"name": p.name, "index": p.index, "values": p.values.as_dict(), "sentence": p.sentence} for p in picks
            ],
            "reported": list(self.reported),
        }
        if problem_text is not None:
            from coopchain.models.certificate import problem_hash

            out["problem_hash"] = problem_hash(problem_text)
            out["problem_text"] = problem_text
        return out
