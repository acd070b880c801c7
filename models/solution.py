"""The outcome of a solve (SPEC §6 `coopchain solve`): honest about failure, typed, JSON on request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from coopchain.models.certificate import Values


@dataclass(frozen=True)
class Conflict:
    """One constraint that takes part in making the data infeasible, by name and in words."""

    constraint: str
    sentence: str


@dataclass(frozen=True, eq=False)
class Solution:
    """A solve's result: `success` is False with a `message` when there is no certified optimum."""

    objective: str
    status: str  # "optimal", "infeasible" or "failed"
    message: str
    ids: tuple[str, ...] = ()
    allocation: np.ndarray | None = None
    values: Values | None = None
    bound: float | None = None
    gap: float | None = None
    certificate: dict | None = None
    conflicts: tuple[Conflict, ...] = ()
    shadow_prices: Sequence = ()  # models.shadow_prices.ShadowPrices at an LP optimum: caps and demand, binding enterprise caps
    timings: dict = field(default_factory=dict)  # seconds: "build", "solve"

    @property
    def success(self) -> bool:
        return self.status == "optimal"

    def as_json(self) -> dict:
        """The JSON of SPEC §6: status, allocation, values, bound, gap, certificate, shadow prices (or conflicts).

        ``shadow_prices`` lists the cooperative caps and the demand window, each with a
        sentence; ``enterprise_cap_prices`` holds the binding enterprise caps as columns
        (enterprise, resource, price, cap), tens of thousands of them at n = 100,000.
        """
        if not self.success:
            out = {"status": self.status, "objective": self.objective, "message": self.message}
            if self.conflicts:
                out["conflicts"] = [{"constraint": c.constraint, "sentence": c.sentence} for c in self.conflicts]
            return out
        out = {
            "status": self.status,
            "objective": self.objective,
            "message": self.message,
            "allocation": dict(zip(self.ids, np.asarray(self.allocation, dtype=float).tolist())),
            "values": self.values.as_dict(),
            "bound": self.bound,
            "gap": self.gap,
            "certificate": self.certificate,
        }
        # The canonical problem the certificate names by hash, beside it: the output verifies on its own.
        problem = getattr(self.certificate, "problem_text", None)
        if problem is not None:
            out["problem_text"] = problem
        if self.shadow_prices:
            limits = getattr(self.shadow_prices, "limits", self.shadow_prices)
            out["shadow_prices"] = [p.as_dict() for p in limits]
            caps = getattr(self.shadow_prices, "enterprise_caps", None)
            if caps is not None and len(caps):
                out["enterprise_cap_prices"] = caps.as_json()
        return out


def certified_solution(objective: str, ids, W: np.ndarray, values: Values, cert: dict, limit: float, proven: str, timings: dict) -> Solution:
    """A solve's result from its certificate: optimal when the certified gap is within `limit`, else failed.

    `proven` says what was proven, in words; the gap is appended.
    """
    gap = cert["gap"]
    certified = gap <= limit
    return Solution(
        objective=objective,
        status="optimal" if certified else "failed",
        message=(
            f"{proven}, to a relative gap of {gap:.1e}."
            if certified
            else f"Not certified: the best allocation found is within {gap:.1e} (relative) of the bound, above the limit {limit:g}."
        ),
        ids=tuple(ids),
        allocation=W,
        values=values,
        bound=cert["bound"],
        gap=gap,
        certificate=cert,
        timings=timings,
    )
