"""A cooperative's history and the village market over real HTTP (tests/api/conftest.py's server).

References: what add_contract_data itself committed (the two transactions, which amends which
and why, the allocations as the test signed them), the market document it traded (the offers
must be its series), and exact arithmetic written here on the served fractions: payments are
price × energy, every period's energy balances, payments sum to zero, each battery's state of
charge follows its own recursion from the document's efficiencies."""

from __future__ import annotations

from fractions import Fraction
from urllib.parse import quote

import pytest

PROBLEM_JSON = "application/problem+json"


def test_history_newest_first_with_the_amendment_current(server):
    data = server.contracts
    with server.client("auditor") as c:
        page = c.get(f"/cooperatives/{data.cooperative}/history").json()
    assert page["count"] == 2 and [x["transaction"] for x in page["data"]] == [data.amendment, data.first]
    amendment, first = page["data"]
    assert (amendment["status"], amendment["sequence"], amendment["supersedes"], amendment["reason"]) == ("current", 1, data.first, data.reason)
    assert (first["status"], first["sequence"], first["supersedes"], first["reason"]) == ("superseded", 0, None, None)
    assert [x["chosen_by"]["objective"] for x in page["data"]] == [data.objectives[data.amendment], data.objectives[data.first]]
    assert all(x["round"] == data.round and x["cooperative"] == data.cooperative for x in page["data"])
    assert first["height"] < amendment["height"]
    assert amendment["links"] == {"transaction": f"/transactions/{data.amendment}", "receipt": f"/transactions/{data.amendment}/receipt",
                                  "proof": f"/proofs/transactions/{data.amendment}", "bundle": f"/bundles/{data.amendment}",
                                  "round": f"/cooperatives/{data.cooperative}/rounds/{data.round}"}
    # Max F1 (the amendment) has at least the benefit of max F2 (the first commit), and max F2 at least its coordination.
    assert float(amendment["values"]["F1"]) >= float(first["values"]["F1"]) and float(first["values"]["F2"]) >= float(amendment["values"]["F2"])


def test_history_pages_and_filters_by_round(server):
    data = server.contracts
    with server.client("admin") as c:
        second = c.get(f"/cooperatives/{data.cooperative}/history", params={"offset": 1, "limit": 1}).json()
        of_round = c.get(f"/cooperatives/{data.cooperative}/history", params={"round": data.round}).json()
        other_round = c.get(f"/cooperatives/{data.cooperative}/history", params={"round": "1999-Q1"}).json()
        too_big = c.get(f"/cooperatives/{data.cooperative}/history", params={"limit": 501})
    assert (second["count"], second["offset"], second["limit"], [x["transaction"] for x in second["data"]]) == (2, 1, 1, [data.first])
    assert of_round["count"] == 2 and (other_round["count"], other_round["data"]) == (0, [])
    assert too_big.status_code == 422 and too_big.headers["content-type"] == PROBLEM_JSON and too_big.json()["errors"][0]["path"] == "query.limit"


def test_rounds_and_one_round_with_its_amendment(server):
    data = server.contracts
    with server.client("manager") as c:
        rounds = c.get(f"/cooperatives/{data.cooperative}/rounds").json()
        one = c.get(f"/cooperatives/{data.cooperative}/rounds/{quote(data.round, safe='')}").json()
    assert rounds["count"] == 1
    summary = rounds["data"][0]
    assert (summary["round"], summary["commits"], summary["current"], summary["url"]) == (data.round, 2, data.amendment, f"/cooperatives/{data.cooperative}/rounds/{data.round}")
    assert one["current"] == data.amendment and [x["transaction"] for x in one["commits"]] == [data.first, data.amendment]
    for commit in one["commits"]:
        assert commit["allocation"] == data.allocations[commit["transaction"]]
    assert [x["status"] for x in one["commits"]] == ["superseded", "current"]


