"""Audit bundles (SPEC §5, §6): everything an auditor needs to check one transaction offline.

A bundle holds the genesis header (the chain's config and node key), the block
that holds a transaction, the head it is checked against, the transaction and
its receipt, and these proofs: the transaction and its receipt are in their
block (RFC 9162 inclusion against the block's transactions and receipts roots,
at the same position); the block and genesis are in the head's history
(inclusion against the head's history root); the head extends an earlier head
the auditor already holds (an optional RFC 9162 consistency proof); and a state
entry the transaction wrote has a value at the head (a Merkle Patricia Trie
proof against the head's state root).  For a `record.put` the entry is the
record, and its value must still be this transaction's; for a contract's
transaction the bundle names the entry and the verifier returns its proven
value for the caller (the contract's own offline check) to read.

`verify_bundle` imports only the standard library and pycryptodome (signatures,
Keccak-256): the auditor trusts no code of the operator's beyond this module and
the leaf modules it names.  It returns the verified facts; what the payload
means (an allocation and its certificate) is checked by the caller.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from coopchain.chain import merkle
from coopchain.chain.block import Header, block_hash, header_from_json, header_json, signing_bytes
from coopchain.chain.encoding import canonical, hex_bytes
from coopchain.chain.errors import ChainError, InvalidProof, ensure
from coopchain.chain.keys import PublicKey
from coopchain.chain.receipt import Receipt, encode_receipt, receipt_from_json, receipt_json
from coopchain.chain.state_proof import verify_state_proof
from coopchain.chain.transaction import Transaction, encode_transaction, signing_bytes as tx_signing_bytes, transaction_from_json, transaction_hash, transaction_json

BUNDLE_TYPE = "coopchain/bundle/v2"


class InvalidBundle(ChainError):
    """A bundle that does not prove what it claims; the message says which check failed."""


@dataclass(frozen=True)
class VerifiedRecord:
    chain_id: str
    genesis_hash: bytes
    height: int
    head_height: int
    head_hash: bytes
    transaction: Transaction
    receipt: Receipt
    state_key: bytes  # the state key whose value the bundle proves at the head
    state_value: bytes | None  # its value at the head (None: absent)


def _keccak(data: bytes) -> bytes:
    from Crypto.Hash import keccak

    return keccak.new(digest_bits=256, data=data).digest()


def record_state_key(key: str) -> bytes:
    """The secure-trie path of a record (chain.state.record_key, hashed)."""
    return _keccak(b"record:" + key.encode())


def record_state_value(tx: Transaction) -> bytes:
    """RLP([SHA-256 of the canonical value, transaction hash]): what a record transaction stores.

    Written out by hand (two 32-byte strings) so this module needs no RLP package;
    tests check it against chain.state.
    """
    digest = hashlib.sha256(canonical(tx.payload["value"])).digest()
    item = b"\xa0" + digest + b"\xa0" + transaction_hash(tx)  # 0x80 + 32: a 32-byte string, twice
    return bytes([0xF8, len(item)]) + item  # a list of 66 bytes: 0xf7 + one length byte


def make_bundle(genesis: Header, block: Header, head: Header, tx: Transaction, transaction_proof: dict, block_proof: dict | None, genesis_proof: dict | None,
                state_key: bytes, state_proof: list[bytes], consistency: dict | None = None, earlier_head_proof: dict | None = None,
                receipt: Receipt | None = None, receipt_proof: dict | None = None, extra: dict | None = None) -> dict:
    """`extra`: documents the contract's offline check needs (e.g. the problem a certificate is for)."""
    doc = {
        "type": BUNDLE_TYPE,
        "genesis": header_json(genesis),
        "block": header_json(block),
        "head": header_json(head),
        "transaction": transaction_json(tx),
        "transaction_proof": transaction_proof,
        "receipt": receipt_json(receipt),
        "receipt_proof": receipt_proof,
        "block_proof": block_proof,
        "genesis_proof": genesis_proof,
        "state_key": state_key.hex(),
        "state_proof": [node.hex() for node in state_proof],
    }
    if extra:
        doc["extra"] = extra
    if consistency is not None:
        doc["consistency"] = consistency
    if earlier_head_proof is not None:
        doc["earlier_head_proof"] = earlier_head_proof
    return doc


def is_bundle(doc: object) -> bool:
    return isinstance(doc, dict) and doc.get("type") == BUNDLE_TYPE


