"""The market contract (issue 13, SPEC §4): offers until the gate, a clearing anyone submits, settlement in state.

The hand-solved market of tests/models/test_market.py (two producers, two consumers, a
battery, two hours; prices 0 and 1/4 worked out in its comments) goes through the
chain; every condition fails alone with its code and changes nothing but the nonce, on a ledger
running market v1 and on one running v2 (tests/contracts/test_market_v2.py: what v2 changes).
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import pytest

from coopchain.chain.encoding import decode
from coopchain.chain.namespaces import contract_key
from coopchain.chain.verify import replay_chain, verify_chain
from coopchain.contracts.market import posted_market, settlement_key
from coopchain.models.market_certificate import SCALE
from coopchain.models.market_clearing import clear
from coopchain.service import wiring
from tests.contracts.conftest import key, make_world, only_nonce_changed
from tests.models.test_market import HAND

SERIES = {"solar": ("availability",), "wind": ("availability",), "consumer": ("bids", "inflexible_load"), "thermal": (), "storage": ()}
DAY = HAND["market"]


def static(p: dict) -> str:
    return json.dumps({f: v for f, v in p.items() if f not in SERIES[p["type"]]})


def offer(p: dict) -> str:
    return json.dumps({f: p[f] for f in SERIES[p["type"]]})


def rejected(world, signer, kind, args, code):
    receipt, parent, header = world.send(signer, kind, args)
    assert (receipt.status, receipt.code) == ("rejected", code), receipt
    assert only_nonce_changed(world, signer, parent, header)
    return receipt


def read(world):
    return lambda contract, k: world.ledger.state(contract_key(contract, k))


class Day:
    def __init__(self, world, gate_in=20):
        self.world = world
        self.owners = {p["id"]: key(10 + i) for i, p in enumerate(HAND["participants"])}
        for p in HAND["participants"]:
            receipt, _, _ = world.send(self.owners[p["id"]], "market.register_participant", {"participant": static(p)})
            assert receipt.status == "applied", receipt
        self.gate = world.ledger.height() + gate_in
        receipt, _, _ = world.send(world.manager, "market.open_day", {"cooperative": world.cooperative, "market": DAY, "periods": 2,
                                                                      "period_minutes": 60, "price_floor": "-0.5", "gate": self.gate})
        assert receipt.status == "applied", receipt

    def post_all(self, leave_out=()):
        for p in HAND["participants"]:
            if p["id"] not in leave_out:
                receipt, _, _ = self.world.send(self.owners[p["id"]], "market.post_offer", {"market": DAY, "participant": p["id"], "offer": offer(p)})
                assert receipt.status == "applied", receipt

    def close_gate(self):
        while self.world.ledger.height() <= self.gate:
            self.world.send(key(90), "record.put", {"key": f"tick/{self.world.ledger.height()}", "value": {"t": "1"}})

    def clearing(self) -> dict:
        return clear(posted_market(read(self.world), DAY)).document


@pytest.fixture(params=[1, 2, 3], ids=["market-v1", "market-v2", "market-v3"])
def world(request, tmp_path, sample_document):
    """Every test here runs on a ledger whose genesis names market v1 (the ledgers created before v2), v2 and v3."""
    w = make_world(tmp_path, sample_document["cooperative"], request.param)
    assert w.ledger.runtime.contracts["market"][0].version == request.param
    yield w
    w.ledger.close()


@pytest.fixture
def day(world):
    return Day(world)


def test_a_cleared_day_settles_at_the_hand_solved_prices(day):
    day.post_all()
    day.close_gate()
    receipt, _, _ = day.world.send(key(77), "market.clear", {"market": DAY, "clearing": json.dumps(day.clearing())})
    assert receipt.status == "applied", receipt
    event = receipt.events[0].data
    assert event["prices"] == ["0", "1/4"] and event["budget"] == "0"
    paid = decode(read(day.world)("market", settlement_key(DAY, "diesel")))["payment"]
    assert [Fraction(p) for p in paid] == [0, Fraction(-7, 4)]


def test_payments_in_state_sum_to_exactly_zero(day):
    day.post_all()
    day.close_gate()
    day.world.send(key(77), "market.clear", {"market": DAY, "clearing": json.dumps(day.clearing())})
    ids = [p["id"] for p in HAND["participants"]] + ["market:disposal"]
    for t in range(2):
        assert sum(Fraction(decode(read(day.world)("market", settlement_key(DAY, pid)))["payment"][t]) for pid in ids) == 0


def test_replay_rebuilds_the_cleared_day(day):
    day.post_all()
    day.close_gate()
    day.world.send(key(77), "market.clear", {"market": DAY, "clearing": json.dumps(day.clearing())})
    store = day.world.ledger.store
    head = day.world.ledger.head()
    assert verify_chain(store, contracts=wiring.contracts()).state_root == replay_chain(store, contracts=wiring.contracts()).state_root == head.state_root


# -- each condition alone ----------------------------------------------------------


def test_invalid_participant(world):
    bad = json.loads(static(HAND["participants"][4]))
    bad["initial_soc"] = 99  # above its 4 kWh
    rejected(world, key(30), "market.register_participant", {"participant": json.dumps(bad)}, "invalid_participant")


def test_series_are_posted_not_registered(world):
    rejected(world, key(30), "market.register_participant", {"participant": json.dumps(HAND["participants"][0])}, "invalid_participant")


def test_participant_exists(day):
    rejected(day.world, key(31), "market.register_participant", {"participant": static(HAND["participants"][0])}, "participant_exists")


def test_open_day_not_manager(day):
    rejected(day.world, key(31), "market.open_day", {"cooperative": day.world.cooperative, "market": "other", "periods": 2, "period_minutes": 60,
                                                     "price_floor": "-0.5", "gate": day.gate}, "not_manager")


def test_open_day_unknown_cooperative(day):
    rejected(day.world, day.world.manager, "market.open_day", {"cooperative": "nowhere", "market": "other", "periods": 2, "period_minutes": 60,
                                                               "price_floor": "-0.5", "gate": day.gate}, "unknown_cooperative")


def test_day_exists(day):
    rejected(day.world, day.world.manager, "market.open_day", {"cooperative": day.world.cooperative, "market": DAY, "periods": 2, "period_minutes": 60,
                                                               "price_floor": "-0.5", "gate": day.gate}, "day_exists")


def test_gate_passed(day):
    rejected(day.world, day.world.manager, "market.open_day", {"cooperative": day.world.cooperative, "market": "late", "periods": 2, "period_minutes": 60,
                                                               "price_floor": "-0.5", "gate": 1}, "gate_passed")


def test_unknown_day(day):
    p = HAND["participants"][0]
    rejected(day.world, day.owners[p["id"]], "market.post_offer", {"market": "nowhere", "participant": p["id"], "offer": offer(p)}, "unknown_day")


def test_unknown_participant(day):
    rejected(day.world, key(31), "market.post_offer", {"market": DAY, "participant": "ghost", "offer": "{}"}, "unknown_participant")


def test_not_owner(day):
    p = HAND["participants"][0]
    rejected(day.world, key(31), "market.post_offer", {"market": DAY, "participant": p["id"], "offer": offer(p)}, "not_owner")


def test_invalid_offer(day):
    p = HAND["participants"][0]
    rejected(day.world, day.owners[p["id"]], "market.post_offer", {"market": DAY, "participant": p["id"], "offer": json.dumps({"availability": [1]})},
             "invalid_offer")


@pytest.mark.parametrize("text, sentence", [
    ("\ufeff{}", "the offer is not JSON: Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
    ('{"bids": NaN}', "the offer is not JSON: NaN is not a number"),
    ('{"bids": [-Infinity]}', "the offer is not JSON: -Infinity is not a number"),
    ('{"bids": [1,]}', "the offer is not JSON: Expecting value: line 1 column 13 (char 12)"),
    ("[]", "the offer is not a JSON object"),
    ('{"bids": [], "inflexible_load": [0, 0], "x": 1}', "a consumer's offer has exactly bids, inflexible_load"),
    ('{"bids": [[{"price": "0.05", "quantity": 2}], []], "inflexible_load": [0, 0]}', "offer.bids[0][0].price: must be a number, not str"),
    ('{"bids": [[], []], "inflexible_load": [0, 1e-10]}', "offer.inflexible_load[1]: must be 0 or of magnitude between 1e-09 and 1e+09"),
])
def test_invalid_offer_says_why(day, text, sentence):
    """The receipt's sentence, word for word: the offer's text is read by one shared decoder and the
    participant's entry is kept decoded between posts (contracts.market), with the messages of before."""
    consumer = next(p for p in HAND["participants"] if p["type"] == "consumer")
    receipt, _, _ = day.world.send(day.owners[consumer["id"]], "market.post_offer", {"market": DAY, "participant": consumer["id"], "offer": text})
    assert (receipt.status, receipt.code, receipt.message) == ("rejected", "invalid_offer", sentence)


