"""Client-signed transactions over HTTP: admitted at once, batched into blocks, receipts."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from coopchain.chain.keys import PrivateKey
from coopchain.chain.transaction import sign_transaction, transaction_hash, transaction_json
from tests.api.conftest import CHAIN_ID

PROBLEM_JSON = "application/problem+json"


def signed(key, nonce: int, key_name: str = "note", chain_id: str = CHAIN_ID):
    return sign_transaction(key, chain_id, nonce, "record.put", {"key": key_name, "value": nonce})


def test_wait_gives_the_committed_receipt(server):
    key = PrivateKey.generate("ed25519")
    tx = signed(key, 0)
    with server.client("manager") as c:
        answer = c.post("/transactions", params={"wait": "true"}, json=transaction_json(tx))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["hash"] == transaction_hash(tx).hex() and body["status"] == "committed"
        assert body["receipt"]["status"] == "applied" and body["receipt"]["transaction"] == body["hash"]
        with server.client("auditor") as a:
            receipt = a.get(body["url"]).json()
            assert receipt["height"] == body["height"] and receipt["receipt"] == body["receipt"]
            assert a.get(f"/transactions/{body['hash']}").json()["transaction"] == transaction_json(tx)


def test_without_wait_202_then_the_receipt(server):
    key = PrivateKey.generate("ed25519")
    with server.client("participant") as c:
        answer = c.post("/transactions", json=transaction_json(signed(key, 0)))
    assert answer.status_code == 202 and answer.json()["status"] == "pending"
    with server.client("auditor") as a:
        for _ in range(200):
            receipt = a.get(answer.json()["url"])
            if receipt.status_code == 200:
                break
            time.sleep(0.05)
    assert receipt.status_code == 200 and receipt.json()["receipt"]["status"] == "applied"


def test_concurrent_submissions_share_blocks(server):
    keys = [PrivateKey.generate("ed25519") for _ in range(40)]
    with server.client("manager") as c, ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda k: c.post("/transactions", params={"wait": "true"}, json=transaction_json(signed(k, 0))), keys))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200][:2]
    heights = [a.json()["height"] for a in answers]
    assert len(set(heights)) < len(heights)  # batched: fewer blocks than transactions
    assert len({a.json()["hash"] for a in answers}) == 40


def test_refusals_are_problem_json(server):
    key = PrivateKey.generate("ed25519")
    tx = signed(key, 0)
    forged = {**transaction_json(tx), "payload": {"key": "note", "value": 99}}  # the signature no longer covers it
    other_chain = transaction_json(signed(key, 0, chain_id="another-chain"))
    with server.client("manager") as c:
        for body in (forged, other_chain, {"type": "coopchain/transaction/v1"}):
            answer = c.post("/transactions", json=body)
            assert answer.status_code == 422 and answer.headers["content-type"].startswith(PROBLEM_JSON), answer.text
            assert answer.json()["type"] == "urn:coopchain:error:invalid-transaction"
        first = c.post("/transactions", params={"wait": "true"}, json=transaction_json(tx))
        assert first.status_code == 200
        # Another transaction with a used nonce is refused by the ledger, with its reason.
        replay = c.post("/transactions", params={"wait": "true"}, json=transaction_json(signed(key, 0, key_name="other")))
        assert replay.status_code == 422 and "nonce" in replay.json()["detail"], replay.text


def test_submitting_the_same_transaction_again_is_idempotent(server):
    """A client that lost the reply submits again: the same block and position, never a second copy."""
    tx = signed(PrivateKey.generate("ed25519"), 0)
    with server.client("manager") as c:
        first = c.post("/transactions", params={"wait": "true"}, json=transaction_json(tx)).json()
        again = c.post("/transactions", params={"wait": "true"}, json=transaction_json(tx))
        assert again.status_code == 200, again.text
        assert (again.json()["height"], again.json()["position"]) == (first["height"], first["position"])
    with server.client("auditor") as a:
        listed = a.get(f"/blocks/{first['height']}/transactions").json()
    hashes = [t["hash"] for t in listed["data"]]
    assert hashes.count(first["hash"]) == 1


def test_an_auditor_may_not_submit(server):
    with server.client("auditor") as c:
        assert c.post("/transactions", json=transaction_json(signed(PrivateKey.generate("ed25519"), 0))).status_code == 403


def test_a_batch_is_answered_item_by_item(server):
    """Three good transactions, one forged and one used nonce: the good ones committed (in one block or a few),
    the forged refused at admission, the used nonce refused by the ledger, in request order."""
    keys = [PrivateKey.generate("ed25519") for _ in range(3)]
    good = [signed(k, 0, key_name=f"batch/{i}") for i, k in enumerate(keys)]
    forged = {**transaction_json(good[0]), "payload": {"key": "batch/x", "value": 1}}
    reused = signed(keys[1], 0, key_name="batch/again")  # keys[1]'s nonce 0 goes to good[1], earlier in the batch
    body = [transaction_json(good[0]), forged, transaction_json(good[1]), transaction_json(reused), transaction_json(good[2])]
    with server.client("participant") as c:
        answer = c.post("/transactions/batch", params={"wait": "true"}, json=body)
        assert answer.status_code == 200, answer.text
        items = answer.json()["data"]
        assert [i["index"] for i in items] == [0, 1, 2, 3, 4]
        assert [i["status"] for i in items] == ["committed", "refused", "committed", "refused", "committed"]
        assert [items[i]["hash"] for i in (0, 2, 4)] == [transaction_hash(t).hex() for t in good]
        assert items[1]["hash"] is None and "signature" in items[1]["detail"]
        assert "nonce" in items[3]["detail"]
        assert all(items[i]["receipt"]["status"] == "applied" for i in (0, 2, 4))
        for bad in ({"not": "an array"}, [], [{}] * 1001):
            refused = c.post("/transactions/batch", json=bad)
            assert refused.status_code == 422 and refused.headers["content-type"].startswith(PROBLEM_JSON), refused.text
    with server.client("auditor") as a:
        for i in (0, 2, 4):
            assert a.get(items[i]["url"]).json()["height"] == items[i]["height"]


def test_a_body_that_is_not_json_is_422_on_both_routes(server):
    with server.client("manager") as c:
        for path in ("/transactions", "/transactions/batch"):
            answer = c.post(path, content=b"{not json")
            assert answer.status_code == 422 and answer.headers["content-type"].startswith(PROBLEM_JSON), answer.text
            body = answer.json()
            assert body["type"] == "urn:coopchain:error:invalid-transaction" and body["detail"].startswith("the body is not JSON (")
            assert body["errors"] == [{"path": "body", "detail": "not JSON"}]
