"""The trust commands end to end: chain checkpoint, witness new|follow|add-checkpoint|checkpoint,
chain bundle --checkpoint, verify --policy; refusals are messages with their status, never tracebacks."""

import contextlib
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from coopchain.app.cli import main
from coopchain.chain.block import block_hash
from coopchain.chain.checkpoint import Checkpoint, ledger_origin, node_note_key, sign_checkpoint, sign_ledger_checkpoint, verify_checkpoint
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.transaction import sign_transaction, transaction_hash
from coopchain.chain.witness import Witness, WitnessStore, add_checkpoint_request
from tests.server import free_port

CHAIN = "cli-trust"


@pytest.fixture
def chain(tmp_path):
    node, user = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    node.save(tmp_path / "node.key")
    url = f"sqlite:///{tmp_path}/ledger.db"
    ledger = Ledger.create(url, node, CHAIN)
    txs = []
    for i in range(3):
        txs.append(sign_transaction(user, CHAIN, i, "record.put", {"key": f"lot/{i}", "value": {"t": str(i)}}))
        ledger.commit([txs[-1]])
    genesis = block_hash(ledger.genesis).hex()
    ledger.close()
    return tmp_path, url, txs, genesis


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def test_the_whole_flow(chain, capsys):
    folder, url, txs, genesis = chain
    code, vkey, _ = run(capsys, "chain", "checkpoint", "--db", url, "--vkey")
    vkey = vkey.strip()
    origin = vkey.split("+")[0]
    assert code == 0 and origin == f"coopchain/{CHAIN}/{genesis}"
    code, wkey, _ = run(capsys, "witness", "new", "auditor.example/w1", "--store", str(folder / "w1.db"), "--key", str(folder / "w1.key"))
    assert code == 0 and wkey.startswith("auditor.example/w1+")
    assert run(capsys, "witness", "follow", origin, vkey, "--store", str(folder / "w1.db"))[0] == 0
    code, checkpoint, _ = run(capsys, "chain", "checkpoint", "--db", url, "--node-key", str(folder / "node.key"))
    assert code == 0 and checkpoint.split("\n")[:2] == [origin, "4"]
    assert run(capsys, "chain", "checkpoint", "--db", url, "--node-key", str(folder / "node.key"), "--old", "0", "--output", str(folder / "req"))[0] == 0
    code, line, _ = run(capsys, "witness", "add-checkpoint", str(folder / "req"), "--store", str(folder / "w1.db"), "--key", str(folder / "w1.key"),
                        "--output", str(folder / "cosigned.note"))
    assert code == 0 and line.startswith("\u2014 auditor.example/w1 ")
    assert (folder / "cosigned.note").read_text() == checkpoint + line
    code, served, _ = run(capsys, "witness", "checkpoint", origin, "--store", str(folder / "w1.db"))
    assert code == 0 and served == checkpoint + line
    code, _, err = run(capsys, "witness", "add-checkpoint", str(folder / "req"), "--store", str(folder / "w1.db"), "--key", str(folder / "w1.key"))
    assert code == 3 and "409 Conflict" in err and "holds size 4" in err
    tx = transaction_hash(txs[1]).hex()
    assert run(capsys, "chain", "bundle", tx, "--db", url, "--checkpoint", str(folder / "cosigned.note"), "--output", str(folder / "b.json"))[0] == 0
    assert "checkpoint" in json.loads((folder / "b.json").read_text())
    (folder / "policy").write_text(f"genesis {genesis}\nlog {vkey}\nwitness w1 {wkey.strip()}\nquorum w1\n")
    code, out, _ = run(capsys, "verify", str(folder / "b.json"), "--policy", str(folder / "policy"))
    assert code == 0 and out.startswith("valid:") and "cosigned by witness w1 (auditor.example/w1+" in out and "quorum 'w1': met" in out


