"""The auditor's policy (C2SP tlog-policy plus a genesis line) and bundles checked under it:
who signed what, the quorum, a split view refused, a chain rebuilt with fresh keys refused."""

import copy
import itertools
import json
import sqlite3
from pathlib import Path

import pytest

from coopchain.chain.block import block_hash
from coopchain.chain.bundle import InvalidBundle
from coopchain.chain.checkpoint import (
    SIGNATURE_COSIGNATURE_V1, add_signatures, bundle_checkpoint, head_proofs, ledger_origin, node_note_key, note_key,
    sign_ledger_checkpoint,
)
from coopchain.chain.errors import ChainError
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.policy import PolicyError, QuorumNotMet, parse_policy, satisfied, verify_bundle_policy
from coopchain.chain.transaction import sign_transaction, transaction_hash
from coopchain.chain.witness import Witness, WitnessStore, add_checkpoint_request
from tests.blocked_imports import run_blocked

CHAIN = "policy-test"


def witness_key(name: str):
    key = PrivateKey.generate("ed25519")
    return key, note_key(name, key.public_key, SIGNATURE_COSIGNATURE_V1)


# --- the policy file ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys():
    node = PrivateKey.generate("ed25519")
    log = note_key("coopchain/x/" + "ab" * 32, node.public_key)
    witnesses = {n: witness_key(f"w.example/{n}")[1] for n in ("X1", "X2", "X3", "Y1", "Y2", "Y3")}
    return log, witnesses


def policy_text(log, witnesses, tail: str, genesis: str = "ab" * 32) -> str:
    lines = [f"genesis {genesis}", f"log {log.vkey()}"] + [f"witness {n} {k.vkey()}" for n, k in witnesses.items()]
    return "\n".join(lines) + "\n" + tail


def test_the_spec_example_quorum_is_two_x_and_one_y(keys):
    """tlog-policy's example: 2 of the X witnesses and any of the Y witnesses."""
    log, ws = keys
    policy = parse_policy(policy_text(log, ws, "group X-witnesses 2 X1 X2 X3\ngroup Y-witnesses any Y1 Y2 Y3\n"
                                               "group X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n"))
    names = list(ws)
    for r in range(len(names) + 1):
        for subset in itertools.combinations(names, r):
            xs = sum(n.startswith("X") for n in subset)
            ys = sum(n.startswith("Y") for n in subset)
            assert satisfied(policy, set(subset)) == (xs >= 2 and ys >= 1), subset


def test_quorum_none_needs_nobody(keys):
    log, ws = keys
    assert satisfied(parse_policy(policy_text(log, ws, "quorum none\n")), set())


def test_comments_blank_lines_tabs_and_urls_are_accepted(keys):
    log, ws = keys
    text = f"# auditor policy\n\n  genesis\t{'ab' * 32}\nlog {log.vkey()} https://node.example\n" \
           f"\twitness X1 {ws['X1'].vkey()} https://w.example/X1\n   # indented comment\nquorum X1\n"
    policy = parse_policy(text)
    assert (policy.quorum, policy.log, dict(policy.witnesses)) == ("X1", log, {"X1": ws["X1"]})


@pytest.mark.parametrize("tail, why", [
    ("quorum X9\n", "not a witness or group defined above"),
    ("quorum X1\nquorum X2\n", "a second quorum line"),
    ("", "no quorum line"),
    ("group G 4 X1 X2 X3\nquorum G\n", "1 <= k <= 3"),
    ("group G 0 X1\nquorum G\n", "1 <= k <= 1"),
    ("group G " + "9" * 5000 + " X1\nquorum G\n", "1 <= k <= 1"),
    ("group G \u0663 X1\nquorum G\n", "1 <= k <= 1"),
    ("group G any X1 X1\nquorum G\n", "listed twice"),
    ("group G any Z\nquorum G\n", "not a witness or group defined above"),
    ("group X1 any X2\nquorum X1\n", "already defined"),
    ("group none any X2\nquorum X1\n", "predefined"),
    ("group G any\nquorum G\n", "want 'group"),
    ("frobnicate\nquorum none\n", "unknown keyword"),
    ("genesis " + "cd" * 32 + "\nquorum none\n", "a second genesis line"),
    ("quorum none\x0b\n", "control character"),
])
def test_malformed_policies_are_refused_by_line(keys, tail, why):
    log, ws = keys
    with pytest.raises(PolicyError, match=why):
        parse_policy(policy_text(log, ws, tail))


