"""Which contracts this program runs, and the ledger opened with them (SPEC §4: contracts fixed at genesis).

The one place where the concrete contracts (coopchain.contracts) meet the
ledger (coopchain.chain): chain/ never imports them, and every command, route
and notebook that opens a ledger comes through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coopchain.chain.contract import ContractSet
from coopchain.chain.errors import InvalidTransaction
from coopchain.chain.ledger import Ledger
from coopchain.chain.receipt import Receipt
from coopchain.chain.transaction import sign_transaction, transaction_hash
from coopchain.contracts import contract_set, genesis_specs


def contracts() -> ContractSet:
    """The implementations this program provides (chain/'s own record contract is always added)."""
    return contract_set()


def create_ledger(url: str | None, node_key, chain_id: str, seal: str = "signed", seal_params: dict | None = None,
                  other_keys: Sequence = (), admin: str | None = None) -> Ledger:
    """A new ledger running records, cooperatives and allocations; `admin` (a public key text, default
    the node's) is the key that registers cooperatives."""
    admin = admin or node_key.public_key.to_text()
    return Ledger.create(url, node_key, chain_id, seal, seal_params, other_keys, contracts(), genesis_specs(admin))


def open_ledger(url: str | None, node_key=None, other_keys: Sequence = ()) -> Ledger:
    return Ledger.open(url, node_key, other_keys, contracts())


@dataclass(frozen=True)
class Submitted:
    """A transaction included in a block, with what became of it."""

    transaction: str  # its hash, hex
    height: int
    receipt: Receipt


def submit(ledger: Ledger, key, calls: Sequence[tuple[str, dict]]) -> list[Submitted]:
    """Sign `calls` ((kind, arguments), in order) with `key` at its next nonces and commit them in one block.

    Raises chain.errors.InvalidTransaction when one fails admission (nothing is written)."""
    sender = key.public_key.to_text()
    nonce = ledger.next_nonce(sender)
    txs = [sign_transaction(key, ledger.config.chain_id, nonce + i, kind, args) for i, (kind, args) in enumerate(calls)]
    block = ledger.commit(txs)
    if block.refused:  # a contract faulted on one: the others are in the block, the caller must hear of it
        first = block.refused[0]
        raise refused_after_commit(first.index, first.reason, block)
    return [Submitted(transaction_hash(tx).hex(), block.header.height, receipt) for tx, receipt in zip(txs, block.receipts)]


def refused_after_commit(index: int, reason: str, block) -> InvalidTransaction:
    """The refusal of call `index`, saying what was committed all the same."""
    out = InvalidTransaction(f"transaction {index}: {reason} (refused; the other {len(block.transactions)} were committed in block {block.header.height})")
    out.index, out.reason = index, reason
    return out
