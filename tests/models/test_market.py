"""The village energy market (issue 13, SPEC §4): data validation, hand-solved clearings, degeneracy, negative prices.

Expected figures are worked out by hand in the comments (exact Fractions, every
number dyadic so that nothing depends on rounding), never read back from the code.
"""

import copy
from fractions import Fraction

import numpy as np
import pytest

from coopchain.models.market import CHARGE, DISCHARGE, MarketDataError, market_lp, parse_market
from coopchain.models.market_clearing import clear, solve_pyomo
from tests.data.gen_market import generate


def market(participants, periods=2, minutes=60, floor=-0.5):
    return {"schema": "coopchain/market/v1", "market": "test-day", "periods": periods, "period_minutes": minutes,
            "price_floor": floor, "participants": participants}


def battery(**kw):
    unit = {"id": "bat", "type": "storage", "energy_capacity": 4, "charge_power": 4, "discharge_power": 4,
            "charge_efficiency": 0.75, "discharge_efficiency": 1.0, "standing_loss": 0, "initial_soc": 0}
    unit.update(kw)
    return unit


# Two producers, two consumers, one battery, two hours.
#   pv:         12 kWh available in hour 0, none in hour 1, offered at 0
#   diesel:     0..10 kW at 0.25 per kWh
#   mill:       buys 4 kWh at up to 0.5 in each hour
#   households: inflexible 2 then 6 kWh, value of lost load 4
#   bat:        4 kWh, 4 kW each way, charge efficiency 0.75, discharge 1, empty at start
# Hour 0: pv covers mill 4 + households 2 and charges the battery at full power (4 kWh from the
#   grid, 3 kWh stored); 2 kWh of pv are left over, so pv is marginal: price 0.
# Hour 1: the battery gives its 3 kWh back; diesel covers the other 10 − 3 = 7 kWh and is
#   marginal (strictly inside 0..10): price 0.25.  Stored energy is worth 0.25 per kWh in both
#   hours (discharge is interior in hour 1, the state of charge interior in hour 0); charging in
#   hour 0 is worth 0.75·0.25 − 0 > 0 per kWh, which is why it runs at full power.
# Welfare: mill 8·0.5 + households 8·4 − diesel 7·0.25 = 4 + 32 − 1.75 = 34.25.
# Settlement, hour 1 at 0.25: mill pays 1, households 1.5; diesel is paid 1.75, the battery 0.75.
HAND = market([
    {"id": "pv", "type": "solar", "availability": [12, 0]},
    {"id": "diesel", "type": "thermal", "marginal_cost": 0.25, "min_output": 0, "max_output": 10},
    {"id": "mill", "type": "consumer", "kind": "rice mill", "bids": [[{"price": 0.5, "quantity": 4}], [{"price": 0.5, "quantity": 4}]],
     "inflexible_load": [0, 0], "value_of_lost_load": 4},
    {"id": "households", "type": "consumer", "bids": [[], []], "inflexible_load": [2, 6], "value_of_lost_load": 4},
    battery(),
])


@pytest.fixture(scope="module")
def hand():
    return clear(parse_market(HAND))


def test_hand_case_prices(hand):
    assert hand.success, hand.message
    assert hand.verified.prices == (Fraction(0), Fraction(1, 4))
    assert hand.verified.unique_prices


def test_hand_case_welfare(hand):
    assert hand.verified.welfare == Fraction(3425, 100)


def test_hand_case_value_of_stored_energy(hand):
    assert hand.verified.storage_value["bat"] == (Fraction(1, 4), Fraction(1, 4))
    assert hand.storage_value == {"bat": (0.25, 0.25)}


def test_hand_case_state_of_charge(hand):
    # 4 kWh charged at 0.75 in hour 0, all 3 kWh given back in hour 1.
    assert hand.state_of_charge == {"bat": (3.0, 0.0)}


def test_hand_case_trades(hand):
    energy = {s.id: s.energy for s in hand.settlement}
    assert energy["pv"] == (-10, 0)
    assert energy["diesel"] == (0, -7)
    assert energy["mill"] == (4, 4)
    assert energy["households"] == (2, 6)
    assert energy["bat"] == (4, -3)


def test_hand_case_payments(hand):
    paid = {s.id: s.payment for s in hand.settlement}
    assert paid["mill"] == (0, 1)
    assert paid["households"] == (0, Fraction(3, 2))
    assert paid["diesel"] == (0, Fraction(-7, 4))
    assert paid["bat"] == (0, Fraction(-3, 4))