def test_a_registered_cooperative_without_commits_has_an_empty_history(server):
    with server.client("auditor") as c:
        page = c.get(f"/cooperatives/{server.contracts.other_cooperative}/history").json()
        rounds = c.get(f"/cooperatives/{server.contracts.other_cooperative}/rounds").json()
    assert (page["count"], page["data"], rounds["count"]) == (0, [], 0)


def test_another_cooperatives_history_is_the_same_404_as_none(server):
    data = server.contracts
    with server.client("other_manager") as c:  # manages hill-top only
        own = c.get(f"/cooperatives/{data.other_cooperative}/history")
        theirs = c.get(f"/cooperatives/{data.cooperative}/history")
        nowhere = c.get("/cooperatives/nowhere-at-all/history")
        round_ = c.get(f"/cooperatives/{data.cooperative}/rounds/{data.round}")
    assert own.status_code == 200
    for answer in (theirs, nowhere, round_):
        assert answer.status_code == 404 and answer.headers["content-type"] == PROBLEM_JSON
    strip = lambda body, name: body["detail"].replace(name, "X")  # noqa: E731
    assert strip(theirs.json(), data.cooperative) == strip(nowhere.json(), "nowhere-at-all")
    assert theirs.json()["type"] == nowhere.json()["type"] == "urn:coopchain:error:not-found"


def test_an_unknown_round_is_404_and_a_round_may_hold_a_slash(server):
    data = server.contracts
    with server.client("auditor") as c:
        plain = c.get(f"/cooperatives/{data.cooperative}/rounds/1999-Q1")
        slashed = c.get(f"/cooperatives/{data.cooperative}/rounds/2026/Q4")
    assert plain.status_code == slashed.status_code == 404
    assert "'2026/Q4'" in slashed.json()["detail"]


def test_market_days_by_role(server):
    data = server.contracts
    with server.client("participant") as c:
        days = c.get("/market/days").json()
    with server.client("other_manager") as c:
        none = c.get("/market/days").json()
        hidden = c.get(f"/market/days/{data.market}")
    assert [d["market"] for d in days["data"]] == [data.open_market, data.market]  # the most recently opened first
    day = days["data"][1]
    assert (day["market"], day["cooperative"], day["periods"], day["period_minutes"], day["participants"]) == (
        data.market, data.cooperative, data.village["periods"], data.village["period_minutes"], len(data.village["participants"]))
    assert day["opened"] <= day["gate"] < day["cleared"]
    assert (none["count"], none["data"]) == (0, [])
    assert hidden.status_code == 404 and hidden.headers["content-type"] == PROBLEM_JSON


def test_a_day_and_its_offers_are_the_document_posted(server):
    data = server.contracts
    with server.client("manager") as c:
        day = c.get(f"/market/days/{data.market}").json()
        offers = c.get(f"/market/days/{data.market}/offers", params={"limit": 500}).json()
        page = c.get(f"/market/days/{data.market}/offers", params={"offset": 2, "limit": 2}).json()
    document = {p["id"]: p for p in data.village["participants"]}
    assert day["participants"] == list(document) and day["kinds"] == {k: p["type"] for k, p in document.items()}
    assert day["initial_soc"] == {k: p["initial_soc"] for k, p in document.items() if p["type"] == "storage"}
    assert day["offers"] == f"/market/days/{data.market}/offers" and day["clearing"] == f"/market/days/{data.market}/clearing"
    assert offers["count"] == len(document)
    for offer in offers["data"]:
        whole = document[offer["participant"]]
        assert {**offer["data"], **offer["offer"]} == whole and offer["kind"] == whole["type"]
    assert [o["participant"] for o in page["data"]] == list(document)[2:4]


