"""The manager's commit through the page: the chosen point signed in the browser with the
manager's Ed25519 key (loaded from the PEM file the command line uses, never uploaded),
submitted to `POST /transactions` of a `coopchain serve` that holds the node key, and the
receipts shown, applied and then rejected with the contract's code.

References: the ledger itself, opened in Python after the page is done (the round's current
commit, its sender, its allocation equal to the certificate's; receipts read from the store),
and the contract's codes from docs/contracts.md."""

from __future__ import annotations

import json

import httpx
import pytest

from coopchain.chain.keys import PrivateKey
from coopchain.service.api_store import ApiStore
from tests.web.conftest import Served, serve, stop
from tests.web.test_page import SAMPLES, by, console_errors, login, upload, wait

CHAIN_ID = "coopchain-web-commit"


@pytest.fixture(scope="module")
def committing(tmp_path_factory):
    """`coopchain serve` with the node key (so it commits), over a ledger where green-valley's manager is a key in a PEM file."""
    from coopchain.service.cooperatives import create_cooperative
    from coopchain.service.wiring import create_ledger

    folder = tmp_path_factory.mktemp("web-commit")
    node, manager = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    node.save(folder / "node.pem")
    manager.save(folder / "manager.pem")
    db = f"sqlite:///{folder / 'ledger.db'}"
    ledger = create_ledger(db, node, CHAIN_ID)
    assert create_cooperative(ledger, node, "green-valley", [manager.public_key.to_text()]).receipt.applied
    ledger.close()
    store = ApiStore(db)
    tokens = {role: store.create_key(role, ("green-valley",) if role == "manager" else (), f"web commit {role}").token for role in ("manager", "auditor")}
    store.close()
    server = serve(db, folder, {"COOPCHAIN_NODE_KEY": str(folder / "node.pem")})
    served = Served(server.url, db, tokens, {}, server.process)
    served.manager = manager
    served.key_file = folder / "manager.pem"
    yield served
    stop(server.process)


def receipts(driver):
    return [[td.text for td in tr.find_elements(by("css"), "td")] + [tr.get_attribute("data-tx")]
            for tr in driver.find_elements(by("css"), "#commit-receipts tbody tr")]


