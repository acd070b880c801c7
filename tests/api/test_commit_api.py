"""A manager's whole job over real HTTP, and `coopchain commit --api` as a user runs it.

A `coopchain serve` holding the node key (so it commits) over a ledger that runs the contracts:
the admin creates a cooperative with a signed transaction; its manager uploads a CSV, follows a
front job's progress events, and commits the knee pick with `coopchain commit --api` (a real
subprocess: the manager's key never leaves it); an auditor fetches the bundle and `coopchain
verify` accepts it offline.  Then the command's refusals: no server, no key, a wrong key, a
role that may not submit, a rejected receipt.

References: the receipts' root recomputed by hand (RFC 6962, written out below) against the
block header; the nonce counted from the transactions the key sent; the contract's condition
codes from docs/contracts.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from coopchain.chain.keys import PrivateKey
from coopchain.chain.receipt import encode_receipt, receipt_from_json
from coopchain.chain.transaction import sign_transaction, transaction_json
from coopchain.service.api_store import ApiStore
from coopchain.service.wiring import create_ledger
from tests.api.conftest import SAMPLES, Server, free_port, start_server, stop_server
from tests.api.test_end_to_end import _events

CHAIN_ID = "coopchain-commit-api"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A committing server over an empty contract ledger; the node key is the chain's admin."""
    folder = tmp_path_factory.mktemp("commit-api")
    node, manager, stranger = (PrivateKey.generate("ed25519") for _ in range(3))
    for name, key in (("node.key", node), ("manager.key", manager), ("stranger.key", stranger)):
        key.save(str(folder / name))
    db = f"sqlite:///{folder / 'ledger.db'}"
    create_ledger(db, node, CHAIN_ID).close()
    store = ApiStore(db)
    tokens = {"admin": store.create_key("admin", (), "e2e admin").token,
              "manager": store.create_key("manager", ("green-valley",), "e2e manager").token,
              "other_manager": store.create_key("manager", ("hill-top",), "e2e other").token,
              "auditor": store.create_key("auditor", (), "e2e auditor").token}
    store.close()
    process, url = start_server(db, extra_env={"COOPCHAIN_NODE_KEY": str(folder / "node.key"), "COOPCHAIN_BATCH_WAIT_MS": "20"})
    server = Server(url, db, tokens, {}, process)
    server.folder, server.node, server.manager = folder, node, manager
    yield server
    stop_server(process)


