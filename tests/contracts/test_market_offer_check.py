"""post_offer's check without the throw-away Market (issue 16): the same verdict and sentence as parse_market.

The contract used to refuse an offer by building the one-participant day {**data, **offer} with
parse_market; it now decides valid offers without building it.  The reference here is that old
code, written out: on thousands of generated offers (valid ones, and random edits of every field:
wrong types, NaN, infinity, integers too large for a float, negative values, magnitudes out of the
limits, wrong lengths, extra and missing keys) and days (a price floor out of the magnitude limits
too), the contract's check accepts exactly what the reference accepts and refuses with exactly its
code and sentence.
"""

from __future__ import annotations

import copy
import json
import random

import pytest

from coopchain.chain.contract import Rejection
from coopchain.chain.encoding import canonical
from coopchain.contracts.market import SERIES, _check_offer
from coopchain.models.market import MarketDataError, parse_market

BAD = [None, True, False, "1", "0.5", [], {}, [1], float("nan"), float("inf"), -float("inf"), 10**400, -(10**400), 1e9 + 1, -1e9 - 1,
       1e-10, -1e-10, 5e-324, -1, -0.5, -1e-9, 0, -0.0, 1e9, 1e-9, 2, 2.5]


def reference(day: dict, data: dict, offer: dict):
    """The old post_offer check, word for word: None (accepted) or (code, sentence)."""
    doc = {"schema": "coopchain/market/v1", "market": day["market"], "periods": day["periods"], "period_minutes": day["period_minutes"],
           "price_floor": float(day["price_floor"]), "participants": [{**data, **offer}]}
    try:
        parse_market(doc)
    except MarketDataError as e:
        return ("invalid_offer", str(e).replace("$.participants[0]", "offer"))
    return None


def ours(day: dict, data: dict, offer: dict):
    entry = canonical({"owner": "someone", "data": json.dumps(data), "registered": 0})
    try:
        _check_offer(day, entry, json.loads(json.dumps(data)), offer)
    except Rejection as e:
        return (e.code, e.message)
    return None


STATIC = {
    "consumer": {"id": "c", "type": "consumer", "value_of_lost_load": 3.0, "kind": "household"},
    "solar": {"id": "s", "type": "solar", "offer_price": 0.01},
    "wind": {"id": "w", "type": "wind"},
    "thermal": {"id": "t", "type": "thermal", "marginal_cost": 0.2, "min_output": 0, "max_output": 5, "ramp_up": 2, "initial_output": 1},
    "storage": {"id": "b", "type": "storage", "energy_capacity": 4, "charge_power": 1, "discharge_power": 1, "charge_efficiency": 0.9,
                "discharge_efficiency": 0.95, "standing_loss": 0.01, "initial_soc": 2},
}
# Static data a registration would refuse (an entry written by older rules): parse_market refuses it at post too.
BAD_STATIC = [
    {"id": "c", "type": "consumer", "value_of_lost_load": -3.0},
    {"id": "s", "type": "solar", "offer_price": 1e10},
    {"id": "t", "type": "thermal", "marginal_cost": 0.2, "min_output": 6, "max_output": 5},
    {"id": "b", "type": "storage", "energy_capacity": 4, "charge_power": 1, "discharge_power": 1, "charge_efficiency": 1,
     "discharge_efficiency": 1, "standing_loss": 0.01, "initial_soc": 2},
    {"id": "", "type": "wind"},
    {"id": "w", "type": "wind", "extra": 1},
]


def valid_offer(kind: str, T: int, rng: random.Random) -> dict:
    if kind in ("solar", "wind"):
        return {"availability": [rng.choice([0, 1, 2.5, 1e-9, 1e9, 0.25]) for _ in range(T)]}
    if kind == "consumer":
        return {"bids": [[{"price": rng.choice([0.05, -0.4, 0, 2, 1e9, -1e9]), "quantity": rng.choice([2, 0, 1e-9, 0.5])}
                          for _ in range(rng.randint(0, 3))] for _ in range(T)],
                "inflexible_load": [rng.choice([0, 1, 0.5, 3]) for _ in range(T)]}
    return {}


