"""State-key namespaces (SPEC §2, §4): who may write which keys of the state trie, in one place.

The state is one secure Merkle Patricia Trie (chain.state); its keys are byte
strings, and the first segment of a key says who owns it:

| key | owner | value |
|---|---|---|
| ``nonce:<sender>`` | the chain (admission) | RLP(next nonce) |
| ``alliance:policy`` | the endorsement seal's `alliance` contract | canonical JSON {members, k, sequence} |
| ``balance:<key>``, ``stake:<key>`` | the proof-of-stake seal | RLP(coins), RLP(height of last stake) |
| ``<contract>:<key>`` | the contract named ``<contract>`` | what the contract documents |

A contract reads and writes only through `contract_key`, so one contract cannot
write another's keys (it may read them: the allocation contract reads the
cooperatives contract's roles).  Contract names are lower-case words, and the
chain's own prefixes are reserved so that no contract name can reach them.
"""

from __future__ import annotations

import re

NONCE = b"nonce:"
SEAL_BALANCE = b"balance:"
SEAL_STAKE = b"stake:"

RESERVED = frozenset({"nonce", "balance", "stake", "seal", "chain"})
CONTRACT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def nonce_key(sender: str) -> bytes:
    return NONCE + sender.encode()


def policy_key() -> bytes:
    """The endorsement seal's current policy, kept by the seal's own `alliance` contract."""
    return contract_key("alliance", "policy")


def balance_key(staker: str) -> bytes:
    return SEAL_BALANCE + staker.encode()


def stake_key(staker: str) -> bytes:
    return SEAL_STAKE + staker.encode()


def valid_contract_name(name: object) -> bool:
    return isinstance(name, str) and bool(CONTRACT_NAME.match(name)) and name not in RESERVED


def contract_key(contract: str, key: str) -> bytes:
    """A key of `contract`'s own namespace: ``<contract>:<key>`` (UTF-8)."""
    return contract.encode() + b":" + key.encode()
