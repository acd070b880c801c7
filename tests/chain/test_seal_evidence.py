"""Seals checked offline in audit bundles (chain/seal_evidence.py): pow, rpca16 and endorsement chains.

The operator holds the node key, so it can re-sign any header it alters: each tamper below re-signs
the head (or alters the evidence) so that the node's signature still verifies and only the seal
check can refuse it.  The failing nonces are chosen with hashlib / chain.x16 here, independently of
the seal code; the endorsement policy in force is read back from the genesis parameters."""

import copy
import hashlib
import json
from dataclasses import replace

import pytest

from coopchain.chain.block import header_from_json, header_json, sealing_bytes, sign_header
from coopchain.chain.bundle import InvalidBundle, verify_bundle
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.seals.endorsement import endorse
from coopchain.chain.seals.work import target_hex
from coopchain.chain.transaction import sign_transaction, transaction_hash
from tests.blocked_imports import run_blocked
from tests.chain.test_bundle import OFFLINE_BLOCKED

CHAIN = "seal-evidence"
EASY = 2**248  # 256 tries a block on average
SECOND = 10**6
WORK = {"target": target_hex(EASY), "interval_ms": 1000, "window": 3}
NODE, USER = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
MEMBERS = [PrivateKey.generate("ed25519") for _ in range(3)]


def make_chain(folder, kind: str) -> tuple[Ledger, list]:
    if kind == "endorsement":
        ledger = Ledger.create(f"sqlite:///{folder}/ledger.db", NODE, CHAIN, seal=kind,
                               seal_params={"members": [m.public_key.to_text() for m in MEMBERS], "k": 2}, other_keys=MEMBERS[:2])
    else:
        ledger = Ledger.create(f"sqlite:///{folder}/ledger.db", NODE, CHAIN, seal=kind, seal_params=WORK)
    txs = []
    for i in range(6):
        txs.append(sign_transaction(USER, CHAIN, i, "record.put", {"key": f"lot/{i}", "value": i}))
        ledger.commit([txs[-1]], timestamp=ledger.head().timestamp + SECOND)
    return ledger, txs


_BUNDLES: dict = {}


def bundle_of(kind: str, tmp_path_factory) -> tuple[str, dict]:
    """The bundle of the record in block 2 against the head at 6, built once per seal for the module."""
    if kind not in _BUNDLES:
        ledger, txs = make_chain(tmp_path_factory.mktemp(kind), kind)
        _BUNDLES[kind] = ledger.bundle(transaction_hash(txs[1]))
        ledger.close()
    return kind, _BUNDLES[kind]


@pytest.fixture(scope="module", params=["pow", "rpca16", "endorsement"])
def bundle(request, tmp_path_factory):
    return bundle_of(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=["pow", "rpca16"])
