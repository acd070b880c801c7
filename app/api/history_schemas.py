"""Response schemas of a cooperative's history: its commits, its rounds, one round with its amendments."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from coopchain.app.api.schemas import HASH_EXAMPLE, TX_EXAMPLE, Page, example, page_example

_AMENDMENT = "a1c3e5f7092b4d6f8a0c2e4f6b8d0a1c3e5f7092b4d6f8a0c2e4f6b8d0a1c3e5"


def _links(tx: str) -> dict:
    return {"transaction": f"/transactions/{tx}", "receipt": f"/transactions/{tx}/receipt", "proof": f"/proofs/transactions/{tx}",
            "bundle": f"/bundles/{tx}", "round": "/cooperatives/green-valley/rounds/2026-Q4"}


_COMMIT = {"cooperative": "green-valley", "round": "2026-Q4", "sequence": 1, "status": "current", "transaction": _AMENDMENT, "height": 9,
           "timestamp": 1796170000000000, "time": "2026-12-02T05:06:40Z", "sender": "ed25519:" + "cd" * 32, "problem": HASH_EXAMPLE,
           "chosen_by": {"objective": "scalarised", "method": "epsilon", "pick": "knee"}, "supersedes": TX_EXAMPLE,
           "reason": "the water cap of e04 was misread", "values": {"F1": "21000.5", "F2": "0.61", "C": "0.97", "T": "0.38", "F3": "0.71", "class": "primary coordination"},
           "links": _links(_AMENDMENT)}


class CommitLinks(BaseModel):
    """Where to read more about a commit: its transaction, receipt, inclusion proof, audit bundle and round."""

    transaction: str
    receipt: str
    proof: str
    bundle: str = Field(description="the audit bundle: `coopchain verify` checks it offline")
    round: str


class CommitPublic(BaseModel):
    """One allocation commit (a round's first, or an amendment naming the commit it supersedes)."""

    model_config = example(_COMMIT)
    cooperative: str
    round: str
    sequence: int = Field(description="0 for the round's first commit, 1 for its first amendment, …")
    status: Literal["current", "superseded"] = Field(description="current: the round's commit in force; superseded: amended by a later one (it stays on the ledger)")
    transaction: str = Field(description="the commit transaction's hash, hex")
    height: int = Field(description="the block that holds it")
    timestamp: int = Field(description="the block's time, microseconds since the Unix epoch")
    time: str = Field(description="the block's time, ISO 8601 UTC")
    sender: str = Field(description="the manager key that signed it")
    problem: str = Field(description="the registered problem's hash")
    chosen_by: dict[str, Any] = Field(description="how the allocation was chosen: objective, scalarisation method, pick")
    supersedes: str | None = Field(description="the commit this one amends, or null")
    reason: str | None = Field(description="why it amends, or null")
    values: dict[str, str] = Field(description="F1, F2 (with C, T and the coordination class) and F3 as the contract recorded them (decimal strings)")
    links: CommitLinks


class CommitsPublic(Page[CommitPublic]):
    model_config = page_example(_COMMIT, 2)


class RoundCommitPublic(CommitPublic):
    allocation: dict[str, str] = Field(description="enterprise id → volume W, the decimal string committed")


class RoundPublic(BaseModel):
    """A round: every commit in order, the first and its amendments, and which one is current."""

    model_config = example({
        "cooperative": "green-valley", "round": "2026-Q4", "current": _AMENDMENT,
        "commits": [{**_COMMIT, "sequence": 0, "status": "superseded", "transaction": TX_EXAMPLE, "height": 4, "supersedes": None, "reason": None,
                     "links": _links(TX_EXAMPLE), "allocation": {"e01": "120.0", "e02": "80.5"}},
                    {**_COMMIT, "allocation": {"e01": "110.0", "e02": "90.5"}}]})
    cooperative: str
    round: str
    current: str = Field(description="the transaction hash of the round's current commit")
    commits: list[RoundCommitPublic] = Field(description="oldest first: commits[0] is the round's first commit, each later one amends the one before")


_ROUND = {"round": "2026-Q4", "commits": 2, "current": _AMENDMENT, "first_height": 4, "last_height": 9, "url": "/cooperatives/green-valley/rounds/2026-Q4"}


class RoundSummaryPublic(BaseModel):
    model_config = example(_ROUND)
    round: str
    commits: int = Field(description="the first commit and its amendments")
    current: str = Field(description="the transaction hash of the current commit")
    first_height: int
    last_height: int
    url: str


class RoundsPublic(Page[RoundSummaryPublic]):
    model_config = page_example(_ROUND, 1)