@pytest.mark.parametrize("argv, code, message", [
    (["witness", "follow", "o", "not-a-key", "--store", "{f}/none.db"], 2, "the node's key"),
    (["witness", "checkpoint", "o", "--store", "{f}/none.db"], 2, "no such file"),
    (["witness", "new", "bad name", "--store", "{f}/w.db", "--key", "{f}/w.key"], 2, "without spaces"),
    (["witness", "add-checkpoint", "{f}/absent", "--store", "{f}/w.db", "--key", "{f}/w.key"], 2, "cannot read"),
    (["chain", "checkpoint", "--db", "{url}"], 2, "needs --node-key"),
    (["chain", "checkpoint", "--db", "{url}", "--node-key", "{f}/node.key", "--old", "9"], 2, "lies in 0 .. 4"),
    (["chain", "bundle", "{tx}", "--db", "{url}", "--checkpoint", "{f}/absent"], 2, "cannot read"),
    (["verify", "{f}/b.json", "--policy", "{f}/absent"], 2, "cannot read"),
])
def test_bad_input_gets_a_message(chain, capsys, argv, code, message):
    folder, url, txs, _ = chain
    main(["chain", "bundle", transaction_hash(txs[0]).hex(), "--db", url, "--output", str(folder / "b.json")])
    capsys.readouterr()
    argv = [a.format(f=folder, url=url, tx=transaction_hash(txs[0]).hex()) for a in argv]
    got, _, err = run(capsys, *argv)
    assert got == code and message in err


def test_a_witness_refusal_names_its_status(chain, capsys):
    folder, url, _, _ = chain
    stranger = PrivateKey.generate("ed25519")
    stranger.save(folder / "stranger.key")
    run(capsys, "witness", "new", "w.example", "--store", str(folder / "w.db"), "--key", str(folder / "w.key"))
    run(capsys, "chain", "checkpoint", "--db", url, "--node-key", str(folder / "node.key"), "--old", "0", "--output", str(folder / "req"))
    code, _, err = run(capsys, "witness", "add-checkpoint", str(folder / "req"), "--store", str(folder / "w.db"), "--key", str(folder / "w.key"))
    assert code == 3 and "404 Not Found" in err
    code, _, err = run(capsys, "witness", "add-checkpoint", str(folder / "req"), "--store", str(folder / "w.db"), "--key", str(folder / "stranger.key"))
    assert code == 2 and "not the witness's key" in err