def work_bundle(request, tmp_path_factory):
    return bundle_of(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def endorsement_bundle(tmp_path_factory):
    return bundle_of("endorsement", tmp_path_factory)


def resign_head(doc: dict, seal: dict) -> dict:
    """The operator's forgery: the head with another seal, signed again with the node key."""
    out = copy.deepcopy(doc)
    head = replace(header_from_json(doc["head"]), seal=seal)
    out["head"] = header_json(sign_header(head, NODE))  # its evidence (parent side) is unchanged
    return out


def refused(doc: dict, match: str) -> None:
    with pytest.raises(InvalidBundle, match=match):
        verify_bundle(doc)


def test_an_honest_bundle_verifies_with_both_seals_checked(bundle):
    kind, doc = bundle
    assert [e["height"] for e in doc["seals"]] == [2, 6]
    verify_bundle(doc)


def test_a_bundle_without_seal_evidence_is_refused(bundle):
    kind, doc = bundle
    refused({k: v for k, v in doc.items() if k != "seals"}, f"seals: a {kind} chain's bundle carries the evidence")
    one = copy.deepcopy(doc)
    one["seals"] = one["seals"][:1]
    refused(one, "head 6: seal evidence: seal evidence is an object")


def test_evidence_headers_that_do_not_link_are_refused(bundle):
    kind, doc = bundle
    bad = copy.deepcopy(doc)
    bad["seals"][1]["headers"][-1]["timestamp"] += 1  # the parent of the head, altered
    refused(bad, "head 6: seal evidence: the evidence's block 5 is not the one block 6 links to")


def test_missing_window_or_state_is_named(bundle):
    kind, doc = bundle
    bad = copy.deepcopy(doc)
    if kind == "endorsement":
        bad["seals"][1]["state"] = []
        refused(bad, "head 6: seal evidence: the seal reads state entry")
    else:
        bad["seals"][1]["headers"] = bad["seals"][1]["headers"][1:]  # the window's oldest header dropped
        refused(bad, "head 6: seal evidence: the seal reads block 2, which the evidence does not carry")


def sha256d(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(hashlib.sha256(data).digest()).digest(), "big")


def failing_nonce(kind: str, head) -> int:
    """A nonce whose work hash is not below the head's target, found with the hash functions directly."""
    from coopchain.chain import x16

    target = int(head.seal["target"], 16)
    for nonce in range(10_000):
        data = sealing_bytes(head) + nonce.to_bytes(8, "big")
        value = sha256d(data) if kind == "pow" else int.from_bytes(x16.rpca16(data, head.previous), "big")
        if value >= target:
            return nonce
    raise AssertionError("no failing nonce")


@pytest.mark.parametrize("tamper", ["nonce", "easier target"])
def test_a_work_seal_forged_by_the_operator_is_refused(work_bundle, tamper):
    kind, doc = work_bundle
    head = header_from_json(doc["head"])
    if tamper == "nonce":
        seal = {**head.seal, "nonce": failing_nonce(kind, head)}
        refused(resign_head(doc, seal), f"head 6: the {kind} seal fails: target not met")
    else:  # every hash is below 2^256 - 1: no work at all, with a target the retarget never gives
        seal = {**head.seal, "target": "f" * 64, "nonce": 0}
        refused(resign_head(doc, seal), f"head 6: the {kind} seal fails: target not the retargeted one")


def test_endorsements_forged_by_the_operator_are_refused(endorsement_bundle):
    kind, doc = endorsement_bundle
    head = header_from_json(doc["head"])
    message = sealing_bytes(head)
    one = {"kind": kind, "endorsements": endorse(MEMBERS[:1], message)}
    refused(resign_head(doc, one), "head 6: the endorsement seal fails: 1 endorsements; the policy needs 2 of 3")
    stranger = {"kind": kind, "endorsements": endorse([MEMBERS[0], PrivateKey.generate("ed25519")], message)}
    refused(resign_head(doc, stranger), "is not a current member")
    wrong = {"kind": kind, "endorsements": endorse(MEMBERS[:2], message + b"x")}
    refused(resign_head(doc, wrong), "endorsement 0 by .* does not verify")


def test_a_policy_proof_that_does_not_match_the_parent_state_is_refused(endorsement_bundle):
    """The operator swaps in a policy of k = 1 with a proof of its own: the parent's state root refuses it."""
    kind, doc = endorsement_bundle
    bad = copy.deepcopy(doc)
    proof = bad["seals"][1]["state"][0]["proof"]
    last = bytearray(bytes.fromhex(proof[-1]))
    at = bytes(last).find(b'"k":2')
    assert at > 0  # the policy document {"k":2,...} in the leaf (canonical JSON)
    last[at + 4] = ord("1")
    proof[-1] = bytes(last).hex()
    refused(bad, "head 6: seal evidence: state entry 0 .* is not proven at block 5's state root")


def test_the_cli_verifies_seals_offline_with_only_stdlib_and_pycryptodome(bundle, tmp_path):
    kind, doc = bundle
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(doc))
    script = 'from coopchain.app.cli import main\ncode = main(["verify", sys.argv[1]])\nprint("loaded:", blocked_loaded())\nsys.exit(code)\n'
    check = run_blocked(OFFLINE_BLOCKED, script, str(path))
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"the {kind} seals of the block and the head checked offline" in check.stdout and "loaded: []" in check.stdout



def test_verify_under_a_policy_names_the_endorsers(tmp_path, capsys):
    """An endorsement chain's bundle as the API serves it (with a checkpoint a witness cosigned):
    `verify --policy` names the members who endorsed the block and the head (the node holds the
    genesis policy's first two members, so they endorse every block)."""
    from coopchain.app.cli import main
    from coopchain.chain.block import block_hash
    from coopchain.chain.checkpoint import ledger_origin, node_note_key
    from coopchain.chain.witness import Witness, WitnessStore
    from coopchain.service.checkpoints import CheckpointStore, pinned_bundle, publish

    ledger, txs = make_chain(tmp_path, "endorsement")
    key = PrivateKey.generate("ed25519")
    witness = WitnessStore.create(tmp_path / "w.db", "w.example/w", key.public_key)
    witness.follow(ledger_origin(ledger), node_note_key(ledger))
    store = CheckpointStore(f"sqlite:///{tmp_path}/ledger.db")
    publish(ledger, [("w", lambda body: (200, Witness(witness, key).add_checkpoint(body)))], store)
    (tmp_path / "bundle.json").write_text(json.dumps(pinned_bundle(ledger, store, transaction_hash(txs[1]))))
    (tmp_path / "policy").write_text(f"genesis {block_hash(ledger.genesis).hex()}\nlog {node_note_key(ledger).vkey()}\n"
                                     f"witness w {witness.identity().vkey()}\nquorum w\n")
    store.close()
    witness.close()
    ledger.close()
    assert main(["verify", str(tmp_path / "bundle.json"), "--policy", str(tmp_path / "policy")]) == 0
    out = capsys.readouterr().out
    endorsers = ", ".join(m.public_key.to_text() for m in MEMBERS[:2])
    assert f"  block 2: endorsed by {endorsers}\n" in out and f"  block 6: endorsed by {endorsers}\n" in out
    assert "the endorsement seals of the block and the head checked offline" in out
