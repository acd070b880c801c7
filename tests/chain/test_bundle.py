"""Audit bundles: a real ledger's bundle verifies offline; every altered part is refused with its name."""

import copy
import json

import pytest

from coopchain.chain.block import block_hash, header_json
from coopchain.chain.bundle import InvalidBundle, record_state_value, verify_bundle
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.state import record_key, trie_key
from coopchain.chain.transaction import sign_transaction, transaction_hash
from coopchain.chain.trie import trie_get
from tests.blocked_imports import run_blocked

CHAIN = "bundle-test"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    node, user = PrivateKey.generate("ed25519"), PrivateKey.generate("p256")
    ledger = Ledger.create(f"sqlite:///{folder}/ledger.db", node, CHAIN)
    txs = []
    for i in range(7):
        tx = sign_transaction(user, CHAIN, i, "record.put", {"key": f"lot/{i % 3}", "value": {"tonnes": str(10 * i)}})
        ledger.commit([tx])
        txs.append(tx)
    yield ledger, txs
    ledger.close()


def test_record_value_matches_the_state_transition(chain):
    ledger, txs = chain
    stored = trie_get(ledger.store, ledger.head().state_root, trie_key(record_key("lot/0")))
    assert stored == record_state_value(txs[6])


def test_a_current_record_verifies(chain):
    ledger, txs = chain
    bundle = ledger.bundle(transaction_hash(txs[5]))
    record = verify_bundle(bundle, trusted_genesis=block_hash(ledger.genesis))
    assert (record.height, record.head_height, record.transaction) == (6, 7, txs[5])


def test_the_head_block_itself_verifies(chain):
    ledger, txs = chain
    assert verify_bundle(ledger.bundle(transaction_hash(txs[6]))).height == 7


def test_a_replaced_record_is_refused(chain):
    ledger, txs = chain
    with pytest.raises(InvalidBundle, match="another value"):
        verify_bundle(ledger.bundle(transaction_hash(txs[0])))  # lot/0 was written again by txs[3] and txs[6]


def test_consistency_from_an_earlier_head(chain):
    ledger, txs = chain
    earlier = header_json(ledger.header(3))
    verify_bundle(ledger.bundle(transaction_hash(txs[5]), since=3), earlier_head=earlier)
    with pytest.raises(InvalidBundle, match="consistency: from 2"):
        verify_bundle(ledger.bundle(transaction_hash(txs[5]), since=2), earlier_head=earlier)
    with pytest.raises(InvalidBundle, match="no consistency proof"):
        verify_bundle(ledger.bundle(transaction_hash(txs[5])), earlier_head=earlier)


def test_a_fork_of_the_auditors_earlier_head_is_refused(tmp_path):
    """Two chains share blocks 0 .. 2 and differ at 3: a bundle of one cannot extend the other's head 3."""
    import sqlite3
    from contextlib import closing

    node, user = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    a = Ledger.create(f"sqlite:///{tmp_path}/a.db", node, CHAIN)
    for i in range(2):
        a.commit([sign_transaction(user, CHAIN, i, "record.put", {"key": f"k{i}", "value": i})])
    # SQLite's online backup: a consistent copy whatever the WAL holds (a checkpoint, then a file copy,
    # can lose the race with the store's own checkpointing thread and copy a database without its blocks).
    with closing(sqlite3.connect(tmp_path / "b.db")) as copy:
        a.store.conn.backup(copy)
    a.commit([sign_transaction(user, CHAIN, 2, "record.put", {"key": "pay", "value": "to alice"})])
    held = header_json(a.head())
    b = Ledger.open(f"sqlite:///{tmp_path}/b.db", node)
    mallory = sign_transaction(user, CHAIN, 2, "record.put", {"key": "pay", "value": "to mallory"})
    b.commit([mallory])
    with pytest.raises(InvalidBundle, match="another block at the head's height"):
        verify_bundle(b.bundle(transaction_hash(mallory), since=3), earlier_head=held)
    tx = sign_transaction(user, CHAIN, 3, "record.put", {"key": "z", "value": 1})
    b.commit([tx])
    with pytest.raises(InvalidBundle, match="fork"):
        verify_bundle(b.bundle(transaction_hash(tx), since=3), earlier_head=held)
    a.commit([sign_transaction(user, CHAIN, 3, "record.put", {"key": "z", "value": 2})])
    with pytest.raises(InvalidBundle, match="fork|does not extend"):  # its history already differs at block 3
        verify_bundle(b.bundle(transaction_hash(tx), since=4), earlier_head=header_json(a.head()))
    verify_bundle(a.bundle(_last_tx(a), since=3), earlier_head=held)  # the honest chain extends it


