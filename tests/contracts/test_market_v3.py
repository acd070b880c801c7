"""What market v3 changes (contracts.market): a day holds no more participants than its clearing's LP takes.

References: the largest offer of each kind counted by models.market.column_count (the LP's own count), the
4,000,000-column limit written here, and v2 on the same transactions (which takes them, the fault v3 removes)."""

from __future__ import annotations

import json

import pytest

from coopchain.models.market import column_count, parse_market
from coopchain.service import wiring
from tests.contracts.conftest import key, make_world
from tests.contracts.test_market_contract import rejected
from tests.contracts.test_market_v2 import open_args, raw

LP_COLUMNS = 4_000_000
PARTICIPANTS = 10_000


def test_new_ledgers_run_market_v3(tmp_path):
    ledger = wiring.create_ledger(f"sqlite:///{tmp_path}/new.db", key(1), "new")
    assert ledger.runtime.contracts["market"][0].version == 3
    ledger.close()


def _largest(kind: str, T: int) -> dict:
    """A participant of `kind` bringing the most columns it can to a day of T periods."""
    if kind == "consumer":
        blocks = [[{"price": 0.5, "quantity": 1.0}] * 16 for _ in range(T)]
        return {"id": "p", "type": "consumer", "value_of_lost_load": 4, "bids": blocks, "inflexible_load": [1.0] * T}
    if kind == "storage":
        return {"id": "p", "type": "storage", "energy_capacity": 4, "charge_power": 4, "discharge_power": 4,
                "charge_efficiency": 0.75, "discharge_efficiency": 1.0, "standing_loss": 0, "initial_soc": 0}
    return {"id": "p", "type": "thermal", "marginal_cost": 0.25, "min_output": 0, "max_output": 10}


@pytest.mark.parametrize("T", [1, 2, 24, 96, 1440])
def test_a_day_at_its_capacity_always_fits_its_clearings_lp(T):
    from coopchain.contracts.market import day_capacity

    most = 0
    for kind in ("consumer", "storage", "thermal"):
        doc = {"schema": "coopchain/market/v1", "market": "d", "periods": T, "period_minutes": 60, "price_floor": -0.5, "participants": [_largest(kind, T)]}
        most = max(most, column_count(parse_market(doc)) - T)  # the spill's T columns are the day's, not the participant's
    capacity = day_capacity(T)
    assert T + capacity * most <= LP_COLUMNS
    assert capacity == PARTICIPANTS or T + (capacity + 1) * most > LP_COLUMNS  # and no smaller than it must be


@pytest.mark.parametrize("version", [2, 3])
def test_v3_refuses_a_newcomer_past_the_days_capacity(tmp_path, sample_document, monkeypatch, version):
    """With the LP's limit lowered to fit three of the largest consumers in a day of 2 periods (2 + 3·17·2 columns),
    v3 refuses the fourth newcomer (day_full, only its nonce changes) and still takes a re-post; v2 takes the fourth,
    a day past what its clearing's LP takes (at the real limit, `clear` then faults in parse_market)."""
    import coopchain.contracts.market as market

    monkeypatch.setattr(market, "MAX_COLUMNS", 2 + 3 * 17 * 2)
    world = make_world(tmp_path, sample_document["cooperative"], version)
    owner = key(50)
    bid = json.dumps({k: v for k, v in _largest("consumer", 2).items() if k in ("bids", "inflexible_load")})
    assert world.send(world.manager, "market.open_day", open_args(world, "d", "-0.5", world.ledger.height() + 100))[0].applied
    for i in range(4):
        assert world.send(owner, "market.register_participant", {"participant": json.dumps({"id": f"c{i}", "type": "consumer", "value_of_lost_load": 4})})[0].applied
    for i in range(3):
        assert world.send(owner, "market.post_offer", {"market": "d", "participant": f"c{i}", "offer": bid})[0].applied
    fourth = {"market": "d", "participant": "c3", "offer": bid}
    if version == 2:
        assert world.send(owner, "market.post_offer", fourth)[0].applied
        assert raw(world, "day/d")["posted"] == 4
    else:
        receipt = rejected(world, owner, "market.post_offer", fourth, "day_full")
        assert receipt.message == ("market day 'd' has its 3 participants, the most a day of 2 periods holds: each may bring up to 34 "
                                   "columns to the clearing's LP, which takes 104; 'c3' has not posted for it")
        assert raw(world, "day/d")["posted"] == 3
        assert world.send(owner, "market.post_offer", {"market": "d", "participant": "c0", "offer": bid})[0].applied
    world.ledger.close()