def test_a_manager_signs_and_commits_the_chosen_point_and_sees_the_receipts(committing, browser):
    from coopchain.chain.block import block_hash
    from coopchain.chain.transaction import decode_transaction, transaction_hash
    from coopchain.service.commit import committed_round
    from coopchain.service.wiring import open_ledger

    driver = browser
    login(driver, committing, "manager")
    upload(driver, SAMPLES / "green-valley.json")
    wait(driver, lambda d: len(d.find_elements(by("css"), "#optima tbody tr")) == 3, seconds=120, what="the three optima")
    points = driver.find_element(by("id"), "front-points")
    points.clear()
    points.send_keys("6")
    driver.find_element(by("id"), "front-button").click()
    wait(driver, lambda d: d.find_element(by("id"), "commit-card").is_displayed(), seconds=240, what="the commit card after the front")
    pick = driver.find_element(by("id"), "pick-table").get_attribute("data-point")

    # A key made in the page: saved as a PEM the command line reads; not a manager, so refused.
    driver.find_element(by("id"), "signing-generate").click()
    stranger = wait(driver, lambda d: d.find_elements(by("id"), "signing-sender"), what="the new key")[0].text
    driver.find_element(by("id"), "signing-save").click()
    saved = wait(driver, lambda d: (d.downloads / "manager.pem").is_file() and d.downloads / "manager.pem", what="the key saved")
    saved.chmod(0o600)
    assert PrivateKey.load(saved).public_key.to_text() == stranger != committing.manager.public_key.to_text()
    driver.find_element(by("id"), "commit-button").click()
    wait(driver, lambda d: d.find_elements(by("id"), "commit-done"), seconds=180, what="the stranger's receipts")
    rows = receipts(driver)
    assert [r[:3] for r in rows] == [["allocation.register_problem", "rejected", "not_manager"], ["allocation.commit_allocation", "rejected", "not_manager"]], rows
    assert driver.find_element(by("id"), "commit-nonce").get_attribute("value") == "2"
    driver.execute_script("document.getElementById('commit-done').remove()")

    # The manager's own key file; the nonce box still says the stranger's 2, and the page reads the
    # manager's own (0) from GET /accounts before signing: no transaction is refused for its nonce.
    driver.find_element(by("id"), "signing-key-file").send_keys(str(committing.key_file))
    sender = wait(driver, lambda d: d.find_element(by("id"), "signing-sender").text != stranger and d.find_element(by("id"), "signing-sender"),
                  what="the key loaded").text
    assert sender == committing.manager.public_key.to_text()
    assert driver.find_element(by("id"), "signing-key-file").get_attribute("value") == ""  # not kept in the form
    driver.find_element(by("id"), "commit-button").click()
    done = wait(driver, lambda d: d.find_elements(by("id"), "commit-done"), seconds=180, what="the commit's receipts")[0]
    rows = receipts(driver)
    assert [r[:3] for r in rows] == [["allocation.register_problem", "applied", ""], ["allocation.commit_allocation", "applied", ""]], rows
    assert done.text.startswith("Committed")
    assert driver.find_element(by("id"), "commit-nonce").get_attribute("value") == "2"  # the manager's two transactions
    commit_hash, height = rows[1][-1], int(rows[1][4])

    # The ledger, read in Python: the round's current commit is the page's transaction, in the block
    # the page named, signed by the manager's key, its volumes those of the certificate it carries.
    ledger = open_ledger(committing.db)
    try:
        round_ = committed_round(ledger, "green-valley", "2026-Q4")
        tx_height, position, receipt = ledger.receipt(bytes.fromhex(commit_hash))
        block = block_hash(ledger.header(height)).hex()
        tx = decode_transaction(ledger.transactions(height)[position])
    finally:
        ledger.close()
    assert round_ is not None and round_["current"] == commit_hash
    assert tx_height == height and receipt.applied and block == rows[1][5]
    assert transaction_hash(tx).hex() == commit_hash and tx.sender == sender and tx.kind == "allocation.commit_allocation"
    api = httpx.Client(base_url=committing.url, headers={"X-API-Key": committing.tokens["manager"]}, timeout=60)
    front = api.get(api.get("/fronts", params={"limit": 1}).json()["data"][0]["url"]).json()["result"]
    named = [p["name"] for p in front["picks"] if p["index"] == int(pick)]
    assert tx.payload["chosen_by"] == {"objective": "scalarised", "method": "epsilon", "pick": named[0] if named else f"index {pick}"}
    certificate = json.loads(tx.payload["certificate"])
    assert {k: float(v) for k, v in tx.payload["allocation"].items()} == certificate["allocation"]

    # The same round again, without registering: the contract refuses it, and the page says why.
    driver.find_element(by("id"), "commit-register").click()
    driver.execute_script("document.getElementById('commit-done').remove()")
    driver.find_element(by("id"), "commit-button").click()
    done = wait(driver, lambda d: d.find_elements(by("id"), "commit-done"), seconds=180, what="the second commit's receipt")[0]
    rows = receipts(driver)
    assert [r[:3] for r in rows] == [["allocation.commit_allocation", "rejected", "round_committed"]], rows
    assert "already committed" in rows[0][3] and commit_hash in rows[0][3]
    assert done.text.startswith("Not committed")
    # No refusal at all: the nonce was read from the ledger each time (Chromium would log a 4xx answer to fetch).
    assert console_errors(driver) == []
    rejected = rows[0][-1]

    # An amendment of that commit, with its reason: applied, and now the round's current commit.
    driver.find_element(by("css"), "#amend-box summary").click()
    driver.find_element(by("id"), "commit-supersedes").send_keys(commit_hash)
    driver.find_element(by("id"), "commit-reason").send_keys("the hay price was wrong")
    driver.execute_script("document.getElementById('commit-done').remove()")
    driver.find_element(by("id"), "commit-button").click()
    wait(driver, lambda d: d.find_elements(by("id"), "commit-done"), seconds=180, what="the amendment's receipt")
    rows = receipts(driver)
    assert [r[:3] for r in rows] == [["allocation.commit_allocation", "applied", ""]], rows
    amendment = rows[0][-1]
    ledger = open_ledger(committing.db)
    try:
        round_ = committed_round(ledger, "green-valley", "2026-Q4")
    finally:
        ledger.close()
    assert round_["current"] == amendment != commit_hash

    # The auditor finds both by hash: the commit's round, how it was chosen, its receipt; the refused one's reason.
    driver.find_element(by("id"), "logout").click()
    login(driver, committing, "auditor")
    driver.find_element(by("css"), ".tab[data-view='auditor']").click()
    for tx_hash, status in ((commit_hash, "applied"), (rejected, "rejected")):
        box = driver.find_element(by("id"), "lookup")
        box.clear()
        box.send_keys(tx_hash)
        driver.find_element(by("css"), "#lookup-form button").click()
        wait(driver, lambda d: d.find_elements(by("id"), "tx-hash") and d.find_element(by("id"), "tx-hash").text == tx_hash, what="the transaction")
        assert driver.find_element(by("css"), "#tx-receipt .receipt").get_attribute("data-status") == status
        assert (driver.find_element(by("id"), "tx-cooperative").text, driver.find_element(by("id"), "tx-round").text) == ("green-valley", "2026-Q4")
        assert driver.find_element(by("id"), "tx-chosen").text == f"epsilon scalarisation, pick {tx.payload['chosen_by']['pick']}"
        assert not driver.find_elements(by("id"), "tx-supersedes")
    # The amendment links back to the commit it amends.
    box = driver.find_element(by("id"), "lookup")
    box.clear()
    box.send_keys(amendment)
    driver.find_element(by("css"), "#lookup-form button").click()
    link = wait(driver, lambda d: d.find_elements(by("id"), "tx-supersedes"), what="the amendment's link back")[0]
    assert link.text == commit_hash and "the hay price was wrong" in driver.find_element(by("id"), "tx-commit").text
    link.click()
    wait(driver, lambda d: d.find_element(by("id"), "tx-hash").text == commit_hash, what="the amended commit")
    assert console_errors(driver) == []


