"""The village energy market of SPEC §4 (source figure 7): the market day's data and its clearing LP as arrays.

This is the *problem* of the market, kept apart from the method that clears it
(models.market_clearing: HiGHS, the Pyomo formulation of record, the pricing rule)
and from the certificate that proves a clearing (models.market_certificate).  It
imports numpy and the standard library only, and nothing else of coopchain, so
the certificate leaf builds the very same LP from the posted offers without a solver.

Units.  A market day has ``T`` periods of ``Δ`` hours (``period_minutes`` 15, 30 or
60, so Δ is 1/4, 1/2 or 1: a power of two, and Δ·x is exact in binary).  Powers
(availability, output limits, charge and discharge power, bid quantities,
inflexible load) are in kW, averaged over the period; ramp limits are kW of change
from one period to the next; energies (storage capacity and state of charge) are in
kWh; prices, costs and values are per kWh.  Every LP variable is an *energy in
one period* (kWh), so the balance row of period t reads in kWh and its dual is the
price per unit of energy, in the same currency as the offers.

The clearing LP (welfare maximisation over the whole horizon; docs/market.md writes
it out):

    maximise   Σ bid·block + Σ VoLL·served − Σ offer·generation + floor·spill
    subject to, for each period t (price λ_t = the dual):
        Σ blocks + Σ served + Σ charge + spill − Σ generation − Σ discharge = 0   (balance)
    for each thermal unit and t ≥ 1 (ramp):   −Δ·ramp_down ≤ q_t − q_{t−1} ≤ Δ·ramp_up
    for each storage unit and t (state of charge, dual μ_t = value of stored energy):
        e_t − keep·e_{t−1} − η_c·charge_t + (1/η_d)·discharge_t = 0      (e_{−1} = initial, moved right)
    and column bounds: 0 ≤ generation_t ≤ Δ·availability_t, Δ·min ≤ q_t ≤ Δ·max (with the
    first period's ramp from ``initial_output`` folded in), 0 ≤ block ≤ Δ·quantity,
    0 ≤ served_t ≤ Δ·load_t (the inflexible load, valued at VoLL: what is not served is shed), 0 ≤ charge_t ≤ Δ·charge_power, 0 ≤ discharge_t ≤ Δ·discharge_power,
    0 ≤ e_t ≤ capacity, e_{T−1} ≥ initial, 0 ≤ spill_t ≤ Δ·(all the supply there could be).

``keep = 1 − standing_loss`` and ``1/η_d`` are computed once, in IEEE double
arithmetic (correctly rounded, the same on every machine); those doubles *are* the
coefficients of the LP, for the solver and for the exact checks alike.

``spill`` is the market's disposal at the price floor: must-run output (a thermal
unit's minimum, a ramp that cannot fall fast enough) that nobody can take is
disposed of at ``price_floor`` per kWh (≤ 0), as an exchange's minimum price does;
so a period never has a price below the floor, and an over-supplied day still clears.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

SCHEMA = "coopchain/market/v1"

# Bounded input sizes (SPEC §8: verifiers work in bounded time).
MAX_PERIODS = 1_440
MAX_PARTICIPANTS = 10_000
MAX_BLOCKS = 16  # bid blocks per consumer and period
MAX_COLUMNS = 4_000_000
# Every number of a market is 0 or has a magnitude in [MIN_MAGNITUDE, MAX_MAGNITUDE]: so each
# is a dyadic rational with at most 52 + 30 = 82 binary places (exact checks use 2^-96).
MAX_MAGNITUDE = 1e9
MIN_MAGNITUDE = 1e-9
PERIOD_MINUTES = (15, 30, 60)
KINDS = ("solar", "wind", "thermal", "consumer", "storage")


class MarketDataError(ValueError):
    """A market document is not valid: ``field`` names where (a JSON path), the message says why."""

    def __init__(self, field: str, sentence: str):
        super().__init__(f"{field}: {sentence}")
        self.field = field
        self.sentence = sentence


# --- the participants (SPEC §4, energy-market contract) --------------------------


@dataclass(frozen=True)
class Renewable:
    """A solar roof or wind turbine: available power per period at an offer price (near zero).

    A negative offer price is a producer who is paid to produce (a feed-in premium):
    it keeps producing down to that price, as in PyPSA with a negative marginal cost.
    """

    id: str
    kind: str  # "solar" or "wind"
    availability: tuple[float, ...]  # kW per period
    offer_price: float = 0.0  # per kWh


@dataclass(frozen=True)
class Thermal:
    """A dispatchable generator (diesel, biomass): marginal cost, output window, ramp limits.

    There is no commitment decision: the unit runs all day between ``min_output`` and
    ``max_output`` (PyPSA's non-committable ``p_min_pu``), so a positive minimum is
    must-run output.  ``initial_output`` (kW, the period before the day) makes the
    ramp limits bind on the first period as well.
    """

    id: str
    marginal_cost: float
    min_output: float
    max_output: float
    ramp_up: float | None = None  # kW per period; None: no limit
    ramp_down: float | None = None
    initial_output: float | None = None


@dataclass(frozen=True)
class BidBlock:
    """Up to ``quantity`` kW bought at a price up to ``price`` per kWh."""

    price: float
    quantity: float


@dataclass(frozen=True)
class Consumer:
    """A household or factory: price–quantity bid blocks per period, and inflexible load valued at VoLL.

    Inflexible load is served unless the price reaches the value of lost load, at
    which point it is shed (partly, if that balances the period).
    """

    id: str
    kind: str  # a label: "household", "factory", "rice mill", ...
    bids: tuple[tuple[BidBlock, ...], ...]  # per period
    inflexible_load: tuple[float, ...]  # kW per period
    value_of_lost_load: float


@dataclass(frozen=True)
class Storage:
    """A battery: energy capacity, charge and discharge power and efficiency, standing loss, initial state.

    ``standing_loss`` is the fraction of the stored energy lost per period (at most 1/2).  The day
    must end with at least the initial state of charge.
    """

    id: str
    energy_capacity: float  # kWh
    charge_power: float  # kW
    discharge_power: float  # kW
    charge_efficiency: float  # in (0, 1]
    discharge_efficiency: float  # in (0, 1]
    standing_loss: float  # in [0, 1)
    initial_soc: float  # kWh


Participant = Renewable | Thermal | Consumer | Storage


@dataclass(frozen=True, eq=False)
class Market:
    """One market day: T periods of ``period_minutes``, the price floor, the participants in document order.

    Compared and hashed by identity (``eq=False``): the LP and the hash are cached per
    market object, and hashing a whole day's tuples on every look-up would cost more
    than it saves.  Two markets are the same offers when their ``market_hash`` is.
    """

    id: str
    periods: int
    period_minutes: int
    price_floor: float
    participants: tuple[Participant, ...]

    @property
    def hours(self) -> float:
        """Δ, the period length in hours (exact: 1/4, 1/2 or 1)."""
        return self.period_minutes / 60.0


def kind_of(p: Participant) -> str:
    return p.kind if isinstance(p, Renewable) else type(p).__name__.lower()


# --- the document (JSON) and its validation ---------------------------------------


def _number(raw, field: str, *, low: float | None = None, high: float | None = None, low_open=False, high_open=False) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise MarketDataError(field, f"must be a number, not {type(raw).__name__}")
    try:
        x = float(raw)
    except OverflowError:
        raise MarketDataError(field, "is too large") from None
    if not math.isfinite(x):
        raise MarketDataError(field, "must be finite (NaN and infinity are refused)")
    if abs(x) > MAX_MAGNITUDE or (x != 0 and abs(x) < MIN_MAGNITUDE):
        raise MarketDataError(field, f"must be 0 or of magnitude between {MIN_MAGNITUDE:g} and {MAX_MAGNITUDE:g}")
    if low is not None and (x < low or (low_open and x == low)):
        raise MarketDataError(field, f"must be {'>' if low_open else '≥'} {low:g} (got {x:g})")
    if high is not None and (x > high or (high_open and x == high)):
        raise MarketDataError(field, f"must be {'<' if high_open else '≤'} {high:g} (got {x:g})")
    return x


def check_price_floor(raw, field: str = "$.price_floor") -> float:
    """A day's price floor as parse_market reads it: a number ≤ 0, zero or within the magnitudes of every
    number (the market contract's open_day checks a day's floor with this very function, so no day is
    opened whose every offer would then be refused for its floor)."""
    return _number(raw, field, high=0.0)


def _optional(raw, field: str, **limits) -> float | None:
    return None if raw is None else _number(raw, field, **limits)


def _all_valid(values: list, low: float | None = None, high: float | None = None, low_open=False, high_open=False) -> bool:
    """Whether every value passes _number with these limits: the fast path (numpy) for long series.

    When it says no, the caller checks one by one, which names the first bad value.
    """
    if len(values) <= _SHORT:
        return _all_valid_short(values, low, high, low_open, high_open)
    if not all(type(v) is float or type(v) is int for v in values):  # bool is neither
        return False
    try:
        a = np.array(values, dtype=float)
    except OverflowError:
        return False
    mag = np.abs(a)
    ok = np.isfinite(a).all() and (mag <= MAX_MAGNITUDE).all() and ((a == 0) | (mag >= MIN_MAGNITUDE)).all()
    if ok and low is not None:
        ok = bool((a > low).all() if low_open else (a >= low).all())
    if ok and high is not None:
        ok = bool((a < high).all() if high_open else (a <= high).all())
    return bool(ok)


# Below this length a loop in Python decides faster than numpy's calls (an offer's day of 24 periods: 3 µs, not 12).
_SHORT = 64


def _all_valid_short(values: list, low, high, low_open, high_open) -> bool:
    """_all_valid by a loop: each value an int or float (bool is neither) that _number accepts."""
    for v in values:
        t = type(v)
        if t is float:
            x = v
        elif t is int:
            try:
                x = float(v)
            except OverflowError:
                return False
        else:
            return False
        # Finite, 0 or of magnitude in [MIN, MAX] (NaN fails every comparison, infinity the upper bound).
        if not (x == 0 or MIN_MAGNITUDE <= abs(x) <= MAX_MAGNITUDE):
            return False
        if low is not None and (x < low or (low_open and x == low)):
            return False
        if high is not None and (x > high or (high_open and x == high)):
            return False
    return True


def _series(raw, field: str, periods: int, **limits) -> tuple[float, ...]:
    if not isinstance(raw, list):
        raise MarketDataError(field, f"must be a list of {periods} numbers, one per period")
    if len(raw) != periods:
        raise MarketDataError(field, f"must have one number per period: {periods}, not {len(raw)}")
    if _all_valid(raw, **limits):
        return tuple(float(v) for v in raw)
    return tuple(_number(v, f"{field}[{t}]", **limits) for t, v in enumerate(raw))


_BLOCK_KEYS = {"price", "quantity"}


def _bids(bids, field: str, T: int) -> tuple[tuple[BidBlock, ...], ...]:
    if not isinstance(bids, list) or len(bids) != T:
        raise MarketDataError(field, f"must be a list of {T} lists of bid blocks, one per period")
    if _bids_valid(bids):
        # A day's bid usually repeats from period to period: one (frozen) BidBlock per distinct pair,
        # half the cost of building each.  Pairs with a zero are not shared: 0 == -0.0 as a key, but
        # the two are different floats.
        made: dict = {}
        out = []
        for blocks in bids:
            row = []
            for b in blocks:
                pair = (b["price"], b["quantity"])
                block = made.get(pair)
                if block is None:
                    block = BidBlock(float(pair[0]), float(pair[1]))
                    if pair[0] and pair[1]:
                        made[pair] = block
                row.append(block)
            out.append(tuple(row))
        return tuple(out)
    periods = []  # one by one: the first bad block or number, by name
    for t, blocks in enumerate(bids):
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            raise MarketDataError(f"{field}[{t}]", f"must be a list of at most {MAX_BLOCKS} bid blocks")
        parsed = []
        for b, block in enumerate(blocks):
            where = f"{field}[{t}][{b}]"
            _keys(block, where, _BLOCK_KEYS)
            parsed.append(BidBlock(_number(block["price"], f"{where}.price"), _number(block["quantity"], f"{where}.quantity", low=0.0)))
        periods.append(tuple(parsed))
    return tuple(periods)


def _bids_valid(bids: list) -> bool:
    """_bids' fast path: every period a list of at most MAX_BLOCKS blocks of exactly price and quantity, every
    price and quantity valid (what _all_valid(prices) and _all_valid(quantities, low=0.0) say of the lists;
    checked in the same loop, without building them: 30 of an offer's 40 µs went to the lists and the
    generic limits).  False: look one by one."""
    for blocks in bids:
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            return False
        for b in blocks:
            if type(b) is not dict or len(b) != 2 or "price" not in b or "quantity" not in b:  # keys == _BLOCK_KEYS, cheaper
                return False
            x = b["price"]
            if type(x) is not float:
                if type(x) is not int:  # bool is neither
                    return False
                try:
                    x = float(x)
                except OverflowError:
                    return False
            # Finite, 0 or of magnitude in [MIN, MAX] (NaN fails every comparison, infinity the upper bound).
            if not (x == 0 or MIN_MAGNITUDE <= abs(x) <= MAX_MAGNITUDE):
                return False
            x = b["quantity"]
            if type(x) is not float:
                if type(x) is not int:
                    return False
                try:
                    x = float(x)
                except OverflowError:
                    return False
            if not (x == 0 or MIN_MAGNITUDE <= x <= MAX_MAGNITUDE):  # ≥ 0 as well (-0.0 == 0 passes, as in _number)
                return False
    return True


def series_valid(p: dict, T: int) -> bool:
    """Whether parse_market would accept the per-period series of participant entry ``p`` for a day of T
    periods (a renewable's availability; a consumer's bids and inflexible load; thermal units and storage
    have none), checked without building anything.  True: they pass exactly as parse_market checks them
    (the same _all_valid, _series' and _bids' tests).  False: some does not, or may not; only
    parse_market names the fault.  The rest of the entry (its static data) is not looked at."""
    kind = p.get("type")
    if kind in ("solar", "wind"):
        raw = p.get("availability")
        return isinstance(raw, list) and len(raw) == T and _all_valid(raw, low=0.0)
    if kind == "consumer":
        bids, load = p.get("bids"), p.get("inflexible_load")
        return (isinstance(bids, list) and len(bids) == T and _bids_valid(bids)
                and isinstance(load, list) and len(load) == T and _all_valid(load, low=0.0))
    return kind in ("thermal", "storage")


def _keys(obj, field: str, required: set, optional: set = frozenset()) -> None:
    if not isinstance(obj, dict):
        raise MarketDataError(field, "must be an object")
    missing = sorted(required - obj.keys())
    if missing:
        raise MarketDataError(f"{field}.{missing[0]}", "is required")
    unknown = sorted(obj.keys() - required - optional)
    if unknown:
        raise MarketDataError(f"{field}.{unknown[0]}", "is not a known field")


def parse_market(doc) -> Market:
    """Validate a ``coopchain/market/v1`` document (parsed JSON) into a Market, or raise MarketDataError naming the field."""
    _keys(doc, "$", {"schema", "market", "periods", "period_minutes", "participants"}, {"price_floor"})
    if doc["schema"] != SCHEMA:
        raise MarketDataError("$.schema", f"must be {SCHEMA!r}")
    if not isinstance(doc["market"], str) or not doc["market"]:
        raise MarketDataError("$.market", "must be a non-empty string naming the market day")
    periods = doc["periods"]
    if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
        raise MarketDataError("$.periods", f"must be an integer from 1 to {MAX_PERIODS}")
    if doc["period_minutes"] not in PERIOD_MINUTES or isinstance(doc["period_minutes"], bool):
        raise MarketDataError("$.period_minutes", f"must be one of {', '.join(map(str, PERIOD_MINUTES))}")
    floor = check_price_floor(doc.get("price_floor", -0.5))
    raw = doc["participants"]
    if not isinstance(raw, list) or not raw:
        raise MarketDataError("$.participants", "must be a non-empty list")
    if len(raw) > MAX_PARTICIPANTS:
        raise MarketDataError("$.participants", f"at most {MAX_PARTICIPANTS} participants")
    seen: set[str] = set()
    participants = []
    for i, p in enumerate(raw):
        field = f"$.participants[{i}]"
        if not isinstance(p, dict):
            raise MarketDataError(field, "must be an object")
        pid = p.get("id")
        if not isinstance(pid, str) or not pid or len(pid) > 100:
            raise MarketDataError(f"{field}.id", "must be a non-empty string of at most 100 characters")
        if pid in seen:
            raise MarketDataError(f"{field}.id", f"{pid!r} is used twice")
        seen.add(pid)
        participants.append(_participant(p, field, periods))
    market = Market(doc["market"], periods, doc["period_minutes"], floor, tuple(participants))
    columns = column_count(market)
    if columns > MAX_COLUMNS:
        raise MarketDataError("$.participants", f"the market has {columns} LP columns; at most {MAX_COLUMNS}")
    return market


def _participant(p: dict, field: str, T: int) -> Participant:
    kind = p.get("type")
    if kind in ("solar", "wind"):
        _keys(p, field, {"id", "type", "availability"}, {"offer_price"})
        return Renewable(p["id"], kind, _series(p["availability"], f"{field}.availability", T, low=0.0), _number(p.get("offer_price", 0.0), f"{field}.offer_price"))
    if kind == "thermal":
        _keys(p, field, {"id", "type", "marginal_cost", "min_output", "max_output"}, {"ramp_up", "ramp_down", "initial_output"})
        lo = _number(p["min_output"], f"{field}.min_output", low=0.0)
        hi = _number(p["max_output"], f"{field}.max_output", low=0.0)
        if lo > hi:
            raise MarketDataError(f"{field}.min_output", f"is above max_output ({lo:g} > {hi:g})")
        unit = Thermal(
            p["id"], _number(p["marginal_cost"], f"{field}.marginal_cost"), lo, hi,
            _optional(p.get("ramp_up"), f"{field}.ramp_up", low=0.0),
            _optional(p.get("ramp_down"), f"{field}.ramp_down", low=0.0),
            _optional(p.get("initial_output"), f"{field}.initial_output", low=0.0),
        )
        first_lo, first_hi = first_period_window(unit, 1.0)
        if first_lo > first_hi:
            raise MarketDataError(f"{field}.initial_output", "the ramp limits cannot bring the unit from its initial output into its output window in the first period")
        return unit
    if kind == "consumer":
        _keys(p, field, {"id", "type", "bids", "inflexible_load", "value_of_lost_load"}, {"kind"})
        label = p.get("kind", "consumer")
        if not isinstance(label, str) or len(label) > 100:
            raise MarketDataError(f"{field}.kind", "must be a string of at most 100 characters")
        return Consumer(
            p["id"], label, _bids(p["bids"], f"{field}.bids", T),
            _series(p["inflexible_load"], f"{field}.inflexible_load", T, low=0.0),
            _number(p["value_of_lost_load"], f"{field}.value_of_lost_load", low=0.0),
        )
    if kind == "storage":
        names = {"id", "type", "energy_capacity", "charge_power", "discharge_power", "charge_efficiency", "discharge_efficiency", "standing_loss", "initial_soc"}
        _keys(p, field, names)
        capacity = _number(p["energy_capacity"], f"{field}.energy_capacity", low=0.0)
        unit = Storage(
            p["id"], capacity,
            _number(p["charge_power"], f"{field}.charge_power", low=0.0),
            _number(p["discharge_power"], f"{field}.discharge_power", low=0.0),
            _number(p["charge_efficiency"], f"{field}.charge_efficiency", low=0.0, high=1.0, low_open=True),
            _number(p["discharge_efficiency"], f"{field}.discharge_efficiency", low=0.0, high=1.0, low_open=True),
            # At most half the charge lost per period: keeps keep·initial_soc within the exact checks' 2^-96 grid.
            _number(p["standing_loss"], f"{field}.standing_loss", low=0.0, high=0.5),
            _number(p["initial_soc"], f"{field}.initial_soc", low=0.0, high=capacity),
        )
        if unit.charge_efficiency * unit.discharge_efficiency == 1.0:
            # Lossless storage makes charging and discharging at once costless, so the LP could
            # not tell the two apart; every real battery loses something on the round trip.
            raise MarketDataError(f"{field}.charge_efficiency", "charge and discharge efficiency cannot both be 1: the round trip must lose something")
        return unit
    raise MarketDataError(f"{field}.type", f"must be one of {', '.join(KINDS)}")


def market_document(market: Market) -> dict:
    """The market as a ``coopchain/market/v1`` document (the inverse of parse_market)."""
    out = []
    for p in market.participants:
        if isinstance(p, Renewable):
            out.append({"id": p.id, "type": p.kind, "availability": list(p.availability), "offer_price": p.offer_price})
        elif isinstance(p, Thermal):
            d = {"id": p.id, "type": "thermal", "marginal_cost": p.marginal_cost, "min_output": p.min_output, "max_output": p.max_output}
            d.update({k: getattr(p, k) for k in ("ramp_up", "ramp_down", "initial_output") if getattr(p, k) is not None})
            out.append(d)
        elif isinstance(p, Consumer):
            out.append({
                "id": p.id, "type": "consumer", "kind": p.kind,
                "bids": [[{"price": b.price, "quantity": b.quantity} for b in blocks] for blocks in p.bids],
                "inflexible_load": list(p.inflexible_load), "value_of_lost_load": p.value_of_lost_load,
            })
        else:
            out.append({"id": p.id, "type": "storage", **{k: getattr(p, k) for k in (
                "energy_capacity", "charge_power", "discharge_power", "charge_efficiency", "discharge_efficiency", "standing_loss", "initial_soc")}})
    return {"schema": SCHEMA, "market": market.id, "periods": market.periods, "period_minutes": market.period_minutes,
            "price_floor": market.price_floor, "participants": out}


def canonical(market: Market) -> str:
    """The market's canonical JSON: sorted keys, no spaces, floats as Python's shortest round-trip repr."""
    return json.dumps(market_document(market), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@functools.lru_cache(maxsize=8)
def market_hash(market: Market) -> str:
    """SHA-256 of the canonical document, hex: the identity of the posted offers and bids."""
    return hashlib.sha256(canonical(market).encode("utf-8")).hexdigest()


# --- the clearing LP as arrays ------------------------------------------------------


def first_period_window(unit: Thermal, hours: float) -> tuple[float, float]:
    """The first period's energy window: Δ·[min, max] narrowed by the ramp from ``initial_output``."""
    lo, hi = hours * unit.min_output, hours * unit.max_output
    if unit.initial_output is not None:
        if unit.ramp_down is not None:
            lo = max(lo, hours * (unit.initial_output - unit.ramp_down))
        if unit.ramp_up is not None:
            hi = min(hi, hours * (unit.initial_output + unit.ramp_up))
    return lo, hi


def column_count(market: Market) -> int:
    T, n = market.periods, market.periods  # the spill columns
    for p in market.participants:
        if isinstance(p, Consumer):
            n += sum(len(b) for b in p.bids) + T
        elif isinstance(p, Storage):
            n += 3 * T
        else:
            n += T
    return n


# Roles of columns, for settlement and for people reading a clearing.
GENERATION, BLOCK, SERVED, CHARGE, DISCHARGE, SOC, SPILL = range(7)
ROLE_NAMES = ("generation", "block", "served load", "charge", "discharge", "soc", "spill")


@dataclass(frozen=True, eq=False)
class MarketLP:
    """max cost·x + constant  s.t.  row_lower ≤ A x ≤ row_upper,  col_lower ≤ x ≤ col_upper.

    A is given as coordinates (``a_row``, ``a_col``, ``a_val``), sorted by row.  Rows
    0..T−1 are the balance rows, in period order.  For each column: its owner (index
    into ``market.participants``, −1 for spill), its role, its period and its
    coefficient in its period's balance row (``balance``: +1 takes energy, −1 gives it,
    0 for a state of charge).
    """

    market: Market
    cost: np.ndarray
    constant: float
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    a_row: np.ndarray
    a_col: np.ndarray
    a_val: np.ndarray
    owner: np.ndarray
    role: np.ndarray
    period: np.ndarray
    balance: np.ndarray
    row_names: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.cost)

    @property
    def m(self) -> int:
        return len(self.row_lower)


