"""The village energy market as use cases (SPEC §4, "Energy-market contract"; issue 13).

One set of functions for the command line, the API and the notebooks: register
participants, open a market day, post offers and bids, clear the day (HiGHS, then
the `market.clear` transaction with the primal solution and the duals, which the
contract checks in exact arithmetic), and read a day back: prices with their
interval, trades, settlements and each battery's state of charge.

The rules are the contract's (contracts.market); each write here signs one or more
transactions with the caller's key and returns what became of them (`Submitted`,
with the receipt saying `applied` or the failed condition's code).  Reads take a
ledger and return frozen dataclasses of exact Fractions, as the state holds them.
Nothing here prints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from coopchain.chain.encoding import decode
from coopchain.chain.ledger import Ledger
from coopchain.chain.namespaces import contract_key
from coopchain.chain.transaction import decode_transaction
from coopchain.contracts.market import (
    NAME, SERIES, clearing_key, day_key, offer_key, participant_key, posted_count, posted_ids, posted_market, settlement_key,
)
from coopchain.models.market import SCHEMA, SOC, MarketDataError, market_lp, parse_market
from coopchain.models.market_certificate import DISPOSAL, SCALE
from coopchain.service import wiring
from coopchain.service.wiring import Submitted, submit


class MarketError(ValueError):
    """A market request that cannot be carried out; the message says why (and names the field for bad data)."""


# -- a market document split into what is registered once and what is posted each day --------


@dataclass(frozen=True)
class DayTerms:
    """What `open_day` fixes: the day's identity, length, period and price floor."""

    market: str
    periods: int
    period_minutes: int
    price_floor: str  # a decimal string ≤ 0, as the contract takes it (the chain's encoding has no floats)


@dataclass(frozen=True)
class VillageDay:
    """A market document (coopchain/market/v1, docs/market.md) split for the chain."""

    terms: DayTerms
    participants: tuple[dict, ...]  # each participant's static data (registered once)
    offers: Mapping[str, dict]  # participant id → its series for this day (posted until the gate)


def decimal_text(value: float) -> str:
    """A float as the shortest decimal string that reads back as the same double ("-0.5", "0.00001")."""
    return format(Decimal(repr(float(value))), "f")


def split_market_document(document: dict) -> VillageDay:
    """Validate a market document (models.market's rules) and split it into day terms, registrations and offers.

    Raises MarketError naming the field when the document is not valid."""
    try:
        market = parse_market(document)
    except MarketDataError as e:
        raise MarketError(f"the market document is not valid: {e}") from e
    statics, offers = [], {}
    for entry in document["participants"]:
        series = SERIES[entry["type"]]
        statics.append({k: v for k, v in entry.items() if k not in series})
        offers[entry["id"]] = {k: v for k, v in entry.items() if k in series}
    return VillageDay(DayTerms(market.id, market.periods, market.period_minutes, decimal_text(market.price_floor)), tuple(statics), offers)


# -- writes ------------------------------------------------------------------------------------