def test_gate_closed(day):
    day.close_gate()
    p = HAND["participants"][0]
    rejected(day.world, day.owners[p["id"]], "market.post_offer", {"market": DAY, "participant": p["id"], "offer": offer(p)}, "gate_closed")


def test_gate_open(day):
    day.post_all()
    rejected(day.world, key(77), "market.clear", {"market": DAY, "clearing": json.dumps(day.clearing())}, "gate_open")


def test_no_offers(day):
    day.close_gate()
    rejected(day.world, key(77), "market.clear", {"market": DAY, "clearing": "{}"}, "no_offers")


def test_already_cleared(day):
    day.post_all()
    day.close_gate()
    doc = json.dumps(day.clearing())
    day.world.send(key(77), "market.clear", {"market": DAY, "clearing": doc})
    rejected(day.world, key(77), "market.clear", {"market": DAY, "clearing": doc}, "already_cleared")


def test_a_clearing_that_leaves_out_a_bid_is_not_the_posted_offers(day):
    day.post_all()
    day.close_gate()
    fewer = copy.deepcopy(HAND)
    fewer["participants"][2]["bids"][1] = []
    from coopchain.models.market import parse_market

    rejected(day.world, key(77), "market.clear", {"market": DAY, "clearing": json.dumps(clear(parse_market(fewer)).document)}, "offers")


