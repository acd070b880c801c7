"""A client of coopchain's HTTP API for commands that write through a server (`coopchain commit --api`).

The server never holds a manager's key: the client reads the chain id (`GET /health`) and its
key's next nonce (`GET /accounts/{key}`), signs locally, and submits to
`POST /transactions?wait=true`, or several at once (a problem's registration and its commit) to
`POST /transactions/batch?wait=true`.  The state a commit depends on (is the problem registered, is
the round committed) is read as state proofs (`GET /proofs/state`) and each proof is checked
here against the state root it names, so a server cannot answer with a value its own trie does
not hold.  Every failure is one `ApiClientError` carrying what a person needs: the server's
problem+json title, detail and the field at fault, or why the server could not be reached.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from coopchain.chain.errors import ChainError
from coopchain.chain.receipt import Receipt, receipt_from_json
from coopchain.chain.state import trie_key
from coopchain.chain.transaction import Transaction, transaction_json

TIMEOUT_S = 120.0
RECEIPT_WAIT_S = 120.0  # how long a pending transaction's receipt is polled for after the server's own wait


class ApiClientError(Exception):
    """The server refused, answered nonsense, or could not be reached; the message says which and why."""

    def __init__(self, message: str, status: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.field = status, field


@dataclass(frozen=True)
class Committed:
    """A submitted transaction in its block, with its receipt (as service.wiring.Submitted)."""

    transaction: str
    height: int
    receipt: Receipt


def _refusal(url: str, response: httpx.Response) -> ApiClientError:
    """A 4xx/5xx answer as one sentence: problem+json's title and detail, and the fields at fault."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        fields = [e for e in body.get("errors") or [] if isinstance(e, dict) and e.get("path")]
        text = f"the API at {url} refused {response.request.method} {response.request.url.path} ({response.status_code} {body.get('title', '')}): {body['detail']}"
        if fields:
            text += "".join(f"\n  field {e['path']}: {e.get('detail', '')}" for e in fields[:5])
        return ApiClientError(text, response.status_code, fields[0]["path"] if fields else None)
    return ApiClientError(f"the API at {url} answered {response.request.method} {response.request.url.path} with {response.status_code} "
                          f"{response.reason_phrase}: {response.text[:200]!r}", response.status_code)


class ApiClient:
    """One server, one API key."""

    def __init__(self, url: str, api_key: str, timeout: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers={"X-API-Key": api_key}, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise ApiClientError(f"cannot reach the API at {self.url}: {e or type(e).__name__}") from None
        if response.status_code not in ok:
            raise _refusal(self.url, response)
        return response

    def _json(self, response: httpx.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiClientError(f"{response.request.url}: the answer is not a JSON object; is {self.url} a coopchain API?")
        return body

    def chain_id(self) -> str:
        body = self._json(self._call("GET", "/health"))
        if not isinstance(body.get("chain_id"), str):
            raise ApiClientError(f"{self.url}/health names no chain id; is it a coopchain API?")
        return body["chain_id"]

    def next_nonce(self, public_key: str) -> int:
        """The nonce the key's next transaction must carry, as the chain's state says."""
        body = self._json(self._call("GET", f"/accounts/{quote(public_key, safe=':')}"))
        nonce = body.get("next_nonce")
        if not isinstance(nonce, int) or isinstance(nonce, bool) or nonce < 0:
            raise ApiClientError(f"the server's account answer carries no next_nonce: {body!r:.200}")
        return nonce

    def state(self, key: bytes) -> bytes | None:
        """A state key's value at the head, or None when absent (or not the caller's to see: the server
        answers 404 for both).  The trie proof is checked against the state root it comes with."""
        from coopchain.chain.state_proof import verify_state_proof

        response = self._call("GET", "/proofs/state", ok=(200, 404), params={"key": key.decode()})
        if response.status_code == 404:
            return None
        body = self._json(response)
        try:
            return verify_state_proof(bytes.fromhex(body["state_root"]), trie_key(key), [bytes.fromhex(n) for n in body["nodes"]])
        except (KeyError, TypeError, ValueError, ChainError) as e:
            raise ApiClientError(f"the server's proof of state key {key.decode()!r} does not check: {e}") from None

    def submit(self, tx: Transaction) -> Committed:
        """Submit a signed transaction and wait for its block; its receipt."""
        body = self._json(self._call("POST", "/transactions", ok=(200, 202), params={"wait": "true"}, json=transaction_json(tx)))
        if body.get("status") != "committed":  # the server's wait ran out: poll the receipt
            body = self._receipt(body.get("hash"), body.get("url"))
        try:
            return Committed(body["hash"], body["height"], receipt_from_json(body["receipt"]))
        except (KeyError, TypeError, ValueError, ChainError) as e:
            raise ApiClientError(f"the server's answer for transaction {body.get('hash')} is not a receipt: {e}") from None

    def submit_all(self, txs: list[Transaction]) -> list[Committed]:
        """Submit signed transactions in one request (`POST /transactions/batch?wait=true`, queued in this
        order, so consecutive nonces land in order) and wait for their blocks; their receipts, in order.
        A refused one raises ApiClientError naming it (the server's reason)."""
        if len(txs) == 1:
            return [self.submit(txs[0])]
        body = self._json(self._call("POST", "/transactions/batch", ok=(200, 202), params={"wait": "true"}, json=[transaction_json(tx) for tx in txs]))
        items = body.get("data")
        if not isinstance(items, list) or len(items) != len(txs) or not all(isinstance(item, dict) for item in items):
            raise ApiClientError(f"the server's answer to a batch of {len(txs)} transactions does not list each of them: {body!r:.200}")
        done = []
        for i, item in enumerate(items):
            if item.get("status") == "refused":
                # As a single request's refusal reads (_refusal), with the item's place in the batch.
                raise ApiClientError(f"the API at {self.url} refused transaction {i + 1} of {len(txs)} of POST /transactions/batch (422 Invalid request): "
                                     f"{item.get('detail')}\n  field body[{i}]: {item.get('detail')}", 422, f"body[{i}]")
            if item.get("status") != "committed":  # the server's wait ran out: poll the receipt
                item = self._receipt(item.get("hash"), item.get("url"))
            try:
                done.append(Committed(item["hash"], item["height"], receipt_from_json(item["receipt"])))
            except (KeyError, TypeError, ValueError, ChainError) as e:
                raise ApiClientError(f"the server's answer for transaction {item.get('hash')} is not a receipt: {e}") from None
        return done

    def _receipt(self, digest: object, url: object) -> dict:
        if not isinstance(url, str) or not url.startswith("/transactions/"):
            raise ApiClientError(f"the server accepted transaction {digest} but names no receipt to wait for")
        deadline = time.monotonic() + RECEIPT_WAIT_S
        while time.monotonic() < deadline:
            response = self._call("GET", url, ok=(200, 404))
            if response.status_code == 200:
                return self._json(response)
            time.sleep(0.25)
        raise ApiClientError(f"transaction {digest} was accepted but not committed within {RECEIPT_WAIT_S:.0f} s; "
                             f"its receipt will be at {self.url}{url}")
