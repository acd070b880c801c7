"""The village energy market, read side: the participants, the days, a day, its posted offers, its clearing (SPEC §4, §6).

Market participants, auditors and admins read every day; a manager reads the days of
their own cooperatives (another's is 404, as for a day that does not exist).  The
participants' registrations belong to the village, not to a cooperative: every role reads them.  The use
cases are service.market's; figures are exact fractions on the ledger, served as
floats for charts and as "n/d" strings (str of a Fraction; "n" when whole) for checking."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool

from coopchain.app.api.deps import Allow, LedgerDep, PageDep, may_see, scope_of
from coopchain.app.api.errors import not_found
from coopchain.app.api.market_schemas import (
    ClearingPublic, DayPublic, DaysPublic, DaySummaryPublic, OfferPublic, OffersPublic, ParticipantPublic, ParticipantsPublic, SettlementPublic,
)
from coopchain.app.api.responses import documented
from coopchain.service import market
from coopchain.service.api_store import ApiKey

router = APIRouter(prefix="/market", tags=["market"])
Reader = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor", "participant"))]
Market = Annotated[str, Path(min_length=1, max_length=100, description="the market day's id, e.g. rice-village-2026-10-03")]


def day_url(market_id: str) -> str:
    return f"/market/days/{quote(market_id, safe='')}"


def _visible_day(ledger, caller: ApiKey, market_id: str) -> market.DayView:
    try:
        view = market.day(ledger, market_id)
    except market.MarketError:
        raise not_found(f"market day {market_id!r} on this ledger") from None
    if not may_see(caller, view.cooperative):
        raise not_found(f"market day {market_id!r} on this ledger")
    return view


def _days(ledger, caller, page):
    found = market.days(ledger, scope_of(caller))
    return DaysPublic(data=[DaySummaryPublic(market=d.market, cooperative=d.cooperative, periods=d.periods, period_minutes=d.period_minutes,
                                             opened=d.opened, gate=d.gate, participants=d.participants, cleared=d.cleared, url=day_url(d.market))
                            for d in found[page[0]:page[0] + page[1]]], count=len(found), offset=page[0], limit=page[1])


@router.get("/days", response_model=DaysPublic, responses=documented(DaysPublic))
async def list_days(ledger: LedgerDep, caller: Reader, page: PageDep) -> DaysPublic:
    """The market days opened on this ledger, the most recently opened first (a manager's: their cooperatives' only)."""
    return await run_in_threadpool(_days, ledger, caller, page)


def _offers(ledger, caller, market_id, page):
    _visible_day(ledger, caller, market_id)
    found = market.offers(ledger, market_id)
    return OffersPublic(data=[OfferPublic(participant=o.participant, kind=o.kind, owner=o.owner, data=dict(o.data), offer=dict(o.offer),
                                          height=o.height, transaction=o.transaction) for o in found[page[0]:page[0] + page[1]]],
                        count=len(found), offset=page[0], limit=page[1])


# The sub-resources come before the day itself: a day's id may hold '/', and `{market:path}` would take them.
@router.get("/days/{market_id:path}/offers", response_model=OffersPublic, responses=documented(OffersPublic, 404))
async def day_offers(market_id: Market, ledger: LedgerDep, caller: Reader, page: PageDep) -> OffersPublic:
    """The offers and bids posted for the day (each participant's last post before the gate), in first-post order."""
    return await run_in_threadpool(_offers, ledger, caller, market_id, page)


def _clearing(ledger, caller, market_id):
    view = _visible_day(ledger, caller, market_id)
    c = view.cleared
    if c is None:
        raise not_found(f"clearing of market day {market_id!r}: not cleared yet")
    kinds = {**view.kinds, "market:disposal": "disposal"}
    settlements = [SettlementPublic(participant=s.participant, kind=kinds.get(s.participant, "disposal"), energy=[float(e) for e in s.energy],
                                    energy_exact=[str(e) for e in s.energy], payment=[float(p) for p in s.payment],
                                    payment_exact=[str(p) for p in s.payment], total_payment=float(s.total_payment),
                                    total_payment_exact=str(s.total_payment), value=str(s.value), surplus=str(s.surplus),
                                    may_stay_out=s.may_stay_out) for s in c.settlements]
    return ClearingPublic(
        market=view.market, periods=view.periods, period_minutes=view.period_minutes, transaction=c.transaction, height=c.height, sender=c.sender,
        market_hash=c.market_hash, welfare=float(c.welfare), welfare_exact=str(c.welfare), budget_exact=str(c.budget),
        unique_prices=c.unique_prices, prices=[float(p) for p in c.prices], prices_exact=[str(p) for p in c.prices],
        interval=[[str(a), str(b)] for a, b in c.interval], held=[list(h) for h in c.held],
        state_of_charge={k: [float(v) for v in vs] for k, vs in c.state_of_charge.items()},
        state_of_charge_exact={k: [str(v) for v in vs] for k, vs in c.state_of_charge.items()},
        initial_soc=dict(view.initial_soc), storage_value={k: [str(v) for v in vs] for k, vs in c.storage_value.items()},
        settlements=settlements)


@router.get("/days/{market_id:path}/clearing", response_model=ClearingPublic, responses=documented(ClearingPublic, 404))
async def day_clearing(market_id: Market, ledger: LedgerDep, caller: Reader) -> ClearingPublic:
    """The accepted clearing: the price per period (with its interval), each participant's trades and payments per period,
    each battery's state of charge per period, the welfare and the budget (0, exactly).  404 until the day is cleared."""
    return await run_in_threadpool(_clearing, ledger, caller, market_id)


def _day(ledger, caller, market_id):
    v = _visible_day(ledger, caller, market_id)
    url = day_url(v.market)
    return DayPublic(market=v.market, cooperative=v.cooperative, periods=v.periods, period_minutes=v.period_minutes, price_floor=v.price_floor,
                     opened=v.opened, gate=v.gate, participants=list(v.participants), kinds=dict(v.kinds), initial_soc=dict(v.initial_soc),
                     cleared=None if v.cleared is None else v.cleared.height, offers=url + "/offers", clearing=url + "/clearing")


@router.get("/days/{market_id:path}", response_model=DayPublic, responses=documented(DayPublic, 404))
async def read_day(market_id: Market, ledger: LedgerDep, caller: Reader) -> DayPublic:
    """One market day: its terms, who posted, and where its clearing is."""
    return await run_in_threadpool(_day, ledger, caller, market_id)


def participant_public(p: market.ParticipantView) -> ParticipantPublic:
    return ParticipantPublic(id=p.id, kind=p.kind, owner=p.owner, data=dict(p.data), registered=p.registered,
                             url=f"/market/participants/{quote(p.id, safe='')}")


def _participants(ledger, page):
    found = market.participants(ledger)
    return ParticipantsPublic(data=[participant_public(p) for p in found[page[0]:page[0] + page[1]]], count=len(found), offset=page[0], limit=page[1])


@router.get("/participants", response_model=ParticipantsPublic, responses=documented(ParticipantsPublic))
async def list_participants(ledger: LedgerDep, caller: Reader, page: PageDep) -> ParticipantsPublic:
    """Every registered market participant, in registration order, with its technical data and owner key."""
    return await run_in_threadpool(_participants, ledger, page)


def _participant(ledger, participant_id):
    try:
        return participant_public(market.participant(ledger, participant_id))
    except market.MarketError:
        raise not_found(f"participant {participant_id!r} on this ledger") from None


@router.get("/participants/{participant_id:path}", response_model=ParticipantPublic, responses=documented(ParticipantPublic, 404))
async def read_participant(participant_id: Annotated[str, Path(min_length=1, max_length=100, description="the participant's id, e.g. battery")],
                           ledger: LedgerDep, caller: Reader) -> ParticipantPublic:
    """One registered participant: its kind, technical data, owner key and the block that registered it."""
    return await run_in_threadpool(_participant, ledger, participant_id)
