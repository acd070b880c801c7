"""The ledger end to end on a real SQLite file: commits, refusals, proofs checked by the RFC verifiers."""

import sqlite3
import time

import pytest

from coopchain.chain import merkle
from coopchain.chain.block import block_hash
from coopchain.chain.contract import ContractFault, ContractSet, ContractSpec, Method
from coopchain.chain.errors import ChainError, InvalidSignature, InvalidTransaction, StorageError
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.namespaces import contract_key
from coopchain.chain.state import decode_record, record_key
from coopchain.chain.transaction import encode_transaction, sign_transaction, transaction_hash
from coopchain.chain.trie import trie_get
from coopchain.chain.state import trie_key
from coopchain.chain.verify import replay_chain, verify_chain

CHAIN = "test-chain"


@pytest.fixture
def node():
    return PrivateKey.generate("ed25519")


@pytest.fixture
def ledger(tmp_path, node):
    led = Ledger.create(f"sqlite:///{tmp_path}/ledger.db", node, CHAIN)
    yield led
    led.close()


@pytest.fixture
def users():
    return [PrivateKey.generate("ed25519"), PrivateKey.generate("p256")]


def record(key, nonce, name="k", value=1, chain=CHAIN):
    return sign_transaction(key, chain, nonce, "record.put", {"key": name, "value": value})


def test_genesis_records_chain_id_seal_and_node_key(ledger, node):
    genesis = ledger.header(0)
    assert (genesis.config.chain_id, genesis.config.seal, genesis.config.node) == (CHAIN, "signed", node.public_key.to_text())
    assert genesis.state_root == bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")


def test_blocks_link_and_roots_match_independent_computation(ledger, users):
    txs = [record(users[0], 0, "a", 1), record(users[1], 0, "b", {"x": "2"})]
    block = ledger.commit(txs)
    assert block.header.previous == block_hash(ledger.header(0))
    # RFC 6962 root of the canonical transactions, computed here from the definition.
    leaves = [merkle.leaf_hash(encode_transaction(tx)) for tx in txs]
    assert block.header.transactions_root == merkle.node_hash(leaves[0], leaves[1])
    assert block.header.history_root == merkle.leaf_hash(block_hash(ledger.header(0)))
    assert block.header.timestamp > ledger.header(0).timestamp
    digest, tx_hash = decode_record(trie_get(ledger.store, block.header.state_root, trie_key(record_key("b"))))
    assert tx_hash == transaction_hash(txs[1])


def test_nonces_refuse_replay_and_gaps(ledger, users):
    ledger.commit([record(users[0], 0)])
    with pytest.raises(InvalidTransaction, match="expected 1"):
        ledger.commit([record(users[0], 0)])  # the same nonce again: a replay
    with pytest.raises(InvalidTransaction, match="expected 1"):
        ledger.commit([record(users[0], 2)])
    ledger.commit([record(users[0], 1), record(users[0], 2)])  # in order within one block
    assert ledger.next_nonce(users[0].public_key.to_text()) == 3


def test_a_bad_transaction_refuses_the_whole_block(ledger, users):
    before = ledger.height()
    good, bad = record(users[0], 0), record(users[1], 5)
    with pytest.raises(InvalidTransaction, match="transaction 1"):
        ledger.commit([good, bad])
    assert ledger.height() == before


def test_another_chains_transaction_is_refused(ledger, users):
    with pytest.raises(InvalidTransaction, match="for chain 'other'"):
        ledger.commit([record(users[0], 0, chain="other")])


def test_a_forged_signature_is_refused(ledger, users):
    tx = record(users[0], 0)
    forged = type(tx)(tx.chain_id, tx.sender, tx.nonce, tx.kind, {"key": "k", "value": 2}, tx.signature)
    with pytest.raises(InvalidTransaction, match="signature"):
        ledger.commit([forged])