def verify_bundle(doc: dict, trusted_genesis: bytes | None = None, earlier_head: dict | None = None) -> VerifiedRecord:
    """Check a bundle; raise InvalidBundle with the first reason, else return what it proves.

    `trusted_genesis` pins the chain (its genesis block hash, known out of band);
    `earlier_head` is a head the auditor kept from before, which the bundle's head
    must extend (the bundle then needs its `consistency` proof).
    """
    try:
        return _verify(doc, trusted_genesis, earlier_head)
    except InvalidBundle:
        raise
    except (ChainError, KeyError, TypeError, ValueError) as e:
        raise InvalidBundle(f"{type(e).__name__}: {e}" if not isinstance(e, ChainError) else str(e)) from e


def _verify(doc: dict, trusted_genesis: bytes | None, earlier_head: dict | None) -> VerifiedRecord:
    ensure(is_bundle(doc), InvalidBundle, f"not an audit bundle (type must be {BUNDLE_TYPE!r})")
    genesis, block, head = (header_from_json(doc[name]) for name in ("genesis", "block", "head"))
    ensure(genesis.height == 0 and genesis.config is not None, InvalidBundle, "genesis: not a genesis header")
    genesis_hash = block_hash(genesis)
    if trusted_genesis is not None:
        ensure(genesis_hash == trusted_genesis, InvalidBundle, f"genesis hash {genesis_hash.hex()} is not the trusted {trusted_genesis.hex()}")
    config = genesis.config
    node = PublicKey.from_text(config.node)
    for name, header in (("genesis", genesis), ("block", block), ("head", head)):
        ensure(header.chain_id == config.chain_id, InvalidBundle, f"{name}: chain id {header.chain_id!r}, genesis says {config.chain_id!r}")
        try:
            node.verify(header.signature, signing_bytes(header))
        except ChainError as e:
            raise InvalidBundle(f"{name}: the node's signature does not verify ({e})") from e
        ensure(header.seal.get("kind") == config.seal, InvalidBundle, f"{name}: seal kind {header.seal.get('kind')!r}, genesis fixed {config.seal!r}")
    ensure(block.height <= head.height, InvalidBundle, f"block {block.height} is above the head {head.height}")
    _check_seals(doc, config, block, head)

    tx = transaction_from_json(doc["transaction"])
    ensure(tx.chain_id == config.chain_id, InvalidBundle, "transaction: for another chain")
    try:
        PublicKey.from_text(tx.sender).verify(tx.signature, tx_signing_bytes(tx))
    except ChainError as e:
        raise InvalidBundle(f"transaction: the submitter's signature does not verify ({e})") from e
    proof = merkle.parse_inclusion_proof_json(doc["transaction_proof"])
    ensure(proof.tree_size == block.transaction_count, InvalidBundle, f"transaction_proof: tree size {proof.tree_size}, the block holds {block.transaction_count}")
    _inclusion("transaction_proof", merkle.leaf_hash(encode_transaction(tx)), proof, block.transactions_root)
    receipt = receipt_from_json(doc["receipt"])
    ensure(receipt.transaction == transaction_hash(tx), InvalidBundle, "receipt: it is the receipt of another transaction")
    rproof = merkle.parse_inclusion_proof_json(doc["receipt_proof"])
    ensure((rproof.leaf_index, rproof.tree_size) == (proof.leaf_index, proof.tree_size), InvalidBundle,
           f"receipt_proof: proves leaf {rproof.leaf_index} of {rproof.tree_size}, the transaction is {proof.leaf_index} of {proof.tree_size}")
    _inclusion("receipt_proof", merkle.leaf_hash(encode_receipt(receipt)), rproof, block.receipts_root)

    # The head's history root covers blocks 0 .. head.height − 1.
    for name, header, index in (("block_proof", block, block.height), ("genesis_proof", genesis, 0)):
        if index == head.height:
            ensure(block_hash(header) == block_hash(head), InvalidBundle, f"{name}: the block is the head but differs from it")
            continue
        proof = merkle.parse_inclusion_proof_json(doc[name])
        ensure(proof.leaf_index == index and proof.tree_size == head.height, InvalidBundle, f"{name}: proves leaf {proof.leaf_index} of {proof.tree_size}, need {index} of {head.height}")
        _inclusion(name, merkle.leaf_hash(block_hash(header)), proof, head.history_root)

    if earlier_head is not None:
        old = header_from_json(earlier_head)
        ensure(old.chain_id == config.chain_id, InvalidBundle, "earlier head: another chain")
        node.verify(old.signature, signing_bytes(old))
        ensure("consistency" in doc, InvalidBundle, "the bundle carries no consistency proof from the earlier head")
        c = merkle.parse_consistency_proof_json(doc["consistency"])
        # The earlier head's history root covers blocks 0 .. old.height − 1 (the consistency proof);
        # the earlier head itself must then be leaf old.height of the head's history (or be the head).
        ensure(c.first == old.height and c.second == head.height, InvalidBundle, f"consistency: from {c.first} to {c.second}, need {old.height} to {head.height}")
        try:
            merkle.verify_consistency(c.first, c.second, old.history_root, head.history_root, c.path)
        except InvalidProof as e:
            raise InvalidBundle(f"consistency: the head does not extend the earlier head ({e})") from e
        if old.height == head.height:
            ensure(block_hash(old) == block_hash(head), InvalidBundle, "earlier head: another block at the head's height (a fork)")
        else:
            ensure(isinstance(doc.get("earlier_head_proof"), dict), InvalidBundle, "the bundle carries no inclusion proof of the earlier head")
            proof = merkle.parse_inclusion_proof_json(doc["earlier_head_proof"])
            ensure(proof.leaf_index == old.height and proof.tree_size == head.height, InvalidBundle,
                   f"earlier_head_proof: proves leaf {proof.leaf_index} of {proof.tree_size}, need {old.height} of {head.height}")
            _inclusion("earlier_head_proof (the earlier head is not in this chain: a fork)", merkle.leaf_hash(block_hash(old)), proof, head.history_root)

    state_key = hex_bytes(doc["state_key"], "state_key")
    nodes = [hex_bytes(node, f"state_proof[{i}]") for i, node in enumerate(doc["state_proof"])]
    try:
        value = verify_state_proof(head.state_root, _keccak(state_key), nodes)
    except InvalidProof as e:
        raise InvalidBundle(f"state_proof: {e}") from e
    if tx.kind == "record.put":
        key = tx.payload.get("key")
        ensure(isinstance(key, str) and state_key == b"record:" + key.encode(), InvalidBundle, "state_key: not the key of the record this transaction wrote")
        ensure(receipt.applied, InvalidBundle, f"receipt: the record was not applied ({receipt.code}: {receipt.message})")
        ensure(value == record_state_value(tx), InvalidBundle, f"state_proof: the head's state holds another value for record {key!r} (a later record replaced it)")
    return VerifiedRecord(config.chain_id, genesis_hash, block.height, head.height, block_hash(head), tx, receipt, state_key, value)


