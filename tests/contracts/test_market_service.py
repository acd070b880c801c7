"""service.market end to end on a real SQLite ledger (issue 13): register, open, offer, clear, read back.

References, none of them the code's own output:
- the budget: every settlement's per-period energy and payment is read raw from the
  state (fraction strings) and summed here with Fractions; each payment is the period's
  price times the energy, and every period's energies cancel, so the payments sum to 0;
- the prices: tests.models.test_market_reference's cvxpy formulation (with HiGHS),
  written from the SPEC over the market document, not over models.market's arrays;
- the state of charge: re-derived here, period by period, from the battery's own data and
  its settled energy (e_t = keep·e_{t−1} + η_c·charge − discharge/η_d) in Fractions of the doubles;
- replay: chain.verify's replay re-runs every transaction.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
from fractions import Fraction

import pytest

from coopchain.chain.encoding import decode
from coopchain.chain.namespaces import contract_key
from coopchain.chain.verify import replay_chain
from coopchain.service import market as service
from coopchain.service import wiring
from coopchain.service.cooperatives import create_cooperative
from tests.contracts.conftest import create_ledger, key, text
from tests.data.gen_market import generate
from tests.models.test_market_reference import reference

COOPERATIVE = "green-valley"


def village() -> dict:
    return json.loads(importlib.resources.files("coopchain.models.samples").joinpath("village-day.json").read_text())


@pytest.fixture(params=[1, 2], ids=["market-v1", "market-v2"])
def chain(request, tmp_path):
    """A ledger running market v1 (the ledgers created before v2) or v2: the service reads either layout."""
    admin, manager = key(1), key(2)
    ledger = create_ledger(f"sqlite:///{tmp_path}/ledger.db", admin, "market-service", request.param)
    assert create_cooperative(ledger, admin, COOPERATIVE, [text(manager)]).receipt.applied
    yield ledger, manager
    ledger.close()


def raw(ledger, key_: str):
    value = ledger.state(contract_key("market", key_))
    return None if value is None else decode(value)


def test_a_day_step_by_step_settles_exactly_at_the_reference_prices(chain):
    ledger, manager = chain
    doc = village()
    day = service.split_market_document(doc)
    assert all(d.receipt.applied for d in service.register_participants(ledger, manager, day.participants))
    opened = service.open_day(ledger, manager, COOPERATIVE, day.terms)
    assert opened.receipt.applied, opened.receipt
    with pytest.raises(service.MarketError, match="offers may still come"):
        service.clear_day(ledger, manager, day.terms.market)  # the gate is the next block
    assert all(d.receipt.applied for d in service.post_offers(ledger, manager, day.terms.market, day.offers))
    cleared = service.clear_day(ledger, manager, day.terms.market)
    assert cleared.submitted.receipt.applied, cleared.submitted.receipt

    # Budget, from the raw state in exact arithmetic.
    market = day.terms.market
    stored = raw(ledger, f"clearing/{market}")
    prices = [Fraction(p) for p in stored["prices"]]
    ids = [p["id"] for p in doc["participants"]] + ["market:disposal"]
    settled = {pid: raw(ledger, "settlement/" + json.dumps([market, pid], separators=(",", ":"))) for pid in ids}
    assert all(s is not None for s in settled.values())
    T = doc["periods"]
    for t in range(T):
        energies = [Fraction(settled[pid]["energy"][t]) for pid in ids]
        assert sum(energies) == 0, t  # what is bought is what is sold, exactly
        for pid in ids:
            assert Fraction(settled[pid]["payment"][t]) == prices[t] * Fraction(settled[pid]["energy"][t]), (pid, t)
    total = sum(Fraction(p) for pid in ids for p in settled[pid]["payment"])
    assert total == 0
    assert any(Fraction(p) != 0 for pid in ids for p in settled[pid]["payment"])  # not zero because nothing traded

    # Prices: an independent cvxpy clearing's duals (the village day's prices are unique).
    welfare, reference_prices = reference(doc)
    assert float(Fraction(stored["welfare"])) == pytest.approx(welfare, rel=1e-9)
    assert [float(p) for p in prices] == pytest.approx(reference_prices, rel=1e-7, abs=1e-9)

    # The read model says the same as the raw state, and the battery's state of charge follows its data.
    view = service.day(ledger, market)
    assert view.cleared is not None and view.cleared.prices == tuple(prices)
    assert view.cleared.budget == 0 and view.participants == tuple(ids[:-1])
    unit = next(p for p in doc["participants"] if p["type"] == "storage")
    keep = Fraction(1.0 - unit["standing_loss"])
    eta_c, inv_eta_d = Fraction(unit["charge_efficiency"]), Fraction(1.0 / unit["discharge_efficiency"])
    e = Fraction(unit["initial_soc"])
    soc = view.cleared.state_of_charge[unit["id"]]
    assert len(soc) == T
    for t in range(T):
        # The battery's settled energy is its charge minus its discharge; the two are never both positive
        # at a positive price, so each side is the settled energy's positive or negative part.
        net = Fraction(settled[unit["id"]]["energy"][t])
        assert prices[t] > 0
        # The clearing's rows hold within the certificate's tolerance (docs/market.md), not exactly.
        e = keep * (soc[t - 1] if t else e) + eta_c * max(net, 0) - inv_eta_d * max(-net, 0)
        assert abs(soc[t] - e) <= Fraction(1, 1 << 20), t
        assert 0 <= soc[t] <= Fraction(unit["energy_capacity"])
    assert soc[-1] >= Fraction(unit["initial_soc"])

    # Anyone may replay the day: the same states and receipts.
    assert replay_chain(ledger.store, contracts=wiring.contracts()).blocks == ledger.height() + 1


def test_trade_day_on_a_random_market_matches_the_reference_where_prices_are_unique(chain):
    ledger, manager = chain
    doc = generate(12, 8, seed=3, period_minutes=60)
    view = service.trade_day(ledger, manager, COOPERATIVE, doc)
    c = view.cleared
    assert c is not None
    welfare, prices = reference(doc)
    assert float(c.welfare) == pytest.approx(welfare, rel=1e-6)
    unique = [t for t, (lo, hi) in enumerate(c.interval) if lo == hi]
    assert unique
    for t in unique:
        assert float(c.prices[t]) == pytest.approx(prices[t], rel=1e-6, abs=1e-6), t
    for t, (lo, hi) in enumerate(c.interval):
        assert float(lo) - 1e-6 <= prices[t] <= float(hi) + 1e-6, t
    budget = sum((Fraction(p) for pid in [*view.participants, "market:disposal"]
                  for p in raw(ledger, "settlement/" + json.dumps([doc["market"], pid], separators=(",", ":")))["payment"]), Fraction(0))
    assert budget == 0
    # A second run finds every step done and reads the same day back, writing nothing.
    height = ledger.height()
    again = service.trade_day(ledger, manager, COOPERATIVE, doc)
    assert ledger.height() == height and again == view


def test_refusals_are_errors_or_receipts_with_their_codes(chain):
    ledger, manager = chain
    doc = village()
    bad = copy.deepcopy(doc)
    bad["participants"][3]["max_output"] = -1
    with pytest.raises(service.MarketError, match=r"participants\[3\]"):
        service.split_market_document(bad)
    with pytest.raises(service.MarketError, match="no market day"):
        service.day(ledger, "nowhere")
    with pytest.raises(service.MarketError, match="no market day"):
        service.clear_day(ledger, manager, "nowhere")
    day = service.split_market_document(doc)
    stranger = key(9)
    service.register_participants(ledger, manager, day.participants)
    refused = service.open_day(ledger, stranger, COOPERATIVE, day.terms)
    assert (refused.receipt.status, refused.receipt.code) == ("rejected", "not_manager")
    assert service.open_day(ledger, manager, COOPERATIVE, day.terms).receipt.applied
    theirs = service.post_offers(ledger, stranger, day.terms.market, {"battery": day.offers["battery"]})
    assert (theirs[0].receipt.status, theirs[0].receipt.code) == ("rejected", "not_owner")
    view = service.day(ledger, day.terms.market)
    assert view.cleared is None and view.participants == ()
    with pytest.raises(service.MarketError, match="nobody posted"):
        service.clear_day(ledger, manager, day.terms.market)
