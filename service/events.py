"""An index of the contracts' receipt events, kept per open ledger and advanced block by block.

What a cooperative committed (`allocation_committed`), which market days were
opened (`day_opened`) and who registered in the market (`participant_registered`)
are events in the receipts; the state keeps each commit, day and participant, but
no list of them.  Reading every receipt of the chain on every
request would make a history page cost the whole chain; this index reads each
block once per process and then only the blocks added since (the ledger is
append-only and a block, once stored, is final, so an indexed block never
changes).  Several workers each keep their own.

Only applied transactions carry events, so everything indexed here took effect.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from coopchain.chain.ledger import Ledger
from coopchain.chain.receipt import decode_receipt
from coopchain.service.caches import PerLedger

INDEXED = ("allocation_committed", "day_opened", "participant_registered")
_MARKERS = tuple(name.encode() for name in INDEXED)  # a receipt without one of these names has no event to index


@dataclass(frozen=True)
class IndexedEvent:
    name: str
    height: int
    position: int
    transaction: str  # hex
    data: dict


class _Index:
    def __init__(self) -> None:
        self.height = 0  # blocks 1 .. height are indexed (genesis has no transactions)
        self.events: dict[str, list[IndexedEvent]] = {name: [] for name in INDEXED}
        self.lock = threading.Lock()


_index: PerLedger[_Index] = PerLedger(_Index)


def events(ledger: Ledger, name: str) -> tuple[IndexedEvent, ...]:
    """Every applied event `name` (one of INDEXED) up to the head, oldest first."""
    if name not in INDEXED:
        raise ValueError(f"events {name!r} are not indexed (indexed: {', '.join(INDEXED)})")
    index = _index(ledger)
    with index.lock:
        head = ledger.height()
        for height in range(index.height + 1, head + 1):
            for position, digest, _body, receipt_bytes in ledger.store.transaction_rows(height):
                if not any(marker in receipt_bytes for marker in _MARKERS):
                    continue
                for event in decode_receipt(receipt_bytes).events:
                    if event.name in index.events:
                        index.events[event.name].append(IndexedEvent(event.name, height, position, digest.hex(), dict(event.data)))
            index.height = height
        return tuple(index.events[name])