def test_hand_case_surpluses_sum_to_the_welfare(hand):
    surplus = {s.id: s.surplus for s in hand.settlement}
    assert surplus == {"pv": 0, "diesel": 0, "mill": 3, "households": Fraction(61, 2), "bat": Fraction(3, 4), "market:disposal": 0}


def test_budget_balances_exactly_in_every_period(hand):
    for t in range(2):
        assert sum(s.payment[t] for s in hand.settlement) == 0


# One hour, one step of supply meeting one step of demand: pv offers exactly 5 kWh at 0.125 and the
# mill bids for exactly 5 kWh at 0.625.  Any price in [0.125, 0.625] clears the market (the LP is
# degenerate); the rule posts the midpoint, 0.375, and records the interval.
DEGENERATE = market([
    {"id": "pv", "type": "solar", "availability": [5], "offer_price": 0.125},
    {"id": "mill", "type": "consumer", "bids": [[{"price": 0.625, "quantity": 5}]], "inflexible_load": [0], "value_of_lost_load": 1},
], periods=1)


def test_degenerate_prices_take_the_midpoint_of_the_interval():
    result = clear(parse_market(DEGENERATE))
    assert result.success, result.message
    assert result.verified.price_low == (Fraction(1, 8),)
    assert result.verified.price_high == (Fraction(5, 8),)
    assert result.verified.prices == (Fraction(3, 8),)


def test_degenerate_interval_is_reported_in_prices():
    result = clear(parse_market(DEGENERATE))
    assert result.price_interval == ((0.125, 0.625),)


# Negative prices.  One hour: a diesel that must run at 10 kW (its minimum) at 0.25; households
# take 4 kWh; a 1 kWh battery with 5 kW each way and 0.9 efficiency both ways, empty.  6 kWh too
# many.  The battery alone absorbs 1/0.9 kWh; the rest is disposed of at the floor, −0.5, which
# is the price.  At that price burning energy pays: charging 5 and discharging 3.15 at once
# leaves 1 kWh stored and absorbs 1.85 kWh.  The clearing forbids it by holding the battery's
# discharge at 0 (its net effect is a charge); the price stays −0.5.
NEGATIVE = market([
    {"id": "diesel", "type": "thermal", "marginal_cost": 0.25, "min_output": 10, "max_output": 20},
    {"id": "households", "type": "consumer", "bids": [[]], "inflexible_load": [4], "value_of_lost_load": 3},
    battery(energy_capacity=1, charge_power=5, discharge_power=5, charge_efficiency=0.9, discharge_efficiency=0.9),
], periods=1)


@pytest.fixture(scope="module")
def negative():
    return clear(parse_market(NEGATIVE))


def test_negative_price_is_the_floor(negative):
    assert negative.success, negative.message
    assert negative.verified.prices == (Fraction(-1, 2),)


def test_negative_price_holds_the_battery_to_charging(negative):
    assert negative.verified.held == (("bat", 0, "discharge"),)
    energy = {s.id: s.energy for s in negative.settlement}
    # Charge-only: 1 kWh of room at 0.9 efficiency takes 1/0.9 kWh from the grid.
    assert float(energy["bat"][0]) == pytest.approx(1 / 0.9, rel=1e-12)


def test_negative_price_disposes_the_rest_at_the_floor(negative):
    energy = {s.id: s.energy for s in negative.settlement}
    assert float(energy["market:disposal"][0]) == pytest.approx(6 - 1 / 0.9, rel=1e-12)


def test_must_run_loss_is_recorded_not_refused(negative):
    diesel = next(s for s in negative.settlement if s.id == "diesel")
    # Sold 10 kWh at −0.5 with a cost of 0.25: it pays 5 and spends 2.5 (up to the last rounding
    # residue of the period, 1/0.9 not being a binary fraction, which the clearing may put on it).
    assert float(diesel.surplus) == pytest.approx(-7.5, rel=1e-12)
    assert not diesel.may_stay_out


def test_positive_prices_never_charge_and_discharge_at_once():
    # The theorem of docs/market.md: with η_c·η_d < 1 an optimal clearing cannot do both in a
    # period whose price is positive.  Random villages, every period checked in the quantities.
    for seed in range(4):
        result = clear(parse_market(generate(30, 24, seed=seed)))
        assert result.success, result.message
        lp = market_lp(parse_market(generate(30, 24, seed=seed)))
        x = np.array(result.document["x"], dtype=object)
        c, d = np.flatnonzero(lp.role == CHARGE), np.flatnonzero(lp.role == DISCHARGE)
        assert not ((x[c] != 0) & (x[d] != 0)).any()
        assert all(result.verified.prices[t] <= 0 for _, t, _ in result.verified.held)