def edit(offer: dict, rng: random.Random) -> dict:
    """One random edit somewhere in the offer (the series, a period, a block, a number, a key)."""
    offer = copy.deepcopy(offer)
    if not offer:
        return offer
    field = rng.choice(sorted(offer))
    series = offer[field]
    r = rng.random()
    if not isinstance(series, list) or (field == "bids" and not series):
        return offer  # an earlier edit already broke this series
    if r < 0.1:
        offer[field] = rng.choice(BAD)
    elif r < 0.2:
        offer[field] = series[:-1] if series and rng.random() < 0.5 else series + [series[0] if series else 0]
    elif field != "bids":
        if series:
            series[rng.randrange(len(series))] = rng.choice(BAD)
    else:
        t = rng.randrange(len(series))
        blocks = series[t]
        s = rng.random()
        if s < 0.15 or not isinstance(blocks, list) or not blocks:
            series[t] = rng.choice([BAD[rng.randrange(len(BAD))], [{"price": 1, "quantity": 1}] * 17, [{"price": 1, "quantity": 1}] * 16, []])
        else:
            b = rng.randrange(len(blocks))
            block = blocks[b]
            if s < 0.3 or not isinstance(block, dict):
                blocks[b] = rng.choice(BAD)
            elif s < 0.45:
                block[rng.choice(["extra", "price ", "Price"])] = 1
            elif s < 0.6:
                block.pop(rng.choice(["price", "quantity"]), None)
            else:
                block[rng.choice(["price", "quantity"])] = rng.choice(BAD)
    return offer


def cases(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        T = rng.choice([1, 2, 24])
        day = {"market": "d", "periods": T, "period_minutes": rng.choice([15, 30, 60]),
               "price_floor": rng.choice(["-0.5", "0", "-1000", "-10000000000", "-0.0000000001", "-0.000000001"])}
        kind = rng.choice(sorted(STATIC))
        data = STATIC[kind] if rng.random() < 0.9 else rng.choice(BAD_STATIC)
        offer = valid_offer(data["type"], T, rng)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            offer = edit(offer, rng)
        if set(offer) == SERIES[data["type"]]:  # post_offer refuses other key sets before this check
            yield day, data, offer


@pytest.mark.parametrize("seed", range(8))
def test_same_verdict_and_sentence_as_parse_market(seed):
    outcomes = {"accepted": 0, "refused": 0}
    for day, data, offer in cases(seed, 1500):
        expected = reference(day, data, offer)
        assert ours(day, data, offer) == expected, (day, data, offer)
        outcomes["accepted" if expected is None else "refused"] += 1
    # Both sides are exercised, not only refusals (the first bench measured refusals only).
    assert outcomes["accepted"] > 200 and outcomes["refused"] > 200, outcomes


def test_edge_values_one_by_one():
    """Every edge value in every place of a consumer's and a solar unit's series, alone."""
    T = 2
    day = {"market": "d", "periods": T, "period_minutes": 60, "price_floor": "-0.5"}
    for value in BAD:
        for offer in ({"availability": [1, value]}, {"bids": [[], [{"price": value, "quantity": 1}]], "inflexible_load": [0, 0]},
                      {"bids": [[{"price": 1, "quantity": value}], []], "inflexible_load": [0, 0]},
                      {"bids": [[], []], "inflexible_load": [value, 1]}, {"bids": [value, []], "inflexible_load": [0, 0]}):
            data = STATIC["solar"] if "availability" in offer else STATIC["consumer"]
            assert ours(day, data, offer) == reference(day, data, offer), (value, offer)


def test_floor_out_of_limits_refuses_every_offer_as_before():
    """A day whose floor parse_market refuses (market v1's open_day lets it through; v2 refuses it, tests/contracts/test_market_v2.py):
    every offer names $.price_floor, as before."""
    day = {"market": "d", "periods": 1, "period_minutes": 60, "price_floor": "-10000000000"}
    offer = {"bids": [[{"price": 1, "quantity": 1}]], "inflexible_load": [0]}
    assert ours(day, STATIC["consumer"], offer) == ("invalid_offer", "$.price_floor: must be 0 or of magnitude between 1e-09 and 1e+09")
