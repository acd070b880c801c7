"""Transactions: submit one signed by the client (batched into blocks), read one by hash and its receipt.

A manager reads only their cooperatives' transactions (others: 404).  The API key
authenticates the caller; the transaction's own signature authorises the change
(the server never holds a submitter's key)."""

from __future__ import annotations

from typing import Annotated

import asyncio
import json

import orjson

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from coopchain.app.api.deps import Allow, LedgerDep, may_see
from coopchain.app.api.errors import ApiError, not_found
from coopchain.app.api.responses import documented
from coopchain.app.api.routes.blocks import tx_public
from coopchain.app.api.schemas import ReceiptPublic, SubmittedBatchPublic, SubmittedPublic, TransactionPublic
from coopchain.chain.errors import InvalidTransaction, StorageError
from coopchain.chain.transaction import transaction_from_json
from coopchain.service import ledger_reads
from coopchain.service.api_store import ApiKey

router = APIRouter(prefix="/transactions", tags=["transactions"])
Reader = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor"))]
Submitter = Annotated[ApiKey, Depends(Allow("admin", "manager", "participant"))]
WAIT_S = 30.0  # the longest a `wait` request holds for its block
TxHash = Annotated[str, Path(min_length=64, max_length=64, pattern="^[0-9a-fA-F]{64}$", description="SHA-256 of the canonical transaction, hex")]


def visible_transaction(ledger, caller: ApiKey, tx_hash: str) -> ledger_reads.TransactionView:
    try:
        view = ledger_reads.transaction(ledger, tx_hash)
    except ledger_reads.NotFound:
        raise not_found(f"transaction {tx_hash}") from None
    if not may_see(caller, ledger_reads.cooperative_of(view.transaction)):
        raise not_found(f"transaction {tx_hash}")
    return view


@router.get("/{tx_hash}", response_model=TransactionPublic, responses=documented(TransactionPublic, 404))
async def read_transaction(tx_hash: TxHash, ledger: LedgerDep, caller: Reader) -> TransactionPublic:
    """One transaction, its block height and position."""
    return tx_public(visible_transaction(ledger, caller, tx_hash))


_TX_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "description": "a signed transaction (docs/api.md: signing)"},
            "example": {"type": "coopchain/transaction/v1", "chain_id": "coopchain-demo", "sender": "ed25519:" + "cd" * 32, "nonce": 0, "kind": "record.put",
                        "payload": {"key": "notes/1", "value": "hello"}, "signature": "ef" * 64}}}}}


async def _submitter_and_body(request: Request):
    """(the submitter, the body's JSON) as both submitting routes begin: 409 on a server that only reads,
    then 422 when the body is not JSON."""
    submitter = request.app.state.submitter
    if submitter is None:
        raise ApiError(409, "not-committing", "this server only reads: start it with COOPCHAIN_NODE_KEY (the node's key file) to commit")
    try:
        return submitter, json.loads(await request.body())
    except (ValueError, RecursionError) as e:
        raise ApiError(422, "invalid-transaction", f"the body is not JSON ({e})", [{"path": "body", "detail": "not JSON"}]) from None


@router.post("", status_code=202, response_model=SubmittedPublic, responses=documented(SubmittedPublic, 409, 413, 503, status=202), openapi_extra=_TX_BODY)
async def submit_transaction(request: Request, caller: Submitter,
                             wait: Annotated[bool, Query(description="answer when the block is committed, with the receipt (200)")] = False) -> Response:
    """Submit a client-signed transaction: admitted (shape, chain id, signature) and acknowledged once it is
    on disk in the pending queue (202), then committed in the next block, cut when enough wait or
    `COOPCHAIN_BATCH_WAIT_MS` pass; with `wait`, the answer (200) carries the block and the receipt."""
    submitter, document = await _submitter_and_body(request)
    try:
        admitted, acknowledged, included = submitter.submit(transaction_from_json(document), wait)
    except InvalidTransaction as e:
        raise _invalid(e) from None
    url = f"/transactions/{admitted.hash}/receipt"
    try:  # acknowledged: in the pending queue, on disk (docs/api.md)
        await acknowledged
    except StorageError as e:
        if included is not None:
            submitter.forget(admitted.hash, included)
        raise ApiError(503, "not-queued", f"{e}; it was not accepted: submit it again", headers={"Retry-After": "1"}) from None
    if included is None:
        return _answer(202, {"hash": admitted.hash, "status": "pending", "url": url})
    # A timer that answers None at the deadline, not asyncio.wait_for: its waiter future, task and
    # callbacks are twice the cost of this, for every transaction.
    deadline = asyncio.get_running_loop().call_later(WAIT_S, _time_out, included)
    try:
        found = await included
    except InvalidTransaction as e:
        raise _invalid(e) from None
    finally:
        deadline.cancel()
    if found is None:
        submitter.forget(admitted.hash, included)
        return _answer(202, {"hash": admitted.hash, "status": "pending", "url": url})
    return _answer(200, {"hash": admitted.hash, "status": "committed", "url": url, "height": found.height, "position": found.position,
                         "receipt": orjson.Fragment(found.receipt)})


