"""Signed transactions (SPEC §2): who submits what, on which chain, in which order.

A transaction is signed by its submitter over the chain id, the submitter's
per-key nonce and the payload, so that it cannot be replayed on this chain
(the nonce must be the next one for that key) nor on another (the chain id is
signed).  Its Merkle leaf is its canonical encoding, signature included; its
hash is the SHA-256 of that encoding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from coopchain.chain.encoding import MAX_SAFE_INTEGER, canonical, canonical_text, decode, hex_bytes
from coopchain.chain.errors import EncodingError, InvalidTransaction, ensure
from coopchain.chain.types import Hash32

TRANSACTION_TYPE = "coopchain/transaction/v1"
_LAST_FIELD = b',"type":"' + TRANSACTION_TYPE.encode() + b'"}'  # the canonical object's last field, after "signature"


@dataclass(frozen=True)
class Transaction:
    """One signed request: `kind` names the state transition, `payload` its arguments."""

    chain_id: str
    sender: str  # public key text, "ed25519:<hex>" or "p256:<hex>"
    nonce: int
    kind: str
    payload: dict
    signature: bytes


def signing_fields(chain_id: str, sender: str, nonce: int, kind: str, payload: dict) -> dict:
    return {"type": TRANSACTION_TYPE, "chain_id": chain_id, "sender": sender, "nonce": nonce, "kind": kind, "payload": payload}


def signing_bytes(tx: Transaction) -> bytes:
    """What the submitter signs: every field but the signature.

    The canonical encoding of `signing_fields`, written out field by field in the canonical order
    (chain_id, kind, nonce, payload, sender, type) around the payload's encoding: a committer
    does this for every transaction.  Anything off the common path takes `canonical`, which
    encodes it or says why not."""
    chain_id, sender, nonce, kind = tx.chain_id, tx.sender, tx.nonce, tx.kind
    if type(chain_id) is str and type(sender) is str and type(kind) is str and type(nonce) is int and -MAX_SAFE_INTEGER <= nonce <= MAX_SAFE_INTEGER:
        try:
            return b"".join((b'{"chain_id":', canonical_text(chain_id), b',"kind":', canonical_text(kind), b',"nonce":', str(nonce).encode("ascii"),
                             b',"payload":', canonical(tx.payload), b',"sender":', canonical_text(sender), _LAST_FIELD))
        except (EncodingError, UnicodeEncodeError):
            pass
    return canonical(signing_fields(chain_id, sender, nonce, kind, tx.payload))


def sign_transaction(key, chain_id: str, nonce: int, kind: str, payload: dict) -> Transaction:
    """A transaction signed with `key` (a chain.keys private key)."""
    sender = key.public_key.to_text()
    message = canonical(signing_fields(chain_id, sender, nonce, kind, payload))
    return Transaction(chain_id, sender, nonce, kind, payload, key.sign(message))


def transaction_json(tx: Transaction) -> dict:
    return {**signing_fields(tx.chain_id, tx.sender, tx.nonce, tx.kind, tx.payload), "signature": tx.signature.hex()}


def encode_transaction(tx: Transaction) -> bytes:
    """The canonical bytes: the Merkle leaf data and what the store keeps."""
    return canonical(transaction_json(tx))


def encode_signed(signing: bytes, signature: bytes) -> bytes:
    """`encode_transaction(tx)` from `signing_bytes(tx)` and the signature, without encoding the payload again.

    The canonical object's keys are sorted (chain_id, kind, nonce, payload, sender, signature, type):
    the signature's field sits just before "type", the last one, whose bytes are fixed.  A committer
    already holds the signing bytes (to check the signature), so a 37 MiB problem document is encoded
    once, not twice."""
    if not signing.endswith(_LAST_FIELD):
        raise EncodingError("not the signing bytes of a transaction (they end with its type)")
    return b"".join((signing[:-len(_LAST_FIELD)], b',"signature":"', signature.hex().encode("ascii"), b'"', _LAST_FIELD))


def transaction_hash(tx: Transaction) -> Hash32:
    return Hash32(hashlib.sha256(encode_transaction(tx)).digest())


def transaction_from_json(doc: Any) -> Transaction:
    """Read a transaction document, checking its shape; the signature is checked elsewhere."""
    ensure(isinstance(doc, dict), InvalidTransaction, "a transaction is a JSON object")
    expected = {"type", "chain_id", "sender", "nonce", "kind", "payload", "signature"}
    ensure(set(doc) == expected, InvalidTransaction, f"a transaction has exactly the fields {sorted(expected)}; got {sorted(doc)}")
    ensure(doc["type"] == TRANSACTION_TYPE, InvalidTransaction, f"type must be {TRANSACTION_TYPE!r}")
    for field in ("chain_id", "sender", "kind"):
        ensure(isinstance(doc[field], str) and doc[field], InvalidTransaction, f"{field} must be a non-empty string")
        # The canonical encoder's limit, checked here so that a transaction read is one encode_transaction takes.
        ensure(_utf8(doc[field]), InvalidTransaction, f"{field} holds a lone surrogate, which has no UTF-8 form")
    nonce = doc["nonce"]
    ensure(isinstance(nonce, int) and not isinstance(nonce, bool) and 0 <= nonce <= MAX_SAFE_INTEGER, InvalidTransaction,
           "nonce must be an integer from 0 to 2^53 − 1")
    ensure(isinstance(doc["payload"], dict), InvalidTransaction, "payload must be a JSON object")
    try:
        canonical(doc["payload"])
        signature = hex_bytes(doc["signature"], "signature")
    except EncodingError as e:
        raise InvalidTransaction(str(e)) from e
    return Transaction(doc["chain_id"], doc["sender"], nonce, doc["kind"], doc["payload"], signature)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_transaction(data: bytes) -> Transaction:
    """The transaction whose canonical bytes are `data`."""
    try:
        return transaction_from_json(decode(data))
    except EncodingError as e:
        raise InvalidTransaction(f"not a canonical transaction: {e}") from e
