"""The market clearing certificate and its verifier: exact checks of a cleared market day (SPEC §4).

A clearing (``coopchain/market-clearing/v1``) carries the primal solution of the
clearing LP of models.market and two optimal dual solutions, the ends of the price
interval; the posted prices are their midpoint.  The verifier rebuilds the LP from
the *posted* offers and bids (models.market.market_lp: numpy and the standard
library, no solver) and checks, in exact arithmetic, in this order, each condition
with a stable code:

``shape``        the document is well formed (keys, lengths, types, sizes)
``offers``       the clearing names exactly the posted offers and bids (SHA-256 of the canonical market)
``number``       every number is an integer within bounds (no NaN, inf, float, bool)
``restriction``  a unit held to one side of its battery only in a period whose price is ≤ 0
``bounds``       every quantity within its limits (tolerance FEASIBILITY)
``balance``      each period's balance holds *exactly*: energy in = energy out
``rows``         ramp and state-of-charge rows hold (tolerance FEASIBILITY)
``simultaneous`` no storage unit charges and discharges in the same period (exactly: one of the two is 0)
``dual``         both dual solutions are dual feasible (a multiplier only on a side of a row that exists)
``gap``          both have zero duality gap: bound − welfare within GAP of the welfare's scale
``price-rule``   the low end's total price Σ_t λ_t is ≤ the high end's (the price is their midpoint by construction)
``budget``       payments at the prices sum to exactly zero in every period
``individual-rationality``  nobody who may stay out of the market ends the day with a surplus below zero

Exact arithmetic.  Every double is a dyadic rational; every number of a market is
0 or has a magnitude in [1e-9, 1e9] (models.market), so at most 82 binary places.
The clearing's numbers are integers: numerators over 2^SCALE (SCALE = 96), so each
is exact and a dyadic rational too.  All sums and products below are of Python
integers (numpy object arrays only loop over them): no BLAS, no libm, no rounding
decides a verdict; the result is the same bit for bit on every machine.

Why two tolerances and one exact check.  The ramp and state-of-charge rows have
coefficients such as 0.95 and 1/0.9 (as doubles): a solution on any grid satisfies
them only up to rounding, so they hold within FEASIBILITY (2^-30 ≈ 9.3e-10) of the
row's scale.  The balance rows have coefficients ±1, and the clearing puts every
period's last rounding residue on one quantity, so they hold exactly, and that is
what makes the budget balance exact rather than approximate.

The dual bound.  Every column of the LP is boxed, so for *any* multipliers y the
Lagrangian  cost·x = y·(Ax) + z·x ≤ Σ_i max_{L_i ≤ r ≤ U_i} y_i r + Σ_j max_{l_j ≤ x_j ≤ u_j} z_j x_j
with z = cost − Aᵀy is an upper bound on welfare (infinite only when y_i has the
sign of a missing row side: the ``dual`` check).  Its gap to the clearing's welfare is
the proof of optimality; both ends of the interval are checked, and the midpoint is
optimal too because the bound is convex in y.

Pricing rule (where prices are not unique).  The optimal duals form a convex set.
Its ends are taken along the total price Σ_t λ_t: the low end minimises it, the high
end maximises it (two more LPs, only when the clearing's basis is degenerate), and
the posted price of period t is (low_t + high_t)/2; the receipt records [low_t,
high_t].  The verifier checks that both ends are optimal, so every price in the
interval clears the market; it does not check that the ends are extreme (that would
take a certificate of the two extra LPs) — docs/market.md says so.

This module imports numpy, the standard library and models.market (itself numpy and
the standard library only).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from coopchain.models.market import (
    CHARGE, DISCHARGE, ROLE_NAMES, Market, MarketDataError, Storage, kind_of,
    market_hash, market_lp, may_stay_out, parse_market,
)

SCHEMA = "coopchain/market-clearing/v1"
SCALE = 96  # the clearing's numbers are numerators over 2^SCALE
FEASIBILITY_BITS = 30  # rows and bounds hold within 2^-30 of their scale
GAP_BITS = 30  # |bound − welfare| ≤ 2^-30 · max(1, Σ|cost_j x_j| + |constant|)
NUMERATOR_BITS = SCALE + 31  # |numerator| < 2^127: values below 2^31 ≈ 2.1e9 in magnitude
DISPOSAL = "market:disposal"  # the settlement's name for the spill at the price floor

CODES = (
    "shape", "number", "offers", "restriction", "bounds", "balance", "rows", "simultaneous",
    "dual", "gap", "price-rule", "budget", "individual-rationality",
)


class MarketCertificateError(Exception):
    """A clearing does not prove what it claims: ``code`` is one of CODES, the message a sentence."""

    def __init__(self, code: str, sentence: str):
        super().__init__(f"{code}: {sentence}")
        self.code = code
        self.sentence = sentence


def ensure(condition, code: str, sentence) -> None:
    if not condition:
        raise MarketCertificateError(code, sentence() if callable(sentence) else sentence)


# --- exact numbers ------------------------------------------------------------------


def exact_ints(values: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """Doubles (finite, |x| ≤ 2^31) as exact numerators over 2^scale, a numpy object array of Python ints.

    Multiplying by a power of two is exact in binary; a double that is not an integer
    after it has more binary places than ``scale`` and is refused.
    """
    v = np.asarray(values, dtype=float) * (2.0**scale)
    if not (np.isfinite(v).all() and (np.rint(v) == v).all()):
        raise ValueError(f"a number is not finite or has more than {scale} binary places")
    out = np.empty(len(v), dtype=object)
    out[:] = [int(a) for a in v.tolist()]
    return out


def _claimed(raw, length: int, what: str) -> np.ndarray:
    ensure(isinstance(raw, list), "shape", f"{what} must be a list of integers")
    ensure(len(raw) == length, "shape", lambda: f"{what} must have {length} numbers, not {len(raw)}")
    ensure(all(type(v) is int for v in raw), "number", f"{what} must hold integers only (numerators over 2^{SCALE}), not floats, NaN or booleans")
    limit = 1 << NUMERATOR_BITS
    ensure(not raw or max(map(abs, raw)) < limit, "number", lambda: f"{what} holds a number of magnitude 2^31 or more")
    out = np.empty(length, dtype=object)
    out[:] = raw
    return out


def as_fraction(numerator: int, scale: int = SCALE) -> Fraction:
    return Fraction(numerator, 1 << scale)


def segment_sums(values: np.ndarray, keys_sorted: np.ndarray, count: int) -> np.ndarray:
    """Σ values[k] over each key 0..count−1 (keys sorted); 0 for a key that has none."""
    out = np.empty(count, dtype=object)
    out[:] = 0
    if len(values) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, keys_sorted[1:] != keys_sorted[:-1]])
    out[keys_sorted[starts]] = np.add.reduceat(values, starts)
    return out


# --- the exact LP --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExactLP:
    """The clearing LP's numbers as numerators over 2^SCALE (bounds: None where infinite)."""

    cost: np.ndarray
    constant: int
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray  # object array; None where −∞
    row_upper: np.ndarray  # None where +∞
    a_val: np.ndarray
    by_column: np.ndarray  # the permutation of A's entries sorted by column