def test_the_clearing_settles_exactly(server):
    data = server.contracts
    with server.client("participant") as c:
        clearing = c.get(f"/market/days/{data.market}/clearing").json()
    T = data.village["periods"]
    prices = [Fraction(p) for p in clearing["prices_exact"]]
    assert len(prices) == T and clearing["budget_exact"] == "0"
    for t, (low, high) in enumerate(clearing["interval"]):
        assert Fraction(low) <= prices[t] <= Fraction(high)
        assert float(prices[t]) == pytest.approx(clearing["prices"][t])
    settlements = {s["participant"]: s for s in clearing["settlements"]}
    document = {p["id"]: p for p in data.village["participants"]}
    assert set(settlements) - {"market:disposal"} <= set(document)
    total = Fraction(0)
    for s in clearing["settlements"]:
        energy, payment = [Fraction(e) for e in s["energy_exact"]], [Fraction(p) for p in s["payment_exact"]]
        assert all(payment[t] == prices[t] * energy[t] for t in range(T)), s["participant"]  # the uniform price, per kWh
        assert Fraction(s["total_payment_exact"]) == sum(payment) and Fraction(s["surplus"]) == Fraction(s["value"]) - sum(payment)
        if s["may_stay_out"]:
            assert Fraction(s["surplus"]) >= 0  # individual rationality
        total += sum(payment)
    assert total == 0
    for t in range(T):  # what is bought is what is sold
        assert sum(Fraction(s["energy_exact"][t]) for s in clearing["settlements"]) == 0
    # Each battery: e_t = keep·e_{t−1} + η_c·charge_t − discharge_t/η_d (kWh), never both in one period, ending at least where it began.
    batteries = [p for p in document.values() if p["type"] == "storage"]
    assert set(clearing["state_of_charge"]) == {b["id"] for b in batteries}
    for b in batteries:
        keep, eta_c, eta_d = 1 - b["standing_loss"], b["charge_efficiency"], b["discharge_efficiency"]
        soc = [Fraction(v) for v in clearing["state_of_charge_exact"][b["id"]]]
        energy = [Fraction(e) for e in settlements[b["id"]]["energy_exact"]]
        before = Fraction(b["initial_soc"])
        for t in range(T):
            charge, discharge = max(energy[t], 0), max(-energy[t], 0)
            expected = keep * before + eta_c * charge - discharge / eta_d
            assert float(soc[t]) == pytest.approx(float(expected), abs=1e-6), (b["id"], t)
            assert 0 <= soc[t] <= b["energy_capacity"]
            before = soc[t]
        assert soc[-1] >= b["initial_soc"] - Fraction(1, 10**9)
        assert clearing["initial_soc"][b["id"]] == b["initial_soc"]


def test_an_unknown_day_is_404_problem_json(server):
    with server.client("auditor") as c:
        for path in ("/market/days/no-such-day", "/market/days/no-such-day/offers", "/market/days/no-such-day/clearing", "/market/days/a/b/clearing"):
            answer = c.get(path)
            assert answer.status_code == 404 and answer.headers["content-type"] == PROBLEM_JSON, path


def test_the_participants_are_the_documents_without_their_series(server):
    data = server.contracts
    with server.client("other_manager") as c:  # registrations belong to the village: every role reads them
        listed = c.get("/market/participants", params={"limit": 500}).json()
        one = c.get("/market/participants/battery").json()
        none = c.get("/market/participants/no-such-unit")
    document = data.village["participants"]
    series = {"availability", "bids", "inflexible_load"}
    assert listed["count"] == len(document) and [p["id"] for p in listed["data"]] == [p["id"] for p in document]
    for served, whole in zip(listed["data"], document):
        assert served["data"] == {k: v for k, v in whole.items() if k not in series} and served["kind"] == whole["type"]
    assert one == listed["data"][-1] and one["url"] == "/market/participants/battery"
    assert none.status_code == 404 and none.headers["content-type"] == PROBLEM_JSON


def test_a_day_not_cleared_yet(server):
    data = server.contracts
    with server.client("auditor") as c:
        day = c.get(f"/market/days/{data.open_market}").json()
        offers = c.get(f"/market/days/{data.open_market}/offers").json()
        clearing = c.get(f"/market/days/{data.open_market}/clearing")
    assert (day["cleared"], day["participants"], offers["count"]) == (None, [], 0)
    assert clearing.status_code == 404 and "not cleared yet" in clearing.json()["detail"]