def test_an_auditor_sees_each_transactions_receipt(committing, browser):
    """Two transactions submitted over HTTP (signed in Python): a record applied, a commit of an
    unregistered problem rejected (unknown_problem, docs/contracts.md).  The page shows each receipt
    in the block's list and on the transaction, as the ledger holds it."""
    from coopchain.chain.transaction import sign_transaction, transaction_json
    from coopchain.service.wiring import open_ledger

    manager = committing.manager
    sender = manager.public_key.to_text()
    ledger = open_ledger(committing.db)
    nonce = ledger.next_nonce(sender)
    ledger.close()
    calls = [("record.put", {"key": "notes/web-auditor", "value": "seen by the auditor"}),
             ("allocation.commit_allocation", {"cooperative": "green-valley", "round": "2099-Q1", "problem": "0" * 64, "allocation": {"e01": "1.0"},
                                               "certificate": "{}", "chosen_by": {"objective": "F1", "method": None, "pick": None},
                                               "supersedes": None, "reason": None, "endorsements": []})]
    answers = []
    for i, (kind, payload) in enumerate(calls):
        tx = sign_transaction(manager, CHAIN_ID, nonce + i, kind, payload)
        answer = httpx.post(f"{committing.url}/transactions", params={"wait": "true"}, json=transaction_json(tx),
                            headers={"X-API-Key": committing.tokens["manager"]}, timeout=60)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
    ledger = open_ledger(committing.db)
    try:
        stored = [ledger.receipt(bytes.fromhex(a["hash"])) for a in answers]
    finally:
        ledger.close()
    assert stored[0][2].applied and not stored[1][2].applied and stored[1][2].code == "unknown_problem"

    driver = browser
    login(driver, committing, "auditor")
    driver.find_element(by("css"), ".tab[data-view='auditor']").click()
    for answer, (height, _, receipt) in zip(answers, stored):
        box = driver.find_element(by("id"), "lookup")
        box.clear()
        box.send_keys(str(height))
        driver.find_element(by("css"), "#lookup-form button").click()
        row = wait(driver, lambda d: d.find_elements(by("css"), f"#block-detail tr[data-tx='{answer['hash']}']"), what=f"block {height}'s transaction")[0]
        listed = wait(driver, lambda d: row.find_elements(by("css"), ".receipt"), what="the receipt in the list")[0]
        assert listed.get_attribute("data-status") == receipt.status
        row.click()
        wait(driver, lambda d: d.find_elements(by("id"), "tx-hash") and d.find_element(by("id"), "tx-hash").text == answer["hash"], what="the transaction")
        shown = driver.find_element(by("css"), "#tx-receipt .receipt")
        assert shown.get_attribute("data-status") == receipt.status
        if receipt.applied:
            assert shown.text == "applied"
        else:
            assert shown.get_attribute("data-code") == receipt.code and shown.text == f"rejected: {receipt.code} — {receipt.message}"
    assert console_errors(driver) == []
