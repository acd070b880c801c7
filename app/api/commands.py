"""`coopchain serve` and `coopchain keys api new|list|revoke`: wiring of the API for the command line."""

from __future__ import annotations

import json
import os
import socket
import sys

from coopchain.app.cli import EXIT_OK, CommandError


def cmd_serve(args) -> int:
    from coopchain.chain.errors import ChainError
    from coopchain.service.wiring import open_ledger
    from coopchain.chain.store import database_url

    url = database_url(args.db)
    try:  # the ledger must exist before any worker starts: a plain message, not a worker's traceback
        open_ledger(url).close()
    except ChainError as e:
        raise CommandError(f"{e}") from e
    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    import uvicorn

    os.environ["COOPCHAIN_DB"] = url  # the workers' Settings read it
    _check_settings()
    print(f"serving {url} on http://{args.host}:{args.port} with {args.workers} worker(s); OpenAPI at /docs", file=sys.stderr)
    if args.workers == 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(APP, factory=True, host=args.host, port=args.port, workers=args.workers, log_level="warning", access_log=False)
    elif not supervise(args.host, args.port, args.workers):
        raise CommandError("a worker failed at start-up (its message is above); the server is stopped")
    return EXIT_OK


APP = "coopchain.app.api.main:create_app"


def _check_settings() -> None:
    """Read the workers' Settings once here, so that a setting out of range is one line naming it and an exit,
    not a traceback in every worker (and, under the supervisor, workers restarted for ever)."""
    from pydantic import ValidationError

    from coopchain.app.api.config import Settings

    try:
        Settings()
    except ValidationError as e:
        reasons = "; ".join(f"COOPCHAIN_{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}" for error in e.errors())
        raise CommandError(f"a setting is out of range: {reasons}") from None


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket of this worker's own, bound with SO_REUSEPORT beside its siblings'."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(host: str, port: int, ready) -> None:
    import signal

    import uvicorn

    from coopchain.service.lifetime import when_parent_ends

    # Left alone after a SIGKILL of the supervisor, a worker would keep serving on the shared port.
    when_parent_ends(lambda: os.kill(os.getpid(), signal.SIGTERM))  # uvicorn's own graceful shutdown

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # the application's start-up ran: from now on an exit is a crash, worth a restart
                ready.set()

    # Open connections (an SSE stream) get 10 s to finish on SIGTERM, well inside the supervisor's 30 s join.
    config = uvicorn.Config(APP, factory=True, log_level="warning", access_log=False, timeout_graceful_shutdown=10)
    Server(config).run(sockets=[_listen(host, port)])


def _committer(ready) -> None:
    """The committer process beside the workers (service.committer): it serves no HTTP, it only commits."""
    import logging
    import signal
    import threading

    from coopchain.app.api.config import Settings
    from coopchain.chain.keys import PrivateKey
    from coopchain.service.committer import Committer
    from coopchain.service.lifetime import when_parent_ends
    from coopchain.service.wiring import open_ledger

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C reaches the whole process group: the supervisor's SIGTERM follows once the workers have ended,
    # so that what they acknowledged last is committed too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    when_parent_ends(stop.set)
    logging.basicConfig(level=logging.WARNING, format="committer %(process)d: %(message)s")
    settings = Settings()
    ledger = open_ledger(settings.db, PrivateKey.load(settings.node_key))
    committer = Committer(ledger, settings.db, settings.batch_transactions, settings.batch_wait_ms)
    ready.set()
    while not stop.wait(1.0):
        if not committer.alive():  # cannot happen by design; if it does, the supervisor starts another process
            sys.exit(1)
    committer.close()  # commits what is queued, within its bound
    ledger.close()


def supervise(host: str, port: int, workers: int) -> bool:
    """Run `workers` uvicorn servers, each on its own SO_REUSEPORT socket, and with a node key a committer
    process beside them; restart any that dies once it has started; False (all stopped) when one fails
    before it started, which a restart would repeat (one killed by SIGKILL before it started is replaced:
    it did not fail of itself).

    Why not uvicorn's own --workers: it shares one listening socket, and the worker that
    wakes first accepts a whole burst of connections (14 of 16 keep-alive connections went
    to one of two workers here, which then queued while the other idled).  With a socket per
    worker the kernel spreads connections evenly by their address hash.

    Why a committer process: committing in a worker shares that worker's GIL with its requests
    (service.committer).  The workers keep standby committers for when this process is down."""
    import multiprocessing
    import signal
    import time

    from coopchain.app.api.config import Settings

    spawn = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    targets = [(_worker, (host, port), "coopchain-api-worker")] * workers
    if Settings().node_key:
        os.environ["COOPCHAIN_STANDBY_COMMITTER"] = "true"  # the workers' Settings (spawned children inherit it)
        targets.insert(0, (_committer, (), "coopchain-committer"))  # first: it takes the lock before any standby would

    def start(target, args, name):
        ready = spawn.Event()
        process = spawn.Process(target=target, args=(*args, ready), name=name)
        process.start()
        return process, ready

    processes = [start(*target) for target in targets]
    failed = False
    while not stopping:
        for i, (process, ready) in enumerate(processes):
            if not process.is_alive() and not stopping:
                # A process that fails before it started would fail again: stop.  One killed by SIGKILL (the
                # OOM killer, an operator) did not fail of itself, so it is replaced even before it started.
                if not ready.is_set() and process.exitcode != -signal.SIGKILL:
                    print(f"{process.name} {process.pid} failed at start-up (exit {process.exitcode})", file=sys.stderr)
                    stopping = failed = True
                    break
                print(f"{process.name} {process.pid} ended (exit {process.exitcode}); starting another", file=sys.stderr)
                processes[i] = start(*targets[i])
        time.sleep(0.2)
    # The workers first (uvicorn shuts down gracefully on SIGTERM), then the committer, which commits what
    # they acknowledged last.
    processes = [process for process, _ in processes]
    committers = len(targets) - workers  # 0 or 1, first in the list
    for group in (processes[committers:], processes[:committers]):
        for process in group:
            if process.is_alive():
                process.terminate()
        for process in group:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()
    return not failed


def _store(db):
    from coopchain.chain.errors import ChainError
    from coopchain.service.wiring import open_ledger
    from coopchain.service.api_store import ApiStore

    try:
        open_ledger(db).close()  # keys sit beside a ledger, never in a stray file
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
