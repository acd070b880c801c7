"""`coopchain demo`: the main job, end to end, in the current folder (SPEC §6).

The sample cooperative (shipped inside the package) is written out as a problem
document and as a CSV table with its header, solved for each objective, its exact
front computed, the TOPSIS pick certified and committed to the embedded ledger,
the chain verified and an audit bundle written: every file the README's commands
then use.  The demo's private keys live in a per-user data folder, never in the
current folder, where `git add .` would pick them up.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from coopchain.app.cli import EXIT_INVALID, EXIT_OK, CommandError, _load

KEYS_VARIABLE = "COOPCHAIN_KEYS"
BUNDLE = "coopchain-bundle.json"
TRANSACTION = "transaction-hash.txt"
SOLUTION = "solution.json"
FRONT = "front.json"
MARKET = "village-day.json"


def demo_key_dir(option: str | None) -> Path:
    """Where the demo keeps its keys: --keys, else $COOPCHAIN_KEYS, else the per-user data folder
    (platformdirs: ~/.local/share/coopchain/demo-keys on Linux, or under $XDG_DATA_HOME)."""
    if option:
        return Path(option)
    if os.environ.get(KEYS_VARIABLE):
        return Path(os.environ[KEYS_VARIABLE])
    from platformdirs import user_data_path

    return user_data_path("coopchain", appauthor=False) / "demo-keys"


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as e:
        raise CommandError(f"cannot write {path} ({e.strerror}); run the demo in a folder you can write to") from e


def _write_samples(written: list[str]) -> None:
    """The sample cooperative, as a document and as CSV + header; a file the user changed is kept."""
    from coopchain.models.samples import SAMPLE_FILES, sample_text

    for name in SAMPLE_FILES:
        path, text = Path(name), sample_text(name)
        if path.exists():
            try:
                same = path.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                same = False
            if not same:
                print(f"note: {name} here differs from the sample; kept as it is", file=sys.stderr)
        else:
            _write(path, text)
        written.append(name)


def run_demo(args) -> int:
    from coopchain.models.certificate import CertificateError, verify_certificate
    from coopchain.models.solve import prepare, solve

    from coopchain.app.ledger_commands import demo_commit, demo_ledger

    written: list[str] = []
    key_dir = demo_key_dir(args.keys)
    if args.problem:
        problem = _load(args.problem, getattr(args, "header", None))
    else:
        from coopchain.models.samples import sample_problem

        problem = sample_problem()
    ledger, manager = demo_ledger(args.db, key_dir, args.seal)  # a bad --db or --keys fails before any solving
    if not args.problem:
        _write_samples(written)
    prepared = prepare(problem)
    print(f"Cooperative {problem.cooperative}, round {problem.round}: {prepared.instance.n} enterprises")
    solutions = {}
    for objective in ("F1", "F2", "F3"):
        solution = solve(prepared, objective)
        if not solution.success:
            raise CommandError(f"{objective}: {solution.message}", EXIT_INVALID)
        try:  # as an auditor reads it: through JSON text
            verify_certificate(json.loads(json.dumps(solution.certificate)), solution.certificate.problem_text)
        except CertificateError as e:
            raise CommandError(f"{objective}: the certificate does not verify: {e}", EXIT_INVALID) from e
        solutions[objective] = solution
    print()
    names = {e.id: f"{e.id} {e.name}" if e.name else e.id for e in problem.enterprises}
    print(side_by_side(prepared.instance, solutions, names))
    print("(volumes in the problem's unit of volume; F1 in benefit units; F2, C, T in [0, 1]; F3 a weighted share of the caps)")
    print()
    for objective, solution in solutions.items():
        print(f"  {objective}: {solution.message.rstrip('.')}; certificate verified offline")
    from coopchain.models.augmecon import augmecon
    from coopchain.models.picks import compromise_picks

    front = augmecon(prepared.instance, ("F1", "F2", "F3"), points=100)
    print(f"\nTrade-offs: {len(front.points)} efficient allocations on the exact front (AUGMECON2). Compromise picks:")
    picks = compromise_picks(front)
    for pick in picks:
        v = pick.values
        print(f"  {pick.name}: F1 = {v.F1:,.0f}, F2 = {v.F2:.4f}, F3 = {v.F3:.4f}. {pick.sentence}")
    _write(Path(FRONT), json.dumps(front.as_json(picks=picks, problem_text=prepared.canonical), ensure_ascii=False))
    written.append(FRONT)
    # The front's points carry no certificate: the service certifies the pick (the certified max F2
    # among the allocations at least as good in F1 and F3, which weakly dominates it) and commits it
    # through the allocation contract, which checks the certificate again.
    from coopchain.service.commit import CommitError, from_front

    pick = getattr(args, "pick", None) or "topsis"
    try:
        chosen = from_front(problem, json.loads(json.dumps(front.as_json(picks=picks))), pick)
    except CommitError as e:
        raise CommandError(f"--pick {pick}: {e}", EXIT_INVALID) from e
    c = chosen.solution["values"]
    print(f"\nChosen: {chosen.description}: F1 = {c['F1']:,.0f}, F2 = {c['F2']:.4f}, F3 = {c['F3']:.4f}.")
    _write(Path(SOLUTION), json.dumps(chosen.solution, ensure_ascii=False))
    written.append(SOLUTION)
    from coopchain.chain.store import database_url

    url = database_url(args.db)
    tx_hash = demo_commit(ledger, manager, url, key_dir, chosen, Path(BUNDLE))
    _write(Path(TRANSACTION), tx_hash)
    written += [BUNDLE, TRANSACTION]
    _market_day(args, key_dir, problem.cooperative, written)
    _files(written, url, key_dir, args.problem)
    return EXIT_OK


def _market_day(args, key_dir: Path, cooperative: str, written: list[str]) -> None:
    """The village energy market (docs/market.md): the sample day's participants registered, the day
    opened by the cooperative's manager, offers posted, cleared by HiGHS and checked by the market
    contract, then its prices, trades and the battery's state of charge per hour, as the chain holds them."""
    from importlib.resources import files

    from coopchain.app.ledger_commands import demo_ledger
    from coopchain.app.market_commands import day_table
    from coopchain.chain.errors import ChainError
    from coopchain.service.market import MarketError, day, split_market_document, trade_day

    text = files("coopchain.models.samples").joinpath(MARKET).read_text(encoding="utf-8")
    path = Path(MARKET)
    if not path.exists():
        _write(path, text)
    written.append(MARKET)
    document = json.loads(text)
    market = split_market_document(document).terms.market
    ledger, manager = demo_ledger(args.db, key_dir, args.seal)
    if "market" not in {spec.name for spec in ledger.config.contracts}:
        ledger.close()  # a ledger made before the market contract existed: its genesis fixes its contracts
        print("\nnote: this ledger's genesis does not run the market contract (it predates it); "
              "the village market needs a new ledger: --db sqlite:///new.db", file=sys.stderr)
        return
    try:
        try:
            before = day(ledger, market).cleared
        except MarketError:
            before = None
        view = trade_day(ledger, manager, cooperative, document)
    except MarketError as e:
        raise CommandError(f"the village market: {e}", EXIT_INVALID) from e
    except ChainError as e:
        raise CommandError(f"the village market: {e} (a ledger made before the market contract existed does not run it: "
                           "give --db a new file)", EXIT_INVALID) from e
    finally:
        ledger.close()
    print(f"\nThe village energy market, {market}: {len(view.participants)} participants, cleared through the market contract"
          + (" (already cleared on this ledger: read back)" if before is not None else ""))
    print(day_table(view))


