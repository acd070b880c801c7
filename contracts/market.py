"""The `market` contract (versions 1, 2 and 3): the village energy market on chain (SPEC §4, source figure 7).

Contracts verify; they do not re-solve.  Participants register their technical
data once; a cooperative's manager opens a market day with its gate closure (a
block height); until the gate closes each participant posts its offer or bid for
the day (a later post replaces an earlier one); after it, anyone may submit the
clearing, which carries the primal solution and the duals (models.market_clearing
writes it, models.market_certificate checks it in exact arithmetic, here and on
replay, without a solver).  Settlement is written to state per participant.

Numbers travel as JSON text inside the arguments (the chain's canonical encoding has
no floats): the participant's data, the day's offer, the clearing.  Exact results
(prices, energies, payments, surpluses) are written as fraction strings "n/d".

| method | arguments | conditions, in order |
|---|---|---|
| `register_participant` | participant (JSON text: id, type and its static data) | `invalid_participant`, `participant_exists` |
| `open_day` | cooperative, market, periods, period_minutes, price_floor (decimal string), gate | from v2: `invalid_price_floor`; then `unknown_cooperative`, `not_manager`, `day_exists`, `gate_passed` |
| `post_offer` | market, participant, offer (JSON text: the day's series) | `unknown_day`, `gate_closed`, `unknown_participant`, `not_owner`, `invalid_offer`; from v2: `day_full` |
| `clear` | market, clearing (JSON text) | `unknown_day`, `gate_open`, `already_cleared`, `no_offers`, then the certificate's codes (`shape`, `offers`, `number`, `restriction`, `bounds`, `balance`, `rows`, `simultaneous`, `dual`, `gap`, `price-rule`, `budget`, `individual-rationality`) |

State, in the contract's namespace::

    market:participant/<id>          → {"owner", "data" (JSON text), "registered"}
    market:day/<market>              → v1: {"cooperative", "periods", "period_minutes", "price_floor", "gate", "opened", "participants" [ids in first-post order]}
                                       v2, v3: {"cooperative", "periods", "period_minutes", "price_floor", "gate", "opened", "posted" (how many participants posted)}
    market:poster/["<market>",<i>]   → v2 and v3: "<id>", the i-th participant to post (i from 0 to posted − 1, first-post order)
    market:offer/["<market>","<id>"] → {"offer" (JSON text), "height", "transaction"}
    market:clearing/<market>         → {"transaction", "height", "sender", "market_hash", "welfare", "prices", "interval", "held"}
    market:settlement/["<market>","<id>"] → {"energy", "payment", "value", "surplus", "may_stay_out"}

Version 2 (new ledgers' genesis; a ledger keeps the version its genesis names, so a v1 chain
replays to the same roots) changes three things.  `open_day` refuses a price floor that
parse_market would refuse (`invalid_price_floor`: 0, or a magnitude from 1e-9 to 1e9, the
limits of every number of a market; models.market.check_price_floor), where v1 opened the
day and then refused every offer for it ("$.price_floor: …").  And a day's participants are
no longer one list in the day's entry, decoded and encoded again by each newcomer's first
post (quadratic in the day's participants: 90 s of CPU for 10,000 first posts against 12 s,
bench/bench_contracts.py --parts market); the entry keeps
their count and each has a key of its own (`poster`), so a first post writes two small
entries.  Readers take the ids through `posted_ids` and the count through `posted_count`,
which read either layout.  And a newcomer's first post to a day that has MAX_PARTICIPANTS
(10,000) is refused (`day_full`): in v1 it was applied, and the day could then never be
cleared (parse_market refuses more participants, so `clear` raised a contract fault).

Version 3 (new ledgers' genesis) changes one thing: a day holds at most `day_capacity(periods)`
participants, as many as its clearing's LP takes with each at its most columns (a consumer's
(MAX_BLOCKS + 1)·T); past it a newcomer's first post is refused (`day_full`).  In v2 a long day
could take offers whose LP passed MAX_COLUMNS (4,000,000), and `clear` then faulted in
parse_market: the day could never be cleared.  A day of 24 periods holds 9,803 participants, of 96
periods 2,450, of 1,440 periods 163.  The capacity depends on the day's length alone, so no count
of columns is written per offer.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache, partial

import orjson

from coopchain.chain.contract import Call, Method, Rejection, require
from coopchain.chain.encoding import canonical, decode
from coopchain.chain.errors import InvalidBlock, InvalidTransaction, ensure
from coopchain.contracts.cooperatives import check_cooperative_id, require_manager
from coopchain.models.market import (
    MAX_BLOCKS, MAX_COLUMNS, MAX_PARTICIPANTS, PERIOD_MINUTES, SCHEMA, MarketDataError, check_price_floor, parse_market, series_valid,
)
from coopchain.models.market_certificate import MarketCertificateError, verify_clearing
from coopchain.models.strict_json import MAX_DEPTH, nesting_depth

NAME, VERSION = "market", 3  # VERSION: the one new ledgers run; 1 and 2 stay for the ledgers created with them
VERSIONS = (1, 2, 3)
NAME_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
DECIMAL = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")
SERIES = {"solar": {"availability"}, "wind": {"availability"}, "thermal": set(), "storage": set(), "consumer": {"bids", "inflexible_load"}}
MAX_TEXT = 64 * 1024 * 1024


def participant_key(pid: str) -> str:
    return "participant/" + pid


def day_key(market: str) -> str:
    return "day/" + market


@lru_cache(maxsize=16384)
def offer_key(market: str, pid: str) -> str:
    """Kept per (market, id): a participant posts again and again (a pure function of the two strings)."""
    return "offer/" + canonical([market, pid]).decode()


def poster_key(market: str, index: int) -> str:
    """v2: the key of the index-th participant to post for `market` (first-post order)."""
    return "poster/" + canonical([market, index]).decode()


def clearing_key(market: str) -> str:
    return "clearing/" + market


def settlement_key(market: str, pid: str) -> str:
    return "settlement/" + canonical([market, pid]).decode()


def _not_too_deep(text: str, what: str, code: str) -> None:
    """Nesting refused by a count of brackets before json.loads: its RecursionError depends on the caller's
    stack, which differs between block production and replay, and the receipt's message would too (review R-6)."""
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        raise Rejection(code, f"{what} nests arrays and objects deeper than {MAX_DEPTH} levels")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