def _bounds(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    out = np.empty(len(values), dtype=object)
    out[:] = None
    if finite.any():
        out[finite] = exact_ints(values[finite])
    return out


def exact_lp(lp) -> ExactLP:
    return ExactLP(
        cost=exact_ints(lp.cost), constant=int(exact_ints(np.array([lp.constant]))[0]),
        col_lower=exact_ints(lp.col_lower), col_upper=exact_ints(lp.col_upper),
        row_lower=_bounds(lp.row_lower), row_upper=_bounds(lp.row_upper),
        a_val=exact_ints(lp.a_val), by_column=np.argsort(lp.a_col, kind="stable"),
    )


def _within(violation: np.ndarray, scale_of: np.ndarray, bits: int) -> np.ndarray:
    """violation ≤ 2^-bits · scale_of, elementwise, both numerators over the same power of two."""
    return (violation << bits) <= scale_of


def _magnitudes(a: np.ndarray) -> np.ndarray:
    return np.abs(a)


# --- the document ---------------------------------------------------------------------


def clearing_document(market: Market, x: list[int], dual_low: list[int], dual_high: list[int], held: list | tuple = ()) -> dict:
    """A clearing of ``market``: quantities and the two ends' duals as numerators over 2^SCALE.

    ``held``: [participant id, period, "charge" | "discharge"] for each side of a battery
    the clearing held at zero (see docs/market.md, "charging and discharging at once").
    """
    return {
        "schema": SCHEMA, "market_hash": market_hash(market), "scale": SCALE,
        "x": list(x), "dual_low": list(dual_low), "dual_high": list(dual_high),
        "held": [list(h) for h in held],
    }


@dataclass(frozen=True)
class ParticipantSettlement:
    """One participant's day: energy bought (+) or sold (−) and payment (+ pays, − is paid) per period, exact.

    Per-period figures are kept as integer numerators (energy over 2^SCALE kWh, payment
    over 2^(2·SCALE+1)); ``energy`` and ``payment`` give them as Fractions.
    """

    id: str
    kind: str
    energy_numerators: tuple[int, ...]
    payment_numerators: tuple[int, ...]
    value: Fraction  # value of what it consumed minus cost of what it produced, at its own bids and offers
    surplus: Fraction  # value − Σ payment
    may_stay_out: bool  # IR is guaranteed (and checked) only for these

    @property
    def energy(self) -> tuple[Fraction, ...]:
        """kWh bought (+) or sold (−) in each period."""
        return tuple(Fraction(v, 1 << SCALE) for v in self.energy_numerators)

    @property
    def payment(self) -> tuple[Fraction, ...]:
        """What it pays (+) or is paid (−) in each period, at the period's price."""
        return tuple(Fraction(v, 1 << (2 * SCALE + 1)) for v in self.payment_numerators)

    @property
    def total_payment(self) -> Fraction:
        return Fraction(sum(self.payment_numerators), 1 << (2 * SCALE + 1))


@dataclass(frozen=True)
class VerifiedClearing:
    """What a valid clearing proves, exactly (Fractions)."""

    market: Market  # the posted offers the clearing was checked against
    market_hash: str
    welfare: Fraction
    prices: tuple[Fraction, ...]  # per kWh, per period: the midpoint of the interval
    price_low: tuple[Fraction, ...]
    price_high: tuple[Fraction, ...]
    storage_value: dict  # storage id -> marginal value of stored energy per period (per kWh in store)
    settlement: tuple[ParticipantSettlement, ...]  # participants in document order, then the disposal account
    held: tuple[tuple[str, int, str], ...]
    gap: tuple[Fraction, Fraction]  # bound − welfare for the low and the high end

    @property
    def unique_prices(self) -> bool:
        return self.price_low == self.price_high


def verify_clearing_document(market_doc: dict, clearing: dict) -> VerifiedClearing:
    """verify_clearing for a market given as its document; invalid market data is refused with code ``shape``."""
    try:
        market = parse_market(market_doc)
    except MarketDataError as e:
        raise MarketCertificateError("shape", f"the market document is not valid: {e}") from e
    return verify_clearing(market, clearing)


def verify_clearing(market: Market, clearing: dict) -> VerifiedClearing:
    """Check a clearing against the posted market; return what it proves or raise MarketCertificateError."""
    ensure(isinstance(clearing, dict), "shape", "a clearing must be a JSON object")
    keys = {"schema", "market_hash", "scale", "x", "dual_low", "dual_high", "held"}
    ensure(set(clearing) == keys, "shape", lambda: f"a clearing has exactly the keys {', '.join(sorted(keys))}")
    ensure(clearing["schema"] == SCHEMA, "shape", f"schema must be {SCHEMA!r}")
    ensure(type(clearing["scale"]) is int and clearing["scale"] == SCALE, "shape", f"scale must be {SCALE}")
    # The posted offers first: a clearing made for other offers (one left out, two swapped)
    # is refused as such, whatever else is wrong with it.
    ensure(clearing["market_hash"] == market_hash(market), "offers",
           "the clearing was made for other offers and bids than the posted ones (market hash differs)")
    lp = market_lp(market)
    T, n, m = market.periods, lp.n, lp.m
    x = _claimed(clearing["x"], n, "x")
    y_low = _claimed(clearing["dual_low"], m, "dual_low")
    y_high = _claimed(clearing["dual_high"], m, "dual_high")
    held = _held(market, clearing["held"])
    try:
        ex = exact_lp(lp)
    except ValueError as e:  # unreachable for a validated market; refused rather than a traceback all the same
        raise MarketCertificateError("number", f"the market's LP has a number the exact checks cannot hold: {e}") from e
    upper = ex.col_upper.copy()
    index = {p.id: i for i, p in enumerate(market.participants)}
    role_of = {"charge": CHARGE, "discharge": DISCHARGE}
    for pid, t, side in held:
        col = np.flatnonzero((lp.owner == index[pid]) & (lp.role == role_of[side]) & (lp.period == t))[0]
        upper[col] = 0
    prices2 = y_low[:T] + y_high[:T]  # 2·price, numerators over 2^SCALE
    for pid, t, side in held:
        ensure(prices2[t] <= 0, "restriction",
               f"{pid}'s {side} is held at zero in period {t}, whose price is positive: only at a price ≤ 0 can a unit gain from charging and discharging at once")

    # Primal feasibility.  Bounds and rows within FEASIBILITY of their scale; balance exactly.
    one = 1 << SCALE
    low_violation = ex.col_lower - x
    high_violation = x - upper
    ok = _within(low_violation, np.maximum(_magnitudes(ex.col_lower), one), FEASIBILITY_BITS) & _within(
        high_violation, np.maximum(_magnitudes(upper), one), FEASIBILITY_BITS)
    if not ok.all():
        j = int(np.flatnonzero(~ok)[0])
        raise MarketCertificateError("bounds", f"{_column_name(market, lp, j)} = {float(as_fraction(x[j])):.12g} is outside its limits "
                                     f"[{float(as_fraction(ex.col_lower[j])):.12g}, {float(as_fraction(upper[j])):.12g}]")
    terms = ex.a_val * x[lp.a_col]  # numerators over 2^(2·SCALE)
    activity = segment_sums(terms, lp.a_row, m)
    row_scale = np.maximum(segment_sums(_magnitudes(terms), lp.a_row, m), one << SCALE)
    for t in range(T):
        rhs = ex.row_lower[t] << SCALE
        ensure(activity[t] == rhs, "balance", lambda: f"period {t} does not balance exactly: energy in − energy out = "
               f"{float(Fraction(activity[t] - rhs, 1 << (2 * SCALE))):.6g} kWh")
    for i in range(T, m):
        lo, up = ex.row_lower[i], ex.row_upper[i]
        scale_i = max(row_scale[i], abs(lo or 0) << SCALE, abs(up or 0) << SCALE)
        if lo is not None and ((lo << SCALE) - activity[i]) << FEASIBILITY_BITS > scale_i or (
                up is not None and (activity[i] - (up << SCALE)) << FEASIBILITY_BITS > scale_i):
            raise MarketCertificateError("rows", f"{lp.row_names[i]} is violated by more than the tolerance")
    for s in np.flatnonzero(lp.role == CHARGE):
        d = s + T  # a unit's discharge columns follow its charge columns (models.market.market_lp)
        ensure(x[s] == 0 or x[d] == 0, "simultaneous", lambda: f"{market.participants[lp.owner[s]].id} charges and discharges in period {lp.period[s]}")

    # Dual feasibility and the duality gap, for both ends of the price interval.
    welfare_terms = ex.cost * x  # 2·SCALE
    welfare = int(welfare_terms.sum()) + (ex.constant << SCALE)
    welfare_scale = max(int(_magnitudes(welfare_terms).sum()) + (abs(ex.constant) << SCALE), one << SCALE)
    gaps = []
    for name, y in (("low", y_low), ("high", y_high)):
        bound = _dual_bound(lp, ex, y, upper, name)  # 3·SCALE
        gap = bound - (welfare << SCALE)
        ensure(abs(gap) << GAP_BITS <= welfare_scale << SCALE, "gap",
               lambda: f"the {name} end's dual bound differs from the welfare by {float(Fraction(gap, 1 << (3 * SCALE))):.6g} (relative "
                       f"{float(Fraction(gap, welfare_scale << SCALE)):.3g}, tolerance 2^-{GAP_BITS})")
        gaps.append(Fraction(gap, 1 << (3 * SCALE)))
    ensure(int(y_low[:T].sum()) <= int(y_high[:T].sum()), "price-rule",
           "the low end of the price interval has a greater total price than the high end")

    settlement = _settle(market, lp, ex, x, prices2)
    storage_value = {}
    for i, p in enumerate(market.participants):
        if isinstance(p, Storage):
            first = next(r for r in range(T, m) if lp.row_names[r] == f"soc[{p.id},0]")
            storage_value[p.id] = tuple(Fraction(y_low[r] + y_high[r], 1 << (SCALE + 1)) for r in range(first, first + T))
    return VerifiedClearing(
        market=market, market_hash=clearing["market_hash"],
        welfare=Fraction(welfare, 1 << (2 * SCALE)),
        prices=tuple(Fraction(v, 1 << (SCALE + 1)) for v in prices2),
        price_low=tuple(as_fraction(v) for v in y_low[:T]),
        price_high=tuple(as_fraction(v) for v in y_high[:T]),
        storage_value=storage_value, settlement=settlement, held=held, gap=(gaps[0], gaps[1]),
    )


def _held(market: Market, raw) -> tuple[tuple[str, int, str], ...]:
    ensure(isinstance(raw, list) and len(raw) <= market.periods * len(market.participants), "shape", "held must be a list of [id, period, side]")
    storage = {p.id for p in market.participants if isinstance(p, Storage)}
    out = []
    for h in raw:
        ensure(isinstance(h, list) and len(h) == 3, "shape", "each entry of held is [storage id, period, 'charge' or 'discharge']")
        pid, t, side = h
        ensure(pid in storage, "shape", f"held names {pid!r}, which is not a storage unit of the market")
        ensure(type(t) is int and 0 <= t < market.periods, "shape", f"held names period {t!r}, outside the day")
        ensure(side in ("charge", "discharge"), "shape", f"held names side {side!r}: use 'charge' or 'discharge'")
        out.append((pid, t, side))
    ensure(len({(p, t) for p, t, _ in out}) == len(out), "shape", "held names a unit and period twice")
    return tuple(out)


def _dual_bound(lp, ex: ExactLP, y: np.ndarray, upper: np.ndarray, name: str) -> int:
    """The Lagrangian bound for multipliers y (numerators over 2^(3·SCALE)); refuses a missing row side."""
    total = 0
    for i in np.flatnonzero(y != 0):
        v = y[i]
        side = ex.row_upper[i] if v > 0 else ex.row_lower[i]
        ensure(side is not None, "dual", lambda: f"the {name} end puts a multiplier on the missing side of {lp.row_names[i]}")
        total += v * side  # 2·SCALE
    products = ex.a_val[ex.by_column] * y[lp.a_row[ex.by_column]]
    a_t_y = segment_sums(products, lp.a_col[ex.by_column], lp.n)  # 2·SCALE
    z = (ex.cost << SCALE) - a_t_y
    best = np.where(z > 0, upper, ex.col_lower)
    return (total << SCALE) + int((z * best).sum()) + (ex.constant << (2 * SCALE))


def _settle(market: Market, lp, ex: ExactLP, x: np.ndarray, prices2: np.ndarray) -> tuple[ParticipantSettlement, ...]:
    """Energy and payment per participant and period at the posted prices; budget balance and IR checked."""
    T = market.periods
    owners = len(market.participants) + 1  # the last is the disposal account (owner −1 in the LP)
    owner = np.where(lp.owner < 0, owners - 1, lp.owner)
    key = owner * T + lp.period
    order = np.argsort(key, kind="stable")
    balance = np.where(lp.balance > 0, 1, np.where(lp.balance < 0, -1, 0)).astype(object)
    energy = segment_sums((balance * x)[order], key[order], owners * T).reshape(owners, T)  # SCALE
    value = segment_sums((ex.cost * x)[order], key[order], owners * T).reshape(owners, T)  # 2·SCALE
    one = 1 << SCALE
    payment = energy * prices2  # numerators over 2^(2·SCALE + 1)
    for t in range(T):
        total = int(payment[:, t].sum())
        ensure(total == 0, "budget", lambda: f"payments in period {t} sum to {float(Fraction(total, 1 << (2 * SCALE + 1))):.6g}, not zero")
    out = []
    for i in range(owners):
        p = market.participants[i] if i < owners - 1 else None
        paid = int(payment[i].sum())
        val = int(value[i].sum()) << 1  # to 2·SCALE + 1
        surplus = val - paid
        stays_out = p is not None and may_stay_out(p)
        if stays_out and surplus < 0:
            scale = max(int(np.abs(payment[i]).sum()) + abs(val), one << (SCALE + 1))
            ensure(-surplus << GAP_BITS <= scale, "individual-rationality",
                   f"{p.id} ends the day {float(Fraction(-surplus, 1 << (2 * SCALE + 1))):.6g} worse off than by staying out of the market")
        out.append(ParticipantSettlement(
            id=p.id if p is not None else DISPOSAL, kind=kind_of(p) if p is not None else "disposal",
            energy_numerators=tuple(energy[i].tolist()), payment_numerators=tuple(payment[i].tolist()),
            value=Fraction(val, 1 << (2 * SCALE + 1)), surplus=Fraction(surplus, 1 << (2 * SCALE + 1)), may_stay_out=stays_out,
        ))
    return tuple(out)


def _column_name(market: Market, lp, j: int) -> str:
    who = market.participants[lp.owner[j]].id if lp.owner[j] >= 0 else DISPOSAL
    return f"{ROLE_NAMES[lp.role[j]]} of {who} in period {lp.period[j]}"


__all__ = [
    "CODES", "SCALE", "SCHEMA", "MarketCertificateError", "ParticipantSettlement", "VerifiedClearing", "clearing_document",
    "exact_ints", "segment_sums", "verify_clearing", "verify_clearing_document",
]