def _sample_market_id() -> str:
    from importlib.resources import files

    return json.loads(files("coopchain.models.samples").joinpath(MARKET).read_text(encoding="utf-8"))["market"]


def _files(written: list[str], url: str, key_dir: Path, problem: str | None) -> None:
    described = {
        "green-valley.json": "the sample cooperative as a problem document (docs/problem.md)",
        "green-valley.csv": "the same enterprises as a CSV table ...",
        "green-valley.header.json": "... and its cooperative-level fields",
        FRONT: "the exact front, its hypervolume and compromise picks",
        SOLUTION: "the committed allocation with its certificate",
        BUNDLE: "the audit bundle of the commit",
        TRANSACTION: "the commit's transaction hash",
        MARKET: "a village market day: offers, bids and a battery (docs/market.md)",
    }
    print("\nFiles here:")
    for name in written:
        print(f"  {name:<26} {described.get(name, '')}")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        print(f"  {url.removeprefix('sqlite:///'):<26} the ledger (SQLite)")
    print(f"The demo's private keys are in {key_dir}/ (mode 0600, outside this folder; --keys or ${KEYS_VARIABLE} to move them).")
    source = problem or "green-valley.json"
    steps = (
        (f"coopchain solve {source} --objective F2", "one optimum, its values and what its gap means"),
        (f"coopchain front {source} --plot front.png", "the trade-offs, drawn"),
        (f"coopchain verify {SOLUTION}", "the certificate, offline (numpy alone)"),
        (f"coopchain verify {BUNDLE}", "the commit, offline: on the chain, unaltered, certified"),
        ("coopchain chain verify", "every block, signature, seal and root"),
        (f"coopchain market show {_sample_market_id()}", "the village market day: prices, trades, the battery's state of charge"),
        (f"coopchain chain bundle $(cat {TRANSACTION}) --output bundle.json", "the audit bundle again, at the current head"),
        ("coopchain keys api new admin", "a key for the web page and the API, shown once (manager and auditor keys: docs/api.md)"),
        ("coopchain serve", "the HTTP API and the web page over this ledger: open http://127.0.0.1:8000/ (docs/web.md, docs/api.md)"),
    )
    width = max(len(command) for command, _ in steps)
    print("\nNext:")
    for command, what in steps:
        print(f"  {command:<{width}}  {what}")


def side_by_side(inst, solutions: dict, names: dict) -> str:
    """The three optima as columns: the allocation per enterprise, then the values of every objective."""
    heads = {"F1": "max F1 (benefit)", "F2": "max F2 (coordination)", "F3": "min F3 (footprint)"}
    width = max(12, max(len(names[e]) for e in inst.ids))
    lines = [f"{'enterprise (volume)':<{width}}  " + "  ".join(f"{heads[o]:>22}" for o in solutions)]
    for j, eid in enumerate(inst.ids):
        lines.append(f"{names[eid]:<{width}}  " + "  ".join(f"{s.allocation[j]:>22.3f}" for s in solutions.values()))
    lines.append("-" * len(lines[0]))
    rows = (("F1 benefit", "F1", "{:,.2f}"), ("F2 coordination D", "F2", "{:.6f}"), ("  C", "C", "{:.6f}"), ("  T", "T", "{:.6f}"), ("F3 footprint", "F3", "{:.6f}"))
    for label, key, fmt in rows:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{fmt.format(getattr(s.values, key)):>22}" for s in solutions.values()))
    lines.append(f"{'class of D':<{width}}  " + "  ".join(f"{s.values.coordination_class:>22}" for s in solutions.values()))
    return "\n".join(lines)