# One decoder for every text: json.loads with an argument builds a JSONDecoder (and its scanner) per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _loads(text: str):
    """json.loads(text, parse_constant=_refuse_constant) for a str, with the same errors word for word (its BOM check included)."""
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def _json_text(text: str, what: str, code: str) -> dict:
    _not_too_deep(text, what, code)
    try:
        value = _loads(text)
    except (ValueError, RecursionError) as e:
        raise Rejection(code, f"{what} is not JSON: {e}") from None
    require(isinstance(value, dict), code, f"{what} is not a JSON object")
    return value


# `if`, not `ensure`, in these three: admission runs them for every transaction, and `ensure` would
# format the sentence (a sort and a join for _fields) each time: 6% of an applied offer's commit.
def _text_arg(args: dict, field: str) -> None:
    if not (isinstance(args[field], str) and 0 < len(args[field]) <= MAX_TEXT):
        raise InvalidTransaction(f"{field} must be JSON text")


def _name_arg(args: dict, field: str) -> None:
    if not (isinstance(args[field], str) and NAME_PATTERN.match(args[field])):
        raise InvalidTransaction(f"{field} must be a name of 1 to 100 printable characters")


def _fields(args: dict, fields: set[str], method: str) -> None:
    if set(args) != fields:
        raise InvalidTransaction(f"{NAME}.{method} takes exactly the arguments {', '.join(sorted(fields))}")


def _day_document(day: dict, entries: list[dict]) -> dict:
    return {"schema": SCHEMA, "market": day["market"], "periods": day["periods"], "period_minutes": day["period_minutes"],
            "price_floor": float(day["price_floor"]), "participants": entries}


def _stub_series(kind: str, periods: int) -> dict:
    """Series that make the static data of a participant a valid one-day market entry, to check the static part alone."""
    return {"availability": [0] * periods} if kind in ("solar", "wind") else (
        {"bids": [[] for _ in range(periods)], "inflexible_load": [0] * periods} if kind == "consumer" else {})


# -- register_participant ------------------------------------------------------------


def _register_shape(args: dict) -> None:
    _fields(args, {"participant"}, "register_participant")
    _text_arg(args, "participant")


