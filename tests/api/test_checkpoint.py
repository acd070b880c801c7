"""GET /checkpoint and the bundle route's checkpoint, end to end: two witnesses served over HTTP,
`coopchain chain publish-checkpoint` collecting their cosignatures, `coopchain serve` serving the
stored note, and a bundle fetched over the API passing `coopchain verify --policy` offline."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest

from coopchain.chain.block import block_hash
from coopchain.chain.checkpoint import ledger_origin, node_note_key
from coopchain.chain.keys import PrivateKey
from coopchain.chain.transaction import sign_transaction
from coopchain.service.api_store import ApiStore
from coopchain.service.checkpoints import CheckpointStore
from coopchain.service.wiring import open_ledger
from tests.api.conftest import CHAIN_ID, make_ledger, start_server, stop_server
from tests.test_cli_trust import http_witness, run, serving


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written out recursively (the reference, not the ledger's code)."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << (len(leaves) - 1).bit_length() - 1
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoint")
    db, records = make_ledger(folder)
    store = ApiStore(db)
    tokens = {role: store.create_key(role, (), f"{role}").token for role in ("auditor", "admin")}
    store.close()
    ledger = open_ledger(db, PrivateKey.load(folder / "node.key"))
    witnesses = [http_witness(folder, name, ledger) for name in ("a", "b")]
    ledger.close()
    process, url = start_server(db)
    yield folder, db, records, tokens, witnesses, url
    stop_server(process)


def test_publish_serve_and_verify_a_bundle_under_the_policy(node, capsys):
    folder, db, records, tokens, witnesses, url = node
    assert httpx.get(f"{url}/checkpoint").status_code == 404  # nothing published yet
    with httpx.Client(base_url=url, headers={"X-API-Key": tokens["auditor"]}) as c:
        plain = c.get(f"/bundles/{records['green-valley']}").json()
    assert "checkpoint" not in plain
    (a_store, a_key, a_id), (b_store, b_key, b_id) = witnesses
    with serving(a_store, a_key) as a, serving(b_store, b_key) as b:
        code, out, err = run(capsys, "chain", "publish-checkpoint", "--db", db, "--node-key", str(folder / "node.key"),
                             "--witness", a, "--witness", b, "--output", str(folder / "cosigned.note"))
    assert code == 0 and out.startswith("published: checkpoint of 3 blocks") and "cosigned by 2 of 2 witnesses" in out, (out, err)
    served = httpx.get(f"{url}/checkpoint")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/plain")
    assert served.content == (folder / "cosigned.note").read_bytes()
    ledger = open_ledger(db)
    hashes = [block_hash(ledger.header(h)) for h in range(3)]
    origin = ledger_origin(ledger)
    vkey = node_note_key(ledger).vkey()
    genesis = hashes[0].hex()
    ledger.close()
    lines = served.text.split("\n")
    assert lines[:3] == [origin, "3", base64.b64encode(rfc6962_root(hashes)).decode()]
    assert [line.split(" ")[1] for line in lines[4:-1]] == [origin, "w.example/a", "w.example/b"]

    # The operator commits on: the bundle's head stays the checkpoint's last block, and the policy passes.
    user = PrivateKey.generate("ed25519")
    ledger = open_ledger(db, PrivateKey.load(folder / "node.key"))
    ledger.commit([sign_transaction(user, CHAIN_ID, 0, "record.put", {"key": "later", "value": 1})])
    ledger.close()
    with httpx.Client(base_url=url, headers={"X-API-Key": tokens["auditor"]}) as c:
        bundle = c.get(f"/bundles/{records['green-valley']}").json()
        assert c.get(f"/bundles/{records['green-valley']}", params={"since": 3}).status_code == 400  # after the checkpoint's head
    assert bundle["head"]["height"] == 2 and bundle["checkpoint"]["note"] == served.text
    (folder / "bundle.json").write_text(json.dumps(bundle))
    (folder / "policy").write_text(f"genesis {genesis}\nlog {vkey}\nwitness a {a_id.vkey()}\nwitness b {b_id.vkey()}\n"
                                   "group both all a b\nquorum both\n")
    code, out, _ = run(capsys, "verify", str(folder / "bundle.json"), "--policy", str(folder / "policy"))
    assert code == 0 and "cosigned by witness a (w.example/a+" in out and "cosigned by witness b (w.example/b+" in out
    assert "quorum 'both': met" in out


def test_a_row_slipped_into_the_table_is_not_served(node, capsys):
    """A note the node did not sign, inserted by hand as the largest size, is refused (409), never served."""
    folder, db, *_, url = node
    forged_key = PrivateKey.generate("ed25519")
    from coopchain.chain.checkpoint import Checkpoint, sign_checkpoint

    ledger = open_ledger(db)
    note = sign_checkpoint(Checkpoint(ledger_origin(ledger), 99, bytes(32)), forged_key)
    ledger.close()
    store = CheckpointStore(db)
    store.add(99, note, 0)
    store.close()
    answer = httpx.get(f"{url}/checkpoint")
    assert answer.status_code == 409 and answer.headers["content-type"] == "application/problem+json"
    assert "no signature by a trusted key" in answer.json()["detail"]


def test_the_table_is_append_only(node):
    import sqlite3

    folder, db, *_ = node
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        for sql in ("UPDATE published_checkpoints SET size = 1", "DELETE FROM published_checkpoints"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)


def test_a_server_without_the_node_key_refuses_to_submit_409(node):
    """This server only reads (no COOPCHAIN_NODE_KEY): both submitting routes say so before reading the body."""
    _folder, _db, _records, tokens, _witnesses, url = node
    with httpx.Client(base_url=url, headers={"X-API-Key": tokens["admin"]}) as c:
        for path in ("/transactions", "/transactions/batch"):
            answer = c.post(path, content=b"{not json")
            assert answer.status_code == 409 and answer.headers["content-type"] == "application/problem+json", answer.text
            assert answer.json()["type"] == "urn:coopchain:error:not-committing" and "COOPCHAIN_NODE_KEY" in answer.json()["detail"]
