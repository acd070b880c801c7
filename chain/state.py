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

from dataclasses import dataclass

import rlp

from coopchain.chain.namespaces import contract_key, nonce_key
from coopchain.chain.trie import keccak256, trie_get
from coopchain.chain.types import Root

__all__ = ["StateView", "trie_key", "next_nonce", "nonce_key", "record_key", "decode_record"]


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


def next_nonce(view: StateView, sender: str) -> int:
    value = view.get(nonce_key(sender))
    return 0 if value is None else rlp.sedes.big_endian_int.deserialize(rlp.decode(value))


def decode_record(value: bytes) -> tuple[bytes, bytes]:
    """(SHA-256 of the recorded value, hash of the transaction that recorded it)."""
    digest, tx_hash = rlp.decode(value)
    return digest, tx_hash