def _register(call: Call, args: dict) -> str:
    data = _json_text(args["participant"], "the participant", "invalid_participant")
    kind = data.get("type")
    require(kind in SERIES, "invalid_participant", f"type must be one of {', '.join(SERIES)}")
    require(not (set(data) & SERIES[kind]), "invalid_participant", f"a {kind}'s per-period series are posted for each day ({', '.join(sorted(SERIES[kind]))}), not registered")
    try:
        parse_market(_day_document({"market": "registration", "periods": 1, "period_minutes": 60, "price_floor": "-0.5"}, [{**data, **_stub_series(kind, 1)}]))
    except MarketDataError as e:
        raise Rejection("invalid_participant", str(e).replace("$.participants[0]", "participant")) from None
    pid = data["id"]
    require(call.get(participant_key(pid)) is None, "participant_exists", f"participant {pid!r} is already registered")
    call.put(participant_key(pid), canonical({"owner": call.sender, "data": args["participant"], "registered": call.block.height}))
    call.emit("participant_registered", participant=pid, type=kind, owner=call.sender)
    return f"{kind} {pid!r} registered"


# -- open_day ------------------------------------------------------------------------


def _open_shape(args: dict) -> None:
    _fields(args, {"cooperative", "market", "periods", "period_minutes", "price_floor", "gate"}, "open_day")
    check_cooperative_id(args["cooperative"])
    _name_arg(args, "market")
    ensure(type(args["periods"]) is int and 1 <= args["periods"] <= 1440, InvalidTransaction, "periods must be an integer from 1 to 1440")
    ensure(args["period_minutes"] in PERIOD_MINUTES and type(args["period_minutes"]) is int, InvalidTransaction, "period_minutes must be 15, 30 or 60")
    ensure(isinstance(args["price_floor"], str) and DECIMAL.match(args["price_floor"]) and float(args["price_floor"]) <= 0,
           InvalidTransaction, "price_floor must be a decimal string ≤ 0, such as \"-0.5\"")
    ensure(type(args["gate"]) is int and args["gate"] >= 0, InvalidTransaction, "gate must be a block height")


def _open(call: Call, args: dict, version: int = 1) -> str:
    if version >= 2:
        try:
            check_price_floor(float(args["price_floor"]), "price_floor")
        except MarketDataError as e:
            raise Rejection("invalid_price_floor", f"{e} (got {args['price_floor']}): no offer could be posted for such a day") from None
    require_manager(call, args["cooperative"])
    market = args["market"]
    require(call.get(day_key(market)) is None, "day_exists", f"market day {market!r} is already open")
    require(args["gate"] > call.block.height, "gate_passed", f"the gate closure {args['gate']} is not after this block ({call.block.height})")
    day = {k: args[k] for k in ("cooperative", "periods", "period_minutes", "price_floor", "gate")}
    call.put(day_key(market), canonical({**day, "opened": call.block.height, **({"posted": 0} if version >= 2 else {"participants": []})}))
    call.emit("day_opened", market=market, **day)
    return f"market day {market!r} open: {args['periods']} periods of {args['period_minutes']} min, offers until block {args['gate']}"


def _day(call: Call, market: str) -> dict:
    """The day's entry (read only: its participant list is shared with the next reader of the same bytes)."""
    return _day_and_ids(call, market)[0]


def _day_and_ids(call: Call, market: str) -> tuple[dict, frozenset]:
    """The day's entry and the set of its participants' ids (both read only, shared as `_day`'s)."""
    value = call.get(day_key(market))
    require(value is not None, "unknown_day", f"no market day {market!r} is open on this chain")
    day, ids = _decoded_day(bytes(value))
    return {**day, "market": market}, ids


@lru_cache(maxsize=16)
def _decoded_day(value: bytes) -> tuple[dict, frozenset]:
    """`decode` of a day's entry, and its participants as a set, kept by its bytes: a pure function of
    them, so the same verdict, but a block of 1,000 offers decoded (and proved canonical) the day's list
    of every participant's id for each offer, a third of an offer's cost; and `pid in list` scanned the
    1,000 ids (35 µs).  Only a new participant changes the bytes."""
    day = decode(value)
    return day, frozenset(day.get("participants", ()))  # v2 keeps no list: `_offer` asks the offer's key


