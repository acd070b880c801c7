"""The ledger's state and its transitions (SPEC §2, §4).

State lives in a Merkle Patricia Trie (chain.trie) as a secure trie: a state key
such as b"nonce:ed25519:…" is stored under Keccak-256(key), so every path is 64
nibbles whatever the key, and values are RLP.  Two kinds of entry exist now:

- ``nonce:<sender>`` → RLP(next nonce): a transaction must carry exactly that
  nonce, which makes replaying it impossible;
- ``record:<key>`` → RLP([SHA-256 of the canonical value, transaction hash]):
  what a plain ``record`` transaction writes.  The value itself stays in the
  transaction; the state proves which one is current.

Transitions are pure: `transition(view, tx, tx_hash)` returns the changes and
never writes, so a block's changes land with the block or not at all, and a
replay recomputes every state root without a solver or a clock.  Contracts add
kinds to `TRANSITIONS`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import rlp

from coopchain.chain.encoding import canonical
from coopchain.chain.errors import InvalidTransaction, ensure
from coopchain.chain.transaction import Transaction
from coopchain.chain.trie import keccak256, trie_get
from coopchain.chain.types import Hash32, Root


def trie_key(state_key: bytes) -> bytes:
    """The secure-trie path of a state key: Keccak-256 of it."""
    return keccak256(state_key)


def nonce_key(sender: str) -> bytes:
    return b"nonce:" + sender.encode()


def record_key(key: str) -> bytes:
    return b"record:" + key.encode()


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


def record(view: StateView, tx: Transaction, tx_hash: Hash32) -> dict[bytes, bytes]:
    """A plain record: payload {"key": str, "value": any canonical JSON}."""
    payload = tx.payload
    ensure(set(payload) == {"key", "value"}, InvalidTransaction, "a record's payload has exactly the fields key and value")
    ensure(isinstance(payload["key"], str) and payload["key"], InvalidTransaction, "payload.key must be a non-empty string")
    digest = hashlib.sha256(canonical(payload["value"])).digest()
    return {record_key(payload["key"]): rlp.encode([digest, tx_hash])}


def decode_record(value: bytes) -> tuple[bytes, bytes]:
    """(SHA-256 of the recorded value, hash of the transaction that recorded it)."""
    digest, tx_hash = rlp.decode(value)
    return digest, tx_hash


TRANSITIONS: dict[str, Callable[[StateView, Transaction, Hash32], Mapping[bytes, bytes]]] = {"record": record}


def transition(view: StateView, tx: Transaction, tx_hash: Hash32, chain_id: str) -> None:
    """Apply one transaction (signature already checked) to `view.pending`, or refuse it."""
    ensure(tx.chain_id == chain_id, InvalidTransaction, f"the transaction is for chain {tx.chain_id!r}, this is {chain_id!r}")
    expected = next_nonce(view, tx.sender)
    ensure(tx.nonce == expected, InvalidTransaction, f"nonce {tx.nonce} from {tx.sender}: expected {expected} (a replayed or out-of-order transaction)")
    kind = TRANSITIONS.get(tx.kind)
    ensure(kind is not None, InvalidTransaction, f"unknown transaction kind {tx.kind!r}; known: {sorted(TRANSITIONS)}")
    changes = kind(view, tx, tx_hash)
    view.pending.update(changes)
    view.pending[nonce_key(tx.sender)] = rlp.encode(expected + 1)
