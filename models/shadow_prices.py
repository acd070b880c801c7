"""Shadow prices: what one more unit of a cap or of demand is worth at an LP optimum (SPEC §1).

At an optimum of max F1 or min F3 the dual value of a constraint is the rate at
which the optimum moves when the constraint's limit moves, as long as the
optimal basis stays (the LP's value is piecewise linear in its limits):

* a cooperative cap R_0^r: the dual y_r of its row;
* the demand window: the dual of the demand row belongs to its minimum or to its
  maximum, whichever is binding (the other one's price is 0);
* an enterprise cap R_j^r: folded into the bound W_j <= R_j^r / ρ_jr, so when that
  cap is the tightest of W_j's upper limits and W_j sits on it, its price is the
  column's reduced cost divided by ρ_jr (d opt / d R = d opt / d W_j · 1/ρ_jr).

Prices are in the objective's own sense: the change of F1 (or of F3) per unit
added to the limit.  A larger cap can only help, so for max F1 cap prices are
>= 0 and for min F3 they are <= 0; raising the demand minimum can only hurt.

F3 = Σ_r ω_r (Σ_j ρ_jr W_j) / R_0^r measures each resource's use against the
cooperative's cap, so a larger R_0^r also lowers F3 at a fixed allocation.  A cap's
price for F3 counts both effects, y_r − ω_r (ρ_r·W) / R_0^r² (the envelope
theorem): it is what re-solving with the larger cap gives.

HiGHS solves the objective scaled by `formulation.objective_scale`, so its duals
are divided by that factor here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from coopchain.models.certificate import Instance
from coopchain.models.formulation import SENSE, Formulation, objective_scale
from coopchain.models.infeasibility import _implied, bound_setters, given, readable, split_name


@dataclass(frozen=True)
class ShadowPrice:
    """The marginal value of one limit: change of the optimum per unit added to it, with a sentence saying so."""

    constraint: str  # "cooperative_cap[water]", "enterprise_cap[water]", "demand (minimum)", "demand (maximum)"
    resource: str | None
    enterprise: str | None
    price: float
    objective: str = "F1"
    limit: float = math.nan  # the limit's value in the data (a cap, a demand bound)
    binding: bool = True  # False: the constraint is slack and the price comes from the objective alone

    @property
    def sentence(self) -> str:
        """In words: "One more unit of water for the cooperative (cap 7,200) would raise F1 by 0.1052".

        Built on request: at n = 100,000 tens of thousands of enterprise caps bind,
        and writing their sentences would cost more than the solve.
        """
        if self.price == 0:
            effect = f"not change {self.objective}"
        else:
            effect = f"{'raise' if self.price > 0 else 'lower'} {self.objective} by {readable(abs(self.price))}"
        kind, _ = split_name(self.constraint)
        if kind == "cooperative_cap":
            note = ""
            if not self.binding:
                note = f" (the cap is not binding; {self.objective} counts {self.resource} use against it)" if self.price else " (the cap is not binding)"
            return f"One more unit of {self.resource} for the cooperative (cap {given(self.limit)}) would {effect}{note}."
        if kind == "enterprise_cap":
            return f"One more unit of {self.resource} in {self.enterprise}'s cap ({given(self.limit)}) would {effect}."
        return f"Raising the {self.constraint.replace(' (', ' ').rstrip(')')} ({given(self.limit)}) by one unit would {effect}."

    def as_dict(self) -> dict:
        return {"constraint": self.constraint, "resource": self.resource, "enterprise": self.enterprise, "price": self.price, "sentence": self.sentence}


@dataclass(frozen=True, eq=False)
class EnterpriseCapPrices:
    """The binding enterprise caps' prices as columns: entry i is resource ``resources[resource[i]]`` in
    enterprise ``ids[enterprise[i]]``, worth ``price[i]`` per unit added to its cap ``cap[i]``.

    Arrays, not one object per cap: at n = 100,000 about 70,000 caps bind in max F1,
    and an object and a sentence for each cost more than the solve (0.9 s).
    """

    objective: str
    ids: tuple[str, ...] = field(repr=False)
    resources: tuple[str, ...]
    resource: np.ndarray  # int, index into resources
    enterprise: np.ndarray  # int, index into ids
    price: np.ndarray
    cap: np.ndarray

    def __len__(self) -> int:
        return len(self.price)

    def item(self, i: int) -> ShadowPrice:
        resource = self.resources[int(self.resource[i])]
        return ShadowPrice(f"enterprise_cap[{resource}]", resource, self.ids[int(self.enterprise[i])], float(self.price[i]),
                           self.objective, float(self.cap[i]))

    def as_json(self) -> dict:
        """Columns of equal length (SPEC §6 output, docs/problem.md): enterprise ids, resource names, prices, caps."""
        return {
            "enterprise": list(map(self.ids.__getitem__, self.enterprise.tolist())),
            "resource": list(map(self.resources.__getitem__, self.resource.tolist())),
            "price": self.price.tolist(),
            "cap": self.cap.tolist(),
        }


_NO_ENTERPRISE_CAPS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class ShadowPrices(Sequence):
    """Every price of an LP optimum: the cooperative caps and the demand window as objects (a few),
    the binding enterprise caps as columns.  Iterating gives ShadowPrice objects for all of them,
    those of the enterprise caps made on request."""

    limits: tuple[ShadowPrice, ...]
    enterprise_caps: EnterpriseCapPrices | None = None

    def __len__(self) -> int:
        return len(self.limits) + (len(self.enterprise_caps) if self.enterprise_caps is not None else 0)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.limits[i] if i < len(self.limits) else self.enterprise_caps.item(i - len(self.limits))

    def __iter__(self):
        yield from self.limits
        if self.enterprise_caps is not None:
            for i in range(len(self.enterprise_caps)):
                yield self.enterprise_caps.item(i)


def shadow_prices(
    inst: Instance,
    form: Formulation,
    objective: str,
    row_dual: np.ndarray,
    col_dual: np.ndarray | None = None,
    allocation: np.ndarray | None = None,
) -> ShadowPrices:
    """The prices of the cooperative caps, the demand window and the binding enterprise caps.

    `row_dual` and `col_dual` are HiGHS's duals at the optimum of
    `formulation.highs_lp(form, objective)`, scaled objective and all (col_dual
    None: no enterprise caps, as from the Pyomo model whose reduced costs are not
    read).  `allocation` is the optimal W; for F3 the caps' prices need it.
    Every cooperative cap and both sides of the demand window are returned, the
    enterprise caps (as columns) only where the price is not 0.
    """
    scale = objective_scale(form, objective)
    y = np.asarray(row_dual, dtype=float) / scale
    # +1 when the objective is maximised: a relaxed limit then raises it.
    gain = 1.0 if SENSE[objective] == "max" else -1.0
    out: list[ShadowPrice] = []
    for i, row in enumerate(form.rows):
        kind, resource = split_name(row.name)
        if kind == "cooperative_cap":
            price = float(y[i]) + 0.0  # no -0.0
            if objective == "F3" and allocation is not None:
                # F3 divides the use of r by R_0^r: d/dR at a fixed allocation.
                r = inst.resources.index(resource)
                use = float(inst.use[:, r] @ allocation)
                price -= float(inst.resource_weight[r]) * use / float(inst.cooperative_cap[r]) ** 2
            out.append(ShadowPrice(row.name, resource, None, price, objective, float(row.upper), bool(y[i] != 0)))
        else:
            out += _window_prices(row.name, row.lower, row.upper, float(y[i]), gain, objective)
    caps = None
    if col_dual is not None:
        caps = _enterprise_cap_prices(inst, form, objective, np.asarray(col_dual, dtype=float) / scale, gain, allocation)
    return ShadowPrices(tuple(out), caps)


def _window_prices(name: str, lower: float, upper: float, y: float, gain: float, objective: str) -> list[ShadowPrice]:
    """A ranged row's dual is the price of the side that binds: the side whose relaxation helps (sign · gain > 0 is the maximum)."""
    on_upper = y * gain > 0
    prices = {"minimum": 0.0 if on_upper else y, "maximum": y if on_upper else 0.0}
    return [
        ShadowPrice(f"{name} ({side})", None, None, prices[side] + 0.0, objective, float(limit), prices[side] != 0)
        for side, limit in (("minimum", lower), ("maximum", upper))
        if np.isfinite(limit)
    ]