def test_unknown_kind_and_bad_payload_are_refused(ledger, users):
    with pytest.raises(InvalidTransaction, match="this chain runs the contracts record"):
        ledger.commit([sign_transaction(users[0], CHAIN, 0, "mint", {})])
    with pytest.raises(InvalidTransaction, match="contract record has no method 'mint'"):
        ledger.commit([sign_transaction(users[0], CHAIN, 0, "record.mint", {})])
    with pytest.raises(InvalidTransaction, match="key and value"):
        ledger.commit([sign_transaction(users[0], CHAIN, 0, "record.put", {"key": "k"})])


def test_committing_needs_the_chains_node_key(tmp_path, ledger):
    with pytest.raises(InvalidSignature, match="not the chain's node key"):
        Ledger.open(f"sqlite:///{tmp_path}/ledger.db", PrivateKey.generate("ed25519"))
    reader = Ledger.open(f"sqlite:///{tmp_path}/ledger.db")
    with pytest.raises(ChainError, match="needs the node key"):
        reader.commit([record(PrivateKey.generate("ed25519"), 0)])


def test_opening_a_missing_or_foreign_database_says_so(tmp_path):
    with pytest.raises(StorageError, match="no ledger"):
        Ledger.open(f"sqlite:///{tmp_path}/absent.db")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE x (y)")
    with pytest.raises(StorageError, match="not a coopchain ledger"):
        Ledger.open(f"sqlite:///{tmp_path}/other.db")


def test_a_second_genesis_is_refused(tmp_path, ledger, node):
    with pytest.raises(StorageError, match="already holds a chain"):
        Ledger.create(f"sqlite:///{tmp_path}/ledger.db", node, CHAIN)


