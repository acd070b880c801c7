"""Named byte and integer types of the ledger, so signatures say what they carry."""

from typing import NewType

Hash32 = NewType("Hash32", bytes)
"""A 32-byte digest: SHA-256 for blocks, transactions and RFC 6962 trees, Keccak-256 in the state trie."""

Root = NewType("Root", bytes)
"""A 32-byte tree root (RFC 6962 or Merkle Patricia Trie)."""
