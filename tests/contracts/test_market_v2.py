"""What market v2 changes (contracts.market): open_day's price floor, and a day's participants kept as a
count and one key each.  References: the limits written here (0, or a magnitude from 1e-9 to 1e9, docs/market.md),
the first-post order written here, the state roots of a replay, and the same day cleared on a v1 ledger."""

from __future__ import annotations

import json

import pytest

from coopchain.chain.encoding import decode
from coopchain.chain.namespaces import contract_key
from coopchain.chain.verify import replay_chain, verify_chain
from coopchain.service import wiring
from tests.contracts.conftest import key, make_world
from tests.contracts.test_market_contract import DAY, Day, offer, rejected, static
from tests.models.test_market import HAND


def open_args(world, market: str, floor: str, gate: int) -> dict:
    return {"cooperative": world.cooperative, "market": market, "periods": 2, "period_minutes": 60, "price_floor": floor, "gate": gate}


def raw(world, k: str, height: int | None = None):
    value = world.ledger.state(contract_key("market", k), height)
    return None if value is None else decode(value)


@pytest.fixture
def v1(tmp_path, sample_document):
    w = make_world(tmp_path / "v1", sample_document["cooperative"], 1)
    yield w
    w.ledger.close()


@pytest.fixture
def v2(tmp_path, sample_document):
    w = make_world(tmp_path / "v2", sample_document["cooperative"], 2)
    yield w
    w.ledger.close()


# -- the price floor ---------------------------------------------------------------------

OUT_OF_LIMITS = ["-10000000000", "-1000000000.5", "-0.0000000001", "-0.0000000009999"]  # beyond 1e9, below 1e-9
WITHIN = ["0", "-0.000000001", "-1000000000", "-0.5"]  # 0 and both ends of [1e-9, 1e9]


@pytest.mark.parametrize("floor", OUT_OF_LIMITS)
def test_v2_refuses_a_floor_out_of_limits(v2, floor):
    receipt = rejected(v2, v2.manager, "market.open_day", open_args(v2, "d", floor, v2.ledger.height() + 5), "invalid_price_floor")
    assert receipt.message == (f"price_floor: must be 0 or of magnitude between 1e-09 and 1e+09 (got {floor}): "
                               "no offer could be posted for such a day")
    assert raw(v2, "day/d") is None


@pytest.mark.parametrize("floor", WITHIN)
def test_v2_opens_a_day_with_a_floor_within_limits(v2, floor):
    receipt, _, _ = v2.send(v2.manager, "market.open_day", open_args(v2, "d", floor, v2.ledger.height() + 5))
    assert receipt.status == "applied", receipt
    assert raw(v2, "day/d")["price_floor"] == floor


def test_v2_checks_the_floor_before_the_manager(v2):
    """invalid_price_floor is v2's first condition: a stranger's open_day with a bad floor gets it, not not_manager."""
    rejected(v2, key(31), "market.open_day", open_args(v2, "d", "-10000000000", v2.ledger.height() + 5), "invalid_price_floor")


def test_v1_still_opens_such_a_day_and_then_refuses_every_offer(v1):
    """v1 as it was (its ledgers replay to the same roots): the day opens, every offer names $.price_floor."""
    p = HAND["participants"][0]
    owner = key(10)
    assert v1.send(owner, "market.register_participant", {"participant": static(p)})[0].applied
    receipt, _, _ = v1.send(v1.manager, "market.open_day", open_args(v1, "d", "-10000000000", v1.ledger.height() + 5))
    assert receipt.status == "applied", receipt
    receipt = rejected(v1, owner, "market.post_offer", {"market": "d", "participant": p["id"], "offer": offer(p)}, "invalid_offer")
    assert receipt.message == "$.price_floor: must be 0 or of magnitude between 1e-09 and 1e+09"


# -- the participants' layout --------------------------------------------------------------

ORDER = ["diesel", "pv", "mill"]  # the first posts' order, chosen here (not HAND's)