@pytest.mark.parametrize("table", ["blocks", "transactions", "trie_nodes", "history_nodes"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET rowid = rowid", "DELETE FROM {t}"])
def test_sqlite_refuses_update_and_delete(tmp_path, ledger, users, table, statement):
    ledger.commit([record(users[0], 0)])
    conn = sqlite3.connect(tmp_path / "ledger.db")
    sql = statement.format(t=table).replace("rowid = rowid", "hash = hash" if table != "blocks" else "header = header")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(sql)


def test_proofs_verify_with_the_rfc_verifiers(ledger, users):
    for i in range(6):
        ledger.commit([record(users[0], i, f"k{i}", i), record(users[1], i, f"m{i}", i)])
    tx = record(users[0], 6, "k2", "new")
    ledger.commit([tx])
    height, proof = ledger.transaction_proof(transaction_hash(tx))
    header = ledger.header(height)
    parsed = merkle.parse_inclusion_proof_json(proof)
    merkle.verify_inclusion(merkle.leaf_hash(encode_transaction(tx)), parsed.leaf_index, parsed.tree_size, parsed.path, header.transactions_root)
    head = ledger.head()
    for first in range(1, head.height + 1):
        c = merkle.parse_consistency_proof_json(ledger.consistency_proof(first, head.height))
        merkle.verify_consistency(first, head.height, ledger.header(first).history_root, head.history_root, c.path)


def test_verify_and_replay_agree_on_a_clean_chain(ledger, users):
    for i in range(4):
        ledger.commit([record(users[i % 2], i // 2, f"k{i}", i)])
    verified, replayed = verify_chain(ledger.store), replay_chain(ledger.store)
    assert verified == replayed
    assert verified.blocks == 5 and verified.transactions == 4
    assert verified.state_root == ledger.head().state_root


# -- a contract that faults (raises anything but a Rejection) -------------------------------------------


def _recurse(depth: int) -> int:
    return _recurse(depth + 1) + 1


def _fragile_run(call, args: dict) -> str:
    """Writes first, then faults as its argument says: what it wrote must not reach the state."""
    call.put(args["key"], b"half-written")
    how = args["fault"]
    if how == "runtime":
        raise RuntimeError("the contract's own bug")
    if how == "assert":
        assert how == "never", "an assertion in the contract"
    if how == "recursion":
        _recurse(0)
    if how == "zero":
        return str(1 // 0)
    if how == "mutable":  # a bytearray would be shared by the caches and changed in place later
        call.put(args["key"], bytearray(b"changeable"))
    return "written"


class FragileContract:
    """A real contract (chain.contract's interface) whose one method faults on demand."""

    name, version = "fragile", 1
    methods = {"write": Method("write", lambda args: None, _fragile_run, ())}

    def check_params(self, params: dict) -> None:
        pass

    def genesis_state(self, params: dict) -> dict:
        return {}


@pytest.fixture
def fragile(tmp_path, node):
    led = Ledger.create(f"sqlite:///{tmp_path}/fragile.db", node, CHAIN, contracts=ContractSet([FragileContract()]),
                        specs=(ContractSpec("record", 1), ContractSpec("fragile", 1)))
    yield led
    led.close()


def _write(key, nonce, name, fault):
    return sign_transaction(key, CHAIN, nonce, "fragile.write", {"key": name, "fault": fault})


@pytest.mark.parametrize("fault, kind", [("runtime", " (RuntimeError"), ("assert", " (AssertionError"), ("recursion", " (RecursionError"), ("zero", " (ZeroDivisionError"),
                                         ("mutable", ": contract fragile: a state value must be bytes, not bytearray")])
def test_a_faulting_contract_refuses_its_transaction_alone_and_the_block_commits(fragile, users, fault, kind):
    a, b = users
    txs = [record(a, 0, "before", 1), _write(b, 0, "x", fault), record(b, 1, "after-b", 2), record(a, 1, "after-a", 3)]
    block = fragile.commit(txs)
    # Transactions 1 (it faulted) and 2 (b's next nonce follows it) are left out, each with its reason.
    assert [r.index for r in block.refused] == [1, 2]
    assert f"fragile.write failed{kind}" in block.refused[0].reason
    assert "follows transaction 1" in block.refused[1].reason
    # The block holds the other two, as if the refused ones had never been sent: its transaction root
    # is the RFC 6962 root of those two, computed here from the definition.
    assert block.transactions == (txs[0], txs[3])
    leaves = [merkle.leaf_hash(encode_transaction(tx)) for tx in (txs[0], txs[3])]
    assert block.header.transactions_root == merkle.node_hash(leaves[0], leaves[1])
    assert [r.status for r in block.receipts] == ["applied", "applied"]
    # Nothing half-written: not the fault's write, not b's nonce.
    assert fragile.state(contract_key("fragile", "x")) is None
    assert fragile.next_nonce(b.public_key.to_text()) == 0
    assert fragile.next_nonce(a.public_key.to_text()) == 2
    # b sends again from nonce 0, and the chain verifies and replays.
    fragile.commit([_write(b, 0, "x", "none")])
    assert fragile.state(contract_key("fragile", "x")) == b"half-written"
    assert verify_chain(fragile.store, contracts=ContractSet([FragileContract()])) == replay_chain(fragile.store, contracts=ContractSet([FragileContract()]))


def test_a_block_of_faults_alone_is_refused_and_nothing_is_written(fragile, users):
    before = fragile.height()
    with pytest.raises(ContractFault, match=r"transaction 0: fragile.write failed \(RuntimeError") as caught:
        fragile.commit([_write(users[0], 0, "x", "runtime"), _write(users[0], 1, "y", "none")])
    assert caught.value.index == 0
    assert fragile.height() == before


def test_commits_are_checkpointed_into_the_database_file_off_the_commit_path(tmp_path, node, users):
    # The committing connection checkpoints only past 100,000 WAL pages; these few blocks stay far
    # below, so rows reach ledger.db itself (not only ledger.db-wal) through the checkpoint thread.
    path = tmp_path / "ledger.db"
    led = Ledger.create(f"sqlite:///{path}", node, CHAIN)
    try:
        assert led.store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 100_000
        before = path.stat().st_size
        for nonce in range(30):
            led.commit([record(users[0], nonce, f"k{nonce}", "x" * 2000)])
        deadline = time.monotonic() + 20
        while path.stat().st_size <= before + 30 * 2000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size > before + 30 * 2000
        assert led.store.conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 30
    finally:
        led.close()
    again = Ledger.open(f"sqlite:///{path}")
    try:
        assert verify_chain(again.store).blocks == 31
    finally:
        again.close()
