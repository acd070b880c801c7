"""The hot routes' lane (app.api.fast), the API-key cache and the committer's trust in admitted rows.

Each fast answer is checked against FastAPI's own routing of the same request (the lane switched
off), caches against what must change (a revoked key, a block committed after a 404, a history
tree that grows), and the committer's skipped signature check against `chain verify`, which must
still find a bad signature."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest

from coopchain.app.api.config import Settings
from coopchain.app.api.main import create_app
from coopchain.chain.keys import PrivateKey
from coopchain.chain.store import open_store
from coopchain.chain.transaction import encode_transaction, sign_transaction, transaction_hash, transaction_json
from coopchain.chain.verify import BadBlock, verify_chain
from coopchain.service import wiring
from coopchain.service.api_store import ApiStore
from coopchain.service.committer import Committer
from coopchain.service.pending import PendingQueue, admission_key, row_tag
from tests.api.conftest import CHAIN_ID, make_ledger

PROBLEM_JSON = "application/problem+json"


def record(key: PrivateKey, nonce: int = 0, chain_id: str = CHAIN_ID):
    return sign_transaction(key, chain_id, nonce, "record.put", {"key": f"fast/{key.public_key.raw.hex()[:8]}", "value": nonce})


# -- the lane answers as FastAPI does ----------------------------------------------------------

def _asgi_get(app, path: str, query: bytes, token: str | None):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": query, "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "headers": [(b"host", b"test")] + ([(b"x-api-key", token.encode())] if token else []), "state": {}}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    async def run():
        await app(scope, receive, send)

    return run, sent


def _answers(db: str, lane: bool, requests: list[tuple[str, bytes, str | None]]) -> list[tuple[int, str, object]]:
    """(status, media type, JSON body) of each request, twice over (the second time from the lane's kept answers)."""
    app = create_app(Settings(db=db, fast_lane=lane))
    out = []

    async def main():
        async with app.router.lifespan_context(app):
            for _ in range(2):
                for path, query, token in requests:
                    run, sent = _asgi_get(app, path, query, token)
                    await run()
                    headers = dict(sent[0]["headers"])
                    out.append((sent[0]["status"], headers[b"content-type"].decode(), json.loads(b"".join(m.get("body", b"") for m in sent[1:]))))

    asyncio.run(main())
    return out


def test_the_lane_answers_exactly_as_fastapi_routing(tmp_path):
    db, records = make_ledger(tmp_path)
    store = ApiStore(db)
    tokens = {"auditor": store.create_key("auditor").token, "manager": store.create_key("manager", ("green-valley",)).token,
              "other": store.create_key("manager", ("hill-top",)).token, "participant": store.create_key("participant").token}
    store.close()
    mine, theirs = records["green-valley"], records["hill-top"]
    requests = []
    for role in ("auditor", "manager", "other", "participant", None):
        token = tokens.get(role)
        requests += [("/blocks/1", b"", token), ("/blocks/2", b"", token), ("/blocks/99", b"", token), ("/blocks/01", b"", token),
                     (f"/transactions/{mine}", b"", token), (f"/transactions/{theirs.upper()}", b"", token), (f"/transactions/{mine}/receipt", b"", token),
                     (f"/proofs/transactions/{mine}", b"", token), (f"/proofs/transactions/{theirs}", b"", token), (f"/proofs/transactions/{'0' * 64}", b"", token),
                     ("/proofs/blocks/1", b"", token), ("/proofs/blocks/1", b"tree_size=2", token), ("/proofs/blocks/1", b"tree_size=1", token),
                     ("/proofs/blocks/1", b"tree_size=x", token), (f"/transactions/{mine}", b"pretty=1", token)]
    requests.append(("/blocks/1", b"", tokens["auditor"] + "x"))
    fast, reference = _answers(db, True, requests), _answers(db, False, requests)
    assert fast == reference
    statuses = {s for s, _, _ in reference}
    assert {200, 401, 403, 404, 422} <= statuses  # every kind of answer was compared
    assert all(media == PROBLEM_JSON for s, media, _ in reference if s >= 400)


# -- caches ------------------------------------------------------------------------------------

def test_a_revoked_key_is_refused_at_once_even_after_use(server):
    with server.client("admin") as admin:
        made = admin.post("/keys", json={"role": "auditor", "label": "revoked soon"}).json()
        with server.client() as c:
            headers = {"X-API-Key": made["token"]}
            assert c.get("/blocks/1", headers=headers).status_code == 200  # the worker now holds the key
            assert c.get(f"/transactions/{server.records['green-valley']}", headers=headers).status_code == 200
            assert admin.post(f"/keys/{made['key']['id']}/revoke").status_code == 200
            for path in ("/blocks/1", f"/transactions/{server.records['green-valley']}", "/blocks"):  # the lane and FastAPI's routes
                refused = c.get(path, headers=headers)
                assert refused.status_code == 401 and refused.headers["content-type"].startswith(PROBLEM_JSON), (path, refused.text)


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_time(tmp_path):
    db, _ = make_ledger(tmp_path)
    made = ApiStore(db).create_key("auditor")
    worker, elsewhere = ApiStore(db, key_cache_s=0.3), ApiStore(db)
    assert worker.authenticate(made.token).id == made.key.id
    elsewhere.revoke_key(made.key.id)
    time.sleep(0.35)
    assert worker.authenticate(made.token) is None
    # A wrong secret for a known id is refused from the cache too; an unknown id is never kept.
    other = elsewhere.create_key("auditor")
    assert worker.authenticate(other.token).id == other.key.id
    assert worker.authenticate(other.token[:-1] + ("A" if other.token[-1] != "A" else "B")) is None
    assert worker.authenticate("cck_0123456789abcdef_nothing") is None


def test_a_block_read_after_a_new_block(server):
    with server.client("auditor") as a:
        head = a.get("/blocks/head").json()["height"]
        assert a.get(f"/blocks/{head + 1}").status_code == 404  # not kept: the block does not exist yet
        before = a.get("/proofs/blocks/0").json()
        tx = record(PrivateKey.generate("ed25519"))
        with server.client("participant") as p:
            committed = p.post("/transactions", params={"wait": "true"}, json=transaction_json(tx)).json()
        height = committed["height"]
        assert height >= head + 1
        block = a.get(f"/blocks/{height}")
        assert block.status_code == 200 and block.json()["height"] == height
        after = a.get("/proofs/blocks/0").json()
        assert (before["tree_size"], after["tree_size"]) == (head + 1, height + 1)  # the default tree follows the head
        assert a.get(f"/transactions/{committed['hash']}/receipt").json()["receipt"] == committed["receipt"]


def test_a_kept_answer_is_not_shown_to_another_cooperatives_manager(server):
    tx_hash = server.records["green-valley"]
    with server.client("auditor") as a:
        for path in (f"/transactions/{tx_hash}", f"/transactions/{tx_hash}/receipt", f"/proofs/transactions/{tx_hash}"):
            assert a.get(path).status_code == 200  # now kept by the lane
            with server.client("other_manager") as other, server.client("manager") as mine:
                refused = other.get(path)
                assert refused.status_code == 404 and refused.headers["content-type"].startswith(PROBLEM_JSON)
                assert mine.get(path).status_code == 200


def test_the_lane_keeps_the_body_limit(server):
    with server.client("participant") as c:
        answer = c.post("/transactions", content=b" " * (4 * 1024 * 1024 + 1))
        assert answer.status_code == 413 and answer.headers["content-type"].startswith(PROBLEM_JSON)
    with server.client() as c:  # and refuses a missing key as FastAPI's routes do
        answer = c.post("/transactions", params={"wait": "true"}, json={})
        assert answer.status_code == 401 and answer.headers["content-type"].startswith(PROBLEM_JSON)


# -- the committer's trust in admitted rows ----------------------------------------------------

def _forged(tx):
    """The same transaction with its signature's last byte changed: still well formed, no longer valid."""
    return dataclasses.replace(tx, signature=tx.signature[:-1] + bytes([tx.signature[-1] ^ 1]))


def _wait_refused_or_committed(queue: PendingQueue, reads, digest: bytes) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reason = queue.refusal(digest)
        if reason:
            return "refused: " + reason
        if reads.transaction_location(digest) is not None:
            return "committed"
        time.sleep(0.02)
    raise AssertionError("neither refused nor committed within 30 s")


@pytest.fixture
def committing(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    node = PrivateKey.generate("ed25519")
    ledger = wiring.create_ledger(url, node, CHAIN_ID)
    committer = Committer(ledger, url, max_transactions=10, max_wait_ms=10)
    queue, reads = PendingQueue(url), open_store(url)
    yield url, node, queue, reads
    committer.close()
    ledger.close()
    queue.close()
    reads.close()


def test_a_queued_row_without_a_valid_tag_is_checked_in_full(committing):
    url, node, queue, reads = committing
    untagged, wrong_tag = _forged(record(PrivateKey.generate("ed25519"))), _forged(record(PrivateKey.generate("ed25519")))
    queue.enqueue([(transaction_hash(untagged), encode_transaction(untagged), None),
                   (transaction_hash(wrong_tag), encode_transaction(wrong_tag), bytes(32))])
    for tx in (untagged, wrong_tag):
        outcome = _wait_refused_or_committed(queue, reads, transaction_hash(tx))
        assert outcome.startswith("refused") and "signature" in outcome, outcome


def test_chain_verify_still_checks_what_the_committer_trusted(committing):
    """Only a holder of the node key can tag a row; one that tags a forged signature gets it committed,
    and `chain verify` names the block: the ledger's own check does not rest on the commit's."""
    url, node, queue, reads = committing
    good, forged = record(PrivateKey.generate("ed25519")), _forged(record(PrivateKey.generate("ed25519")))
    key = admission_key(node)
    queue.enqueue([(transaction_hash(good), encode_transaction(good), row_tag(key, encode_transaction(good)))])
    assert _wait_refused_or_committed(queue, reads, transaction_hash(good)) == "committed"
    verify_chain(reads, contracts=wiring.contracts())  # a tagged row with a valid signature: a chain that verifies
    queue.enqueue([(transaction_hash(forged), encode_transaction(forged), row_tag(key, encode_transaction(forged)))])
    assert _wait_refused_or_committed(queue, reads, transaction_hash(forged)) == "committed"
    with pytest.raises(BadBlock, match="signature"):
        verify_chain(reads, contracts=wiring.contracts())


def test_the_admission_key_is_the_node_keys_alone():
    node = PrivateKey.generate("ed25519")
    again = PrivateKey.from_private_bytes("ed25519", bytes(32))
    assert admission_key(node) == admission_key(node) and admission_key(node) != admission_key(again)
    assert admission_key(PrivateKey.generate("p256")) is None  # randomised signatures: every row checked in full


def test_the_admission_key_is_hkdf_sha256_of_the_node_keys_seed():
    """RFC 5869 written out here (extract with a zero salt, one expand block) over the RFC 8032 seed, with the
    fixed info string; checked first against RFC 5869's test case 3 (SHA-256, no salt, no info)."""
    import hashlib
    import hmac

    def hkdf_sha256(ikm: bytes, info: bytes) -> bytes:
        prk = hmac.new(bytes(32), ikm, hashlib.sha256).digest()
        return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()

    assert hkdf_sha256(bytes([0x0b] * 22), b"").hex() == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
    seed = bytes(range(32))
    node = PrivateKey.from_private_bytes("ed25519", seed)
    assert admission_key(node) == hkdf_sha256(seed, b"coopchain api_pending admission tag v2")
    old = hashlib.sha256(node.sign(b"coopchain api_pending admission tag v1")).digest()
    assert admission_key(node) != old  # a row tagged under the old construction checks as untagged


def test_a_wait_that_outlasts_its_deadline_answers_202_then_the_block_answers_the_next(tmp_path, monkeypatch):
    """POST /transactions?wait=true holds for WAIT_S at most (a timer on the loop, app.api.routes.transactions):
    past it, 202 pending; the transaction stays queued and a later block holds it."""
    from coopchain.app.api.routes import transactions

    db, _ = make_ledger(tmp_path)
    monkeypatch.setattr(transactions, "WAIT_S", 0.3)
    # A batch cut only when 2 transactions wait or a minute passes: the first waits past its deadline.
    app = create_app(Settings(db=db, node_key=str(tmp_path / "node.key"), batch_transactions=2, batch_wait_ms=60_000))
    store = ApiStore(db)
    token = store.create_key("participant", (), "deadline").token
    store.close()
    first, second = record(PrivateKey.generate("ed25519")), record(PrivateKey.generate("ed25519"))

    async def post(tx):
        body = json.dumps(transaction_json(tx)).encode()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/transactions",
                 "raw_path": b"/transactions", "query_string": b"wait=true", "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
                 "headers": [(b"host", b"test"), (b"x-api-key", token.encode()), (b"content-length", str(len(body)).encode())], "state": {}}
        sent, received = [], []

        async def receive():
            if received:
                await asyncio.sleep(3600)
            received.append(True)
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))

    async def main():
        async with app.router.lifespan_context(app):
            started = time.monotonic()
            status, answer = await post(first)
            assert (status, answer["status"]) == (202, "pending") and 0.3 <= time.monotonic() - started < 5
            status, answer = await post(second)  # the second fills the batch: both committed
            assert (status, answer["status"], answer["height"]) == (200, "committed", 3)

    asyncio.run(main())
    reads = open_store(db)
    assert reads.transaction_location(transaction_hash(first)) is not None
    reads.close()