def _enterprise_cap_prices(inst: Instance, form: Formulation, objective: str, d: np.ndarray, gain: float, allocation) -> EnterpriseCapPrices:
    """Reduced costs of columns held at an upper bound that one enterprise cap alone sets, per unit of that cap.

    On a tie between two families (say the volume maximum equals the water cap's
    volume) raising one of them does not move the bound: its price is 0.
    """
    # The implied bounds once (bound_setters caches them per formulation): at n = 10^6 each fresh
    # computation of them, or of column_bounds, costs 0.1-0.2 s.  column_bounds' upper bound is their minimum.
    _, upper = _implied(form)
    _, hi_family = bound_setters(form)
    hi = upper.min(axis=0) if len(upper) else np.full(len(form.ids), np.inf)
    n = len(form.ids)
    runner_up = np.sort(upper, axis=0)[1] if len(form.limits) > 1 else np.full(n, np.inf)
    held = gain * d > 0  # improving to raise W_j: the column sits at its upper bound
    if allocation is not None:
        held &= np.asarray(allocation) >= hi - 1e-9 * np.maximum(1.0, np.abs(hi))
    resources, enterprises, prices, limits = [], [], [], []
    for f, fam in enumerate(form.limits):
        kind, resource = split_name(fam.name)
        if kind != "enterprise_cap":
            continue
        js = np.flatnonzero(held & (hi_family == f) & (upper[f] < runner_up) & (fam.coef > 0))
        resources.append(np.full(len(js), inst.resources.index(resource), dtype=np.int64))
        enterprises.append(js)
        prices.append(d[js] / fam.coef[js] + 0.0)
        limits.append(fam.upper[js])
    if not enterprises:
        resources = enterprises = prices = limits = [_NO_ENTERPRISE_CAPS]
    return EnterpriseCapPrices(objective, tuple(form.ids), tuple(inst.resources), np.concatenate(resources), np.concatenate(enterprises),
                               np.concatenate(prices).astype(float), np.concatenate(limits).astype(float))
