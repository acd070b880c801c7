"""The state transition (SPEC §4): admission, then `apply_block`, the one function commit, verify and replay call.

After Ethereum's execution specs (`apply_body` in src/ethereum/forks/cancun/fork.py):
a block's transactions run in order against the state at its parent; every
included transaction gets a receipt, and a transaction whose method rejects it
is still included, its receipt saying why, with no state change but its
sender's nonce.  The block context (chain id, height, time) is the only outside
input; the contracts the chain runs were fixed at genesis.

**Admission** is everything that can be decided before execution: the
signature (checked by the caller, in bulk), the size of the canonical bytes,
the chain id, the kind naming one of the chain's contracts and one of its
methods, the arguments' shape, and the nonce.  A transaction that fails
admission is not included: `commit` refuses the block and says which
transaction and why, and `chain verify` refuses a stored block that holds one.
A method that raises anything but a `Rejection` (a contract's bug) fails
admission too, as a `ContractFault`: what the node cannot execute it does not
include.  `Ledger.commit` drops such a transaction (and its sender's later ones
in the block, whose nonces follow it), says why, and commits the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coopchain.chain.block import ChainConfig
from coopchain.chain.contract import APPLIED, REJECTED, BlockContext, Call, ContractFault, ContractSet, Method, Rejection, Runtime, resolve
from coopchain.chain.errors import ChainError, InvalidTransaction, ensure
from coopchain.chain.namespaces import contract_key, nonce_key
from coopchain.chain.receipt import Receipt
from coopchain.chain.state import decode_nonce, encode_nonce
from coopchain.chain.transaction import Transaction
from coopchain.chain.types import Hash32

# A transaction's canonical bytes may be this long: an allocation of 100,000 enterprises with its
# problem document and certificate takes about 40 MiB.
MAX_TRANSACTION_BYTES = 96 * 2**20


@dataclass(frozen=True)
class State:
    """What a block executes against: the state at its parent (state keys), and the chain's contracts."""

    read: Callable[[bytes], bytes | None]
    runtime: Runtime


@dataclass(frozen=True)
class BlockOutput:
    """What `apply_block` returns: the state changes (state keys → values) and one receipt per transaction."""

    changes: dict[bytes, bytes]
    receipts: tuple[Receipt, ...]


def runtime_for(config: ChainConfig, available: ContractSet) -> Runtime:
    """The contracts a chain runs: those its genesis names, from `available`, and its seal's own."""
    from coopchain.chain.seals import seal_for

    runtime = resolve(config.contracts, available)
    table = dict(runtime.contracts)
    for contract in getattr(seal_for(config.seal), "contracts", ()):
        ensure(contract.name not in table, ChainError, f"contract {contract.name} is the {config.seal} seal's own; genesis cannot name it")
        table[contract.name] = (contract, config.seal_params)
    return Runtime(table)


def genesis_entries(config: ChainConfig, runtime: Runtime) -> dict[bytes, bytes]:
    """The state genesis holds: the seal's entries and each contract's, in their namespaces."""
    from coopchain.chain.seals import seal_for

    seal = seal_for(config.seal)
    seal.check_params(config.seal_params)  # refused with the reason before anything is derived from them
    entries = dict(seal.genesis_state(config.seal_params))
    for spec in config.contracts:
        contract = runtime.contracts[spec.name][0]
        contract.check_params(spec.params)
        entries.update({contract_key(spec.name, key): value for key, value in contract.genesis_state(spec.params).items()})
    return entries


def check_size(index: int, body: bytes) -> None:
    if len(body) > MAX_TRANSACTION_BYTES:
        raise refused(index, InvalidTransaction(f"{len(body):,} bytes; a transaction may take {MAX_TRANSACTION_BYTES:,}"))


def admit(runtime: Runtime, tx: Transaction, chain_id: str) -> tuple[str, Method]:
    """The stateless admission checks: chain id, kind, arguments' shape.  Returns (contract, method)."""
    if tx.chain_id != chain_id:
        raise InvalidTransaction(f"the transaction is for chain {tx.chain_id!r}, this is {chain_id!r}")
    name, method = runtime.method(tx.kind)
    method.shape(tx.payload)
    return name, method


def refused(index: int, error: InvalidTransaction) -> InvalidTransaction:
    """`error` naming the transaction's position, of the same type (a ContractFault stays one);
    `.index` lets a batcher drop it and retry the rest, `.reason` is the sentence without the position."""
    out = type(error)(f"transaction {index}: {error}")
    out.index, out.reason = index, str(error)
    return out


def next_nonce_of(read: Callable[[bytes], bytes | None], sender: str) -> int:
    value = read(nonce_key(sender))
    return 0 if value is None else decode_nonce(value)


def apply_block(state: State, block: BlockContext, transactions: Sequence[tuple[Transaction, Hash32]]) -> BlockOutput:
    """Run a block's transactions (signatures and sizes already checked) in order.

    Raises InvalidTransaction naming the first transaction that fails admission;
    otherwise returns every change and one receipt per transaction."""
    changes: dict[bytes, bytes] = {}

    def read(key: bytes) -> bytes | None:
        return changes[key] if key in changes else state.read(key)

    receipts = []
    for index, (tx, tx_hash) in enumerate(transactions):
        try:
            name, method = admit(state.runtime, tx, block.chain_id)
            expected = next_nonce_of(read, tx.sender)
            if tx.nonce != expected:
                raise InvalidTransaction(f"nonce {tx.nonce} from {tx.sender}: expected {expected} (a replayed or out-of-order transaction)")
        except InvalidTransaction as e:
            raise refused(index, e) from e
        call = Call(name, state.runtime.contracts[name][1], tx.sender, tx_hash, block, read)
        try:
            sentence = method.run(call, tx.payload)
        except Rejection as r:
            receipt = Receipt(tx_hash, REJECTED, r.code, r.message)
        except ChainError as e:
            raise refused(index, ContractFault(f"{tx.kind} failed: {e}")) from e
        except Exception as e:
            # A contract's bug, not a verdict: the node refuses to include what it cannot execute
            # (Ledger.commit drops it and commits the rest).  Whatever it raised: a RecursionError or
            # an AssertionError is no more a receipt than a KeyError.  KeyboardInterrupt and
            # SystemExit are not Exceptions, and stop the commit.
            raise refused(index, ContractFault(f"{tx.kind} failed ({type(e).__name__}: {e})")) from e
        else:
            changes.update(call.writes)
            receipt = Receipt(tx_hash, APPLIED, None, sentence, tuple(call.events))
        changes[nonce_key(tx.sender)] = encode_nonce(expected + 1)
        receipts.append(receipt)
    return BlockOutput(changes, tuple(receipts))