def _json(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def registered(ledger: Ledger, participant: str) -> bool:
    return ledger.state(contract_key(NAME, participant_key(participant))) is not None


def register_participants(ledger: Ledger, key, participants: Sequence[dict]) -> list[Submitted]:
    """Register participants (their static data: id, type and technical data, no per-day series), one block.

    `key` becomes their owner: only it may post their offers."""
    if not participants:
        raise MarketError("no participant to register")
    return submit(ledger, key, [(f"{NAME}.register_participant", {"participant": _json(p)}) for p in participants])


def open_day(ledger: Ledger, manager_key, cooperative: str, terms: DayTerms, gate: int | None = None) -> Submitted:
    """Open a market day for `cooperative` (the key must be one of its managers).

    `gate`: the last block height that may carry offers; default the block after the
    one that opens the day, so that offers posted next (in one block) are in time."""
    gate = ledger.height() + 2 if gate is None else gate
    args = {"cooperative": cooperative, "market": terms.market, "periods": terms.periods,
            "period_minutes": terms.period_minutes, "price_floor": terms.price_floor, "gate": gate}
    return submit(ledger, manager_key, [(f"{NAME}.open_day", args)])[0]


def post_offers(ledger: Ledger, key, market: str, offers: Mapping[str, dict]) -> list[Submitted]:
    """Post each participant's offer or bid for `market` (its series: availability; bids and inflexible_load;
    nothing for thermal and storage units), one block; a later post replaces an earlier one until the gate."""
    if not offers:
        raise MarketError("no offer to post")
    return submit(ledger, key, [(f"{NAME}.post_offer", {"market": market, "participant": pid, "offer": _json(dict(offer))})
                                for pid, offer in offers.items()])


@dataclass(frozen=True)
class Cleared:
    """A clearing computed by HiGHS and submitted as `market.clear`."""

    submitted: Submitted  # its receipt says whether the contract accepted it
    welfare: float
    prices: tuple[float, ...]  # per kWh, per period, as HiGHS's clearing posts them
    timings: dict  # seconds per phase of the clearing (build, solve, prices, certificate)


def clear_day(ledger: Ledger, key, market: str) -> Cleared:
    """Clear a market day whose gate has closed: read the posted offers from the chain, solve the clearing LP
    with HiGHS (models.market_clearing), submit the certificate (primal solution and duals) as `market.clear`.

    Raises MarketError when no such day is open, the gate is still open, or HiGHS finds no clearing;
    anything else the contract refuses comes back in the receipt, with its code."""
    from coopchain.models.market_clearing import clear

    read = _reader(ledger)
    day = read(NAME, day_key(market))
    if day is None:
        raise MarketError(f"no market day {market!r} is open on this ledger")
    gate = decode(day)["gate"]
    if ledger.height() + 1 <= gate:
        raise MarketError(f"the gate of {market!r} closes at block {gate}; the next block is {ledger.height() + 1}: offers may still come")
    if read(NAME, clearing_key(market)) is not None:
        raise MarketError(f"market day {market!r} is already cleared on this ledger")
    if not posted_count(decode(day)):
        raise MarketError(f"nobody posted an offer for {market!r}")
    clearing = clear(posted_market(read, market))
    if not clearing.success:
        raise MarketError(f"{market!r} cannot be cleared: {clearing.message}")
    done = submit(ledger, key, [(f"{NAME}.clear", {"market": market, "clearing": _json(clearing.document)})])[0]
    return Cleared(done, clearing.welfare, clearing.prices, dict(clearing.timings))


def trade_day(ledger: Ledger, key, cooperative: str, document: dict) -> DayView:
    """A whole market day through the contract, each step only when the chain does not have it yet:
    register the participants not yet registered, open the day, post the offers (while the gate is
    open), clear it; `key` owns the participants and manages `cooperative`.  Returns the day as read back.

    Raises MarketError when a step is refused (its code and sentence) or the day on chain is another one."""
    village = split_market_document(document)
    terms = village.terms

    def applied(done: Sequence[Submitted], what: str) -> None:
        for d in done:
            if not d.receipt.applied:
                raise MarketError(f"{what}: rejected ({d.receipt.code}): {d.receipt.message}")

    new = [p for p in village.participants if not registered(ledger, p["id"])]
    if new:
        applied(register_participants(ledger, key, new), "registering the participants")
    raw = ledger.state(contract_key(NAME, day_key(terms.market)))
    if raw is None:
        applied([open_day(ledger, manager_key=key, cooperative=cooperative, terms=terms)], f"opening {terms.market!r}")
        raw = ledger.state(contract_key(NAME, day_key(terms.market)))
    d = decode(raw)
    if (d["periods"], d["period_minutes"], d["price_floor"]) != (terms.periods, terms.period_minutes, terms.price_floor):
        raise MarketError(f"market day {terms.market!r} on this ledger has other terms than the document's")
    if ledger.state(contract_key(NAME, clearing_key(terms.market))) is None:
        if ledger.height() + 1 <= d["gate"] and not posted_count(d):
            applied(post_offers(ledger, key, terms.market, village.offers), f"posting the offers for {terms.market!r}")
        applied([clear_day(ledger, key, terms.market).submitted], f"clearing {terms.market!r}")
    return day(ledger, terms.market)


def sample_day() -> dict:
    """The sample village market day that ships with coopchain (models/samples/village-day.json, the one `coopchain demo` clears)."""
    from importlib.resources import files

    return json.loads(files("coopchain.models.samples").joinpath("village-day.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Village:
    """A ledger to try the market on, and the one key that runs it."""

    ledger: Ledger
    key: object  # chain.keys.PrivateKey: the node's, the chain's admin, the cooperative's manager and the participants' owner
    cooperative: str


def new_village(url: str, cooperative: str = "green-valley", chain_id: str = "village") -> Village:
    """A new ledger at `url` (such as sqlite:///path/village.db) with one cooperative, for notebooks and tutorials:
    one freshly generated key seals the blocks, registers the cooperative, manages it and owns every participant.
    A real village gives each participant its own key (`coopchain keys new`)."""
    from coopchain.chain.keys import PrivateKey
    from coopchain.service.cooperatives import create_cooperative

    key = PrivateKey.generate("ed25519")
    ledger = wiring.create_ledger(url, key, chain_id)
    done = create_cooperative(ledger, key, cooperative, [key.public_key.to_text()])
    if not done.receipt.applied:
        ledger.close()
        raise MarketError(f"cooperative {cooperative!r}: {done.receipt.message}")
    return Village(ledger, key, cooperative)


# -- reads -------------------------------------------------------------------------------------


def _reader(ledger: Ledger, height: int | None = None):
    return lambda contract, key: ledger.state(contract_key(contract, key), height)


def _fraction(text: str) -> Fraction:
    return Fraction(text)


@dataclass(frozen=True)
class Settlement:
    """One participant's day (or the disposal account, id "market:disposal"), exact.

    energy: kWh bought (+) or sold (−) per period; payment: paid (+) or received (−) per period."""

    participant: str
    energy: tuple[Fraction, ...]
    payment: tuple[Fraction, ...]
    value: Fraction  # what it consumed, at its bids, minus what it produced, at its offers
    surplus: Fraction  # value − Σ payment
    may_stay_out: bool  # individual rationality is guaranteed (and checked) for it

    @property
    def total_payment(self) -> Fraction:
        return sum(self.payment, Fraction(0))


@dataclass(frozen=True)
class ClearedDay:
    """What the accepted clearing proved, as the state holds it, and the storage trajectories from its primal."""

    transaction: str
    height: int
    sender: str
    market_hash: str
    welfare: Fraction
    prices: tuple[Fraction, ...]  # per kWh, per period (the midpoint of the interval when not unique)
    interval: tuple[tuple[Fraction, Fraction], ...]  # per period: the least and greatest clearing price
    held: tuple[tuple, ...]  # battery sides held at zero: (participant, period, "charge" | "discharge")
    storage_value: Mapping[str, tuple[Fraction, ...]]  # marginal value of stored energy per battery and period
    state_of_charge: Mapping[str, tuple[Fraction, ...]]  # kWh in store at the end of each period, per battery
    settlements: tuple[Settlement, ...]  # participants in posting order, then the disposal account

    @property
    def unique_prices(self) -> bool:
        return all(low == high for low, high in self.interval)

    @property
    def budget(self) -> Fraction:
        """Σ of every payment (the disposal account included): zero, exactly, for a valid clearing."""
        return sum((s.total_payment for s in self.settlements), Fraction(0))


@dataclass(frozen=True)
class DayView:
    market: str
    cooperative: str
    periods: int
    period_minutes: int
    price_floor: str
    gate: int  # the last block height that may carry offers
    opened: int  # the height of the block that opened it
    participants: tuple[str, ...]  # those who posted, in first-post order
    kinds: Mapping[str, str]  # participant id → solar, wind, thermal, consumer or storage
    initial_soc: Mapping[str, float]  # battery id → its state of charge before the first period, kWh
    cleared: ClearedDay | None  # None until a clearing is accepted


def day(ledger: Ledger, market: str, height: int | None = None) -> DayView:
    """A market day as the ledger holds it at `height` (default: the head), its clearing when accepted.

    Raises MarketError when there is no such day."""
    read = _reader(ledger, height)
    raw = read(NAME, day_key(market))
    if raw is None:
        raise MarketError(f"no market day {market!r} on this ledger")
    d = decode(raw)
    ids = posted_ids(read, market, d)
    datas = {pid: json.loads(decode(read(NAME, participant_key(pid)))["data"]) for pid in ids}
    kinds = {pid: data["type"] for pid, data in datas.items()}
    initial = {pid: float(data["initial_soc"]) for pid, data in datas.items() if data["type"] == "storage"}
    cleared = None
    raw_clearing = read(NAME, clearing_key(market))
    if raw_clearing is not None:
        cleared = _cleared(ledger, read, market, decode(raw_clearing), ids)
    return DayView(market, d["cooperative"], d["periods"], d["period_minutes"], d["price_floor"], d["gate"], d["opened"],
                   tuple(ids), kinds, initial, cleared)


def _cleared(ledger: Ledger, read, market: str, c: dict, participants: Sequence[str]) -> ClearedDay:
    settlements = []
    for pid in [*participants, DISPOSAL]:
        raw = read(NAME, settlement_key(market, pid))
        if raw is None:
            continue
        s = decode(raw)
        settlements.append(Settlement(pid, tuple(map(_fraction, s["energy"])), tuple(map(_fraction, s["payment"])),
                                      _fraction(s["value"]), _fraction(s["surplus"]), bool(s["may_stay_out"])))
    return ClearedDay(
        c["transaction"], c["height"], c["sender"], c["market_hash"], _fraction(c["welfare"]), tuple(map(_fraction, c["prices"])),
        tuple((_fraction(a), _fraction(b)) for a, b in c["interval"]), tuple(tuple(h) for h in c["held"]),
        {sid: tuple(map(_fraction, v)) for sid, v in c.get("storage_value", {}).items()},
        _state_of_charge(ledger, read, market, c["transaction"]), tuple(settlements))


def _state_of_charge(ledger: Ledger, read, market: str, tx_hash: str) -> dict[str, tuple[Fraction, ...]]:
    """Each battery's state of charge per period, from the accepted clearing's primal (the state keeps
    settlements, not the dispatch; the transaction keeps it all, and the contract checked it)."""
    height, position, _ = ledger.receipt(bytes.fromhex(tx_hash))
    tx = decode_transaction(ledger.transactions(height)[position])
    x = json.loads(tx.payload["clearing"])["x"]
    posted = posted_market(read, market)
    lp = market_lp(posted)
    soc = {}
    for i, p in enumerate(posted.participants):
        columns = np.flatnonzero((lp.owner == i) & (lp.role == SOC))
        if len(columns):
            columns = columns[np.argsort(lp.period[columns], kind="stable")]
            soc[p.id] = tuple(Fraction(int(x[c]), 1 << SCALE) for c in columns)
    return soc


@dataclass(frozen=True)
class DaySummary:
    """One market day in a list: its terms, who posted, and whether (and where) it was cleared."""

    market: str
    cooperative: str
    periods: int
    period_minutes: int
    opened: int
    gate: int
    participants: int  # those who posted an offer
    cleared: int | None  # the height of the accepted clearing, None until then


def days(ledger: Ledger, cooperatives: Sequence[str] | None = None) -> list[DaySummary]:
    """The market days opened on this ledger (of the given cooperatives, or all), the most recently opened first."""
    from coopchain.service.events import events

    read = _reader(ledger)
    out = []
    for e in reversed(events(ledger, "day_opened")):
        if cooperatives is not None and e.data["cooperative"] not in cooperatives:
            continue
        d = decode(read(NAME, day_key(e.data["market"])))
        c = read(NAME, clearing_key(e.data["market"]))
        out.append(DaySummary(e.data["market"], d["cooperative"], d["periods"], d["period_minutes"], d["opened"], d["gate"],
                              posted_count(d), None if c is None else decode(c)["height"]))
    return out


@dataclass(frozen=True)
class PostedOffer:
    """A participant's offer or bid for a day, as posted (its last post before the gate)."""

    participant: str
    kind: str  # solar, wind, thermal, consumer or storage
    owner: str  # the key that registered it and posts for it
    data: Mapping  # its registered technical data (id, type, costs, limits, …)
    offer: Mapping  # the day's series (availability; bids and inflexible_load; empty for thermal and storage)
    height: int
    transaction: str


def offers(ledger: Ledger, market: str, height: int | None = None) -> list[PostedOffer]:
    """The offers and bids posted for `market`, in first-post order.  Raises MarketError when there is no such day."""
    read = _reader(ledger, height)
    raw = read(NAME, day_key(market))
    if raw is None:
        raise MarketError(f"no market day {market!r} on this ledger")
    out = []
    for pid in posted_ids(read, market, decode(raw)):
        entry = decode(read(NAME, participant_key(pid)))
        posted = decode(read(NAME, offer_key(market, pid)))
        data = json.loads(entry["data"])
        out.append(PostedOffer(pid, data["type"], entry["owner"], data, json.loads(posted["offer"]), posted["height"], posted["transaction"]))
    return out


@dataclass(frozen=True)
class ParticipantView:
    """A registered market participant: its technical data (no per-day series), who owns it, when it registered."""

    id: str
    kind: str  # solar, wind, thermal, consumer or storage
    owner: str  # the key that registered it and alone posts its offers
    data: Mapping
    registered: int  # the height of the block that registered it


def participant(ledger: Ledger, pid: str) -> ParticipantView:
    """One registered participant.  Raises MarketError when there is none of that id."""
    raw = _reader(ledger)(NAME, participant_key(pid))
    if raw is None:
        raise MarketError(f"no participant {pid!r} is registered on this ledger")
    entry = decode(raw)
    data = json.loads(entry["data"])
    return ParticipantView(pid, data["type"], entry["owner"], data, entry["registered"])


def participants(ledger: Ledger) -> list[ParticipantView]:
    """Every registered participant, in registration order."""
    from coopchain.service.events import events

    return [participant(ledger, e.data["participant"]) for e in events(ledger, "participant_registered")]


def market_document(ledger: Ledger, market: str, height: int | None = None) -> dict:
    """The day's posted offers and bids as one market document (coopchain/market/v1): what a clearing must use."""
    posted = posted_market(_reader(ledger, height), market)
    if posted is None:
        raise MarketError(f"no market day {market!r} on this ledger")
    from coopchain.models.market import market_document as document

    return document(posted)


__all__ = [
    "SCHEMA", "Cleared", "ClearedDay", "DaySummary", "DayTerms", "DayView", "MarketError", "ParticipantView", "PostedOffer", "days", "offers", "participant", "participants", "Settlement", "VillageDay", "clear_day", "day",
    "decimal_text", "market_document", "open_day", "post_offers", "register_participants", "new_village", "registered", "sample_day", "split_market_document", "trade_day", "Village",
]