@pytest.mark.parametrize("seed", [3, 11])
def test_pyomo_record_and_arrays_agree(seed):
    mk = parse_market(generate(16, 12, seed=seed))
    arrays = clear(mk)
    record = solve_pyomo(mk)
    assert arrays.success, arrays.message
    assert record.welfare == pytest.approx(arrays.welfare, rel=1e-9)
    for t, (lo, hi) in enumerate(arrays.price_interval):
        assert lo - 1e-9 <= record.prices[t] <= hi + 1e-9


def test_pyomo_record_hand_case():
    record = solve_pyomo(parse_market(HAND))
    assert record.welfare == pytest.approx(34.25, rel=1e-12)
    assert record.prices == pytest.approx((0.0, 0.25), abs=1e-12)
    assert record.storage_value["bat"] == pytest.approx((0.25, 0.25), abs=1e-12)


def test_formulation_of_record_exports_named_families(tmp_path):
    from coopchain.models.market_clearing import pyomo_model

    path = tmp_path / "market.lp"
    pyomo_model(parse_market(HAND)).write(str(path), io_options={"symbolic_solver_labels": True})
    text = path.read_text()
    for name in ("balance", "state_of_charge", "welfare"):
        assert name in text


def test_replay_gives_the_same_clearing_bit_for_bit():
    mk = parse_market(generate(20, 24, seed=5))
    assert clear(mk).document == clear(mk).document


# --- validation: every error names its field ------------------------------------------


def _with(path, value):
    doc = copy.deepcopy(HAND)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value", "field"), [
    (("participants", 0, "availability", 1), float("nan"), "$.participants[0].availability[1]"),
    (("participants", 0, "availability", 1), float("inf"), "$.participants[0].availability[1]"),
    (("participants", 0, "availability", 1), -1, "$.participants[0].availability[1]"),
    (("participants", 0, "availability"), [1], "$.participants[0].availability"),
    (("participants", 1, "min_output"), 11, "$.participants[1].min_output"),
    (("participants", 2, "bids", 0, 0, "price"), "cheap", "$.participants[2].bids[0][0].price"),
    (("participants", 2, "bids", 0, 0, "quantity"), 1e300, "$.participants[2].bids[0][0].quantity"),
    (("participants", 4, "initial_soc"), 5, "$.participants[4].initial_soc"),
    (("participants", 4, "charge_efficiency"), 0, "$.participants[4].charge_efficiency"),
    (("participants", 4, "standing_loss"), 0.75, "$.participants[4].standing_loss"),
    (("participants", 4, "colour"), "red", "$.participants[4].colour"),
    (("participants", 3, "id"), "pv", "$.participants[3].id"),
    (("participants", 0, "type"), "nuclear", "$.participants[0].type"),
    (("period_minutes",), 20, "$.period_minutes"),
    (("periods",), True, "$.periods"),
    (("price_floor",), 0.5, "$.price_floor"),
    (("participants", 0, "offer_price"), 1e-12, "$.participants[0].offer_price"),
])
def test_invalid_market_names_the_field(path, value, field):
    with pytest.raises(MarketDataError) as e:
        parse_market(_with(path, value))
    assert e.value.field == field


def test_lossless_battery_is_refused():
    with pytest.raises(MarketDataError) as e:
        parse_market(_with(("participants", 4, "charge_efficiency"), 1.0))
    assert e.value.field == "$.participants[4].charge_efficiency"


def test_unreachable_first_period_is_refused():
    unit = {"id": "g", "type": "thermal", "marginal_cost": 0.2, "min_output": 10, "max_output": 20, "ramp_up": 2, "initial_output": 0}
    with pytest.raises(MarketDataError) as e:
        parse_market(market([unit], periods=1))
    assert e.value.field == "$.participants[0].initial_output"


def test_too_many_bid_blocks_are_refused():
    blocks = [{"price": 0.1, "quantity": 1}] * 17
    with pytest.raises(MarketDataError) as e:
        parse_market(_with(("participants", 2, "bids", 0), blocks))
    assert e.value.field == "$.participants[2].bids[0]"