def test_a_policy_needs_genesis_and_log(keys):
    log, ws = keys
    with pytest.raises(PolicyError, match="no genesis line"):
        parse_policy(f"log {log.vkey()}\nquorum none\n")
    with pytest.raises(PolicyError, match="no log line"):
        parse_policy(f"genesis {'ab' * 32}\nquorum none\n")
    with pytest.raises(PolicyError, match="second log line"):
        parse_policy(f"genesis {'ab' * 32}\nlog {log.vkey()}\nlog {log.vkey()}\nquorum none\n")
    with pytest.raises(PolicyError, match="64 lower-case hex"):
        parse_policy(f"genesis {'AB' * 32}\nlog {log.vkey()}\nquorum none\n")


def test_key_types_are_checked(keys):
    log, ws = keys
    with pytest.raises(PolicyError, match="is not an Ed25519 note key"):
        parse_policy(f"genesis {'ab' * 32}\nlog {ws['X1'].vkey()}\nquorum none\n")
    with pytest.raises(PolicyError, match="is not a cosignature/v1 key"):
        parse_policy(f"genesis {'ab' * 32}\nlog {log.vkey()}\nwitness W {log.vkey()}\nquorum none\n")
    with pytest.raises(PolicyError, match="key id"):
        parse_policy(f"genesis {'ab' * 32}\nlog {log.vkey().replace('+', '+0', 1)[:-1]}\nquorum none\n")


def test_two_witnesses_with_one_public_key_are_refused(keys):
    log, ws = keys
    same = note_key("w.example/other-name", ws["X1"].public, SIGNATURE_COSIGNATURE_V1)
    with pytest.raises(PolicyError, match="same public key"):
        parse_policy(f"genesis {'ab' * 32}\nlog {log.vkey()}\nwitness A {ws['X1'].vkey()}\nwitness B {same.vkey()}\nquorum A\n")


# --- bundles under a policy -----------------------------------------------------------------


class Deployment:
    """A node, its ledger, and witnesses that follow it; the auditor's policy text."""

    def __init__(self, folder: Path, witnesses=("a", "b", "c"), node: PrivateKey | None = None, path: str = "ledger.db"):
        self.folder = folder
        self.node, self.user = node or PrivateKey.generate("ed25519"), PrivateKey.generate("p256")
        self.ledger = Ledger.create(f"sqlite:///{folder}/{path}", self.node, CHAIN)
        self.witnesses = {}
        for name in witnesses:
            key = PrivateKey.generate("ed25519")
            store = WitnessStore.create(folder / f"{path}-{name}.db", f"witness.example/{name}", key.public_key)
            store.follow(ledger_origin(self.ledger), node_note_key(self.ledger))
            self.witnesses[name] = Witness(store, key)
        self.held = {name: 0 for name in witnesses}
        self.txs = []

    def commit(self, n: int, tag: str = "v") -> None:
        for _ in range(n):
            nonce = self.ledger.next_nonce(self.user.public_key.to_text())
            tx = sign_transaction(self.user, CHAIN, nonce, "record.put", {"key": f"lot/{nonce}", "value": {"tag": tag}})
            self.ledger.commit([tx])
            self.txs.append(tx)

    def cosign(self, *names) -> bytes:
        """The head's checkpoint, cosigned by the named witnesses (each from the size it holds)."""
        note, size = sign_ledger_checkpoint(self.ledger, self.node), self.ledger.history().size
        for name in names:
            old = self.held[name]
            proof = self.ledger.history().consistency_proof(old, size) if old else []
            note = add_signatures(note, self.witnesses[name].add_checkpoint(add_checkpoint_request(old, proof, sign_ledger_checkpoint(self.ledger, self.node))))
            self.held[name] = size
        return note

    def bundle(self, tx, note: bytes) -> dict:
        doc = self.ledger.bundle(transaction_hash(tx))
        doc["checkpoint"] = bundle_checkpoint(self.ledger, doc["head"]["height"], note)
        return doc

    def policy(self, tail: str, genesis: bytes | None = None) -> str:
        lines = [f"genesis {(genesis or block_hash(self.ledger.genesis)).hex()}", f"log {node_note_key(self.ledger).vkey()}"]
        lines += [f"witness {n} {w.identity.vkey()}" for n, w in self.witnesses.items()]
        return "\n".join(lines) + "\n" + tail

    def close(self):
        for w in self.witnesses.values():
            w.store.close()
        self.ledger.close()


@pytest.fixture
def deployment(tmp_path):
    d = Deployment(tmp_path)
    d.commit(4)
    yield d
    d.close()