def storage_coefficients(unit: Storage) -> tuple[float, float, float]:
    """(keep, η_c, 1/η_d): the state-of-charge row's coefficients, each one IEEE double operation."""
    return 1.0 - unit.standing_loss, unit.charge_efficiency, 1.0 / unit.discharge_efficiency


@functools.lru_cache(maxsize=8)
def market_lp(market: Market) -> MarketLP:
    """The clearing LP of the module docstring, in arrays; columns participant by participant, then spill."""
    T, dt = market.periods, market.hours
    cols: dict[str, list] = {k: [] for k in ("cost", "lo", "hi", "owner", "role", "period", "balance")}
    rows_lo: list[float] = [0.0] * T
    rows_hi: list[float] = [0.0] * T
    names = [f"balance[{t}]" for t in range(T)]
    ar: list[np.ndarray] = []
    ac: list[np.ndarray] = []
    av: list[np.ndarray] = []
    constant = 0.0
    supply = np.zeros(T)  # the most energy that could be supplied in each period, the spill's bound
    periods = np.arange(T)

    columns = [0]  # how many columns so far

    def add(cost, lo, hi, owner, role, bal, period):
        k = len(period)
        start = columns[0]
        columns[0] += k
        cols["cost"].append(np.broadcast_to(np.asarray(cost, float), (k,)))
        cols["lo"].append(np.broadcast_to(np.asarray(lo, float), (k,)))
        cols["hi"].append(np.broadcast_to(np.asarray(hi, float), (k,)))
        cols["owner"].append(np.full(k, owner))
        cols["role"].append(np.full(k, role))
        cols["period"].append(np.asarray(period))
        cols["balance"].append(np.full(k, bal, dtype=float))
        if bal != 0:
            ar.append(np.asarray(period))
            ac.append(np.arange(start, start + k))
            av.append(np.full(k, float(bal)))
        return np.arange(start, start + k)

    def add_rows(new_names, lo, hi, terms):
        """Rows lo ≤ Σ coef·x[idx] ≤ hi, one per name; ``terms``: (row offsets, column indices, coefficient) triples."""
        r = len(rows_lo)
        k = len(new_names)
        rows_lo.extend(np.broadcast_to(np.asarray(lo, float), (k,)).tolist())
        rows_hi.extend(np.broadcast_to(np.asarray(hi, float), (k,)).tolist())
        names.extend(new_names)
        for offsets, idx, coef in terms:
            ar.append(r + np.asarray(offsets))
            ac.append(np.asarray(idx))
            av.append(np.full(len(idx), float(coef)))

    for i, p in enumerate(market.participants):
        if isinstance(p, Renewable):
            avail = dt * np.array(p.availability)
            add(-p.offer_price, 0.0, avail, i, GENERATION, -1, periods)
            supply += avail
        elif isinstance(p, Thermal):
            lo = np.full(T, dt * p.min_output)
            hi = np.full(T, dt * p.max_output)
            lo[0], hi[0] = first_period_window(p, dt)
            q = add(-p.marginal_cost, lo, hi, i, GENERATION, -1, periods)
            supply += hi
            if (p.ramp_up is not None or p.ramp_down is not None) and T > 1:
                up = math.inf if p.ramp_up is None else dt * p.ramp_up
                down = -math.inf if p.ramp_down is None else -dt * p.ramp_down
                k = np.arange(T - 1)  # row k: q[k+1] − q[k]
                add_rows([f"ramp[{p.id},{t}]" for t in range(1, T)], down, up, [(k, q[1:], 1.0), (k, q[:-1], -1.0)])
        elif isinstance(p, Consumer):
            bp = [t for t in range(T) for _ in p.bids[t]]
            if bp:
                add([b.price for blocks in p.bids for b in blocks], 0.0, [dt * b.quantity for blocks in p.bids for b in blocks], i, BLOCK, 1, np.array(bp))
            # Inflexible load is a column valued at VoLL rather than a constant on the right-hand
            # side: the balance rows then have right-hand side 0 and sum exactly, load included.
            add(p.value_of_lost_load, 0.0, dt * np.array(p.inflexible_load), i, SERVED, 1, periods)
        else:
            keep, eta_c, inv_eta_d = storage_coefficients(p)
            c = add(0.0, 0.0, dt * p.charge_power, i, CHARGE, 1, periods)
            d = add(0.0, 0.0, dt * p.discharge_power, i, DISCHARGE, -1, periods)
            soc_hi = np.full(T, p.energy_capacity)
            soc_lo = np.zeros(T)
            soc_lo[-1] = p.initial_soc  # the day ends with at least the initial state of charge
            e = add(0.0, soc_lo, soc_hi, i, SOC, 0, periods)
            supply += dt * p.discharge_power
            rhs = np.zeros(T)
            rhs[0] = keep * p.initial_soc  # e_{−1} is the initial state of charge, a number: moved right
            k = np.arange(T)
            add_rows([f"soc[{p.id},{t}]" for t in range(T)], rhs, rhs,
                     [(k, e, 1.0), (k, c, -eta_c), (k, d, inv_eta_d), (k[1:], e[:-1], -keep)])
    add(market.price_floor, 0.0, supply, -1, SPILL, 1, periods)

    def cat(key, dtype=float):
        return np.concatenate(cols[key]).astype(dtype)

    a_row, a_col, a_val = np.concatenate(ar), np.concatenate(ac), np.concatenate(av)
    order = np.lexsort((a_col, a_row))
    lp = MarketLP(
        market=market, cost=cat("cost"), constant=constant, col_lower=cat("lo"), col_upper=cat("hi"),
        row_lower=np.array(rows_lo), row_upper=np.array(rows_hi),
        a_row=a_row[order].astype(np.int64), a_col=a_col[order].astype(np.int64), a_val=a_val[order],
        owner=cat("owner", np.int64), role=cat("role", np.int8), period=cat("period", np.int64), balance=cat("balance"),
        row_names=tuple(names),
    )
    for a in (lp.cost, lp.col_lower, lp.col_upper, lp.row_lower, lp.row_upper, lp.a_row, lp.a_col, lp.a_val, lp.owner, lp.role, lp.period, lp.balance):
        a.flags.writeable = False
    return lp


def may_stay_out(p: Participant) -> bool:
    """Whether the participant may trade nothing all day (then the clearing owes it a surplus ≥ 0).

    Duality gives every participant at least the surplus of its best own plan at the
    clearing prices; trading nothing is such a plan unless the participant must run
    (a thermal minimum, a ramp down from its initial output) or must buy (a battery
    with standing loss that must end the day at its initial charge).
    """
    if isinstance(p, Thermal):
        if p.min_output > 0:
            return False
        return p.initial_output is None or p.ramp_down is None or p.initial_output <= p.ramp_down
    if isinstance(p, Storage):
        return p.standing_loss == 0 or p.initial_soc == 0
    return True