def _check_seals(doc: dict, config, block: Header, head: Header) -> None:
    """The seals of the block and the head, offline (chain.seal_evidence).  A signed chain's seal is
    the node's signature, already checked; any other kind's needs the bundle's ``seals`` evidence,
    one entry per header."""
    from coopchain.chain.seal_evidence import SealEvidenceError, verify_seal_offline
    from coopchain.chain.seals import verify_seal

    evidence = doc.get("seals")
    if config.seal == "signed":
        ensure(evidence is None, InvalidBundle, "seals: a signed chain's bundle carries no seal evidence")
    else:
        ensure(isinstance(evidence, list) and len(evidence) <= 2, InvalidBundle,
               f"seals: a {config.seal} chain's bundle carries the evidence of its block's and head's seals, and this one does not")
    by_height = {e.get("height"): e for e in evidence or () if isinstance(e, dict)}
    for name, header in (("block", block), ("head", head)):
        try:
            if config.seal == "signed":
                verify_seal(header, None, config)
            else:
                verify_seal_offline(header, config, by_height.get(header.height))
        except SealEvidenceError as e:
            raise InvalidBundle(f"{name} {header.height}: seal evidence: {e}") from e
        except ChainError as e:
            raise InvalidBundle(f"{name} {header.height}: the {config.seal} seal fails: {e}") from e


def _inclusion(name: str, leaf: bytes, proof, root: bytes) -> None:
    try:
        merkle.verify_inclusion(leaf, proof.leaf_index, proof.tree_size, proof.path, root)
    except InvalidProof as e:
        raise InvalidBundle(f"{name}: {e}") from e