def test_a_nudged_price_is_a_duality_gap(day):
    day.post_all()
    day.close_gate()
    doc = day.clearing()
    for end in ("dual_low", "dual_high"):
        doc[end][1] += 2 << (SCALE - 10)
    rejected(day.world, key(77), "market.clear", {"market": DAY, "clearing": json.dumps(doc)}, "gap")


def test_one_unit_in_the_last_place_breaks_the_balance(day):
    day.post_all()
    day.close_gate()
    doc = day.clearing()
    doc["x"][2] += 1
    rejected(day.world, key(77), "market.clear", {"market": DAY, "clearing": json.dumps(doc)}, "balance")


@pytest.mark.parametrize("method, args, sentence", [
    ("post_offer", {"market": "m", "participant": "p"}, "market.post_offer takes exactly the arguments market, offer, participant"),
    ("post_offer", {"market": "m", "participant": "p", "offer": "{}", "extra": 1}, "market.post_offer takes exactly the arguments market, offer, participant"),
    ("post_offer", {"market": "", "participant": "p", "offer": "{}"}, "market must be a name of 1 to 100 printable characters"),
    ("post_offer", {"market": "m\x00", "participant": "p", "offer": "{}"}, "market must be a name of 1 to 100 printable characters"),
    ("post_offer", {"market": "m", "participant": "p", "offer": ""}, "offer must be JSON text"),
    ("post_offer", {"market": "m", "participant": "p", "offer": 5}, "offer must be JSON text"),
    ("clear", {"market": "m"}, "market.clear takes exactly the arguments clearing, market"),
    ("register_participant", {"participant": ["x"]}, "participant must be JSON text"),
])
def test_admission_refuses_a_malformed_call_with_its_sentence(method, args, sentence):
    """The shape checks build their sentence only when refusing (they run for every transaction): the same sentences."""
    from coopchain.chain.errors import InvalidTransaction
    from coopchain.contracts.market import MarketContract

    with pytest.raises(InvalidTransaction) as refused:
        MarketContract().methods[method].shape(args)
    assert str(refused.value) == sentence