def test_a_day_that_cannot_clear_says_so():
    # A battery that loses 1% an hour must end the day at its initial 10 kWh, and nothing can recharge it.
    doc = market([
        {"id": "households", "type": "consumer", "bids": [[], []], "inflexible_load": [1, 1], "value_of_lost_load": 4},
        battery(energy_capacity=20, initial_soc=10, standing_loss=0.01),
    ])
    result = clear(parse_market(doc))
    assert not result.success
    assert "cannot be cleared" in result.message


def test_a_day_longer_than_the_limit_is_refused():
    with pytest.raises(MarketDataError) as e:
        parse_market(_with(("periods",), 1441))
    assert e.value.field == "$.periods"


def test_the_document_round_trips():
    from coopchain.models.market import market_document, market_hash

    mk = parse_market(HAND)
    again = parse_market(market_document(mk))
    assert market_hash(again) == market_hash(mk)
    assert market_document(again) == market_document(mk)


def _passes_number(values, limits) -> bool:
    """The definition _all_valid stands for: every value accepted by _number with these limits, one by one."""
    from coopchain.models.market import _number

    try:
        for v in values:
            _number(v, "x", **limits)
    except MarketDataError:
        return False
    return True


EDGES = [0, 0.0, -0.0, 1, -1, 0.5, 1e9, -1e9, 1e9 + 1, 1_000_000_001, 1e-9, -1e-9, 9.99e-10, 5e-324, 1e300, 10**400, -(10**400),
         float("nan"), float("inf"), -float("inf"), True, False, None, "1", 2**53 + 1, 0.25, 1.0]
LIMITS = [{}, {"low": 0.0}, {"low": 0.0, "low_open": True}, {"low": 0.0, "high": 1.0, "low_open": True},
          {"high": 0.0}, {"high": 0.5}, {"low": 0.0, "high": 0.5, "high_open": True}, {"low": -1.0, "high": 1.0}]


@pytest.mark.parametrize("length", [1, 3, 24, 64, 65, 200])
def test_the_fast_validity_check_agrees_with_number_one_by_one(length):
    """Short series (an offer's 24 periods) are decided by a loop, long ones by numpy: both must say
    exactly what _number says value by value, on every edge (signed zero, the magnitude limits, NaN,
    infinity, ints too large for a float, bool and strings, open and closed bounds)."""
    from coopchain.models.market import _all_valid

    rng = np.random.default_rng(length)
    for _ in range(300):
        limits = LIMITS[rng.integers(len(LIMITS))]
        base = [float(x) for x in rng.uniform(1e-3, 1.0, length)]
        for _ in range(rng.integers(0, 3)):  # zero, one or two edge values at random places
            base[rng.integers(length)] = EDGES[rng.integers(len(EDGES))]
        assert _all_valid(base, **limits) == _passes_number(base, limits), (base, limits)
    for edge in EDGES:
        for limits in LIMITS:
            values = [0.5] * (length - 1) + [edge]
            assert _all_valid(values, **limits) == _passes_number(values, limits), (edge, limits)


def test_bid_blocks_keep_each_period_s_own_numbers():
    """Equal (price, quantity) pairs share one BidBlock; a zero's sign is its own (0 == -0.0 as a dict key)."""
    import math

    bids = [[{"price": 0.0, "quantity": 2}], [{"price": -0.0, "quantity": 2}], [{"price": 0, "quantity": 2}],
            [{"price": 0.5, "quantity": 2}, {"price": 0.5, "quantity": 2.0}], [{"price": 0.5, "quantity": -0.0}], [{"price": 0.5, "quantity": 0}]]
    consumer = {"id": "c", "type": "consumer", "bids": bids, "inflexible_load": [0] * 6, "value_of_lost_load": 4}
    parsed = parse_market(market([consumer], periods=6)).participants[0].bids
    signs = [[(math.copysign(1, b.price), b.price, math.copysign(1, b.quantity), b.quantity) for b in period] for period in parsed]
    assert signs == [[(1, 0.0, 1, 2.0)], [(-1, 0.0, 1, 2.0)], [(1, 0.0, 1, 2.0)], [(1, 0.5, 1, 2.0), (1, 0.5, 1, 2.0)],
                     [(1, 0.5, -1, 0.0)], [(1, 0.5, 1, 0.0)]]
    assert all(type(b.price) is float and type(b.quantity) is float for period in parsed for b in period)
