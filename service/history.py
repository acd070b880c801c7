"""What was committed, by whom, when, with receipts (SPEC §6 `coopchain history`, `coopchain show`).

History reads the chain's receipts: every applied `allocation_committed` event
names a commit, whose entry the state keeps (contracts.allocation).  `show`
takes a block height, a transaction hash or a round (``COOPERATIVE/ROUND``)
and returns what the ledger holds for it, receipts included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coopchain.chain.encoding import decode
from coopchain.chain.ledger import Ledger
from coopchain.chain.namespaces import contract_key
from coopchain.chain.receipt import Receipt, decode_receipt
from coopchain.chain.transaction import decode_transaction, transaction_json
from coopchain.contracts.allocation import NAME, commit_key, round_key
from coopchain.service.events import IndexedEvent, events


class NotFound(LookupError):
    """Nothing on the ledger answers the request; the message says what was looked for."""


@dataclass(frozen=True)
class CommitRecord:
    cooperative: str
    round: str
    sequence: int  # 0 for the first commit of the round, 1 for its first amendment, ...
    transaction: str
    height: int
    timestamp: int  # the block's, microseconds since the epoch
    sender: str
    problem: str
    chosen_by: dict
    supersedes: str | None
    reason: str | None
    values: dict
    current: bool  # the round's current commit (not superseded)
    allocation: dict | None = None  # enterprise id → volume W, a decimal string (as committed)


@dataclass(frozen=True)
class TransactionShow:
    hash: str
    height: int
    position: int
    timestamp: int
    transaction: dict  # its JSON (large arguments shortened for display by the caller)
    receipt: Receipt


@dataclass(frozen=True)
class BlockShow:
    height: int
    hash: str
    header: dict
    transactions: tuple[TransactionShow, ...]


@dataclass(frozen=True)
class RoundShow:
    cooperative: str
    round: str
    commits: tuple[CommitRecord, ...]


def _entry(ledger: Ledger, cooperative: str, round_: str, sequence: int, current: str | None, timestamps: dict) -> CommitRecord:
    e = decode(ledger.state(contract_key(NAME, commit_key(cooperative, round_, sequence))))
    if e["height"] not in timestamps:
        timestamps[e["height"]] = ledger.header(e["height"]).timestamp
    return CommitRecord(cooperative, round_, sequence, e["transaction"], e["height"], timestamps[e["height"]], e["sender"], e["problem"],
                        e["chosen_by"], e["supersedes"], e["reason"], e["values"], e["transaction"] == current, e.get("allocation"))


def history(ledger: Ledger, cooperative: str | None = None) -> list[CommitRecord]:
    """Every allocation commit (of one cooperative, or all), oldest first."""
    rounds, timestamps = {}, {}
    return [_record(ledger, e, rounds, timestamps) for e in commit_events(ledger, cooperative)]


def commit_events(ledger: Ledger, cooperative: str | None = None, round_: str | None = None) -> list[IndexedEvent]:
    """The `allocation_committed` events (of one cooperative, of one round), oldest first: cheap to count and page."""
    return [e for e in events(ledger, "allocation_committed")
            if (cooperative is None or e.data["cooperative"] == cooperative) and (round_ is None or e.data["round"] == round_)]


def _record(ledger: Ledger, event: IndexedEvent, rounds: dict, timestamps: dict) -> CommitRecord:
    coop, rnd = event.data["cooperative"], event.data["round"]
    if (coop, rnd) not in rounds:
        rounds[coop, rnd] = decode(ledger.state(contract_key(NAME, round_key(coop, rnd))))["current"]
    return _entry(ledger, coop, rnd, event.data["sequence"], rounds[coop, rnd], timestamps)


@dataclass(frozen=True)
class HistoryPage:
    commits: tuple[CommitRecord, ...]
    count: int  # the commits there are, not only this page's


def history_page(ledger: Ledger, cooperative: str, offset: int = 0, limit: int = 50, round_: str | None = None) -> HistoryPage:
    """A page of a cooperative's commits (of one round), newest first: only the page's entries are read from the state."""
    found = commit_events(ledger, cooperative, round_)
    chosen = list(reversed(found))[offset:offset + limit]
    rounds, timestamps = {}, {}
    return HistoryPage(tuple(_record(ledger, e, rounds, timestamps) for e in chosen), len(found))


@dataclass(frozen=True)
class RoundSummary:
    cooperative: str
    round: str
    commits: int  # the first commit and its amendments
    current: str  # the current commit's transaction hash
    first_height: int
    last_height: int


def rounds(ledger: Ledger, cooperative: str) -> list[RoundSummary]:
    """A cooperative's committed rounds, the most recently committed first."""
    seen: dict[str, list[IndexedEvent]] = {}
    for e in commit_events(ledger, cooperative):
        seen.setdefault(e.data["round"], []).append(e)
    out = [RoundSummary(cooperative, rnd, len(es), max(es, key=lambda e: e.data["sequence"]).transaction, es[0].height, es[-1].height)
           for rnd, es in seen.items()]
    return sorted(out, key=lambda r: (r.last_height, r.first_height), reverse=True)


def show_round(ledger: Ledger, cooperative: str, round_: str) -> RoundShow:
    value = ledger.state(contract_key(NAME, round_key(cooperative, round_)))
    if value is None:
        raise NotFound(f"round {round_!r} of {cooperative!r} has no commit on this ledger")
    pointer, timestamps = decode(value), {}
    return RoundShow(cooperative, round_, tuple(_entry(ledger, cooperative, round_, i, pointer["current"], timestamps) for i in range(pointer["commits"])))


def show_transaction(ledger: Ledger, tx_hash: bytes) -> TransactionShow:
    where = ledger.store.transaction_location(tx_hash)
    if where is None:
        raise NotFound(f"no transaction {tx_hash.hex()} on this ledger")
    height, position = where
    row = ledger.store.transaction_rows(height)[position]
    return TransactionShow(tx_hash.hex(), height, position, ledger.header(height).timestamp,
                           transaction_json(decode_transaction(row[2])), decode_receipt(row[3]))


def show_block(ledger: Ledger, height: int) -> BlockShow:
    from coopchain.chain.block import block_hash, header_json

    if not 0 <= height <= ledger.height():
        raise NotFound(f"no block {height}: the ledger holds blocks 0 .. {ledger.height()}")
    header = ledger.header(height)
    txs = tuple(TransactionShow(row[1].hex(), height, row[0], header.timestamp, transaction_json(decode_transaction(row[2])), decode_receipt(row[3]))
                for row in ledger.store.transaction_rows(height))
    return BlockShow(height, block_hash(header).hex(), header_json(header), txs)


def show(ledger: Ledger, what: str) -> BlockShow | TransactionShow | RoundShow:
    """A block (its height), a transaction (its 64-hex hash) or a round (COOPERATIVE/ROUND)."""
    if re.fullmatch(r"[0-9]+", what):
        return show_block(ledger, int(what))
    if re.fullmatch(r"[0-9a-f]{64}", what):
        return show_transaction(ledger, bytes.fromhex(what))
    # A cooperative's id may itself hold '/': try each split, the round after the last '/' first.
    cuts = [i for i, c in enumerate(what) if c == "/"]
    for i in reversed(cuts):
        try:
            return show_round(ledger, what[:i], what[i + 1:])
        except NotFound:
            continue
    raise NotFound(f"{what!r} is no block height, transaction hash (64 hex digits) or COOPERATIVE/ROUND with a commit on this ledger")
