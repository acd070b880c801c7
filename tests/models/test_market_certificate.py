"""The market clearing certificate: every condition refuses alone, with its code; corrupted clearings never pass.

As transparency-dev/merkle's verify tests do for proofs: a valid clearing is
corrupted in every number it holds, and each corruption must be refused.
"""

import copy
import json

import numpy as np
import pytest

from coopchain.models.market import SOC, market_lp, parse_market
from coopchain.models.market_certificate import (
    CODES, SCALE, MarketCertificateError, clearing_document, verify_clearing, verify_clearing_document,
)
from coopchain.models.market_clearing import _even, _exact_quantities, _highs_model, _new_solver, clear
from tests.blocked_imports import run_blocked
from tests.models.test_market import DEGENERATE, HAND, NEGATIVE, market

STEP = 1 << (SCALE - 10)  # 2^-10: a material change of any quantity or price in these small markets


@pytest.fixture(scope="module")
def hand():
    mk = parse_market(HAND)
    result = clear(mk)
    assert result.success, result.message
    return mk, result.document


def refusal(mk, doc) -> str:
    with pytest.raises(MarketCertificateError) as e:
        verify_clearing(mk, doc)
    assert e.value.code in CODES
    return e.value.code


def changed(doc, key, index, delta):
    out = copy.deepcopy(doc)
    out[key][index] += delta
    return out


def test_the_valid_clearing_passes(hand):
    mk, doc = hand
    verify_clearing(mk, doc)


def test_every_quantity_perturbed_is_refused(hand):
    mk, doc = hand
    for j in range(len(doc["x"])):
        for delta in (STEP, -STEP):
            assert refusal(mk, changed(doc, "x", j, delta)) in {"bounds", "balance", "rows"}, j


@pytest.mark.parametrize("end", ["dual_low", "dual_high"])
def test_every_dual_perturbed_is_refused(hand, end):
    mk, doc = hand
    for i in range(len(doc[end])):
        for delta in (2 * STEP, -2 * STEP):
            assert refusal(mk, changed(doc, end, i, delta)) in {"gap", "price-rule", "restriction"}, i


def test_a_price_nudged_is_a_duality_gap(hand):
    mk, doc = hand
    nudged = changed(changed(doc, "dual_low", 1, 2 * STEP), "dual_high", 1, 2 * STEP)
    assert refusal(mk, nudged) == "gap"


def test_one_unit_in_the_last_place_breaks_the_exact_balance(hand):
    mk, doc = hand
    # 2^-96 kWh more for the mill: inside every tolerance, but the period no longer balances exactly.
    mill_hour_0 = 2  # pv[0..1], diesel[0..1], then the mill's first block
    assert refusal(mk, changed(doc, "x", mill_hour_0, 1)) == "balance"


def test_a_quantity_beyond_its_limit_is_out_of_bounds(hand):
    mk, doc = hand
    out = copy.deepcopy(doc)
    out["x"][0] = 13 << SCALE  # pv in hour 0: 12 kWh available
    assert refusal(mk, out) == "bounds"


def test_state_of_charge_off_its_row_is_refused(hand):
    mk, doc = hand
    lp = market_lp(mk)
    soc = int(np.flatnonzero(lp.role == SOC)[0])
    assert refusal(mk, changed(doc, "x", soc, STEP)) == "rows"


def test_swapped_bids_are_not_the_posted_offers(hand):
    mk, doc = hand
    swapped = copy.deepcopy(HAND)
    mill, households = swapped["participants"][2], swapped["participants"][3]
    mill["bids"], households["bids"] = households["bids"], mill["bids"]
    assert refusal(parse_market(swapped), doc) == "offers"


def test_a_bid_left_out_is_not_the_posted_offers(hand):
    mk, doc = hand
    fewer = copy.deepcopy(HAND)
    fewer["participants"][2]["bids"][1] = []
    assert refusal(parse_market(fewer), doc) == "offers"


def test_a_clearing_for_a_bid_left_out_is_refused_against_the_posted_offers(hand):
    mk, _ = hand
    fewer = copy.deepcopy(HAND)
    fewer["participants"][2]["bids"][1] = []
    other = clear(parse_market(fewer))
    assert refusal(mk, other.document) == "offers"


def test_a_price_lowered_within_the_gap_tolerance_still_breaks_individual_rationality(hand):
    # Hour 1's price lowered by 2^-29 in both ends: the duality gap grows by about 7·2^-29 ≈ 1.3e-8,
    # inside its tolerance (2^-30 of a welfare scale of about 38), but the diesel, marginal at
    # exactly its cost, would sell its 7 kWh below its offer: refused for it alone.
    mk, doc = hand
    step = 1 << (SCALE - 29)
    lowered = changed(changed(doc, "dual_low", 1, -step), "dual_high", 1, -step)
    assert refusal(mk, lowered) == "individual-rationality"


