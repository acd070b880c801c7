"""The ledger's state (SPEC §2, §4): a secure Merkle Patricia Trie read through state keys.

State lives in a Merkle Patricia Trie (chain.trie) as a secure trie: a state key
such as b"nonce:ed25519:…" is stored under Keccak-256(key), so every path is 64
nibbles whatever the key.  Which keys exist and who writes them is listed in
chain.namespaces; how a block changes them is chain.execution.

A `StateView` is the state at one root with a block's pending changes on top,
so a block's changes land with the block or not at all, and a replay
recomputes every state root without a solver or a clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import rlp

from coopchain.chain.namespaces import contract_key, nonce_key
from coopchain.chain.errors import InvalidProof, ensure
from coopchain.chain.state_proof import decode_rlp
from coopchain.chain.trie import keccak256, rlp_encode, trie_get
from coopchain.chain.types import Root

__all__ = ["StateView", "StateCache", "trie_key", "next_nonce", "nonce_key", "record_key", "encode_nonce", "decode_nonce", "encode_record", "decode_record"]


def trie_key(state_key: bytes) -> bytes:
    """The secure-trie path of a state key: Keccak-256 of it."""
    return keccak256(state_key)


def record_key(key: str) -> bytes:
    """Where the built-in `record` contract keeps a record (chain.record)."""
    return contract_key("record", key)


@dataclass
class StateView:
    """The state at `root` with a block's pending changes on top (state keys, not trie paths)."""

    nodes: object  # a node source: get(hash) -> bytes
    root: Root
    pending: dict

    def get(self, key: bytes) -> bytes | None:
        if key in self.pending:
            return self.pending[key]
        return trie_get(self.nodes, self.root, trie_key(key))

    def trie_changes(self) -> dict[bytes, bytes]:
        return {trie_key(k): v for k, v in self.pending.items()}


class StateCache:
    """Values of state keys at one root, read through to the trie and carried from block to block.

    A committer reads the same keys block after block (each sender's nonce, a market day's entry, a
    participant's): three trie walks and three Keccak-256 of the key per market offer, 40 µs of its
    100-odd µs of execution.  A root names its trie's content, so a value read at a root is that
    root's value for good; after a block is written, `advance` applies its changes to the keys held
    and moves to the new root, and a reader for any other root starts empty.  Reads return exactly
    what `trie_get` returns (None for an absent key): verdicts, receipts and roots do not change.
    Only keys read are held (not every key written); past `limit_bytes` of keys and values no more are
    added until the next root this cache does not follow (dict overhead not counted)."""

    def __init__(self, limit_bytes: int = 64 * 2**20) -> None:
        self.root: Root | None = None
        self.values: dict[bytes, bytes | None] = {}
        self.size = 0
        self.limit = limit_bytes
        self._lock = threading.Lock()

    def reader(self, nodes, root: Root) -> Callable[[bytes], bytes | None]:
        """`StateView(nodes, root, {}).get`, served from the values held when this cache is at `root`."""
        with self._lock:
            if self.root != root:
                self.root, self.values, self.size = root, {}, 0
            values = self.values

        def read(key: bytes) -> bytes | None:
            try:
                return values[key]
            except KeyError:
                pass
            value = trie_get(nodes, root, trie_key(key))
            grown = self.size + len(key) + (len(value) if value else 0)
            if values is self.values and self.root == root and grown <= self.limit:  # not emptied or moved on meanwhile
                values[key] = value
                self.size = grown
            return value

        return read

    def advance(self, old_root: Root, new_root: Root, changes: Mapping[bytes, bytes | None]) -> None:
        """The block from `old_root` to `new_root` with these changes (state keys; None or b"" deletes) is written."""
        with self._lock:
            if self.root != old_root:
                self.root, self.values, self.size = None, {}, 0
                return
            values = self.values
            for key, value in changes.items():
                if key in values:
                    old = values[key]
                    values[key] = value or None
                    self.size += (len(value) if value else 0) - (len(old) if old else 0)
            self.root = new_root


def encode_nonce(nonce: int) -> bytes:
    """A `nonce:` entry: RLP of the integer as minimal big-endian bytes (as the `rlp` package's
    big_endian_int; written out because execution does this for every transaction)."""
    return rlp_encode(nonce.to_bytes((nonce.bit_length() + 7) // 8, "big"))


def decode_nonce(value: bytes) -> int:
    """The integer of a `nonce:` entry; InvalidProof if it is not RLP of minimal big-endian bytes."""
    item = decode_rlp(value)
    ensure(type(item) is bytes and item[:1] != b"\x00", InvalidProof, "a nonce entry is not RLP of an integer without leading zeros")
    return int.from_bytes(item, "big")


def next_nonce(view: StateView, sender: str) -> int:
    value = view.get(nonce_key(sender))
    return 0 if value is None else decode_nonce(value)


def encode_record(digest: bytes, tx_hash: bytes) -> bytes:
    """A `record:` entry: RLP([SHA-256 of the canonical value, transaction hash])."""
    return rlp_encode([digest, tx_hash])


def decode_record(value: bytes) -> tuple[bytes, bytes]:
    """(SHA-256 of the recorded value, hash of the transaction that recorded it)."""
    digest, tx_hash = rlp.decode(value)
    return digest, tx_hash