def _last_tx(ledger):
    from coopchain.chain.transaction import decode_transaction

    return transaction_hash(decode_transaction(ledger.transactions(ledger.height())[0]))


def test_an_untrusted_genesis_is_refused(chain):
    ledger, txs = chain
    with pytest.raises(InvalidBundle, match="not the trusted"):
        verify_bundle(ledger.bundle(transaction_hash(txs[5])), trusted_genesis=bytes(32))


def _flip(hex_text: str) -> str:
    return f"{int(hex_text[0], 16) ^ 1:x}" + hex_text[1:]


MUTATIONS = {
    "transaction payload": (lambda b: b["transaction"]["payload"]["value"].update(tonnes="9"), "transaction"),
    "transaction signature": (lambda b: b["transaction"].update(signature=_flip(b["transaction"]["signature"])), "transaction"),
    "transaction proof path": (lambda b: b["transaction_proof"].update(path=[_flip(p) for p in b["transaction_proof"]["path"]] or ["00" * 32]), "transaction_proof"),
    "block proof path": (lambda b: b["block_proof"]["path"].__setitem__(0, _flip(b["block_proof"]["path"][0])), "block_proof"),
    "block proof index": (lambda b: b["block_proof"].update(leaf_index=b["block_proof"]["leaf_index"] - 1), "block_proof"),
    "genesis proof": (lambda b: b["genesis_proof"]["path"].__setitem__(-1, _flip(b["genesis_proof"]["path"][-1])), "genesis_proof"),
    "block timestamp": (lambda b: b["block"].update(timestamp=b["block"]["timestamp"] + 1), "block"),
    "head state root": (lambda b: b["head"].update(state_root=_flip(b["head"]["state_root"])), "head"),
    "genesis node key": (lambda b: b["genesis"]["config"].update(node="ed25519:" + "11" * 32), "genesis|block"),
    "state proof node": (lambda b: b["state_proof"].__setitem__(-1, _flip(b["state_proof"][-1])), "state_proof"),
    "state proof dropped node": (lambda b: b["state_proof"].pop(), "state_proof"),
    "type": (lambda b: b.update(type="coopchain/bundle/v0"), "not an audit bundle"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_every_altered_part_is_refused_by_name(chain, name):
    ledger, txs = chain
    bundle = copy.deepcopy(ledger.bundle(transaction_hash(txs[4])))
    mutate, where = MUTATIONS[name]
    mutate(bundle)
    with pytest.raises(InvalidBundle, match=where):
        verify_bundle(bundle)


OFFLINE_BLOCKED = {"pyomo", "highspy", "pymoo", "cvxpy", "scipy", "pydantic", "fastapi", "rfc8785", "rlp", "trie", "eth_hash",
                   "eth_utils", "nacl", "cryptography", "_cffi_backend", "psycopg", "matplotlib", "sqlite3"}
VERIFY_SCRIPT = """
from coopchain.app.cli import main
code = main(["verify", sys.argv[1]])
print("loaded:", blocked_loaded())
sys.exit(code)
"""


def test_cli_verifies_a_demo_bundle_with_only_stdlib_numpy_and_pycryptodome(demo_folder):
    bundle = demo_folder / "coopchain-bundle.json"  # the suite's one demo run (tests/conftest.py), copied
    check = run_blocked(OFFLINE_BLOCKED, VERIFY_SCRIPT, str(bundle))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "valid: on chain 'coopchain-demo'" in check.stdout and "certificate valid" in check.stdout
    assert "loaded: []" in check.stdout
    doc = json.loads(bundle.read_text())
    doc["transaction"]["payload"]["allocation"]["e01"] = "0.0"
    bundle.write_text(json.dumps(doc))
    check = run_blocked(OFFLINE_BLOCKED, VERIFY_SCRIPT, str(bundle))
    assert check.returncode != 0 and "invalid: transaction" in check.stdout
