"""`coopchain witness`: a checkpoint witness as one-shot commands (SPEC §10; docs/trust.md).

Wiring only: the protocol is chain/witness.py.  Imports happen when a command runs, so
that `coopchain verify` (which builds the same parser) loads nothing of the witness.
"""

from __future__ import annotations

import sys
from pathlib import Path

from coopchain.app.cli import EXIT_INVALID, EXIT_OK, CommandError


def add_parsers(sub) -> None:
    witness = sub.add_parser("witness", help="cosign the node's checkpoints only when the ledger grew consistently (C2SP tlog-witness)")
    commands = witness.add_subparsers(dest="witness_command", required=True, metavar="COMMAND")
    store_help = "the witness's own SQLite file"

    new = commands.add_parser("new", help="make a witness: a key file and a store; prints its verifier key")
    new.add_argument("name", help="the witness's key name, e.g. auditor.example/w1 (no spaces, no '+')")
    new.add_argument("--store", required=True, help=store_help + " (must not exist)")
    new.add_argument("--key", required=True, help="the witness's Ed25519 key file to make (mode 0600; must not exist)")
    new.set_defaults(run=cmd_witness_new)

    follow = commands.add_parser("follow", help="follow a chain: its origin and the node's checkpoint key")
    follow.add_argument("origin", help="the chain's origin (first line of its checkpoints)")
    follow.add_argument("key", help="the node's verifier key (`coopchain chain checkpoint --vkey`) or its ed25519:<hex> key")
    follow.add_argument("--store", required=True, help=store_help)
    follow.set_defaults(run=cmd_witness_follow)

    add = commands.add_parser("add-checkpoint", help="check an add-checkpoint request and print the cosignature")
    add.add_argument("request", nargs="?", default="-", help="the request body (`coopchain chain checkpoint --old N`); '-' or nothing: standard input")
    add.add_argument("--store", required=True, help=store_help)
    add.add_argument("--key", required=True, help="the witness's key file")
    add.add_argument("--output", help="also write the cosigned checkpoint (the node's note with this cosignature) here")
    add.set_defaults(run=cmd_witness_add_checkpoint)

    serve = commands.add_parser("serve", help="run the witness as an HTTP service (POST /add-checkpoint, GET /<origin hash>/checkpoint)")
    serve.add_argument("--store", required=True, help=store_help)
    serve.add_argument("--key", required=True, help="the witness's key file")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8081, help="port (default 8081)")
    serve.set_defaults(run=cmd_witness_serve)

    submit = commands.add_parser("submit", help="the node's side: have witnesses cosign the head's checkpoint; prints the cosigned checkpoint")
    submit.add_argument("witnesses", nargs="+", metavar="URL", help="each witness's submission prefix, e.g. http://w1.example:8081")
    submit.add_argument("--db", help="ledger URL (default $COOPCHAIN_DB, else sqlite:///coopchain.db)")
    submit.add_argument("--node-key", required=True, help="the node's key file: signs the checkpoint")
    submit.add_argument("--output", help="write the cosigned checkpoint here instead of standard output")
    submit.set_defaults(run=cmd_witness_submit)

    show = commands.add_parser("checkpoint", help="print the last checkpoint this witness cosigned for an origin")
    show.add_argument("origin")
    show.add_argument("--store", required=True, help=store_help)
    show.set_defaults(run=cmd_witness_checkpoint)


def _store(path: str):
    from coopchain.chain.errors import StorageError
    from coopchain.chain.witness import WitnessStore

    try:
        return WitnessStore.open(path)
    except StorageError as e:
        raise CommandError(str(e)) from e


def cmd_witness_new(args) -> int:
    from coopchain.chain.checkpoint import MalformedNote
    from coopchain.chain.errors import StorageError
    from coopchain.chain.keys import PrivateKey
    from coopchain.chain.witness import WitnessStore

    if Path(args.store).exists():
        raise CommandError(f"--store {args.store}: the file exists; a witness store is made once")
    key = PrivateKey.generate("ed25519")
    try:
        store = WitnessStore.create(args.store, args.name, key.public_key)  # checks the name before the key file is written
    except (MalformedNote, StorageError) as e:
        raise CommandError(str(e)) from e
    try:
        key.save(args.key)
    except OSError as e:
        store.close()
        Path(args.store).unlink()
        raise CommandError(f"--key {args.key}: {e.strerror or e}; no witness was made") from e
    print(store.identity().vkey())
    store.close()
    print(f"witness {args.name}: store {args.store}, key {args.key} (mode 0600); give the line above to auditors for their policy", file=sys.stderr)
    return EXIT_OK


