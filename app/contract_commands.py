"""The contract commands (SPEC §6): `commit`, `history`, `show` and `cooperative create|add-manager|remove-manager|set-policy|show`.

Wiring and presentation only: the use cases are service.commit, service.history
and service.cooperatives; the rules are the contracts'.  Writing to the
embedded ledger needs the node's key (it seals the block) and the signer's key;
both default to the demo's keys, so that every command runs after `coopchain demo`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from coopchain.app.cli import EXIT_INVALID, EXIT_OK, CommandError
from coopchain.app.command_io import add_reader_options, add_writer_options, emit, json_file, key_file, open_ledger, outcome
from coopchain.app.command_io import readable as _readable


def _key_path(option: str | None, name: str, what: str) -> str:
    if option:
        return option
    from coopchain.app.demo import demo_key_dir

    path = demo_key_dir(None) / name
    if not path.exists():
        raise CommandError(f"{what}: give its key file ({'--node-key' if name == 'node.key' else '--key'}); the demo's {path} does not exist")
    return str(path)


def _writer(args, signer_default: str):
    """(ledger opened with the node key, the signer's key)."""
    ledger = open_ledger(args.db, _key_path(args.node_key, "node.key", "the node's key (it seals the block)"))
    try:
        signer = key_file(_key_path(args.key, signer_default, "the signer's key"))
    except CommandError:
        ledger.close()
        raise
    return ledger, signer


def _when(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _receipt_json(receipt) -> dict:
    from coopchain.chain.receipt import receipt_json

    return receipt_json(receipt)


def _submitted(args, done, what: str) -> int:
    """Print a submitted transaction's outcome; exit 0 when applied, EXIT_INVALID when rejected."""
    r = done.receipt
    emit(args, {"transaction": done.transaction, "height": done.height, "receipt": _receipt_json(r)},
         lambda: (outcome(what, r), f"  transaction {done.transaction} in block {done.height}"))
    return EXIT_OK if r.applied else EXIT_INVALID


def _chain_errors(run):
    from coopchain.chain.errors import ChainError

    try:
        return run()
    except ChainError as e:
        raise CommandError(str(e)) from e


def _read(args, work, refusals: tuple = ()):
    """Open the ledger at --db, run `work(ledger)`, close it; a chain error, or one of `refusals`, is a message, not a traceback."""
    ledger = open_ledger(args.db)
    try:
        return _chain_errors(lambda: work(ledger))
    except refusals as e:
        raise CommandError(str(e)) from e
    finally:
        ledger.close()


def _signed(args, signer: str, work, refusals: tuple = ()):
    """Open the ledger with the node key and the signer's key (`signer` the demo's key file by default),
    run `work(ledger, key)`, close it; a chain error, or one of `refusals` (exit EXIT_INVALID), is a
    message, not a traceback."""
    ledger, key = _writer(args, signer)
    try:
        return _chain_errors(lambda: work(ledger, key))
    except refusals as e:
        raise CommandError(str(e), EXIT_INVALID) from e
    finally:
        ledger.close()


# -- commit -------------------------------------------------------------------------


def cmd_commit(args) -> int:
    from coopchain.service import commit as commits

    document = json_file(args.file)
    try:
        if isinstance(document, dict) and "points" in document:
            if not args.pick:
                raise CommandError("a front: say which point to commit with --pick knee|ideal|topsis|INDEX")
            if args.problem:
                from coopchain.app.cli import _load

                problem = _load(args.problem, args.header)
            else:  # `coopchain front` writes the problem once at the top of the front
                problem = commits.problem_of_front(document)
            chosen = commits.from_front(problem, document, args.pick)
        else:
            if args.pick:
                raise CommandError("--pick chooses a point of a front; a solution is committed as it is")
            chosen = commits.from_solution(document)
    except commits.CommitError as e:
        raise CommandError(f"{args.file}: {e}") from e
    if args.api:
        return _commit_over_api(args, chosen)
    ledger, manager = _writer(args, "manager.key")
    endorsers = [_endorser(path) for path in args.endorse or ()]
    try:
        result = _chain_errors(lambda: commits.commit(ledger, manager, chosen, args.supersedes, args.reason, endorsers))
    except commits.CommitError as e:
        raise CommandError(str(e), EXIT_INVALID) from e
    finally:
        ledger.close()
    return _print_commit(args, result, f"`coopchain show {result.commit.transaction}` shows it; `coopchain chain bundle {result.commit.transaction}` bundles it for an auditor")


def _commit_over_api(args, chosen) -> int:
    """`commit --api URL`: the same transactions, signed here with the manager's key, committed by the server."""
    import os

    from coopchain.app.api_client import ApiClient, ApiClientError
    from coopchain.chain.transaction import sign_transaction
    from coopchain.service import commit as commits

    if args.db or args.node_key:
        raise CommandError("--db and --node-key are for a local ledger; with --api the server's ledger commits and its node seals the block")
    api_key = args.api_key or os.environ.get("COOPCHAIN_API_KEY")
    if not api_key:
        raise CommandError("--api needs an API key: give --api-key KEY or set COOPCHAIN_API_KEY (coopchain keys api new manager --cooperative …)")
    manager = key_file(_key_path(args.key, "manager.key", "the manager's key (it signs the commit)"))
    endorsers = [_endorser(path) for path in args.endorse or ()]
    sender = manager.public_key.to_text()
    try:
        with ApiClient(args.api, api_key) as api:
            chain_id = api.chain_id()
            plan = commits.plan_commit(api.state, chain_id, chosen, args.supersedes, args.reason, endorsers)
            nonce = api.next_nonce(sender)
            # One request for all of them (registration and commit): queued in order, most often in one block.
            done = api.submit_all([sign_transaction(manager, chain_id, nonce + i, kind, arguments) for i, (kind, arguments) in enumerate(plan.calls)])
    except commits.CommitError as e:
        raise CommandError(str(e), EXIT_INVALID) from e
    except ApiClientError as e:
        raise CommandError(str(e)) from e
    result = commits.CommitResult(plan.cooperative, plan.round, plan.problem, done[0] if plan.registers else None, done[-1], chosen)
    tx = result.commit.transaction
    return _print_commit(args, result, f"GET {args.api.rstrip('/')}/transactions/{tx} shows it; GET /bundles/{tx} bundles it for an auditor")


def _print_commit(args, result, hint: str) -> int:
    chosen, r = result.chosen, result.commit.receipt

    def lines():
        if result.registered is not None:
            yield outcome(f"problem {result.problem}", result.registered.receipt)
        yield outcome(f"commit of {chosen.description}", r)
        yield f"  transaction {result.commit.transaction} in block {result.commit.height}"
        if r.applied:
            yield f"  {hint}"

    emit(args, {
        "cooperative": result.cooperative, "round": result.round, "problem": result.problem, "chosen_by": chosen.chosen_by,
        "registered": None if result.registered is None else {"transaction": result.registered.transaction, "receipt": _receipt_json(result.registered.receipt)},
        "transaction": result.commit.transaction, "height": result.commit.height, "receipt": _receipt_json(r),
    }, lines)
    return EXIT_OK if r.applied else EXIT_INVALID


def _endorser(path: str):
    return key_file(path)


# -- history and show ------------------------------------------------------------------


def _commit_json(c) -> dict:
    return {"cooperative": c.cooperative, "round": c.round, "sequence": c.sequence, "transaction": c.transaction, "height": c.height,
            "time": _when(c.timestamp), "sender": c.sender, "problem": c.problem, "chosen_by": c.chosen_by, "supersedes": c.supersedes,
            "reason": c.reason, "values": c.values, "current": c.current}


def _commit_line(c) -> str:
    how = c.chosen_by
    chosen = f"{how['pick']} pick, " if how.get("pick") else ""
    chosen += how["objective"] + (f" ({how['method']})" if how.get("method") else "")
    v = c.values
    status = "current" if c.current else "superseded"
    line = (f"{c.cooperative} {c.round} #{c.sequence} [{status}]  block {c.height}, {_when(c.timestamp)}  {chosen}  "
            f"F1 = {float(v['F1']):,.2f}, F2 = {float(v['F2']):.4f}, F3 = {float(v['F3']):.4f}\n    transaction {c.transaction}  by {c.sender}")
    if c.supersedes:
        line += f"\n    amends {c.supersedes}: {c.reason}"
    return line


def cmd_history(args) -> int:
    from coopchain.service.history import history

    commits = _read(args, lambda ledger: history(ledger, args.cooperative))
    none = "no allocation is committed" + (f" for {args.cooperative!r}" if args.cooperative else "") + " on this ledger"
    emit(args, {"commits": [_commit_json(c) for c in commits], "count": len(commits)}, lambda: [_commit_line(c) for c in commits] or [none])
    return EXIT_OK


def _short(tx: dict) -> dict:
    """A transaction's JSON with long texts (problem documents, certificates) cut for display."""
    payload = {k: (v[:60] + f"… ({len(v):,} characters)" if isinstance(v, str) and len(v) > 80 else v) for k, v in tx["payload"].items()}
    if isinstance(payload.get("allocation"), dict) and len(payload["allocation"]) > 12:
        payload["allocation"] = f"{len(payload['allocation']):,} enterprises"
    return {**tx, "payload": payload}


def cmd_show(args) -> int:
    from coopchain.service.history import BlockShow, NotFound, RoundShow, show

    found = _read(args, lambda ledger: show(ledger, args.what), (NotFound,))
    readable = _readable(args)
    if isinstance(found, RoundShow):
        if not readable:
            print(json.dumps({"cooperative": found.cooperative, "round": found.round, "commits": [_commit_json(c) for c in found.commits]}))
        for c in found.commits if readable else ():
            print(_commit_line(c))
        return EXIT_OK
    txs = found.transactions if isinstance(found, BlockShow) else (found,)
    if not readable:
        body = [{"hash": t.hash, "height": t.height, "position": t.position, "time": _when(t.timestamp), "transaction": t.transaction,
                 "receipt": _receipt_json(t.receipt)} for t in txs]
        print(json.dumps({"height": found.height, "hash": found.hash, "header": found.header, "transactions": body} if isinstance(found, BlockShow) else body[0]))
        return EXIT_OK
    if isinstance(found, BlockShow):
        h = found.header
        print(f"block {found.height}  {found.hash}\n  time {_when(h['timestamp'])}, {h['transaction_count']} transactions, seal {h['seal']['kind']}")
        for name in ("previous", "transactions_root", "receipts_root", "state_root", "history_root"):
            print(f"  {name:<18} {h[name]}")
    for t in txs:
        r = t.receipt
        print(f"transaction {t.hash}  (block {t.height}, position {t.position}, {_when(t.timestamp)})")
        print(f"  {t.transaction['kind']} by {t.transaction['sender']}, nonce {t.transaction['nonce']}")
        print(f"  receipt: {r.status}{' (' + r.code + ')' if r.code else ''}: {r.message}")
        for e in r.events:
            print(f"    event {e.name}: {json.dumps(e.data)}")
        if not isinstance(found, BlockShow):
            print("  arguments: " + json.dumps(_short(t.transaction)["payload"], indent=1).replace("\n", "\n  "))
    return EXIT_OK


# -- cooperatives ------------------------------------------------------------------------


def _cooperative_call(args, signer: str, call, what: str) -> int:
    """Sign one cooperatives-contract call with the `signer` key file's default and print its receipt."""
    return _submitted(args, _signed(args, signer, call), what)


def cmd_cooperative_create(args) -> int:
    from coopchain.service import cooperatives

    # the demo's admin key is its node key
    return _cooperative_call(args, "node.key", lambda ledger, admin: cooperatives.create_cooperative(ledger, admin, args.cooperative, args.manager),
                             f"cooperative {args.cooperative!r}")


def cmd_cooperative_add(args) -> int:
    from coopchain.service import cooperatives

    return _cooperative_call(args, "manager.key", lambda ledger, manager: cooperatives.add_manager(ledger, manager, args.cooperative, args.manager),
                             f"add manager to {args.cooperative!r}")


def cmd_cooperative_remove(args) -> int:
    from coopchain.service import cooperatives

    return _cooperative_call(args, "manager.key", lambda ledger, manager: cooperatives.remove_manager(ledger, manager, args.cooperative, args.manager),
                             f"remove manager from {args.cooperative!r}")


def cmd_cooperative_policy(args) -> int:
    from coopchain.service import cooperatives

    return _cooperative_call(args, "manager.key", lambda ledger, manager: cooperatives.set_policy(ledger, manager, args.cooperative, args.member or [], args.k),
                             f"policy of {args.cooperative!r}")


def cmd_cooperative_show(args) -> int:
    from coopchain.service import cooperatives

    found = _read(args, lambda ledger: cooperatives.cooperative(ledger, args.cooperative))
    if found is None:
        raise CommandError(f"no cooperative {args.cooperative!r} is registered on this ledger")
    emit(args, {"cooperative": found.id, "managers": list(found.managers), "members": list(found.members), "k": found.k, "registered": found.registered},
         lambda: [f"cooperative {found.id!r}, registered in block {found.registered}", *(f"  manager {m}" for m in found.managers),
                  f"  policy: {found.k} of {len(found.members)} member endorsements on each allocation", *(f"  member  {m}" for m in found.members)])
    return EXIT_OK


def add_parsers(sub) -> None:
    commit = sub.add_parser("commit", help="commit a solution or a front's pick through the allocation contract (registers the problem if needed)")
    commit.add_argument("file", help="a solve's output (SOLUTION) or a front (FRONT) as JSON")
    commit.add_argument("--pick", help="FRONT: knee, ideal, topsis or a point's index")
    commit.add_argument("--problem", help="FRONT: the problem document the front is of (default: the front's own problem_text)")
    commit.add_argument("--header", help="FRONT with a CSV problem: the JSON of the cooperative-level fields")
    commit.add_argument("--supersedes", help="amend: the round's current commit (transaction hash)")
    commit.add_argument("--reason", help="amend: why, in a sentence")
    commit.add_argument("--endorse", action="append", metavar="KEY", help="a member's key file that endorses the commit (repeat for k members)")
    commit.add_argument("--api", metavar="URL", help="commit through a coopchain API server (signed here: the server never sees the key)")
    commit.add_argument("--api-key", help="with --api: the API key (default $COOPCHAIN_API_KEY)")
    add_writer_options(commit, "manager.key")
    commit.set_defaults(run=cmd_commit)

    history = sub.add_parser("history", help="the allocations committed (of one cooperative), by whom, when, superseded or current")
    history.add_argument("cooperative", nargs="?")
    add_reader_options(history)
    history.set_defaults(run=cmd_history)

    show = sub.add_parser("show", help="a block (height), a transaction (hash) or a round (COOPERATIVE/ROUND), with receipts")
    show.add_argument("what", help="a block height, a transaction hash or COOPERATIVE/ROUND")
    add_reader_options(show)
    show.set_defaults(run=cmd_show)

    coop = sub.add_parser("cooperative", help="cooperatives and their roles on chain").add_subparsers(dest="cooperative_command", required=True, metavar="COMMAND")
    create = coop.add_parser("create", help="register a cooperative and its managers (the chain's admin key signs)")
    create.add_argument("cooperative")
    create.add_argument("--manager", action="append", required=True, help="a manager's public key text (repeat for several)")
    add_writer_options(create, "node.key (the demo's admin)")
    create.set_defaults(run=cmd_cooperative_create)
    for name, run, text in (("add-manager", cmd_cooperative_add, "add a manager (a manager signs)"),
                            ("remove-manager", cmd_cooperative_remove, "remove a manager (a manager signs)")):
        p = coop.add_parser(name, help=text)
        p.add_argument("cooperative")
        p.add_argument("manager", help="the manager's public key text")
        add_writer_options(p, "manager.key")
        p.set_defaults(run=run)
    policy = coop.add_parser("set-policy", help="k of these member keys must endorse each allocation (a manager signs)")
    policy.add_argument("cooperative")
    policy.add_argument("--member", action="append", help="a member enterprise's public key text (repeat)")
    policy.add_argument("--k", type=int, required=True, help="how many members must endorse (0: none)")
    add_writer_options(policy, "manager.key")
    policy.set_defaults(run=cmd_cooperative_policy)
    show_coop = coop.add_parser("show", help="a cooperative's managers and policy")
    show_coop.add_argument("cooperative")
    add_reader_options(show_coop)
    show_coop.set_defaults(run=cmd_cooperative_show)
