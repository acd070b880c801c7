"""`coopchain market register|open|offer|clear|show` (SPEC §4, "Energy-market contract"; docs/market.md).

Wiring and presentation only: the use cases are service.market's, the rules the
market contract's.  A summary on a terminal, JSON with --json or into a pipe.
Exact figures (prices, energies, payments) print as decimals on a terminal and
as fraction strings "n/d" beside floats in JSON.  Keys default to the demo's,
so that every command runs after `coopchain demo`.
"""

from __future__ import annotations


from coopchain.app.cli import EXIT_INVALID, EXIT_OK, CommandError
from coopchain.app.command_io import add_reader_options, add_writer_options, emit, json_file, outcome
from coopchain.app.contract_commands import _read, _receipt_json, _signed


def _village(path: str):
    from coopchain.service.market import MarketError, split_market_document

    try:
        return split_market_document(json_file(path))
    except MarketError as e:
        raise CommandError(f"{path}: {e}") from e


def _run(args, signer: str, work):
    """`work(ledger, key)` signed by `signer` (contract_commands._signed); a MarketError is a message, not a traceback."""
    from coopchain.service.market import MarketError

    return _signed(args, signer, work, (MarketError,))


def _report(args, done: list, what: str) -> int:
    """Each submitted transaction's outcome; exit 0 when all applied, EXIT_INVALID otherwise."""
    emit(args, {"transactions": [{"transaction": d.transaction, "height": d.height, "receipt": _receipt_json(d.receipt)} for d in done]},
         lambda: [*(outcome(what, d.receipt) for d in done), *([f"  block {done[0].height}"] if done else [])])
    return EXIT_OK if all(d.receipt.applied for d in done) else EXIT_INVALID


def cmd_register(args) -> int:
    from coopchain.service import market

    village = _village(args.file)
    chosen = [p for p in village.participants if not args.participant or p["id"] in args.participant]
    unknown = set(args.participant or ()) - {p["id"] for p in village.participants}
    if unknown:
        raise CommandError(f"{args.file} has no participant {', '.join(sorted(unknown))}")
    return _report(args, _run(args, "manager.key", lambda ledger, key: market.register_participants(ledger, key, chosen)), "register")


def cmd_open(args) -> int:
    from coopchain.service import market

    terms = _village(args.file).terms
    done = _run(args, "manager.key", lambda ledger, key: market.open_day(ledger, key, args.cooperative, terms, args.gate))
    return _report(args, [done], "open")


def cmd_offer(args) -> int:
    from coopchain.service import market

    village = _village(args.file)
    unknown = set(args.participant or ()) - set(village.offers)
    if unknown:
        raise CommandError(f"{args.file} has no participant {', '.join(sorted(unknown))}")
    offers = {pid: o for pid, o in village.offers.items() if not args.participant or pid in args.participant}
    done = _run(args, "manager.key", lambda ledger, key: market.post_offers(ledger, key, village.terms.market, offers))
    return _report(args, done, "offer")


def cmd_clear(args) -> int:
    from coopchain.service import market

    cleared = _run(args, "manager.key", lambda ledger, key: market.clear_day(ledger, key, args.market))
    d, r = cleared.submitted, cleared.submitted.receipt
    emit(args, {"transaction": d.transaction, "height": d.height, "receipt": _receipt_json(r), "welfare": cleared.welfare,
                "prices": list(cleared.prices), "timings": cleared.timings},
         lambda: [outcome("clear", r), f"  transaction {d.transaction} in block {d.height}; HiGHS welfare {cleared.welfare:.6g}",
                  *([f"  `coopchain market show {args.market}` shows prices, trades and storage"] if r.applied else [])])
    return EXIT_OK if r.applied else EXIT_INVALID


# -- show ------------------------------------------------------------------------------------


def day_json(view) -> dict:
    """A service.market.DayView as JSON: exact figures as "n/d" strings (str of a Fraction: "n" when whole), prices and states of charge also as floats."""
    out = {"market": view.market, "cooperative": view.cooperative, "periods": view.periods, "period_minutes": view.period_minutes,
           "price_floor": view.price_floor, "gate": view.gate, "opened": view.opened, "participants": list(view.participants),
           "kinds": dict(view.kinds), "cleared": None}
    c = view.cleared
    if c is not None:
        out["cleared"] = {
            "transaction": c.transaction, "height": c.height, "sender": c.sender, "market_hash": c.market_hash,
            "welfare": str(c.welfare), "budget": str(c.budget), "unique_prices": c.unique_prices,
            "prices": [float(p) for p in c.prices], "prices_exact": [str(p) for p in c.prices],
            "interval": [[str(a), str(b)] for a, b in c.interval], "held": [list(h) for h in c.held],
            "storage_value": {k: [str(v) for v in vs] for k, vs in c.storage_value.items()},
            "state_of_charge": {k: [float(v) for v in vs] for k, vs in c.state_of_charge.items()},
            "state_of_charge_exact": {k: [str(v) for v in vs] for k, vs in c.state_of_charge.items()},
            "settlements": [{"participant": s.participant, "energy": [str(e) for e in s.energy], "payment": [str(p) for p in s.payment],
                             "total_payment": str(s.total_payment), "value": str(s.value), "surplus": str(s.surplus),
                             "may_stay_out": s.may_stay_out} for s in c.settlements],
        }
    return out


