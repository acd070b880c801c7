"""`coopchain market ...` end to end, as a cooperative runs it: real processes on a real SQLite file.

The references are the test's own: the budget summed from the JSON's fraction strings
with Fractions, each payment the period's price times the energy, and the prices
against the independent cvxpy formulation of tests.models.test_market_reference.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
from fractions import Fraction
from pathlib import Path

import pytest

from tests.models.test_market_reference import reference
from tests.test_cli import coopchain, on_terminal

VILLAGE = Path(str(importlib.resources.files("coopchain.models.samples").joinpath("village-day.json")))


@pytest.fixture
def chain(tmp_path):
    db = f"sqlite:///{tmp_path}/village.db"
    node, manager, other = tmp_path / "node.key", tmp_path / "manager.key", tmp_path / "other.key"
    for k in (node, manager, other):
        assert coopchain("keys", "new", k).returncode == 0
    from coopchain.chain.keys import PrivateKey

    assert coopchain("chain", "init", "--db", db, "--node-key", node, "--chain-id", "village").returncode == 0
    writer = ("--db", db, "--node-key", node)
    created = coopchain("cooperative", "create", "green-valley", "--manager", PrivateKey.load(manager).public_key.to_text(), "--key", node, *writer)
    assert created.returncode == 0, created.stderr
    return db, writer, manager, other


def test_register_open_offer_clear_show(chain, tmp_path):
    db, writer, manager, other = chain
    doc = json.loads(VILLAGE.read_text())
    market = doc["market"]
    as_manager = ("--key", manager, *writer)

    registered = coopchain("market", "register", VILLAGE, *as_manager)
    assert registered.returncode == 0, registered.stderr
    assert [t["receipt"]["status"] for t in json.loads(registered.stdout)["transactions"]] == ["applied"] * 7
    twice = coopchain("market", "register", VILLAGE, "--participant", "battery", *as_manager)
    assert twice.returncode == 3 and json.loads(twice.stdout)["transactions"][0]["receipt"]["code"] == "participant_exists"

    refused = coopchain("market", "open", VILLAGE, "--cooperative", "green-valley", "--key", other, *writer)
    assert refused.returncode == 3 and json.loads(refused.stdout)["transactions"][0]["receipt"]["code"] == "not_manager"
    opened = coopchain("market", "open", VILLAGE, "--cooperative", "green-valley", *as_manager)
    assert opened.returncode == 0, opened.stderr
    early = coopchain("market", "clear", market, *as_manager)
    assert early.returncode == 3 and "offers may still come" in early.stderr and "Traceback" not in early.stderr

    offered = coopchain("market", "offer", VILLAGE, *as_manager)
    assert offered.returncode == 0, offered.stderr
    cleared = coopchain("market", "clear", market, *as_manager)
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout)["receipt"]["status"] == "applied"
    again = coopchain("market", "clear", market, *as_manager)
    assert again.returncode == 3 and "already cleared" in again.stderr

    shown = coopchain("market", "show", market, "--db", db)
    assert shown.returncode == 0, shown.stderr
    day = json.loads(shown.stdout)["cleared"]
    prices = [Fraction(p) for p in day["prices_exact"]]
    settlements = {s["participant"]: s for s in day["settlements"]}
    assert set(settlements) == {p["id"] for p in doc["participants"]} | {"market:disposal"}
    for t in range(doc["periods"]):
        assert sum(Fraction(s["energy"][t]) for s in settlements.values()) == 0
        for s in settlements.values():
            assert Fraction(s["payment"][t]) == prices[t] * Fraction(s["energy"][t])
    assert sum(Fraction(p) for s in settlements.values() for p in s["payment"]) == 0
    welfare, reference_prices = reference(doc)
    assert float(Fraction(day["welfare"])) == pytest.approx(welfare, rel=1e-9)
    assert day["prices"] == pytest.approx(reference_prices, rel=1e-7, abs=1e-9)
    soc = day["state_of_charge"]["battery"]
    battery = next(p for p in doc["participants"] if p["id"] == "battery")
    assert len(soc) == 24 and all(-1e-9 <= e <= battery["energy_capacity"] + 1e-9 for e in soc) and soc[-1] >= battery["initial_soc"] - 1e-9

    code, screen = on_terminal("market", "show", market, "--db", db)
    assert code == 0 and "battery SoC" in screen and "payments sum to 0 (exactly)" in screen
    assert f"{float(prices[8]):.4f}" in screen.splitlines()[[i for i, line in enumerate(screen.splitlines()) if line.startswith("08:00")][0]]
    assert coopchain("chain", "replay", "--db", db).returncode == 0


def test_bad_input_is_a_message_not_a_traceback(chain, tmp_path):
    db, writer, manager, _ = chain
    broken = copy.deepcopy(json.loads(VILLAGE.read_text()))
    broken["participants"][6]["charge_efficiency"] = 1.5
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    (tmp_path / "text.json").write_text("not json")
    for args, words in (
        (("market", "register", tmp_path / "broken.json", "--key", manager, *writer), "participants[6]"),
        (("market", "register", tmp_path / "text.json", "--key", manager, *writer), "not JSON"),
        (("market", "register", tmp_path / "missing.json", "--key", manager, *writer), "cannot read"),
        (("market", "offer", VILLAGE, "--participant", "nobody", "--key", manager, *writer), "no participant nobody"),
        (("market", "show", "nowhere", "--db", db), "no market day 'nowhere'"),
        (("market", "clear", "nowhere", "--key", manager, *writer), "no market day 'nowhere'"),
    ):
        run = coopchain(*args)
        assert run.returncode != 0 and words in run.stderr and "Traceback" not in run.stderr, (args, run.stderr)
