"""What the ledger commands share: the `--db`/`--json` options, opening the ledger and key files
with a plain message on failure, and printing a summary on a terminal or JSON (SPEC §6).

`contract_commands`, `market_commands` and `ledger_commands` all use it, so the options read
the same in every `--help` and the output rule is one function: a readable summary for a person
at a terminal; the JSON document with `--json` and whenever standard output is a pipe.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from coopchain.app.cli import CommandError

DB_HELP = "ledger URL (default $COOPCHAIN_DB, else sqlite:///coopchain.db)"
JSON_HELP = "print JSON even on a terminal"


def add_db(parser) -> None:
    parser.add_argument("--db", help=DB_HELP)


def add_json(parser) -> None:
    parser.add_argument("--json", action="store_true", help=JSON_HELP)


def add_reader_options(parser) -> None:
    """A command that reads the ledger: --db and --json."""
    add_db(parser)
    add_json(parser)


def add_writer_options(parser, signer: str) -> None:
    """A command that signs and commits to the embedded ledger: --db, --key, --node-key and --json."""
    add_db(parser)
    parser.add_argument("--key", help=f"the signer's key file (default: the demo's {signer})")
    parser.add_argument("--node-key", help="the node's key file, which seals the block (default: the demo's node.key)")
    add_json(parser)


def readable(args) -> bool:
    """A summary for a person at a terminal; the JSON of SPEC §6 with --json and whenever output is piped."""
    return not args.json and sys.stdout.isatty()


def emit(args, document: object, lines: Callable[[], Iterable[str]]) -> None:
    """Print `lines()` on a terminal, else `document` as one line of JSON (`lines` is called only when shown)."""
    if readable(args):
        for line in lines():
            print(line)
    else:
        print(json.dumps(document))


def outcome(what: str, receipt) -> str:
    """One receipt as a line: `what: applied: …` or `what: rejected (code): why`."""
    return f"{what}: {receipt.status}{' (' + receipt.code + ')' if receipt.code else ''}: {receipt.message}"


def json_file(path: str):
    """The JSON document in the file at `path`, or a CommandError saying why not (unreadable, or not JSON)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise CommandError(f"{path}: cannot read it ({e.strerror})") from e
    except ValueError as e:
        raise CommandError(f"{path}: not JSON ({e})") from e


def key_file(path: str):
    """A private key file, or a CommandError saying why it cannot be used."""
    from coopchain.chain.errors import InvalidSignature
    from coopchain.chain.keys import PrivateKey

    try:
        return PrivateKey.load(path)
    except (OSError, InvalidSignature) as e:
        raise CommandError(f"{path}: cannot use this key file ({e})") from e


def open_ledger(url: str | None, node_key_path: str | None = None):
    """The ledger at `url` (with the node's key to commit), or a CommandError saying why not."""
    from coopchain.chain.errors import ChainError
    from coopchain.service.wiring import open_ledger as open_with_contracts

    try:
        return open_with_contracts(url, key_file(node_key_path) if node_key_path else None)
    except ChainError as e:
        raise CommandError(str(e)) from e