def post(day: Day, pid: str):
    p = next(q for q in HAND["participants"] if q["id"] == pid)
    receipt, _, _ = day.world.send(day.owners[pid], "market.post_offer", {"market": DAY, "participant": pid, "offer": offer(p)})
    assert receipt.status == "applied", receipt


def test_hand_ids():
    assert set(ORDER) <= {p["id"] for p in HAND["participants"]}


def test_v2_keeps_a_count_and_one_key_per_participant_in_first_post_order(v2):
    day = Day(v2)
    assert raw(v2, f"day/{DAY}")["posted"] == 0
    for pid in [ORDER[0], ORDER[1], ORDER[0], ORDER[2], ORDER[1]]:  # repeats change neither the count nor the order
        post(day, pid)
    stored = raw(v2, f"day/{DAY}")
    assert "participants" not in stored and stored["posted"] == 3
    assert [raw(v2, "poster/" + json.dumps([DAY, i], separators=(",", ":"))) for i in range(4)] == [*ORDER, None]


def test_v2_repeat_post_writes_the_offer_only(v2):
    """A later post by the same participant changes its offer's entry (and the nonce), not the day's entry nor a poster key."""
    day = Day(v2)
    post(day, ORDER[0])
    before = v2.ledger.height()
    post(day, ORDER[0])
    assert raw(v2, f"day/{DAY}", before) == raw(v2, f"day/{DAY}")
    assert raw(v2, "poster/" + json.dumps([DAY, 1], separators=(",", ":"))) is None


def test_v1_keeps_the_list(v1):
    day = Day(v1)
    for pid in [ORDER[0], ORDER[1], ORDER[0], ORDER[2]]:
        post(day, pid)
    assert raw(v1, f"day/{DAY}")["participants"] == ORDER
    assert raw(v1, "poster/" + json.dumps([DAY, 0], separators=(",", ":"))) is None


# -- replay and the clearing on both versions ---------------------------------------------


def every_kind(world) -> Day:
    """Every market transaction of the version, applied and rejected: registrations, a refused one, open_day
    (and for v2 a refused floor), first and repeated posts, a refused post, a refused and an accepted clearing."""
    day = Day(world)
    rejected(world, key(31), "market.register_participant", {"participant": json.dumps({"id": "x", "type": "nuclear"})}, "invalid_participant")
    if world.ledger.runtime.contracts["market"][0].version >= 2:
        rejected(world, world.manager, "market.open_day", open_args(world, "bad", "-0.0000000001", world.ledger.height() + 5), "invalid_price_floor")
    post(day, ORDER[1])
    day.post_all()
    post(day, ORDER[1])
    rejected(world, key(31), "market.post_offer", {"market": DAY, "participant": ORDER[0], "offer": "{}"}, "not_owner")
    day.close_gate()
    doc = day.clearing()
    receipt, _, _ = world.send(key(77), "market.clear", {"market": DAY, "clearing": json.dumps(doc)})
    assert receipt.status == "applied", receipt
    rejected(world, key(77), "market.clear", {"market": DAY, "clearing": json.dumps(doc)}, "already_cleared")
    return day


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_chain_with_every_market_transaction_verifies_and_replays(tmp_path, sample_document, version):
    world = make_world(tmp_path, sample_document["cooperative"], version)
    every_kind(world)
    store, head = world.ledger.store, world.ledger.head()
    verified = verify_chain(store, contracts=wiring.contracts())
    replayed = replay_chain(store, contracts=wiring.contracts())  # compares every block's state and receipts roots
    assert verified.state_root == replayed.state_root == head.state_root
    assert replayed.blocks == head.height + 1
    world.ledger.close()


