"""Receipts (SPEC §4): what became of each included transaction, committed in every block header.

Every included transaction gets exactly one receipt, in block order::

    {"type": "coopchain/receipt/v1", "transaction": "<hash hex>", "status": "applied" | "rejected",
     "code": null | "<the failed condition's stable code>", "message": "<a sentence>",
     "events": [{"name": "...", "data": {...}}, ...]}

A rejected receipt carries no events.  The header's `receipts_root` is the RFC
6962 root over the canonical receipts, as `transactions_root` is over the
transactions, so a receipt has an inclusion proof of the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from coopchain.chain import merkle
from coopchain.chain.contract import APPLIED, REJECTED, Event
from coopchain.chain.encoding import canonical, canonical_text, decode, hex_bytes
from coopchain.chain.errors import EncodingError, InvalidBlock, ensure
from coopchain.chain.types import Hash32, Root

RECEIPT_TYPE = "coopchain/receipt/v1"


@dataclass(frozen=True)
class Receipt:
    transaction: Hash32
    status: str  # APPLIED or REJECTED
    code: str | None  # the failed condition's code when rejected
    message: str
    events: tuple[Event, ...] = ()

    @property
    def applied(self) -> bool:
        return self.status == APPLIED


def receipt_json(receipt: Receipt) -> dict:
    return {
        "type": RECEIPT_TYPE,
        "transaction": receipt.transaction.hex(),
        "status": receipt.status,
        "code": receipt.code,
        "message": receipt.message,
        "events": [{"name": e.name, "data": e.data} for e in receipt.events],
    }


_RECEIPT_TAIL = b'","type":"' + RECEIPT_TYPE.encode() + b'"}'


def encode_receipt(receipt: Receipt) -> bytes:
    """canonical(receipt_json(receipt)), written out field by field in the canonical order (code,
    events, message, status, transaction, type; an event's data, name): a block encodes one per
    transaction.  Anything off the common path (a value of another type, a lone surrogate, data
    with no canonical form) takes `canonical`, which encodes it or says why not."""
    code, message, status = receipt.code, receipt.message, receipt.status
    if type(message) is str and type(status) is str and (code is None or type(code) is str) and isinstance(receipt.transaction, bytes):
        try:
            events = []
            for event in receipt.events:
                if type(event.name) is not str or type(event.data) is not dict:
                    break
                data = event.encoded if event.encoded is not None else canonical(event.data)
                events.append(b'{"data":' + data + b',"name":' + canonical_text(event.name) + b"}")
            else:
                return b"".join((b'{"code":', b"null" if code is None else canonical_text(code), b',"events":[', b",".join(events),
                                 b'],"message":', canonical_text(message), b',"status":', canonical_text(status),
                                 b',"transaction":"', receipt.transaction.hex().encode("ascii"), _RECEIPT_TAIL))
        except (EncodingError, UnicodeEncodeError):
            pass
    return canonical(receipt_json(receipt))


def receipt_from_json(doc: Any) -> Receipt:
    """Read a receipt document, checking its shape; InvalidBlock says what is wrong."""
    try:
        ensure(isinstance(doc, dict) and set(doc) == {"type", "transaction", "status", "code", "message", "events"}, InvalidBlock,
               "a receipt has exactly the fields type, transaction, status, code, message and events")
        ensure(doc["type"] == RECEIPT_TYPE, InvalidBlock, f"receipt type must be {RECEIPT_TYPE!r}")
        ensure(doc["status"] in (APPLIED, REJECTED), InvalidBlock, "receipt status is applied or rejected")
        rejected = doc["status"] == REJECTED
        ensure(isinstance(doc["code"], str) if rejected else doc["code"] is None, InvalidBlock, "a rejected receipt carries a code, an applied one none")
        ensure(isinstance(doc["message"], str), InvalidBlock, "receipt message must be a string")
        events = doc["events"]
        ensure(isinstance(events, list) and not (rejected and events), InvalidBlock, "receipt events: a list, empty when rejected")
        parsed = []
        for event in events:
            ensure(isinstance(event, dict) and set(event) == {"name", "data"} and isinstance(event["name"], str) and isinstance(event["data"], dict),
                   InvalidBlock, "an event has exactly a name (string) and data (object)")
            parsed.append(Event(event["name"], event["data"]))
        return Receipt(Hash32(hex_bytes(doc["transaction"], "receipt transaction", 32)), doc["status"], doc["code"], doc["message"], tuple(parsed))
    except EncodingError as e:
        raise InvalidBlock(str(e)) from e


def decode_receipt(data: bytes) -> Receipt:
    try:
        return receipt_from_json(decode(data))
    except EncodingError as e:
        raise InvalidBlock(f"not a canonical receipt: {e}") from e


def receipts_root(encoded: Sequence[bytes]) -> Root:
    """The RFC 6962 root over a block's canonical receipts."""
    return merkle.root([merkle.leaf_hash(body) for body in encoded])