def test_a_side_held_where_the_price_is_positive_is_refused(hand):
    mk, doc = hand
    out = copy.deepcopy(doc)
    out["held"] = [["bat", 1, "charge"]]
    assert refusal(mk, out) == "restriction"


def unrestricted_clearing(doc):
    """The clearing LP solved without holding any battery side (as an operator who skips step 2 would)."""
    mk = parse_market(doc)
    lp = market_lp(mk)
    highs = _new_solver()
    highs.passModel(_highs_model(lp, lp.col_upper.copy()))
    highs.run()
    sol = highs.getSolution()
    x = np.array(sol.col_value)
    y = _even(np.array(sol.row_dual))
    return mk, clearing_document(mk, _exact_quantities(lp, lp.col_upper, x), y, y, [])


def test_charging_and_discharging_at_once_is_refused():
    mk, doc = unrestricted_clearing(NEGATIVE)
    assert refusal(mk, doc) == "simultaneous"


def test_a_multiplier_on_a_missing_row_side_is_dual_infeasible():
    # A diesel that may ramp up by at most 2 kW an hour, with no limit going down: its ramp rows
    # have an upper side only, so a negative multiplier on one of them bounds nothing.
    doc = market([
        {"id": "diesel", "type": "thermal", "marginal_cost": 0.25, "min_output": 0, "max_output": 10, "ramp_up": 2},
        {"id": "households", "type": "consumer", "bids": [[], []], "inflexible_load": [2, 6], "value_of_lost_load": 4},
    ])
    mk = parse_market(doc)
    result = clear(mk)
    assert result.success, result.message
    ramp = market_lp(mk).row_names.index("ramp[diesel,1]")
    bad = copy.deepcopy(result.document)
    bad["dual_low"][ramp] = -2 * STEP
    assert refusal(mk, bad) == "dual"


def test_swapped_ends_of_the_price_interval_break_the_rule():
    mk = parse_market(DEGENERATE)
    doc = clear(mk).document
    out = copy.deepcopy(doc)
    out["dual_low"], out["dual_high"] = doc["dual_high"], doc["dual_low"]
    assert refusal(mk, out) == "price-rule"


@pytest.mark.parametrize("value", [1.0, True, None, "1", float("nan"), 1 << 200, -(1 << 200)])
def test_numbers_that_are_not_bounded_integers_are_refused(hand, value):
    mk, doc = hand
    out = copy.deepcopy(doc)
    out["x"][0] = value
    assert refusal(mk, out) == "number"


@pytest.mark.parametrize(("key", "value"), [
    ("schema", "coopchain/market-clearing/v0"), ("scale", 64), ("x", [0]), ("dual_low", {}), ("held", [["pv", 0, "charge"]]),
    ("held", [["bat", 2, "charge"]]), ("held", [["bat", 0, "both"]]), ("held", [["bat", 0, "charge"], ["bat", 0, "discharge"]]),
])
def test_malformed_clearings_are_refused_as_shape(hand, key, value):
    mk, doc = hand
    out = copy.deepcopy(doc)
    out[key] = value
    assert refusal(mk, out) == "shape"


def test_missing_and_unknown_keys_are_shape(hand):
    mk, doc = hand
    out = copy.deepcopy(doc)
    del out["held"]
    assert refusal(mk, out) == "shape"
    out = copy.deepcopy(doc)
    out["comment"] = "trust me"
    assert refusal(mk, out) == "shape"


def test_an_invalid_market_document_is_shape(hand):
    _, doc = hand
    bad = copy.deepcopy(HAND)
    bad["participants"][0]["availability"][0] = -1
    with pytest.raises(MarketCertificateError) as e:
        verify_clearing_document(bad, doc)
    assert e.value.code == "shape"


def test_the_verifier_needs_no_solver(hand):
    _, doc = hand
    script = """
import json, sys
from coopchain.models.market_certificate import verify_clearing_document
market, clearing = json.loads(sys.stdin.read())
verdict = verify_clearing_document(market, clearing)
print(json.dumps({"prices": [str(p) for p in verdict.prices], "loaded": blocked_loaded()}))
"""
    done = run_blocked({"highspy", "pyomo", "cvxpy", "scipy", "pymoo", "coopchain.models.market_clearing"}, script, stdin=json.dumps([HAND, doc]))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out == {"prices": ["0", "1/4"], "loaded": []}