@contextlib.contextmanager
def serving(store: Path, key: Path):
    """`coopchain witness serve` in a subprocess on a free loopback port; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "coopchain.app.cli", "witness", "serve", "--store", str(store), "--key", str(key), "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                httpx.get(f"{base}/docs", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def http_witness(folder: Path, name: str, ledger) -> tuple[Path, Path, object]:
    key = PrivateKey.generate("ed25519")
    key.save(folder / f"{name}.key")
    store = WitnessStore.create(folder / f"{name}.db", f"w.example/{name}", key.public_key)
    store.follow(ledger_origin(ledger), node_note_key(ledger))
    identity = store.identity()
    store.close()
    return folder / f"{name}.db", folder / f"{name}.key", identity


def test_the_witness_serves_the_protocol_over_http(chain):
    """`coopchain witness serve` on loopback: 200 with the cosignature, 409 with text/x.tlog.size and the
    size, 400 as problem+json, and the monitoring GET of the last cosigned checkpoint."""
    folder, url, _, _ = chain
    node = PrivateKey.load(folder / "node.key")
    ledger = Ledger.open(url, node)
    store, key, identity = http_witness(folder, "http", ledger)
    try:
        with serving(store, key) as base:
            note = sign_ledger_checkpoint(ledger, node)
            ok = httpx.post(f"{base}/add-checkpoint", content=add_checkpoint_request(0, [], note), timeout=30)
            assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
            verify_checkpoint(note + ok.content, node_note_key(ledger), [identity])
            again = httpx.post(f"{base}/add-checkpoint", content=add_checkpoint_request(0, [], note), timeout=30)
            assert (again.status_code, again.headers["content-type"], again.text) == (409, "text/x.tlog.size", "4\n")
            junk = httpx.post(f"{base}/add-checkpoint", content=b"old 0\n\nnot a note", timeout=30)
            assert junk.status_code == 400 and junk.headers["content-type"] == "application/problem+json" and junk.json()["status"] == 400
            origin = ledger_origin(ledger)
            served = httpx.get(f"{base}/{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint", timeout=30)
            assert served.status_code == 200 and served.content == note + ok.content
            missing = httpx.get(f"{base}/{hashlib.sha256(b'other').hexdigest()}/checkpoint", timeout=30)
            assert missing.status_code == 404 and missing.json()["title"] == "Not Found"
    finally:
        ledger.close()


def test_the_node_collects_cosignatures_over_http(chain, capsys):
    """`coopchain witness submit`: witness a already holds size 2 (the node starts from 0, gets 409 with
    2 and resubmits from there), b holds nothing; a third URL does not answer and is reported."""
    folder, url, txs, _ = chain
    node = PrivateKey.load(folder / "node.key")
    ledger = Ledger.open(url, node)
    a_store, a_key, a_id = http_witness(folder, "a", ledger)
    b_store, b_key, b_id = http_witness(folder, "b", ledger)
    early = WitnessStore.open(a_store)
    Witness(early, PrivateKey.load(a_key)).add_checkpoint(add_checkpoint_request(0, [], sign_checkpoint(
        Checkpoint(ledger_origin(ledger), 2, ledger.history().root_at(2)), node)))
    early.close()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens once closed
    try:
        with serving(a_store, a_key) as a, serving(b_store, b_key) as b:
            code, out, err = run(capsys, "witness", "submit", a, b, dead, "--db", url, "--node-key", str(folder / "node.key"))
        assert code == 3 and f"not cosigned by {dead}" in err
        verified = verify_checkpoint(out.encode(), node_note_key(ledger), [a_id, b_id])
        assert [c.key for c in verified.cosignatures] == [a_id, b_id] and verified.checkpoint.size == 4
        held = WitnessStore.open(a_store)
        assert held.latest(ledger_origin(ledger)).size == 4
        held.close()
    finally:
        ledger.close()


def _cosigned_with_copies(folder: Path, url: str, genesis: str):
    """The operator's copies of the 4-block ledger (truncated.db as it is, early.db with a different 5th block),
    then a 5th block and its checkpoint cosigned by witness w (cosigned.note) under a policy that needs w
    (policy).  Returns (the ledger, still open; the 5th block's signer; the node's checkpoint note)."""
    node = PrivateKey.load(folder / "node.key")
    ledger = Ledger.open(url, node)
    store, key, identity = http_witness(folder, "w", ledger)
    for copy in ("early.db", "truncated.db"):  # the operator's copies at 4 blocks
        with sqlite3.connect(folder / "ledger.db") as src, sqlite3.connect(folder / copy) as dst:
            src.backup(dst)
    forked = Ledger.open(f"sqlite:///{folder}/early.db", node)
    forked.commit([sign_transaction(PrivateKey.generate("ed25519"), CHAIN, 0, "record.put", {"key": "x", "value": {"by": "mallory"}})])
    forked.close()
    user = PrivateKey.generate("ed25519")
    ledger.commit([sign_transaction(user, CHAIN, 0, "record.put", {"key": "y", "value": {"by": "honest"}})])
    w = Witness(WitnessStore.open(store), PrivateKey.load(key))
    note = sign_ledger_checkpoint(ledger, node)
    (folder / "cosigned.note").write_bytes(note + w.add_checkpoint(add_checkpoint_request(0, [], note)))  # size 5
    w.store.close()
    (folder / "policy").write_text(f"genesis {genesis}\nlog {node_note_key(ledger).vkey()}\nwitness w {identity.vkey()}\nquorum w\n")
    return ledger, user, note


def test_check_reports_truncation_and_rewrites_below_a_cosigned_checkpoint(chain, capsys):
    """The operator truncates the ledger below a checkpoint a witness cosigned (a copy made before the
    last block), or rewrites its last block: `chain checkpoint --check` reports which, with the policy."""
    folder, url, txs, genesis = chain
    ledger, user, _note = _cosigned_with_copies(folder, url, genesis)
    ledger.commit([sign_transaction(user, CHAIN, 1, "record.put", {"key": "z", "value": {}})])
    ledger.close()
    check = ["chain", "checkpoint", "--check", str(folder / "cosigned.note"), "--policy", str(folder / "policy"), "--db"]
    code, out, _ = run(capsys, *check, url)
    assert code == 0 and out.startswith("holds: the ledger's blocks 0 .. 4 are the checkpoint's (cosigned by w); it now holds 6 blocks")
    code, out, _ = run(capsys, *check, f"sqlite:///{folder}/truncated.db")  # a valid chain of 4 blocks: chain verify alone passes it
    assert code == 3 and out.startswith("invalid: truncated: the ledger holds 4 blocks, 0 .. 3, below a checkpoint of 5")
    code, out, _ = run(capsys, *check, f"sqlite:///{folder}/early.db")
    assert code == 3 and out.startswith("invalid: rewritten: the ledger's first 5 blocks have root")
    code, out, _ = run(capsys, "chain", "checkpoint", "--check", str(folder / "cosigned.note"), "--db", f"sqlite:///{folder}/early.db")
    assert code == 3 and "rewritten" in out and "unchecked without --policy" in out


def test_chain_verify_holds_the_ledger_to_a_pinned_checkpoint(chain, capsys):
    """`chain verify --checkpoint COSIGNED --policy FILE`: a truncated copy (a valid chain by itself) and a
    rewritten one fail, naming the checkpoint (its size, its root as the note gives it, its cosigners)."""
    import base64

    folder, url, txs, genesis = chain
    ledger, _user, note = _cosigned_with_copies(folder, url, genesis)
    vkey = node_note_key(ledger).vkey()
    ledger.close()
    root = base64.b64decode(note.decode().split("\n")[2]).hex()
    pin = ["--checkpoint", str(folder / "cosigned.note"), "--policy", str(folder / "policy")]
    code, out, _ = run(capsys, "chain", "verify", "--db", url, *pin)
    assert code == 0 and out.startswith("valid:") and f"it holds the checkpoint of 5 blocks (root {root}, cosigned by w)" in out
    assert run(capsys, "chain", "verify", "--db", f"sqlite:///{folder}/truncated.db")[0] == 0  # alone, nothing is wrong
    code, out, _ = run(capsys, "chain", "verify", "--db", f"sqlite:///{folder}/truncated.db", *pin)
    assert code == 3 and out.startswith("invalid: truncated: the ledger holds 4 blocks")
    assert f"(the checkpoint of 5 blocks, root {root}, cosigned by w)" in out
    code, out, _ = run(capsys, "chain", "replay", "--db", f"sqlite:///{folder}/early.db", *pin)
    assert code == 3 and out.startswith("invalid: rewritten: the ledger's first 5 blocks have root") and root in out
    (folder / "other").write_text(f"genesis {'00' * 32}\nlog {vkey}\nquorum none\n")
    code, out, _ = run(capsys, "chain", "verify", "--db", url, "--checkpoint", str(folder / "cosigned.note"), "--policy", str(folder / "other"))
    assert code == 3 and "is not the policy's" in out
    code, _, err = run(capsys, "chain", "verify", "--db", url, "--policy", str(folder / "policy"))
    assert code == 2 and "--policy needs --checkpoint" in err


def test_publish_checkpoint_every_n_blocks(chain):
    """`chain publish-checkpoint --every 2` beside a growing ledger: it publishes at 4 blocks (it starts
    there), not at 5, again at 6, and stops cleanly on SIGTERM."""
    from coopchain.service.checkpoints import CheckpointStore

    folder, url, txs, _ = chain
    node = PrivateKey.load(folder / "node.key")
    ledger = Ledger.open(url, node)
    store, key, _ = http_witness(folder, "w", ledger)
    user = PrivateKey.generate("ed25519")

    def sizes():
        published = CheckpointStore(url)
        try:
            return [row[0] for row in published._rows("SELECT size FROM published_checkpoints ORDER BY id")]
        finally:
            published.close()

    def wait_for(condition, what):
        for _ in range(600):
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"waited 60 s for {what}")

    with serving(store, key) as w:
        proc = subprocess.Popen([sys.executable, "-m", "coopchain.app.cli", "chain", "publish-checkpoint", "--db", url, "--node-key", str(folder / "node.key"),
                                 "--witness", w, "--every", "2", "--poll", "0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: sizes() == [4], "the first publication")
            ledger.commit([sign_transaction(user, CHAIN, 0, "record.put", {"key": "a", "value": 1})])  # 5 blocks: not yet
            time.sleep(0.5)  # several polls (not a timing assertion: publishing at 5 would be wrong at any speed)
            assert sizes() == [4]
            ledger.commit([sign_transaction(user, CHAIN, 1, "record.put", {"key": "b", "value": 2})])
            wait_for(lambda: sizes() == [4, 6], "the publication at 6 blocks")
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=30)
    ledger.close()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert out.count("published: checkpoint of") == 2 and "checkpoint of 6 blocks" in out