@lru_cache(maxsize=16384)
def _participant_entry(value: bytes) -> tuple[str, dict]:
    """(owner, static data) of a participant's entry, kept by its bytes, as `_decoded_day` (read only).

    A participant's entry never changes once registered, and each of its posts decoded it (and proved it
    canonical) and parsed its data again: 35 µs of an offer.  16,384 entries: more participants than a
    day may hold (MAX_PARTICIPANTS), a few MiB."""
    entry = decode(value)
    return entry["owner"], json.loads(entry["data"])


# -- post_offer ----------------------------------------------------------------------


def _offer_shape(args: dict) -> None:
    _fields(args, {"market", "participant", "offer"}, "post_offer")
    _name_arg(args, "market")
    ensure(isinstance(args["participant"], str) and 0 < len(args["participant"]) <= 100, InvalidTransaction, "participant must be a participant id")
    _text_arg(args, "offer")


def _offer(call: Call, args: dict, version: int = 1) -> str:
    # `if` before `require` where the sentence costs more than the test: this runs for every offer.
    day, ids = _day_and_ids(call, args["market"])
    if call.block.height > day["gate"]:
        require(False, "gate_closed", f"the gate of {args['market']!r} closed at block {day['gate']}")
    pid = args["participant"]
    entry = call.get(participant_key(pid))
    require(entry is not None, "unknown_participant", f"no participant {pid!r} is registered")
    owner, data = _participant_entry(bytes(entry))
    if call.sender != owner:
        require(False, "not_owner", f"{call.sender} does not own participant {pid!r}")
    if not _offer_passes(_fast_loads(args["offer"]), day, bytes(entry), data):
        # json's reading decides, and its refusal names the fault in json's words.
        offer = _json_text(args["offer"], "the offer", "invalid_offer")
        if set(offer) != SERIES[data["type"]]:
            require(False, "invalid_offer", f"a {data['type']}'s offer has exactly {', '.join(sorted(SERIES[data['type']])) or 'no fields'}")
        _check_offer(day, bytes(entry), data, offer)
    # v2: a participant has posted for the day exactly when its offer's key exists (only this method writes it).
    first = pid not in ids if version == 1 else call.get(offer_key(args["market"], pid)) is None
    if first and version >= 2 and day["posted"] >= MAX_PARTICIPANTS:
        require(False, "day_full", f"market day {args['market']!r} has its {MAX_PARTICIPANTS:,} participants, the most a market holds; "
                                   f"{pid!r} has not posted for it")
    if first and version >= 3 and day["posted"] >= day_capacity(day["periods"]):
        require(False, "day_full", f"market day {args['market']!r} has its {day['posted']:,} participants, the most a day of {day['periods']} periods "
                                   f"holds: each may bring up to {(MAX_BLOCKS + 1) * day['periods']:,} columns to the clearing's LP, which takes "
                                   f"{MAX_COLUMNS:,}; {pid!r} has not posted for it")
    call.put(offer_key(args["market"], pid), canonical({"offer": args["offer"], "height": call.block.height, "transaction": call.tx_hash.hex()}))
    if first:
        _add_poster(call, args["market"], pid, version)
    call.emit("offer_posted", market=args["market"], participant=pid)
    return f"{pid!r} posted its offer for {args['market']!r}"


