"""models.market._bids_valid (one loop) against its earlier form written out: the prices and quantities gathered
into lists, each list checked by _number one value at a time (what _all_valid decides, SPEC §4: same verdicts)."""

import random

import pytest

from coopchain.models.market import MAX_BLOCKS, MarketDataError, _bids_valid, _number

EDGES = [0, 0.0, -0.0, 1, 2, -1, 0.5, -0.5, 1e9, -1e9, 1e9 + 1, 1e-9, -1e-9, 1e-10, 5e-324, 1e308, 10**9, 10**9 + 1, 10**400,
         -(10**400), float("nan"), float("inf"), -float("inf"), True, False, None, "1", [1], {"a": 1}]


def _old_valid(bids) -> bool:
    """The earlier _bids_valid: structure first, then every price, then every quantity (≥ 0), by _number."""
    prices, quantities = [], []
    for blocks in bids:
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            return False
        for b in blocks:
            if type(b) is not dict or b.keys() != {"price", "quantity"}:
                return False
            prices.append(b["price"])
            quantities.append(b["quantity"])
    try:
        for p in prices:
            _number(p, "p")
        for q in quantities:
            _number(q, "q", low=0.0)
    except MarketDataError:
        return False
    return True


def _random_bids(rng: random.Random) -> list:
    bids = []
    for _ in range(rng.choice([1, 3, 24, 40])):
        blocks = [{"price": rng.choice([0.37, 1, -0.2, 3.5]), "quantity": rng.choice([2, 0.5, 0])} for _ in range(rng.choice([0, 1, 2, 16]))]
        bids.append(blocks)
    roll = rng.random()
    if roll < 0.8 and any(bids):  # one edit somewhere
        t = rng.choice([t for t, blocks in enumerate(bids) if blocks])
        block = rng.choice(bids[t])
        what = rng.random()
        if what < 0.7:
            block[rng.choice(["price", "quantity"])] = rng.choice(EDGES)
        elif what < 0.8:
            block["extra"] = 1
        elif what < 0.9:
            del block[rng.choice(["price", "quantity"])]
        else:
            bids[t] = rng.choice([block, None, "x", bids[t] * 17])
    return bids


@pytest.mark.parametrize("seed", range(4))
def test_bids_valid_agrees_with_the_earlier_check(seed):
    rng = random.Random(seed)
    verdicts = {True: 0, False: 0}
    for _ in range(3000):
        bids = _random_bids(rng)
        expected = _old_valid(bids)
        assert _bids_valid(bids) is expected, bids
        verdicts[expected] += 1
    assert verdicts[True] > 300 and verdicts[False] > 300


@pytest.mark.parametrize("value", EDGES, ids=repr)
@pytest.mark.parametrize("field", ["price", "quantity"])
def test_every_edge_value_in_either_field(value, field):
    bids = [[{"price": 0.5, "quantity": 1}] for _ in range(24)]
    bids[7][0][field] = value
    assert _bids_valid(bids) is _old_valid(bids)