def _time_out(included: asyncio.Future) -> None:
    if not included.done():
        included.set_result(None)


_FIELDS = ("type", "chain_id", "sender", "nonce", "kind", "payload", "signature")


def _invalid(e: InvalidTransaction) -> ApiError:
    """422 naming the field at fault: transaction_from_json's reasons begin with the field's name."""
    detail = str(e)
    field = next((f for f in _FIELDS if detail.startswith((f + " ", f + ":"))), None)
    return ApiError(422, "invalid-transaction", detail, [{"path": f"body.{field}" if field else "body", "detail": detail}])


def _answer(status: int, body: dict) -> Response:
    """SubmittedPublic's JSON, written directly: this is the route that takes every transaction, and FastAPI's
    validation and serialisation of the response model cost about a sixth of its CPU (the schema and the
    route's tests keep the shape).  A receipt goes in as the ledger stores it (canonical JSON, chain.receipt:
    receipt_json's document, integers of any size included), not decoded and encoded again."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


MAX_BATCH = 1000  # transactions in one batch request, as many as one block holds by default
_BATCH_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "array", "maxItems": MAX_BATCH, "items": {"type": "object", "description": "a signed transaction (docs/api.md: signing)"}},
    "example": [_TX_BODY["requestBody"]["content"]["application/json"]["example"]]}}}}


@router.post("/batch", status_code=202, response_model=SubmittedBatchPublic, responses=documented(SubmittedBatchPublic, 409, 413, 503, status=202),
             openapi_extra=_BATCH_BODY)
async def submit_batch(request: Request, caller: Submitter,
                       wait: Annotated[bool, Query(description="answer when every transaction is committed or refused, with the receipts (200)")] = False) -> Response:
    """Submit up to 1,000 client-signed transactions in one request: each admitted, acknowledged and committed as
    through `POST /transactions`, and answered in request order; one refused does not refuse the others."""
    submitter, documents = await _submitter_and_body(request)
    if not isinstance(documents, list) or not 0 < len(documents) <= MAX_BATCH:
        detail = f"a batch is a JSON array of 1 to {MAX_BATCH:,} signed transactions"
        raise ApiError(422, "invalid-transaction", detail, [{"path": "body", "detail": detail}])
    # Every item is admitted before any is queued: what is refused is refused before anything is accepted,
    # and the answer says exactly which were.
    admissions: list = []
    for document in documents:
        try:
            admissions.append(submitter.admit(transaction_from_json(document)))
        except InvalidTransaction as e:
            admissions.append(e)
    items: list[dict] = []
    pending = []  # (item, acknowledged, included)
    for index, admission in enumerate(admissions):
        try:
            if isinstance(admission, InvalidTransaction):
                raise admission
            admitted, acknowledged, included = submitter.queue(admission, wait)
        except InvalidTransaction as e:
            items.append({"index": index, "hash": None, "status": "refused", "detail": str(e)})
            continue
        item = {"index": index, "hash": admitted.hash, "status": "pending", "url": f"/transactions/{admitted.hash}/receipt"}
        items.append(item)
        pending.append((item, acknowledged, included))
    outcomes = await asyncio.gather(*(a for _, a, _ in pending), return_exceptions=True)
    if any(isinstance(o, BaseException) for o in outcomes):  # the queue write failed: none of them is accepted
        for item, _, included in pending:
            if included is not None:
                submitter.forget(item["hash"], included)
        raise ApiError(503, "not-queued", "the transactions could not be queued; none was accepted: submit them again", headers={"Retry-After": "1"})
    if not wait:
        return _answer(202, {"data": items, "count": len(items)})
    waits = [included for _, _, included in pending]
    done, not_done = await asyncio.wait(waits, timeout=WAIT_S) if waits else (set(), set())
    for item, _, included in pending:
        if included in not_done:
            included.cancel()
            submitter.forget(item["hash"], included)
        elif isinstance(included.exception(), InvalidTransaction):
            item.update(status="refused", detail=str(included.exception()))
        else:
            found = included.result()
            item.update(status="committed", height=found.height, position=found.position, receipt=orjson.Fragment(found.receipt))
    return _answer(202 if not_done else 200, {"data": items, "count": len(items)})


@router.get("/{tx_hash}/receipt", response_model=ReceiptPublic, responses=documented(ReceiptPublic, 404))
async def read_receipt(tx_hash: TxHash, ledger: LedgerDep, caller: Reader) -> ReceiptPublic:
    """What became of a committed transaction: applied, or rejected with the failed condition's code."""
    visible_transaction(ledger, caller, tx_hash)
    view = ledger_reads.receipt(ledger, tx_hash)
    return ReceiptPublic(hash=view.hash, height=view.height, position=view.position, receipt=view.receipt)