def day_capacity(periods: int) -> int:
    """How many participants a day of `periods` periods holds from market v3: as many as the clearing's LP takes
    (MAX_COLUMNS: the spill's T columns, and per participant at most (MAX_BLOCKS + 1)·T, a consumer's served load
    and its bid blocks; a storage unit's 3T and a generator's T are fewer), and at most MAX_PARTICIPANTS.
    A pure function of the day's length: no count of columns to keep in state, and a day is never posted past
    what it can be cleared with (v2 let a day of 1,440 periods take 10,000 consumers, 245 million columns,
    and `clear` then faulted in parse_market: the day could never be cleared)."""
    return min(MAX_PARTICIPANTS, (MAX_COLUMNS - periods) // ((MAX_BLOCKS + 1) * periods))


def _add_poster(call: Call, market: str, pid: str, version: int) -> None:
    """Append `pid` to the day's participants.  v1: the whole list decoded, extended and encoded again
    (O(n) per newcomer); v2: the count in the day's entry and one key of its own (O(1))."""
    stored = decode(call.get(day_key(market)))
    if version == 1:
        stored["participants"].append(pid)
    else:
        call.put(poster_key(market, stored["posted"]), canonical(pid))
        stored["posted"] += 1
    call.put(day_key(market), canonical(stored))


def _fast_loads(text: str):
    """orjson's reading of `text`, None where it refuses it: 3 times faster than json (8 against 24 µs
    for a day's bid), for `_offer_passes` only.  Where orjson reads a text, it reads it as json does
    (tests/contracts/test_market_offer_reading.py), but for integers beyond 64 bits, which it reads as floats,
    and a valid offer holds none (each number is at most MAX_MAGNITUDE)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # json may still read it (1e400, a lone surrogate, NaN: refused later) or name the fault
        return None


def _offer_passes(offer, day: dict, entry: bytes, data: dict) -> bool:
    """Whether `offer` (a reading of the offer's text) passes every check of `_offer`'s on it: a JSON
    object of exactly the series of data's type that `_check_offer` accepts without parse_market."""
    return type(offer) is dict and offer.keys() == SERIES[data["type"]] and _series_pass(day, entry, data, offer)


def _series_pass(day: dict, entry: bytes, data: dict, offer: dict) -> bool:
    T = day["periods"]
    return (T * (MAX_BLOCKS + 2) <= MAX_COLUMNS and series_valid({"type": data["type"], **offer}, T)
            and _static_parses(day["market"], T, day["period_minutes"], day["price_floor"], entry))


def _check_offer(day: dict, entry: bytes, data: dict, offer: dict) -> None:
    """Refuse (invalid_offer) what parse_market refuses in the one-participant day {**data, **offer}, naming
    the same first fault; `offer` has exactly the series keys of data's type, `entry` is data's entry.

    Building that Market and throwing it away was a sixth of an applied offer's cost.  The two documents
    {**data, **offer} and {**data, **stub series} have the same keys and differ only in the series'
    values, which parse_market checks by themselves (_series, _bids); so if the stub day parses (cached:
    it depends on the day and the entry only), the series pass series_valid (parse_market's own tests),
    and the participant's LP columns, at most T·(MAX_BLOCKS + 2), are within MAX_COLUMNS, parse_market
    accepts the offer.  Otherwise parse_market itself decides, and names the fault."""
    if _series_pass(day, entry, data, offer):
        return
    try:
        parse_market(_day_document(day, [{**data, **offer}]))
    except MarketDataError as e:
        raise Rejection("invalid_offer", str(e).replace("$.participants[0]", "offer")) from None


@lru_cache(maxsize=16384)
def _static_parses(market: str, periods, period_minutes, price_floor, entry: bytes) -> bool:
    """Whether the day with this participant, its series stubbed (valid), parses: everything parse_market
    checks of an offer's day but the offer's own values.  A pure function of its arguments, so kept."""
    data = _participant_entry(entry)[1]
    day = {"market": market, "periods": periods, "period_minutes": period_minutes, "price_floor": price_floor}
    try:
        parse_market(_day_document(day, [{**data, **_stub_series(data["type"], periods)}]))
    except MarketDataError:
        return False
    return True


def posted_count(day: dict) -> int:
    """How many participants posted for a day, from its decoded entry (either version's layout)."""
    return len(day["participants"]) if "participants" in day else day["posted"]


def posted_ids(read, market: str, day: dict) -> list[str]:
    """The ids of the participants who posted for `market`, in first-post order, from its decoded entry
    `day` (either version's layout); `read(contract, key)` as Call.read, at the same state as `day`."""
    if "participants" in day:
        return list(day["participants"])
    return [decode(read(NAME, poster_key(market, i))) for i in range(day["posted"])]


def posted_market(read, market: str):
    """The market day as posted on chain (a models.market.Market); `read(contract, key)` as Call.read. None if no such day."""
    value = read(NAME, day_key(market))
    if value is None:
        return None
    day = {**decode(value), "market": market}
    entries = []
    for pid in posted_ids(read, market, day):
        data = json.loads(decode(read(NAME, participant_key(pid)))["data"])
        offer = json.loads(decode(read(NAME, offer_key(market, pid)))["offer"])
        entries.append({**data, **offer})
    return parse_market(_day_document(day, entries))


# -- clear ---------------------------------------------------------------------------


def _clear_shape(args: dict) -> None:
    _fields(args, {"market", "clearing"}, "clear")
    _name_arg(args, "market")
    _text_arg(args, "clearing")


def _fraction(f) -> str:
    return f"{f.numerator}/{f.denominator}" if f.denominator != 1 else str(f.numerator)


def _clear(call: Call, args: dict) -> str:
    market_id = args["market"]
    day = _day(call, market_id)
    require(call.block.height > day["gate"], "gate_open", f"the gate of {market_id!r} closes at block {day['gate']}; offers may still come")
    require(call.get(clearing_key(market_id)) is None, "already_cleared", f"market day {market_id!r} is already cleared")
    require(posted_count(day), "no_offers", f"nobody posted an offer for {market_id!r}")
    market = posted_market(call.read, market_id)  # validated offers, so valid
    _not_too_deep(args["clearing"], "the clearing", "shape")
    try:
        clearing = json.loads(args["clearing"])
    except (ValueError, RecursionError) as e:
        raise Rejection("shape", f"the clearing is not JSON: {e}") from None
    try:
        verified = verify_clearing(market, clearing)
    except MarketCertificateError as e:
        raise Rejection(e.code, e.sentence) from None
    lows, highs = verified.price_low, verified.price_high
    call.put(clearing_key(market_id), canonical({
        "transaction": call.tx_hash.hex(), "height": call.block.height, "sender": call.sender, "market_hash": verified.market_hash,
        "welfare": _fraction(verified.welfare), "prices": [_fraction(p) for p in verified.prices],
        "interval": [[_fraction(min(a, b)), _fraction(max(a, b))] for a, b in zip(lows, highs)],
        "held": [list(h) for h in verified.held],
        "storage_value": {sid: [_fraction(v) for v in values] for sid, values in verified.storage_value.items()},
    }))
    for s in verified.settlement:
        call.put(settlement_key(market_id, s.id), canonical({
            "energy": [_fraction(e) for e in s.energy], "payment": [_fraction(p) for p in s.payment],
            "value": _fraction(s.value), "surplus": _fraction(s.surplus), "may_stay_out": s.may_stay_out,
        }))
    total = sum(s.total_payment for s in verified.settlement)
    call.emit("market_cleared", market=market_id, market_hash=verified.market_hash, welfare=_fraction(verified.welfare),
              prices=[_fraction(p) for p in verified.prices], budget=_fraction(total), held=len(verified.held),
              unique_prices=verified.unique_prices)
    return (f"market day {market_id!r} cleared: welfare {float(verified.welfare):.6g}, {len(verified.settlement) - 1} participants settled, "
            f"payments sum to {_fraction(total)}")


CLEAR_CODES = ("unknown_day", "gate_open", "already_cleared", "no_offers", "shape", "offers", "number", "restriction", "bounds", "balance",
               "rows", "simultaneous", "dual", "gap", "price-rule", "budget", "individual-rationality")


class MarketContract:
    """The market contract at `version` (1, 2 or 3; see the module's docstring for what 2 and 3 change)."""

    name = NAME

    def __init__(self, version: int = VERSION) -> None:
        if version not in VERSIONS:
            raise ValueError(f"the market contract has versions {', '.join(map(str, VERSIONS))}, not {version}")
        self.version = version
        open_codes = ("unknown_cooperative", "not_manager", "day_exists", "gate_passed")
        self.methods = {
            "register_participant": Method("register_participant", _register_shape, _register, ("invalid_participant", "participant_exists")),
            "open_day": Method("open_day", _open_shape, partial(_open, version=version), ("invalid_price_floor", *open_codes) if version >= 2 else open_codes),
            "post_offer": Method("post_offer", _offer_shape, partial(_offer, version=version),
                                 ("unknown_day", "gate_closed", "unknown_participant", "not_owner", "invalid_offer", *(("day_full",) if version >= 2 else ()))),
            "clear": Method("clear", _clear_shape, _clear, CLEAR_CODES),
        }

    def check_params(self, params: dict) -> None:
        ensure(params == {}, InvalidBlock, "the market contract takes no parameters")

    def genesis_state(self, params: dict) -> dict[str, bytes]:
        return {}
