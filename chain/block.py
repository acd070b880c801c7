"""Block headers (SPEC §2): the hash-linked record of what the ledger holds.

A header commits to its parent (`previous`), its transactions (an RFC 6962 root
over their canonical encodings), the state after them (the Merkle Patricia
Trie root), and every earlier block (`history_root`, the RFC 6962 root over the
hashes of blocks 0 .. height − 1, so that an auditor holding an old head can
check, by a consistency proof, that the ledger only grew).  Timestamps are
integer microseconds since the Unix epoch and strictly increase.

A header also commits to the receipts of its transactions (`receipts_root`,
the RFC 6962 root over the canonical receipts, chain.receipt): what each
transaction did is as tamper-evident as the transaction.

The genesis header (height 0) alone carries `config`: the chain id, the seal
kind every block must use, its parameters, the node key that signs every
header, and the contracts the chain runs, by name and version (SPEC §4).  The node signs the canonical header without its signature; the block
hash is the SHA-256 of the canonical header with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from coopchain.chain.contract import ContractSpec, spec_from_json, spec_json
from coopchain.chain.encoding import canonical, decode, hex_bytes
from coopchain.chain.errors import EncodingError, InvalidBlock, ensure
from coopchain.chain.types import Hash32, Root

HEADER_TYPE = "coopchain/header/v2"
EMPTY_TREE = Root(hashlib.sha256(b"").digest())  # RFC 6962: the root of an empty tree is SHA-256 of nothing
OLD_HEADER_TYPES = ("coopchain/header/v1",)
ZERO_HASH = Hash32(bytes(32))


class OldFormat(InvalidBlock):
    """A header of an earlier format: this version cannot extend or verify that ledger."""


OLD_FORMAT = ("this ledger was written in the old header format ({old}: no receipts root, no contracts in genesis), "
              "which this version of coopchain does not extend or verify; start a new ledger in another file "
              "(coopchain chain init --db sqlite:///NEW.db --node-key KEY --chain-id ID, or coopchain demo --db sqlite:///NEW.db) "
              "and keep the old file as it is")


@dataclass(frozen=True)
class ChainConfig:
    """What genesis fixes for the life of the chain."""

    chain_id: str
    node: str  # the node's public key text
    seal: str  # the seal kind, e.g. "signed"
    seal_params: dict
    contracts: tuple[ContractSpec, ...] = ()  # by name, sorted


@dataclass(frozen=True)
class Header:
    chain_id: str
    height: int
    previous: Hash32
    timestamp: int  # microseconds since the Unix epoch
    transactions_root: Root
    transaction_count: int
    state_root: Root
    history_root: Root
    seal: dict
    signature: bytes = b""
    config: ChainConfig | None = None  # genesis only
    receipts_root: Root = EMPTY_TREE  # RFC 6962 root over the block's receipts (the empty tree's: no transactions)


def config_json(config: ChainConfig) -> dict:
    return {"chain_id": config.chain_id, "node": config.node, "seal": config.seal, "seal_params": config.seal_params,
            "contracts": [spec_json(spec) for spec in config.contracts]}


def _fields(header: Header) -> dict:
    doc = {
        "type": HEADER_TYPE,
        "chain_id": header.chain_id,
        "height": header.height,
        "previous": header.previous.hex(),
        "timestamp": header.timestamp,
        "transactions_root": header.transactions_root.hex(),
        "transaction_count": header.transaction_count,
        "receipts_root": header.receipts_root.hex(),
        "state_root": header.state_root.hex(),
        "history_root": header.history_root.hex(),
    }
    if header.config is not None:
        doc["config"] = config_json(header.config)
    return doc


def sealing_bytes(header: Header) -> bytes:
    """What a seal works on: every field but the seal and the signature."""
    return canonical(_fields(header))


def signing_bytes(header: Header) -> bytes:
    """What the node signs: every field but the signature."""
    return canonical({**_fields(header), "seal": header.seal})


def header_json(header: Header) -> dict:
    return {**_fields(header), "seal": header.seal, "signature": header.signature.hex()}


def encode_header(header: Header) -> bytes:
    return canonical(header_json(header))


def block_hash(header: Header) -> Hash32:
    return Hash32(hashlib.sha256(encode_header(header)).digest())


def sign_header(header: Header, node_key) -> Header:
    return replace(header, signature=node_key.sign(signing_bytes(header)))


def header_from_json(doc: Any) -> Header:
    """Read a header document, checking its shape (not yet its signature or seal)."""
    try:
        ensure(isinstance(doc, dict), InvalidBlock, "a header is a JSON object")
        if doc.get("type") in OLD_HEADER_TYPES:
            raise OldFormat(OLD_FORMAT.format(old=doc["type"]))
        fields = {"type", "chain_id", "height", "previous", "timestamp", "transactions_root", "transaction_count", "receipts_root", "state_root", "history_root", "seal", "signature"}
        got = set(doc) - {"config"}
        ensure(got == fields, InvalidBlock, f"a header has the fields {sorted(fields)} (and config at genesis); got {sorted(doc)}")
        ensure(doc["type"] == HEADER_TYPE, InvalidBlock, f"type must be {HEADER_TYPE!r}")
        for field in ("height", "timestamp", "transaction_count"):
            value = doc[field]
            ensure(isinstance(value, int) and not isinstance(value, bool) and value >= 0, InvalidBlock, f"{field} must be an integer >= 0")
        ensure(isinstance(doc["chain_id"], str), InvalidBlock, "chain_id must be a string")
        ensure(isinstance(doc["seal"], dict) and isinstance(doc["seal"].get("kind"), str), InvalidBlock, "seal must be an object with a kind")
        config = None
        if "config" in doc:
            c = doc["config"]
            ensure(doc["height"] == 0, InvalidBlock, "only the genesis header carries config")
            ensure(isinstance(c, dict) and set(c) == {"chain_id", "node", "seal", "seal_params", "contracts"}, InvalidBlock, "config has the fields chain_id, node, seal, seal_params, contracts")
            ensure(isinstance(c["node"], str) and isinstance(c["seal"], str) and isinstance(c["seal_params"], dict), InvalidBlock, "config.node and config.seal are strings, config.seal_params an object")
            ensure(isinstance(c["contracts"], list), InvalidBlock, "config.contracts is a list of {name, version, params}")
            specs = tuple(spec_from_json(item, InvalidBlock) for item in c["contracts"])
            ensure([s.name for s in specs] == sorted({s.name for s in specs}), InvalidBlock, "config.contracts: distinct names, sorted")
            config = ChainConfig(c["chain_id"], c["node"], c["seal"], c["seal_params"], specs)
        ensure(doc["height"] > 0 or config is not None, InvalidBlock, "the genesis header must carry config")
        return Header(
            chain_id=doc["chain_id"],
            height=doc["height"],
            previous=Hash32(hex_bytes(doc["previous"], "previous", 32)),
            timestamp=doc["timestamp"],
            transactions_root=Root(hex_bytes(doc["transactions_root"], "transactions_root", 32)),
            transaction_count=doc["transaction_count"],
            receipts_root=Root(hex_bytes(doc["receipts_root"], "receipts_root", 32)),
            state_root=Root(hex_bytes(doc["state_root"], "state_root", 32)),
            history_root=Root(hex_bytes(doc["history_root"], "history_root", 32)),
            seal=doc["seal"],
            signature=hex_bytes(doc["signature"], "signature"),
            config=config,
        )
    except EncodingError as e:
        raise InvalidBlock(str(e)) from e


def decode_header(data: bytes) -> Header:
    try:
        header = header_from_json(decode(data))
    except EncodingError as e:
        raise InvalidBlock(f"not a canonical header: {e}") from e
    return header


def check_link(header: Header, parent: Header) -> None:
    """The rules between a header and its parent: height, hash link, chain id, time."""
    ensure(header.height == parent.height + 1, InvalidBlock, f"height {header.height} follows height {parent.height}")
    ensure(header.previous == block_hash(parent), InvalidBlock, f"previous is {header.previous.hex()}, but block {parent.height} hashes to {block_hash(parent).hex()}")
    ensure(header.chain_id == parent.chain_id, InvalidBlock, f"chain id {header.chain_id!r} differs from {parent.chain_id!r}")
    ensure(header.timestamp > parent.timestamp, InvalidBlock, f"timestamp {header.timestamp} is not after its parent's {parent.timestamp}")
    ensure(header.config is None, InvalidBlock, "only the genesis header carries config")