def test_a_cosigned_bundle_says_who_signed_what(deployment):
    d = deployment
    note = d.cosign("a", "b")
    report = verify_bundle_policy(d.bundle(d.txs[2], note), parse_policy(d.policy("group two 2 a b c\nquorum two\n")))
    assert report.record.transaction.sender == d.user.public_key.to_text()
    assert (report.record.height, report.record.head_height) == (3, 4)
    assert [(c.name, c.key) for c in report.cosigners] == [("a", d.witnesses["a"].identity), ("b", d.witnesses["b"].identity)]
    assert report.missing == ("c",)
    assert (report.checkpoint.size, report.checkpoint.root) == (5, d.ledger.history().root_at(5))
    assert report.node_key == node_note_key(d.ledger)


def test_too_few_cosignatures_are_refused(deployment):
    d = deployment
    note = d.cosign("a")
    with pytest.raises(QuorumNotMet, match="cosigned by a; the policy's quorum 'both' is not met"):
        verify_bundle_policy(d.bundle(d.txs[2], note), parse_policy(d.policy("group both all a b\nquorum both\n")))


def test_a_cosignature_by_a_witness_outside_the_policy_does_not_count(deployment):
    d = deployment
    note = d.cosign("c")
    policy = "\n".join(line for line in d.policy("quorum a\n").split("\n") if not line.startswith("witness c"))
    with pytest.raises(QuorumNotMet, match="no witness of the policy"):
        verify_bundle_policy(d.bundle(d.txs[0], note), parse_policy(policy))


def test_a_bundle_without_a_checkpoint_is_refused(deployment):
    d = deployment
    with pytest.raises(InvalidBundle, match="no checkpoint"):
        verify_bundle_policy(d.ledger.bundle(transaction_hash(d.txs[0])), parse_policy(d.policy("quorum none\n")))


def test_a_checkpoint_that_does_not_cover_the_head_is_refused(deployment):
    d = deployment
    note = d.cosign("a")
    d.commit(1)
    with pytest.raises(ChainError, match="older than the head"):
        d.bundle(d.txs[0], note)
    doc = d.ledger.bundle(transaction_hash(d.txs[0]))
    doc["checkpoint"] = {"note": note.decode(), "proofs": head_proofs(d.ledger, 4, 5)}  # the proofs of an older head
    with pytest.raises(InvalidBundle, match="not in the checkpoint's tree"):
        verify_bundle_policy(doc, parse_policy(d.policy("quorum a\n")))


@pytest.mark.parametrize("part", ["inclusion", "consistency"])
def test_altered_checkpoint_proofs_are_refused(deployment, part):
    d = deployment
    doc = d.bundle(d.txs[1], d.cosign("a"))
    d.commit(2)
    doc = copy.deepcopy(doc)
    path = doc["checkpoint"]["proofs"][part]["path"]
    path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
    with pytest.raises(InvalidBundle, match="not in the checkpoint's tree"):
        verify_bundle_policy(doc, parse_policy(d.policy("quorum a\n")))


def test_an_altered_checkpoint_note_is_refused(deployment):
    d = deployment
    doc = d.bundle(d.txs[1], d.cosign("a"))
    doc["checkpoint"]["note"] = doc["checkpoint"]["note"].replace("\n5\n", "\n6\n", 1)
    with pytest.raises(InvalidBundle, match="checkpoint: .*does not verify"):
        verify_bundle_policy(doc, parse_policy(d.policy("quorum a\n")))


def test_a_chain_rebuilt_with_fresh_keys_is_refused(tmp_path, deployment):
    """Same chain id, new node key and genesis, its own witnesses even: the policy pins the original."""
    d = deployment
    policy = parse_policy(d.policy("quorum a\n"))
    rebuilt = Deployment(tmp_path, path="rebuilt.db")
    rebuilt.commit(4)
    with pytest.raises(InvalidBundle, match="is not the trusted"):
        verify_bundle_policy(rebuilt.bundle(rebuilt.txs[2], rebuilt.cosign("a")), policy)
    rebuilt.close()


def test_a_policy_whose_node_key_is_not_the_genesis_node_key_is_refused(deployment):
    d = deployment
    stranger = note_key(ledger_origin(d.ledger), PrivateKey.generate("ed25519").public_key)
    text = d.policy("quorum a\n").replace(node_note_key(d.ledger).vkey(), stranger.vkey())
    with pytest.raises(InvalidBundle, match="node key .* is not the policy's log key"):
        verify_bundle_policy(d.bundle(d.txs[0], d.cosign("a")), parse_policy(text))