def _clock(t: int, minutes: int) -> str:
    start = t * minutes
    return f"{start // 60:02d}:{start % 60:02d}"


def day_table(view) -> str:
    """Per period: the price, each participant's energy (kWh bought + / sold −) and each battery's state of charge."""
    c = view.cleared
    lines = [f"Market day {view.market} ({view.cooperative}): {view.periods} periods of {view.period_minutes} min, "
             f"offers until block {view.gate}, {len(view.participants)} participants"]
    if c is None:
        lines.append("not cleared yet" + ("" if view.participants else "; nobody has posted an offer"))
        return "\n".join(lines)
    traders = [s.participant for s in c.settlements if any(s.energy)]
    batteries = list(c.state_of_charge)
    width = max(9, *(len(p) for p in traders + [b + " SoC" for b in batteries] + [s.participant for s in c.settlements]))
    head = f"{'period':<6} {'price/kWh':>10}  " + " ".join(f"{p:>{width}}" for p in traders) + "  " + " ".join(f"{b + ' SoC':>{width}}" for b in batteries)
    lines += ["", "energy bought (+) or sold (−) in kWh; storage state of charge in kWh at the period's end", head, "-" * len(head)]
    energy = {s.participant: s.energy for s in c.settlements}
    for t in range(view.periods):
        low, high = c.interval[t]
        mark = "*" if low != high else " "
        lines.append(f"{_clock(t, view.period_minutes):<6} {float(c.prices[t]):>9.4f}{mark}  "
                     + " ".join(f"{float(energy[p][t]):>{width}.3f}" for p in traders) + "  "
                     + " ".join(f"{float(c.state_of_charge[b][t]):>{width}.3f}" for b in batteries))
    if not c.unique_prices:
        lines.append("* the price is not unique: the midpoint of its interval (`--json` gives the interval)")
    lines += ["", f"welfare {float(c.welfare):,.4f}; payments sum to {c.budget} (exactly); cleared in block {c.height}, transaction {c.transaction}",
              "", f"{'participant':<{width}} {'kWh (net)':>12} {'pays (+) / paid (−)':>20} {'surplus':>12}"]
    for s in c.settlements:
        lines.append(f"{s.participant:<{width}} {float(sum(s.energy)):>12.3f} {float(s.total_payment):>20.4f} {float(s.surplus):>12.4f}")
    return "\n".join(lines)


def cmd_show(args) -> int:
    from coopchain.service.market import MarketError, day

    view = _read(args, lambda ledger: day(ledger, args.market), (MarketError,))
    emit(args, day_json(view), lambda: [day_table(view)])
    return EXIT_OK


def add_parsers(sub) -> None:
    market = sub.add_parser("market", help="the village energy market: register participants, open a day, offer, clear, show (docs/market.md)")
    commands = market.add_subparsers(dest="market_command", required=True, metavar="COMMAND")
    register = commands.add_parser("register", help="register a market document's participants (their static data); the signer owns them")
    register.add_argument("file", help="a market document (coopchain/market/v1, docs/market.md)")
    register.add_argument("--participant", action="append", help="only this participant (repeat)")
    add_writer_options(register, "manager.key")
    register.set_defaults(run=cmd_register)
    open_ = commands.add_parser("open", help="open the document's market day for a cooperative (a manager signs)")
    open_.add_argument("file", help="a market document: its market id, periods, period length and price floor")
    open_.add_argument("--cooperative", required=True)
    open_.add_argument("--gate", type=int, help="the last block height that may carry offers (default: the block after this one)")
    add_writer_options(open_, "manager.key")
    open_.set_defaults(run=cmd_open)
    offer = commands.add_parser("offer", help="post the document's offers and bids for its day, in one block (the participants' owner signs)")
    offer.add_argument("file", help="a market document: each participant's series for the day")
    offer.add_argument("--participant", action="append", help="only this participant (repeat)")
    add_writer_options(offer, "manager.key")
    offer.set_defaults(run=cmd_offer)
    clear = commands.add_parser("clear", help="after the gate: clear the day with HiGHS and submit it with its duals; the contract checks it exactly")
    clear.add_argument("market", help="the market day's id")
    add_writer_options(clear, "manager.key")
    clear.set_defaults(run=cmd_clear)
    show = commands.add_parser("show", help="a market day: prices, trades, settlements and each battery's state of charge")
    show.add_argument("market", help="the market day's id")
    add_reader_options(show)
    show.set_defaults(run=cmd_show)
