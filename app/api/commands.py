"""`coopchain serve` and `coopchain keys api new|list|revoke`: wiring of the API for the command line."""

from __future__ import annotations

import json
import os
import sys

from coopchain.app.cli import EXIT_OK, CommandError


def cmd_serve(args) -> int:
    from coopchain.chain.errors import ChainError
    from coopchain.chain.ledger import Ledger
    from coopchain.chain.store import database_url

    url = database_url(args.db)
    try:  # the ledger must exist before any worker starts: a plain message, not a worker's traceback
        Ledger.open(url).close()
    except ChainError as e:
        raise CommandError(f"{e}") from e
    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    import uvicorn

    os.environ["COOPCHAIN_DB"] = url  # the workers' Settings read it
    print(f"serving {url} on http://{args.host}:{args.port} with {args.workers} worker(s); OpenAPI at /docs", file=sys.stderr)
    uvicorn.run("coopchain.app.api.main:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="warning", access_log=False)
    return EXIT_OK


def _store(db):
    from coopchain.chain.errors import ChainError
    from coopchain.chain.ledger import Ledger
    from coopchain.service.api_store import ApiStore

    try:
        Ledger.open(db).close()  # keys sit beside a ledger, never in a stray file
    except ChainError as e:
        raise CommandError(str(e)) from e
    return ApiStore(db)


def cmd_keys_api_new(args) -> int:
    from coopchain.service.api_store import ApiKeyRequestError

    store = _store(args.db)
    try:
        made = store.create_key(args.role, tuple(c for c in (args.cooperative or [])), args.label or "")
    except ApiKeyRequestError as e:
        raise CommandError(str(e)) from e
    finally:
        store.close()
    print(made.token)
    scope = f" of {', '.join(made.key.cooperatives)}" if made.key.cooperatives else ""
    print(f"{made.key.role} key {made.key.id}{scope}: the key above is shown once; only its hash is stored", file=sys.stderr)
    return EXIT_OK


def cmd_keys_api_list(args) -> int:
    store = _store(args.db)
    try:
        keys, _ = store.keys(0, 10**9)
    finally:
        store.close()
    for k in keys:
        print(json.dumps({"id": k.id, "role": k.role, "cooperatives": list(k.cooperatives), "label": k.label, "revoked": k.revoked is not None}))
    return EXIT_OK


def cmd_keys_api_revoke(args) -> int:
    store = _store(args.db)
    try:
        key = store.revoke_key(args.id)
    finally:
        store.close()
    if key is None:
        raise CommandError(f"no API key {args.id}")
    print(f"key {key.id} revoked")
    return EXIT_OK


def add_parsers(sub, keys) -> None:
    """`serve` under the top-level commands, `api` under `keys`."""
    db_help = "ledger URL (default $COOPCHAIN_DB, else sqlite:///coopchain.db)"
    serve = sub.add_parser("serve", help="the HTTP API (docs/api.md)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--db", help=db_help)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (several share one PostgreSQL ledger)")
    serve.set_defaults(run=cmd_serve)

    api = keys.add_parser("api", help="API keys: new, list, revoke").add_subparsers(dest="api_command", required=True, metavar="COMMAND")
    new = api.add_parser("new", help="make an API key; prints it once")
    new.add_argument("role", choices=["admin", "manager", "auditor", "participant"])
    new.add_argument("--cooperative", action="append", help="a manager's cooperative (repeat for several)")
    new.add_argument("--label", help="who or what holds it")
    new.add_argument("--db", help=db_help)
    new.set_defaults(run=cmd_keys_api_new)
    listing = api.add_parser("list", help="every API key (never a secret)")
    listing.add_argument("--db", help=db_help)
    listing.set_defaults(run=cmd_keys_api_list)
    revoke = api.add_parser("revoke", help="revoke an API key by id")
    revoke.add_argument("id")
    revoke.add_argument("--db", help=db_help)
    revoke.set_defaults(run=cmd_keys_api_revoke)
