"""A cooperative's history: its allocation commits (newest first), its rounds, one round with its amendments.

Admin and auditor read every cooperative; a manager reads their own, and another
cooperative's history is 404, exactly as for a cooperative the ledger does not
know (SPEC §6).  The use cases are service.history's."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from coopchain.app.api.deps import Allow, LedgerDep, PageDep, may_see
from coopchain.app.api.errors import not_found
from coopchain.app.api.history_schemas import CommitLinks, CommitPublic, CommitsPublic, RoundCommitPublic, RoundPublic, RoundsPublic, RoundSummaryPublic
from coopchain.app.api.responses import documented
from coopchain.service import history
from coopchain.service.api_store import ApiKey
from coopchain.service.cooperatives import cooperative as read_cooperative

router = APIRouter(prefix="/cooperatives", tags=["history"])
Reader = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor"))]
Cooperative = Annotated[str, Path(min_length=1, max_length=200, description="the cooperative's id, e.g. green-valley")]
Round = Annotated[str, Path(min_length=1, max_length=1000, description="the round, e.g. 2026-Q4 (may hold '/')")]


def round_url(cooperative: str, round_: str) -> str:
    return f"/cooperatives/{quote(cooperative, safe='')}/rounds/{quote(round_, safe='')}"


def _known(ledger, caller: ApiKey, cooperative: str) -> None:
    """404 for a cooperative the ledger does not know and, with the same words, for one the caller may not see."""
    if not may_see(caller, cooperative) or read_cooperative(ledger, cooperative) is None:
        raise not_found(f"cooperative {cooperative!r} on this ledger")


def _time(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def commit_public(c: history.CommitRecord, model=CommitPublic, **extra):
    tx = c.transaction
    links = CommitLinks(transaction=f"/transactions/{tx}", receipt=f"/transactions/{tx}/receipt", proof=f"/proofs/transactions/{tx}",
                        bundle=f"/bundles/{tx}", round=round_url(c.cooperative, c.round))
    return model(cooperative=c.cooperative, round=c.round, sequence=c.sequence, status="current" if c.current else "superseded", transaction=tx,
                 height=c.height, timestamp=c.timestamp, time=_time(c.timestamp), sender=c.sender, problem=c.problem, chosen_by=c.chosen_by,
                 supersedes=c.supersedes, reason=c.reason, values={k: str(v) for k, v in c.values.items()}, links=links, **extra)


def _history(ledger, caller, cooperative, page, round_):
    _known(ledger, caller, cooperative)
    found = history.history_page(ledger, cooperative, page[0], page[1], round_)
    return CommitsPublic(data=[commit_public(c) for c in found.commits], count=found.count, offset=page[0], limit=page[1])


@router.get("/{cooperative_id}/history", response_model=CommitsPublic, responses=documented(CommitsPublic, 404))
async def cooperative_history(cooperative_id: Cooperative, ledger: LedgerDep, caller: Reader, page: PageDep,
                              round: Annotated[str | None, Query(min_length=1, max_length=1000, description="only this round's commits")] = None) -> CommitsPublic:
    """Every allocation the cooperative committed, newest first: who signed it, when, how it was chosen, its values,
    and whether it is its round's current commit or was amended (superseded)."""
    return await run_in_threadpool(_history, ledger, caller, cooperative_id, page, round)


def _rounds(ledger, caller, cooperative, page):
    _known(ledger, caller, cooperative)
    found = history.rounds(ledger, cooperative)
    chosen = found[page[0]:page[0] + page[1]]
    return RoundsPublic(data=[RoundSummaryPublic(round=r.round, commits=r.commits, current=r.current, first_height=r.first_height,
                                                 last_height=r.last_height, url=round_url(cooperative, r.round)) for r in chosen],
                        count=len(found), offset=page[0], limit=page[1])


@router.get("/{cooperative_id}/rounds", response_model=RoundsPublic, responses=documented(RoundsPublic, 404))
async def cooperative_rounds(cooperative_id: Cooperative, ledger: LedgerDep, caller: Reader, page: PageDep) -> RoundsPublic:
    """The cooperative's committed rounds, the most recently committed first, each with its number of commits and its current one."""
    return await run_in_threadpool(_rounds, ledger, caller, cooperative_id, page)


def _round(ledger, caller, cooperative, round_):
    _known(ledger, caller, cooperative)
    try:
        found = history.show_round(ledger, cooperative, round_)
    except history.NotFound:
        raise not_found(f"round {round_!r} of {cooperative!r} with a commit") from None
    commits = [commit_public(c, RoundCommitPublic, allocation={k: str(v) for k, v in (c.allocation or {}).items()}) for c in found.commits]
    return RoundPublic(cooperative=cooperative, round=round_, current=next(c.transaction for c in commits if c.status == "current"), commits=commits)


@router.get("/{cooperative_id}/rounds/{round:path}", response_model=RoundPublic, responses=documented(RoundPublic, 404))
async def cooperative_round(cooperative_id: Cooperative, round: Round, ledger: LedgerDep, caller: Reader) -> RoundPublic:
    """One round: its first commit and every amendment, oldest first, each with its allocation, and which one is current."""
    return await run_in_threadpool(_round, ledger, caller, cooperative_id, round)
