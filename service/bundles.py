"""Audit bundles of any transaction (SPEC §5, §6): the chain's proofs plus what its contract's offline check needs.

A `record.put` proves its record; an `allocation.commit_allocation` proves its
commit entry (contracts.allocation) and carries the problem document its
certificate is for; any other transaction proves its sender's nonce entry.
"""

from __future__ import annotations

from coopchain.chain.errors import ChainError
from coopchain.chain.ledger import Ledger
from coopchain.chain.namespaces import contract_key, nonce_key
from coopchain.chain.transaction import decode_transaction
from coopchain.contracts.allocation import NAME, commit_key, document_key


def audit_bundle(ledger: Ledger, tx_hash: bytes, since: int | None = None, head: int | None = None) -> dict:
    """`head`: the height of the head to prove against (default the current head)."""
    where = ledger.store.transaction_location(tx_hash)
    if where is None:
        raise ChainError(f"no transaction {tx_hash.hex()}")
    height, position = where
    tx = decode_transaction(ledger.transactions(height)[position])
    if tx.kind == "record.put":
        return ledger.bundle(tx_hash, since, head_height=head)
    _, _, receipt = ledger.receipt(tx_hash)
    if tx.kind == f"{NAME}.commit_allocation" and receipt.applied:
        event = next(e for e in receipt.events if e.name == "allocation_committed")
        key = contract_key(NAME, commit_key(event.data["cooperative"], event.data["round"], event.data["sequence"]))
        problem = ledger.state(contract_key(NAME, document_key(tx.payload["problem"])), head)
        return ledger.bundle(tx_hash, since, state_key=key, extra={"problem": problem.decode("utf-8")}, head_height=head)
    return ledger.bundle(tx_hash, since, state_key=nonce_key(tx.sender), head_height=head)
