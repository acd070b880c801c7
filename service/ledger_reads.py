"""Reading the ledger as a use case (SPEC §6: blocks, transactions, proofs, audit bundles).

Every read an auditor or the API makes: one block, a page of blocks, one
transaction and where it is, the RFC 9162 inclusion and consistency proofs, a
state proof, an audit bundle.  Refusals are typed: `NotFound` for what the ledger
does not hold, and `ProofRequestError` carrying the RFC 9162 error type
(`firstUnknown`, `secondBeforeFirst`, `hashUnknown`, …, RFC 9162 §5) for proof
requests the log cannot answer.  Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from coopchain.chain.block import block_hash, header_json
from coopchain.chain.errors import ChainError
from coopchain.chain.ledger import Ledger
from coopchain.chain.transaction import decode_transaction, transaction_json
from coopchain.service.caches import PerLedger, Recent

MAX_PAGE = 500
_CACHED_ANSWERS = 20_000  # immutable answers kept per ledger (a header or a proof, 1 to 3 KiB each)


class ReadError(Exception):
    """A read the ledger refuses."""


class NotFound(ReadError):
    """No such block, transaction or record."""


class ProofRequestError(ReadError):
    """A proof the log cannot give; `error_type` is RFC 9162's name for why, `field` the parameter at fault."""

    def __init__(self, error_type: str, field: str, message: str) -> None:
        super().__init__(message)
        self.error_type, self.field = error_type, field


@dataclass(frozen=True)
class BlockView:
    height: int
    hash: str
    header: dict  # chain.block.header_json: every header field, hashes in hex


@dataclass(frozen=True)
class TransactionView:
    hash: str
    height: int
    position: int
    transaction: dict  # chain.transaction.transaction_json


@dataclass(frozen=True)
class Page:
    items: tuple
    count: int  # all items there are, not only this page's
    offset: int
    limit: int


def head_height(ledger: Ledger) -> int:
    return ledger.height()


# Answers that can never change: a stored block, a committed transaction, its receipt, the proof of a
# block in the tree of `size` blocks, a committed transaction's proof.  Decoding a header re-checks
# its canonical encoding (0.1 ms, most of a read); a proof reads O(log n) rows.
_cache: PerLedger[Recent] = PerLedger(lambda: Recent(_CACHED_ANSWERS))


def block(ledger: Ledger, height: int) -> BlockView:
    cache = _cache(ledger)
    view = cache.get(("block", height))
    if view is not None:
        return view
    head = ledger.height()
    if not 0 <= height <= head:
        raise NotFound(f"no block at height {height}; the head is at {head}")
    header = ledger.header(height)
    return cache.put(("block", height), BlockView(height, block_hash(header).hex(), header_json(header)))


def blocks(ledger: Ledger, offset: int = 0, limit: int = 50, newest_first: bool = True) -> Page:
    """A page of blocks; newest first by default (what a dashboard shows)."""
    limit = max(1, min(limit, MAX_PAGE))
    count = ledger.height() + 1
    if newest_first:
        heights = range(count - 1 - offset, max(count - 1 - offset - limit, -1), -1)
    else:
        heights = range(offset, min(offset + limit, count))
    return Page(tuple(block(ledger, h) for h in heights if 0 <= h < count), count, offset, limit)