def cmd_witness_follow(args) -> int:
    from coopchain.chain.checkpoint import MalformedNote, note_key, parse_vkey
    from coopchain.chain.errors import ChainError
    from coopchain.chain.keys import PublicKey

    try:
        key = note_key(args.origin, PublicKey.from_text(args.key)) if args.key.startswith("ed25519:") else parse_vkey(args.key)
    except (MalformedNote, ChainError) as e:
        raise CommandError(f"the node's key: {e}") from e
    store = _store(args.store)
    try:
        store.follow(args.origin, key)
    except (MalformedNote, ChainError) as e:
        raise CommandError(str(e)) from e
    finally:
        store.close()
    print(f"following {args.origin} signed by {key.vkey()}")
    return EXIT_OK


def cmd_witness_add_checkpoint(args) -> int:
    from coopchain.chain.checkpoint import add_signatures
    from coopchain.chain.errors import ChainError
    from coopchain.chain.keys import PrivateKey
    from coopchain.chain.witness import Witness, WitnessRefusal, parse_add_checkpoint

    if args.request == "-" and sys.stdin.isatty():
        raise CommandError("give the request as a file, or pipe it in (coopchain chain checkpoint --old N | coopchain witness add-checkpoint ...)")
    try:
        body = sys.stdin.buffer.read() if args.request == "-" else Path(args.request).read_bytes()
    except OSError as e:
        raise CommandError(f"{args.request}: cannot read it ({e.strerror})") from e
    try:
        key = PrivateKey.load(args.key)
    except (OSError, ChainError) as e:
        raise CommandError(f"--key {args.key}: {e}") from e
    store = _store(args.store)
    try:
        answer = Witness(store, key).add_checkpoint(body)
    except WitnessRefusal as e:
        raise CommandError(f"{e.status} {e.reason}: {e}", EXIT_INVALID) from e
    except ChainError as e:
        raise CommandError(str(e)) from e
    finally:
        store.close()
    sys.stdout.write(answer.decode())
    if args.output:
        cosigned = add_signatures(parse_add_checkpoint(body).checkpoint, answer)
        try:
            Path(args.output).write_bytes(cosigned)
        except OSError as e:
            raise CommandError(f"cosigned, but --output {args.output} could not be written ({e.strerror})") from e
    return EXIT_OK


def cmd_witness_checkpoint(args) -> int:
    store = _store(args.store)
    try:
        held = store.latest(args.origin)
    finally:
        store.close()
    if held is None:
        raise CommandError(f"this witness has cosigned no checkpoint of {args.origin!r}", EXIT_INVALID)
    sys.stdout.write(held.note.decode())
    return EXIT_OK


def cmd_witness_serve(args) -> int:
    import uvicorn

    from coopchain.app.witness_server import create_witness_app
    from coopchain.chain.errors import ChainError
    from coopchain.chain.keys import PrivateKey

    try:
        key = PrivateKey.load(args.key)
        app = create_witness_app(args.store, key)
    except (OSError, ChainError) as e:
        raise CommandError(f"the witness cannot start: {e}") from e
    print(f"witness {args.store}: http://{args.host}:{args.port}/add-checkpoint", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


def _post(url: str):
    """submit(body) -> (status, body) for one witness, over HTTP (standard library); a URL that is not
    http(s)://HOST… is refused at once, and a connection that fails raises OSError (the witness is then
    named as not having cosigned)."""
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(f"witness {url!r}: give its URL as http://HOST:PORT (the prefix of its /add-checkpoint)")

    def submit(body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(url.rstrip("/") + "/add-checkpoint", data=body, method="POST", headers={"Content-Type": "text/plain"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read(64 * 1024)
        except urllib.error.HTTPError as e:
            return e.code, e.read(64 * 1024)
        except http.client.HTTPException as e:  # not HTTP at all (another service on that port)
            raise ConnectionError(f"no HTTP answer ({type(e).__name__})") from e

    return submit


def report_publication(done, output: str | None) -> bool:
    """Say which witnesses refused, and write the cosigned note to `output` if given (True when written)."""
    for url, reason in done.refused:
        print(f"not cosigned by {url}: {reason}", file=sys.stderr)
    if not output:
        return False
    try:
        Path(output).write_bytes(done.note)
    except OSError as e:
        raise CommandError(f"--output {output}: cannot write it ({e.strerror})") from e
    return True


def cmd_witness_submit(args) -> int:
    """Sign the head's checkpoint, ask each witness (retrying once from the size a 409 names), print it cosigned.

    `coopchain chain publish-checkpoint` does the same and also stores it for the API (service.checkpoints)."""
    from coopchain.app.ledger_commands import _ledger
    from coopchain.chain.errors import ChainError
    from coopchain.service.checkpoints import publish

    ledger = _ledger(args.db, args.node_key)
    try:
        done = publish(ledger, [(url, _post(url)) for url in args.witnesses], None)
    except ChainError as e:
        raise CommandError(str(e)) from e
    finally:
        ledger.close()
    if not report_publication(done, args.output):
        sys.stdout.write(done.note.decode())
    return EXIT_INVALID if done.refused else EXIT_OK