def test_v2_clears_the_same_offers_to_the_same_state_as_v1(v1, v2):
    """The same transactions on a v1 and a v2 ledger: the clearing's entry and every settlement are the same bytes
    (prices, interval, welfare, market hash, each participant's energy and payment), the posting order too."""
    for w in (v1, v2):
        day = Day(w)
        post(day, ORDER[2])
        post(day, ORDER[0])
        day.post_all()
        day.close_gate()
        receipt, _, _ = w.send(key(77), "market.clear", {"market": DAY, "clearing": json.dumps(day.clearing())})
        assert receipt.status == "applied", receipt
    from coopchain.service.market import day as read_day

    ids = [ORDER[2], ORDER[0], *[p["id"] for p in HAND["participants"] if p["id"] not in (ORDER[2], ORDER[0])]]
    assert read_day(v1.ledger, DAY).participants == read_day(v2.ledger, DAY).participants == tuple(ids)
    for k in [f"clearing/{DAY}", *("settlement/" + json.dumps([DAY, pid], separators=(",", ":")) for pid in [*ids, "market:disposal"])]:
        assert v1.ledger.state(contract_key("market", k)) == v2.ledger.state(contract_key("market", k)) is not None, k


# -- a full day ------------------------------------------------------------------------------


def test_v2_refuses_a_newcomer_to_a_full_day_and_still_takes_later_posts(v2):
    """10,000 participants (MAX_PARTICIPANTS, written here) post; the 10,001st's first post is day_full, alone
    (only its nonce changes), while a participant already in the day posts again."""
    from coopchain.chain.transaction import sign_transaction
    from tests.contracts.conftest import CHAIN

    full = 10_000
    owner = key(50)
    consumer = lambda i: json.dumps({"id": f"c{i}", "type": "consumer", "value_of_lost_load": 4})  # noqa: E731
    bid = json.dumps({"bids": [[{"price": 0.5, "quantity": 1}], []], "inflexible_load": [1, 1]})
    gate = v2.ledger.height() + 100
    assert v2.send(v2.manager, "market.open_day", open_args(v2, "big", "-0.5", gate))[0].applied
    nonce = v2.ledger.next_nonce(owner.public_key.to_text())
    txs = [sign_transaction(owner, CHAIN, nonce + i, "market.register_participant", {"participant": consumer(i)}) for i in range(full + 1)]
    txs += [sign_transaction(owner, CHAIN, nonce + full + 1 + i, "market.post_offer", {"market": "big", "participant": f"c{i}", "offer": bid})
            for i in range(full)]
    for start in range(0, len(txs), 2_000):
        block = v2.ledger.commit(txs[start:start + 2_000])
        assert all(r.applied for r in block.receipts)
    assert raw(v2, "day/big")["posted"] == full
    receipt = rejected(v2, owner, "market.post_offer", {"market": "big", "participant": f"c{full}", "offer": bid}, "day_full")
    assert "10,000 participants" in receipt.message
    assert raw(v2, "offer/" + json.dumps(["big", f"c{full}"], separators=(",", ":"))) is None
    assert v2.send(owner, "market.post_offer", {"market": "big", "participant": "c0", "offer": bid})[0].applied
    assert raw(v2, "day/big")["posted"] == full


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_post_and_the_day_s_participants_are_proven_by_audit_bundles(tmp_path, sample_document, version):
    """An offer's audit bundle verifies offline on either version, and the state entries that say who posted
    (v1: the day's list; v2: the count and each poster key) are proven against the head's state root."""
    from coopchain.chain.bundle import verify_bundle
    from coopchain.contracts.market import day_key, poster_key
    from coopchain.service.bundles import audit_bundle

    world = make_world(tmp_path, sample_document["cooperative"], version)
    day = Day(world)
    for pid in ORDER:
        post(day, pid)
    receipt, _, _ = world.send(day.owners[ORDER[2]], "market.post_offer",
                               {"market": DAY, "participant": ORDER[2], "offer": offer(next(p for p in HAND["participants"] if p["id"] == ORDER[2]))})
    assert verify_bundle(audit_bundle(world.ledger, receipt.transaction)).receipt.status == "applied"

    def proven(k: str):
        return decode(verify_bundle(world.ledger.bundle(receipt.transaction, state_key=contract_key("market", k))).state_value)

    if version == 1:
        assert proven(day_key(DAY))["participants"] == ORDER
    else:
        assert proven(day_key(DAY))["posted"] == len(ORDER)
        assert [proven(poster_key(DAY, i)) for i in range(len(ORDER))] == ORDER
    world.ledger.close()