def _hash(text: str, field: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise ProofRequestError("malformed", field, f"{field} must be a SHA-256 hash in hex (64 digits), got {text[:80]!r}") from None
    if len(value) != 32:
        raise ProofRequestError("malformed", field, f"{field} must be 32 bytes (64 hex digits), got {len(value)} bytes")
    return value


def transaction(ledger: Ledger, tx_hash: str) -> TransactionView:
    digest = _hash(tx_hash, "hash")
    cache = _cache(ledger)
    view = cache.get(("transaction", digest))
    if view is not None:
        return view
    where = ledger.store.transaction_location(digest)
    if where is None:
        raise NotFound(f"no transaction {tx_hash}")
    height, position = where
    body = ledger.transactions(height)[position]
    return cache.put(("transaction", digest), TransactionView(digest.hex(), height, position, transaction_json(decode_transaction(body))))


def block_transactions(ledger: Ledger, height: int, offset: int = 0, limit: int = 50) -> Page:
    block(ledger, height)  # NotFound for a height the ledger does not hold
    limit = max(1, min(limit, MAX_PAGE))
    rows = ledger.store.transaction_rows(height)
    items = tuple(
        TransactionView(digest.hex(), height, position, transaction_json(decode_transaction(body)))
        for position, digest, body, _ in rows[offset : offset + limit]
    )
    return Page(items, len(rows), offset, limit)


@dataclass(frozen=True)
class ReceiptView:
    hash: str  # the transaction's
    height: int
    position: int
    receipt: dict  # chain.receipt.receipt_json


def block_receipts(ledger: Ledger, height: int, offset: int = 0, limit: int = 50) -> Page:
    """A block's receipts in block order: what became of each of its transactions."""
    from coopchain.chain.receipt import decode_receipt, receipt_json

    block(ledger, height)  # NotFound for a height the ledger does not hold
    limit = max(1, min(limit, MAX_PAGE))
    rows = ledger.store.transaction_rows(height)
    items = tuple(ReceiptView(digest.hex(), height, position, receipt_json(decode_receipt(receipt)))
                  for position, digest, _, receipt in rows[offset : offset + limit])
    return Page(items, len(rows), offset, limit)


def transaction_proof(ledger: Ledger, tx_hash: str) -> tuple[int, str, dict]:
    """(height, block hash, RFC 9162 inclusion proof of the transaction in its block's tree)."""
    digest = _hash(tx_hash, "hash")
    cache = _cache(ledger)
    answer = cache.get(("transaction proof", digest))
    if answer is not None:
        return answer
    try:
        height, proof = ledger.transaction_proof(digest)
    except ChainError:
        raise ProofRequestError("hashUnknown", "hash", f"no transaction {tx_hash} in this log") from None
    return cache.put(("transaction proof", digest), (height, block(ledger, height).hash, proof))


def history_size(ledger: Ledger) -> int:
    """Leaves of the history tree (block hashes 0 .. head): the largest tree size a proof can use."""
    return ledger.height() + 1


def block_proof(ledger: Ledger, height: int, tree_size: int | None = None) -> dict:
    """Inclusion of block `height`'s hash in the history tree of `tree_size` blocks (default: all)."""
    size = history_size(ledger)
    tree_size = size if tree_size is None else tree_size
    if not 1 <= tree_size <= size:
        raise ProofRequestError("treeSizeUnknown", "tree_size", f"tree_size {tree_size} is not a size of this log: it lies in 1..{size}")
    if not 0 <= height < tree_size:
        raise ProofRequestError("hashUnknown", "height", f"block {height} is not in the tree of {tree_size} blocks (heights 0..{tree_size - 1})")
    cache = _cache(ledger)
    return cache.get(("block proof", height, tree_size)) or cache.put(("block proof", height, tree_size), ledger.block_proof(height, tree_size))


def consistency_proof(ledger: Ledger, first: int, second: int) -> dict:
    """The history tree of `second` blocks extends that of `first` (RFC 9162 §2.1.4; 0 < first <= second <= size)."""
    size = history_size(ledger)
    if not 1 <= first <= size:
        raise ProofRequestError("firstUnknown", "first", f"first {first} is not a size of this log: it lies in 1..{size}")
    if not 1 <= second <= size:
        raise ProofRequestError("secondUnknown", "second", f"second {second} is not a size of this log: it lies in 1..{size}")
    if second < first:
        raise ProofRequestError("secondBeforeFirst", "second", f"second ({second}) is before first ({first})")
    return ledger.consistency_proof(first, second)


def state_proof(ledger: Ledger, key: str, height: int | None = None) -> tuple[int, str, list[str]]:
    """(height, state root, the RLP trie nodes root to leaf, hex) proving state `key`'s value or absence."""
    head = ledger.height()
    height = head if height is None else height
    if not 0 <= height <= head:
        raise ProofRequestError("treeSizeUnknown", "height", f"no block at height {height}; the head is at {head}")
    if not key or len(key) > 1024:
        raise ProofRequestError("malformed", "key", "key must be a state key of 1 to 1,024 characters, e.g. record:allocation/green-valley/2026-Q4")
    nodes = ledger.state_proof(key.encode(), height)
    return height, ledger.header(height).state_root.hex(), [n.hex() for n in nodes]


def state_key_cooperative(ledger: Ledger, key: str, height: int | None = None) -> str | None:
    """The cooperative a state key belongs to, if any: what decides whether a manager may see its proof.

    Records ``record:allocation/<cooperative>/…`` and ``record:problem/<cooperative>/…``; the
    allocation contract's ``allocation:round/[cooperative, round]``, ``allocation:commit/[…]`` and
    ``allocation:problem/<hash>`` (the registered problem's own cooperative; None while unregistered);
    the cooperatives contract's ``cooperatives:coop/<id>``."""
    import json

    from coopchain.chain.encoding import decode

    contract, _, rest = key.partition(":")
    section, _, tail = rest.partition("/")
    if contract == "allocation" and section in ("round", "commit"):
        try:
            named = json.loads(tail)
        except ValueError:
            return None
        return named[0] if isinstance(named, list) and named and isinstance(named[0], str) else None
    if contract == "allocation" and section == "problem":
        try:
            value = ledger.state(key.encode(), height)
            meta = None if value is None else decode(value)
        except (ChainError, ValueError):
            return None
        return meta.get("cooperative") if isinstance(meta, dict) and isinstance(meta.get("cooperative"), str) else None
    if contract == "cooperatives" and section == "coop":
        return tail or None
    parts = key.split(":", 1)[-1].split("/")
    return parts[1] if len(parts) >= 2 and parts[0] in ("allocation", "problem") else None


def bundle(ledger: Ledger, tx_hash: str, since: int | None = None, checkpoints=None) -> dict:
    """The audit bundle of a record transaction (chain.bundle; `coopchain verify` checks it offline).

    `checkpoints`: a service.checkpoints.CheckpointStore; the bundle then carries the latest published
    checkpoint that covers the transaction (`coopchain verify --policy` needs one)."""
    digest = _hash(tx_hash, "hash")
    if ledger.store.transaction_location(digest) is None:
        raise NotFound(f"no transaction {tx_hash}")
    if since is not None and not 0 < since <= ledger.height():
        raise ProofRequestError("firstUnknown", "since", f"since {since}: an earlier head lies in 1..{ledger.height()}")
    from coopchain.service.bundles import audit_bundle  # any kind: an allocation commit bundles its receipt, entry and problem

    from coopchain.service.checkpoints import SinceBeyondCheckpoint, pinned_bundle

    try:
        return audit_bundle(ledger, digest, since) if checkpoints is None else pinned_bundle(ledger, checkpoints, digest, since)
    except SinceBeyondCheckpoint as e:
        raise ProofRequestError("secondBeforeFirst", "since", str(e)) from e
    except ChainError as e:
        raise NotFound(str(e)) from e


def record_transaction_cooperative(ledger: Ledger, tx_hash: str) -> str | None:
    """The cooperative a record transaction is about (its key allocation/<cooperative>/<round>), if any:
    what decides whether a manager may read it."""
    view = transaction(ledger, tx_hash)
    return cooperative_of(view.transaction)


def cooperative_of(tx: dict) -> str | None:
    payload = tx.get("payload") or {}
    key = payload.get("key") if isinstance(payload, dict) else None
    if isinstance(key, str):
        parts = key.split("/")
        if len(parts) >= 2 and parts[0] in ("allocation", "problem"):
            return parts[1]
    value = payload.get("value") if isinstance(payload, dict) else None
    if isinstance(value, dict) and isinstance(value.get("cooperative"), str):
        return value["cooperative"]
    if isinstance(payload, dict) and isinstance(payload.get("cooperative"), str):
        return payload["cooperative"]
    return None


def receipt(ledger: Ledger, tx_hash: str) -> ReceiptView:
    """What became of a committed transaction; cached as the other immutable answers (a receipt never changes)."""
    from coopchain.chain.receipt import receipt_json

    digest = _hash(tx_hash, "hash")
    cache = _cache(ledger)
    view = cache.get(("receipt", digest))
    if view is not None:
        return view
    if ledger.store.transaction_location(digest) is None:
        raise NotFound(f"no transaction {tx_hash}")
    height, position, found = ledger.receipt(digest)
    return cache.put(("receipt", digest), ReceiptView(digest.hex(), height, position, receipt_json(found)))