def test_a_split_view_is_refused_by_an_auditor_who_needs_both_witnesses(tmp_path):
    """The operator copies its database and forks it.  Witness a cosigned the original; shown the fork,
    witness b cosigns it (it never saw the original).  Each bundle then carries one cosignature, and an
    auditor whose policy needs both refuses both; once b is shown the original it refuses (409)."""
    from coopchain.chain.witness import Conflict

    d = Deployment(tmp_path, witnesses=("a", "b"))
    d.commit(3)
    d.cosign("a", "b")  # both hold size 4
    with sqlite3.connect(tmp_path / "ledger.db") as src, sqlite3.connect(tmp_path / "fork.db") as dst:
        src.backup(dst)
    fork = Ledger.open(f"sqlite:///{tmp_path}/fork.db", d.node)
    d.commit(2, tag="honest")
    honest = d.cosign("a")  # a holds the original at 6
    mallory = sign_transaction(d.user, CHAIN, 3, "record.put", {"key": "lot/3", "value": {"tag": "mallory"}})
    fork.commit([mallory])
    fork.commit([sign_transaction(d.user, CHAIN, 4, "record.put", {"key": "lot/4", "value": {"tag": "mallory"}})])
    forked = sign_ledger_checkpoint(fork, d.node)
    forked = add_signatures(forked, d.witnesses["b"].add_checkpoint(add_checkpoint_request(4, fork.history().consistency_proof(4, 6), forked)))
    policy = parse_policy(d.policy("group both all a b\nquorum both\n"))
    forked_bundle = fork.bundle(transaction_hash(mallory))
    forked_bundle["checkpoint"] = bundle_checkpoint(fork, forked_bundle["head"]["height"], forked)
    with pytest.raises(QuorumNotMet, match="cosigned by b;"):
        verify_bundle_policy(forked_bundle, policy)
    with pytest.raises(QuorumNotMet, match="cosigned by a;"):
        verify_bundle_policy(d.bundle(d.txs[3], honest), policy)
    with pytest.raises(Conflict) as e:  # b, holding the fork at 6, is shown the original from 4
        d.witnesses["b"].add_checkpoint(add_checkpoint_request(4, d.ledger.history().consistency_proof(4, 6), sign_ledger_checkpoint(d.ledger, d.node)))
    assert e.value.held == 6
    fork.close()
    d.close()


# --- offline: coopchain verify --policy with stdlib, numpy and pycryptodome only ------------

OFFLINE_BLOCKED = {"pyomo", "highspy", "pymoo", "cvxpy", "scipy", "pydantic", "fastapi", "rfc8785", "rlp", "trie", "eth_hash",
                   "eth_utils", "nacl", "cryptography", "_cffi_backend", "psycopg", "matplotlib", "sqlite3"}
VERIFY_SCRIPT = """
from coopchain.app.cli import main
code = main(["verify", sys.argv[1], "--policy", sys.argv[2]])
print("loaded:", blocked_loaded())
sys.exit(code)
"""


def test_cli_verify_policy_runs_offline_and_names_the_signers(tmp_path, deployment):
    d = deployment
    (tmp_path / "bundle.json").write_text(json.dumps(d.bundle(d.txs[3], d.cosign("a", "c"))))
    (tmp_path / "policy.txt").write_text(d.policy("group two 2 a b c\nquorum two\n"))
    run = run_blocked(OFFLINE_BLOCKED, VERIFY_SCRIPT, str(tmp_path / "bundle.json"), str(tmp_path / "policy.txt"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "loaded: []" in run.stdout
    assert f"signed by its sender {d.user.public_key.to_text()}" in run.stdout
    assert f"cosigned by witness a ({d.witnesses['a'].identity})" in run.stdout
    assert f"cosigned by witness c ({d.witnesses['c'].identity})" in run.stdout
    assert "not cosigned by witness b" in run.stdout and "quorum 'two': met" in run.stdout
    (tmp_path / "policy.txt").write_text(d.policy("group all3 all a b c\nquorum all3\n"))
    run = run_blocked(OFFLINE_BLOCKED, VERIFY_SCRIPT, str(tmp_path / "bundle.json"), str(tmp_path / "policy.txt"))
    assert run.returncode == 3 and "invalid: checkpoint: cosigned by a, c" in run.stdout
    (tmp_path / "policy.txt").write_text("genesis 00\n")
    run = run_blocked(OFFLINE_BLOCKED, VERIFY_SCRIPT, str(tmp_path / "bundle.json"), str(tmp_path / "policy.txt"))
    assert run.returncode == 2 and "line 1 (genesis)" in run.stderr and "Traceback" not in run.stderr