def coopchain(*args: str, api_key: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COOPCHAIN_API_KEY"}
    if api_key is not None:
        env["COOPCHAIN_API_KEY"] = api_key
    return subprocess.run([sys.executable, "-m", "coopchain.app.cli", *args], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, env=env, cwd=cwd)


@pytest.fixture
def in_process(capsys, monkeypatch):
    """`coopchain` through its entry point in this process, as a CompletedProcess: for the refusals, which are about
    messages and exit codes (the whole job above runs the command as a real process)."""
    from coopchain.app.cli import main

    def run(*args: str, api_key: str | None = None) -> subprocess.CompletedProcess:
        with monkeypatch.context() as m:
            m.delenv("COOPCHAIN_API_KEY", raising=False)
            if api_key is not None:
                m.setenv("COOPCHAIN_API_KEY", api_key)
            code = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 §2.1, written out: leaf = SHA-256(0x00 ‖ d), node = SHA-256(0x01 ‖ l ‖ r), split at the largest power of two < n."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


def sent_by(client, key: str, head: int) -> int:
    """Transactions `key` signed, counted block by block: what its next nonce must be."""
    return sum(1 for h in range(1, head + 1) for t in client.get(f"/blocks/{h}/transactions", params={"limit": 500}).json()["data"]
               if t["transaction"]["sender"] == key)


def test_create_upload_front_commit_over_api_then_audit_offline(served, tmp_path, in_process):
    node, manager = served.node.public_key.to_text(), served.manager.public_key.to_text()

    # The admin creates the cooperative: a transaction signed with the chain's admin key, at the nonce the chain gives.
    with served.client("admin") as admin:
        account = admin.get(f"/accounts/{node}").json()
        assert account["admin"] is True and account["next_nonce"] == 0
        tx = sign_transaction(served.node, CHAIN_ID, account["next_nonce"], "cooperatives.register", {"cooperative": "green-valley", "managers": [manager]})
        created = admin.post("/transactions", params={"wait": "true"}, json=transaction_json(tx))
        assert created.status_code == 200 and created.json()["receipt"]["status"] == "applied", created.text
        assert admin.get(f"/accounts/{node}").json()["next_nonce"] == 1
    with served.client("manager") as c:
        assert c.get("/cooperatives/green-valley").json() == {"id": "green-valley", "managers": [manager], "members": [], "k": 0,
                                                              "registered": created.json()["height"]}
        assert c.get(f"/accounts/{manager}").json()["manages"] == ["green-valley"]

        # The manager uploads the sample's CSV and its header, and follows a front job to its end.
        stored = c.post("/problems/csv", files={"table": ("green-valley.csv", (SAMPLES / "green-valley.csv").read_bytes(), "text/csv")},
                        data={"header": (SAMPLES / "green-valley.header.json").read_text()})
        assert stored.status_code == 201, stored.text
        job = c.post(f"/problems/{stored.json()['hash']}/fronts", json={"method": "augmecon", "points": 6}).json()
        events = _events(c, job["events"])
        assert [name for name, _ in events][-1] == "end" and events[-1][1]["state"] == "done"
        progress = [data["progress"] for name, data in events if name == "progress"]
        assert progress == sorted(progress)
        front = c.get(job["url"]).json()["result"]
    (tmp_path / "front.json").write_text(json.dumps(front))

    # `coopchain commit --api`: the manager's key signs in the subprocess; the server commits.
    run = coopchain("commit", str(tmp_path / "front.json"), "--pick", "knee", "--problem", str(SAMPLES / "green-valley.csv"),
                    "--header", str(SAMPLES / "green-valley.header.json"), "--api", served.url, "--key", str(served.folder / "manager.key"),
                    "--json", api_key=served.tokens["manager"])
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads(run.stdout)
    assert out["registered"]["receipt"]["status"] == "applied" and out["receipt"]["status"] == "applied"
    assert (out["cooperative"], out["round"], out["problem"]) == ("green-valley", "2026-Q4", stored.json()["hash"])
    assert out["chosen_by"] == {"objective": "scalarised", "method": "epsilon", "pick": "knee"}
    commit_tx = out["transaction"]
    # The allocation contract's state of the round: its cooperative's manager gets the proof, another's 404.
    round_key = 'allocation:round/["green-valley","2026-Q4"]'
    with served.client("manager") as mine, served.client("other_manager") as other:
        assert mine.get("/proofs/state", params={"key": round_key}).status_code == 200
        assert other.get("/proofs/state", params={"key": round_key}).status_code == 404

    with served.client("auditor") as a:
        shown = a.get(f"/transactions/{commit_tx}").json()
        assert shown["transaction"]["sender"] == manager and shown["transaction"]["kind"] == "allocation.commit_allocation"
        certificate = json.loads(shown["transaction"]["payload"]["certificate"])
        # The certificate (v2) holds the allocation as an array in the registered problem's enterprise order.
        registered = a.get(f"/transactions/{out['registered']['transaction']}").json()["transaction"]["payload"]["problem"]
        order = [e["id"] for e in json.loads(registered)["enterprises"]]
        committed = shown["transaction"]["payload"]["allocation"]
        assert sorted(committed) == sorted(order) and [float(committed[i]) for i in order] == certificate["allocation"]
        head = a.get("/blocks/head").json()["height"]
        # The nonce the route gives is the number of transactions the key sent (2: register, commit).
        assert a.get(f"/accounts/{manager}").json()["next_nonce"] == sent_by(a, manager, head) == 2
        # The block's receipts: the header's receipts root, recomputed by hand from them.
        receipts = a.get(f"/blocks/{out['height']}/receipts").json()
        header = a.get(f"/blocks/{out['height']}").json()["header"]
        leaves = [encode_receipt(receipt_from_json(r["receipt"])) for r in receipts["data"]]
        assert receipts["count"] == header["transaction_count"] == len(leaves)
        assert rfc6962_root(leaves).hex() == header["receipts_root"]
        assert [r["hash"] for r in receipts["data"] if r["receipt"]["status"] == "applied"][-1] == commit_tx
        bundle = a.get(f"/bundles/{commit_tx}")
    assert bundle.status_code == 200
    (tmp_path / "bundle.json").write_text(bundle.text)
    verified = in_process("verify", str(tmp_path / "bundle.json"))  # the command's code in this process: the commit above was the real process
    assert verified.returncode == 0 and verified.stdout.startswith("valid"), verified.stdout + verified.stderr

    # Committing the round again is refused before anything is signed: it names the commit to amend.
    again = in_process("commit", str(tmp_path / "front.json"), "--pick", "knee", "--problem", str(SAMPLES / "green-valley.csv"),
                      "--header", str(SAMPLES / "green-valley.header.json"), "--api", served.url, "--key", str(served.folder / "manager.key"),
                      api_key=served.tokens["manager"])
    assert again.returncode == 3 and "already committed" in again.stderr and commit_tx in again.stderr, again.stderr


def test_cooperatives_are_scoped_to_a_managers_own(served):
    with served.client("admin") as admin:
        if admin.get("/cooperatives/green-valley").status_code == 404:  # run alone: the module's first test creates it
            nonce = admin.get(f"/accounts/{served.node.public_key.to_text()}").json()["next_nonce"]
            tx = sign_transaction(served.node, CHAIN_ID, nonce, "cooperatives.register",
                                  {"cooperative": "green-valley", "managers": [served.manager.public_key.to_text()]})
            assert admin.post("/transactions", params={"wait": "true"}, json=transaction_json(tx)).json()["receipt"]["status"] == "applied"
        nonce = admin.get(f"/accounts/{served.node.public_key.to_text()}").json()["next_nonce"]
        tx = sign_transaction(served.node, CHAIN_ID, nonce, "cooperatives.register", {"cooperative": "hill-top", "managers": [served.node.public_key.to_text()]})
        assert admin.post("/transactions", params={"wait": "true"}, json=transaction_json(tx)).json()["receipt"]["status"] == "applied"
        everything = admin.get("/cooperatives").json()
    assert {c["id"] for c in everything["data"]} >= {"green-valley", "hill-top"} and everything["count"] == len(everything["data"])
    with served.client("other_manager") as other:
        assert [c["id"] for c in other.get("/cooperatives").json()["data"]] == ["hill-top"]
        assert other.get("/cooperatives/green-valley").status_code == 404
        assert other.get("/cooperatives/no-such-cooperative").status_code == 404
        # The admin key manages hill-top; to hill-top's manager it shows that and nothing of green-valley.
        assert other.get(f"/accounts/{served.node.public_key.to_text()}").json()["manages"] == ["hill-top"]
        bad = other.get("/accounts/ed25519:zz")
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "path.public_key"
    with served.client("manager") as mine, served.client("other_manager") as other:
        assert mine.get("/proofs/state", params={"key": "cooperatives:coop/green-valley"}).status_code == 200
        assert other.get("/proofs/state", params={"key": "cooperatives:coop/green-valley"}).status_code == 404
        assert other.get("/proofs/state", params={"key": "cooperatives:coop/hill-top"}).status_code == 200


@pytest.fixture(scope="module")
def solution(tmp_path_factory):
    """A certified optimum of green-valley for another round (solved locally, as a manager does); read, never written, by the tests."""
    folder = tmp_path_factory.mktemp("solution")
    document = json.loads((SAMPLES / "green-valley.json").read_text())
    (folder / "p.json").write_text(json.dumps({**document, "round": "2031-Q1"}))
    run = coopchain("solve", str(folder / "p.json"), "--objective", "F2", "--json")
    assert run.returncode == 0, run.stderr
    (folder / "solution.json").write_text(run.stdout)
    return str(folder / "solution.json")


def test_commit_api_refusals(served, solution, in_process):
    coopchain = in_process
    key = ("--key", str(served.folder / "manager.key"))
    nowhere = coopchain("commit", solution, "--api", f"http://127.0.0.1:{free_port()}", *key, api_key=served.tokens["manager"])
    assert nowhere.returncode == 2 and "cannot reach the API" in nowhere.stderr and "Traceback" not in nowhere.stderr
    no_key = coopchain("commit", solution, "--api", served.url, *key)
    assert no_key.returncode == 2 and "COOPCHAIN_API_KEY" in no_key.stderr
    wrong = coopchain("commit", solution, "--api", served.url, *key, "--api-key", "cck_0000000000000000_nothing")
    assert wrong.returncode == 2 and "401" in wrong.stderr and "unknown or revoked" in wrong.stderr, wrong.stderr
    # An auditor reads all but writes nothing: the submission is 403, and the message says which roles may.
    auditor = coopchain("commit", solution, "--api", served.url, *key, api_key=served.tokens["auditor"])
    assert auditor.returncode == 2 and "403" in auditor.stderr and "may not use this route" in auditor.stderr, auditor.stderr
    local = coopchain("commit", solution, "--api", served.url, "--db", served.db, *key, api_key=served.tokens["manager"])
    assert local.returncode == 2 and "--db and --node-key are for a local ledger" in local.stderr
    # A field the server refuses at admission: 422 problem+json, its detail and the field's path printed.
    malformed = coopchain("commit", solution, "--api", served.url, *key, "--supersedes", "abc", "--reason", "a typo", api_key=served.tokens["manager"])
    # Registration and commit go as one batch: the commit is the second item (body[1]).
    assert malformed.returncode == 2 and "(422 Invalid request)" in malformed.stderr and "field body[1]:" in malformed.stderr, malformed.stderr
    assert "supersedes is null or a transaction hash" in malformed.stderr and "Traceback" not in malformed.stderr


def test_commit_api_rejected_receipt(served, solution, in_process):
    """A key that manages no cooperative signs: the contract refuses both transactions (not_manager), the command exits 3."""
    coopchain = in_process
    run = coopchain("commit", solution, "--api", served.url, "--key", str(served.folder / "stranger.key"), api_key=served.tokens["manager"])
    assert run.returncode == 3, run.stdout + run.stderr
    lines = run.stdout.splitlines() + run.stderr.splitlines()
    assert any("rejected" in line and "not_manager" in line for line in lines), run.stdout
    as_json = coopchain("commit", solution, "--api", served.url, "--key", str(served.folder / "stranger.key"), "--json", api_key=served.tokens["manager"])
    out = json.loads(as_json.stdout)
    assert as_json.returncode == 3 and out["receipt"]["status"] == "rejected" and out["receipt"]["code"] == "not_manager"
    assert "is not a manager of 'green-valley'" in out["receipt"]["message"]
