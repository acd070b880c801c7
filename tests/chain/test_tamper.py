"""SPEC §8: any single stored cell changed, row added or row removed, and `chain verify` fails
naming the first bad block; a truncated head fails against the head seen before (`--since`).

A small real ledger is built once (a SQLite file, 8 blocks of 1–5 record
transactions from three keys, some records overwriting earlier keys).  Each case
copies it, drops the append-only triggers (an attacker with the file can), and
changes one cell: one random bit of a blob flipped, or an integer moved by ±1.
The database's own constraints (PRIMARY KEY, UNIQUE, foreign keys) refuse some
changes; those are counted, not tested.  Every change the database accepts must
make `verify_chain` raise `BadBlock` naming the block the row belongs to (for a
trie node, which later blocks share, a block no later than the one that added it).

Integer columns are changed exhaustively (every row, +1 and −1); blob columns by
a seeded sample of (row, bit) per column.  A failure message names the row and
the change.

The second half (below "rows added and removed") adds and removes rows in every table, writes
hostile encodings, and truncates the head, on SQLite and on PostgreSQL.
"""

import random
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.store import TABLES, open_store
from coopchain.chain.transaction import sign_transaction
from coopchain.chain.verify import BadBlock, verify_chain
from tests.conftest import ROOT

CHAIN = "tamper-chain"
BLOCKS = 8
CASES_PER_COLUMN = 32
INTEGER, BLOB = "integer", "blob"

# (table, column, kind, primary key columns): every column of every table.
COLUMNS = [
    ("blocks", "height", INTEGER, ("height",)),
    ("blocks", "hash", BLOB, ("height",)),
    ("blocks", "header", BLOB, ("height",)),
    ("transactions", "hash", BLOB, ("hash",)),
    ("transactions", "height", INTEGER, ("hash",)),
    ("transactions", "position", INTEGER, ("hash",)),
    ("transactions", "body", BLOB, ("hash",)),
    ("transactions", "receipt", BLOB, ("hash",)),
    ("trie_nodes", "hash", BLOB, ("hash",)),
    ("trie_nodes", "node", BLOB, ("hash",)),
    ("history_nodes", "level", INTEGER, ("level", "position")),
    ("history_nodes", "position", INTEGER, ("level", "position")),
    ("history_nodes", "hash", BLOB, ("level", "position")),
]


def _key(scheme: str, n: int) -> PrivateKey:
    return PrivateKey.from_private_bytes(scheme, bytes([n]) * 32)


@dataclass(frozen=True)
class Built:
    path: Path  # the clean ledger, triggers dropped
    trie_added_by: dict[bytes, int]  # trie node hash -> the first block that stored it


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    folder = tmp_path_factory.mktemp("tamper")
    url = f"sqlite:///{folder}/ledger.db"

    def trie_hashes() -> list[bytes]:
        reader = sqlite3.connect(folder / "ledger.db")
        try:
            return [bytes(h) for (h,) in reader.execute("SELECT hash FROM trie_nodes")]
        finally:
            reader.close()

    trie_added_by = _build(url, trie_hashes)
    clean = folder / "clean.db"
    _backup(folder / "ledger.db", clean)
    with sqlite3.connect(clean) as conn:
        for table in TABLES:
            for verb in ("update", "delete"):
                conn.execute(f"DROP TRIGGER {table}_no_{verb}")
    conn.close()
    return Built(clean, trie_added_by)


def _backup(source: Path, target: Path) -> None:
    """A consistent single-file copy (no -wal beside it), whatever state the source's WAL is in."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    dst.execute("PRAGMA journal_mode=DELETE")
    src.close()
    dst.close()


@dataclass(frozen=True)
class Change:
    table: str
    column: str
    key: tuple  # primary key values of the row
    delta: int | None  # integers: +1 or -1
    bit: int | None  # blobs: which bit to flip

    def __str__(self) -> str:
        what = f"{self.delta:+d}" if self.delta is not None else f"bit {self.bit} flipped"
        return f"{self.table}.{self.column} of row {tuple(k.hex() if isinstance(k, bytes) else k for k in self.key)}: {what}"


def _changes(path: Path, table: str, column: str, kind: str, pk: tuple) -> list[Change]:
    """Integers: every (row, ±1).  Blobs: a seeded sample, without replacement, of (row, bit)."""
    conn = sqlite3.connect(path)
    rows = conn.execute(f"SELECT {', '.join(pk)}, length({column}) FROM {table} ORDER BY {', '.join(pk)}").fetchall()
    conn.close()
    rng = random.Random(f"{table}.{column}")
    if kind == INTEGER:
        # Every row, +1 and −1: most are refused (a neighbour holds the key), so sampling would leave few.
        return [Change(table, column, tuple(r[:-1]), d, None) for r in rows for d in (+1, -1)]
    # Blobs: a row at random, then a bit at random within it (the bit space is too large to list).
    picked = []
    seen = set()
    while len(picked) < CASES_PER_COLUMN:
        row = rng.choice(rows)
        bit = rng.randrange(8 * row[-1])
        if (row, bit) not in seen:
            seen.add((row, bit))
            picked.append(Change(table, column, tuple(row[:-1]), None, bit))
    return picked


def _apply(path: Path, change: Change) -> bool:
    """Make the change on the file; False if the database refuses it (a constraint)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")  # as the store runs
    where = " AND ".join(f"{c} = ?" for c in dict(COLUMN_KEYS)[change.table])
    try:
        if change.delta is not None:
            conn.execute(f"UPDATE {change.table} SET {change.column} = {change.column} + ? WHERE {where}", (change.delta, *change.key))
        else:
            (value,) = conn.execute(f"SELECT {change.column} FROM {change.table} WHERE {where}", change.key).fetchone()
            value = bytearray(value)
            value[change.bit // 8] ^= 1 << (change.bit % 8)
            conn.execute(f"UPDATE {change.table} SET {change.column} = ? WHERE {where}", (bytes(value), *change.key))
        assert conn.total_changes == 1, f"{change}: the row was not found"
        return True
    except sqlite3.IntegrityError:
        return False
    finally:
        conn.close()


COLUMN_KEYS = [(table, pk) for table, _, _, pk in COLUMNS]


def _owner(built: Built, change: Change) -> tuple[int, bool]:
    """(the block the changed row belongs to, whether BadBlock must name exactly it rather than one no later)."""
    table, column, key = change.table, change.column, change.key
    if table == "blocks":
        return key[0], True
    if table == "transactions":
        conn = sqlite3.connect(built.path)
        (height,) = conn.execute("SELECT height FROM transactions WHERE hash = ?", key).fetchone()
        conn.close()
        if column == "height":  # the row leaves one block and joins a neighbour: the lower fails first
            return min(height, height + change.delta), True
        return height, True
    if table == "trie_nodes":
        return built.trie_added_by[key[0]], False
    level, position = key  # history_nodes: block (position + 1)·2^level − 1 completes this subtree
    return (position + 1) * 2**level - 1, True


def _verdict(path: Path) -> BadBlock | None:
    store = open_store(f"sqlite:///{path}")
    try:
        verify_chain(store)
    except BadBlock as e:
        return e
    finally:
        store.close()
    return None


def test_the_clean_ledger_verifies(built, tmp_path):
    copy = tmp_path / "copy.db"
    _backup(built.path, copy)
    assert _verdict(copy) is None


def test_the_sample_covers_every_table_and_column():
    assert {t for t, _, _, _ in COLUMNS} == set(TABLES)
    conn = sqlite3.connect(":memory:")
    from coopchain.chain.store_sqlite import SCHEMA

    conn.executescript(SCHEMA)
    for table in TABLES:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        assert columns == {c for t, c, _, _ in COLUMNS if t == table}, table


@pytest.mark.parametrize("table, column, kind, pk", COLUMNS, ids=[f"{t}.{c}" for t, c, _, _ in COLUMNS])
def test_every_accepted_change_fails_verification_at_its_block(built, tmp_path, table, column, kind, pk):
    applied, refused, faults = 0, 0, []
    for i, change in enumerate(_changes(built.path, table, column, kind, pk)):
        copy = tmp_path / f"case{i}.db"
        _backup(built.path, copy)
        if not _apply(copy, change):
            refused += 1
            continue
        applied += 1
        owner, exact = _owner(built, change)
        verdict = _verdict(copy)
        if verdict is None:
            faults.append(f"NOT DETECTED: {change}")
        elif (verdict.height != owner) if exact else (verdict.height > owner):
            faults.append(f"wrong block: {change}: BadBlock names block {verdict.height}, the row belongs to block {owner} ({verdict.reason})")
        copy.unlink()
    print(f"{table}.{column}: {applied} changes applied, {refused} refused by the database")
    assert applied > 0, f"{table}.{column}: every sampled change was refused; the test checked nothing"
    assert not faults, "\n".join(faults)


def test_a_head_renumbered_past_itself_is_named_as_the_head(built, tmp_path):
    """Foreign keys are the store's setting, not the file's: with them off, block 8 becomes 9.
    The first bad block is 8 (missing; its transactions orphaned), not 9."""
    copy = tmp_path / "copy.db"
    _backup(built.path, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute(f"UPDATE blocks SET height = {BLOCKS + 1} WHERE height = {BLOCKS}")
    conn.close()
    verdict = _verdict(copy)
    assert verdict is not None
    assert verdict.height == BLOCKS, verdict


# -- the command line, for a handful of cases (a process each) ----------------------------------

# The installed command, as users run it.
COOPCHAIN = str(Path(sys.executable).with_name("coopchain"))

CLI_CASES = [
    Change("blocks", "header", (3,), None, 200),
    Change("blocks", "hash", (8,), None, 7),
    Change("transactions", "body", None, None, 100),  # the key is filled in below: block 5's first transaction
    Change("history_nodes", "hash", (1, 1), None, 0),
    Change("blocks", "header", (0,), None, 100),  # the genesis block: the CLI reads it before verifying
]


def _cli_change(built: Built, change: Change) -> Change:
    if change.key is not None:
        return change
    conn = sqlite3.connect(built.path)
    (digest,) = conn.execute("SELECT hash FROM transactions WHERE height = 5 AND position = 0").fetchone()
    conn.close()
    return Change(change.table, change.column, (bytes(digest),), change.delta, change.bit)


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: f"{c.table}.{c.column}-{c.key[0] if c.key else 'block5tx0'}")
def test_coopchain_chain_verify_exits_non_zero_naming_the_block(built, tmp_path, case, capsys):
    """The command's own entry point in this process (the process boundary, exit codes and a clean
    stderr, is the subject of the subprocess tests beside: a clean copy, a header of invalid UTF-8, --since)."""
    from coopchain.app.cli import main

    change = _cli_change(built, case)
    copy = tmp_path / "copy.db"
    _backup(built.path, copy)
    assert _apply(copy, change), f"{change}: refused by the database"
    owner, _ = _owner(built, change)
    code = main(["chain", "verify", "--db", f"sqlite:///{copy}"])
    out = capsys.readouterr()
    assert code == 3, (out.out, out.err)
    assert f"block {owner}" in out.out + out.err and "Traceback" not in out.err, (out.out, out.err)


def test_coopchain_chain_verify_passes_a_clean_copy(built, tmp_path):
    copy = tmp_path / "copy.db"
    _backup(built.path, copy)
    run = subprocess.run(
        [COOPCHAIN, "chain", "verify", "--db", f"sqlite:///{copy}"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert run.stdout.startswith("valid")


# == rows added and removed, hostile encodings, a truncated head (SQLite and PostgreSQL) ==========
#
# The same recipe is built once per database.  A case works on a copy (a file copy; a PostgreSQL
# database made from the built one as a template), as an attacker would: with the database's own
# driver, foreign keys and triggers off.  What each case must be named at is written from the
# ledger's layout alone (docs/ledger.md, "What chain verify checks"):
#   a row of a block (a transaction at its height, a history node at the block that completes it)
#       -> that block;
#   a row placed before genesis (a negative height or history position) -> block 0;
#   a row no block accounts for (beyond the head, a trie node no block added, a negative level)
#       -> the block after the head.

import hashlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from contextlib import contextmanager  # noqa: E402

from coopchain.chain.block import decode_header, header_json  # noqa: E402
from coopchain.chain.pinned import BadPin, PinnedHead, parse_pinned_head  # noqa: E402
from coopchain.chain.trie import keccak256  # noqa: E402

HEAD = BLOCKS
AFTER_HEAD = HEAD + 1


def _build(url: str, trie_hashes) -> dict[bytes, int]:
    """The tamper recipe (as `built`) into the ledger at `url`; {trie node hash: first block that stored it}."""
    ledger = Ledger.create(url, _key("ed25519", 1), CHAIN)
    users = [_key("ed25519", 2), _key("p256", 3), _key("ed25519", 4)]
    nonces = [0, 0, 0]
    rng = random.Random(20260)
    added_by = {h: 0 for h in trie_hashes()}
    for height in range(1, BLOCKS + 1):
        txs = []
        for _ in range(rng.randint(1, 5)):
            who = rng.randrange(len(users))
            payload = {"key": f"k{rng.randrange(8)}", "value": {"n": rng.randrange(1000), "by": who}}
            txs.append(sign_transaction(users[who], CHAIN, nonces[who], "record.put", payload))
            nonces[who] += 1
        ledger.commit(txs)
        for h in trie_hashes():
            added_by.setdefault(h, height)
    ledger.close()
    return added_by


class Db:
    """A copy of the ledger through its database's own driver, as an attacker reaches it."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.conn = sqlite3.connect(target, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys=OFF")
        else:
            import psycopg

            self.conn = psycopg.connect(target, autocommit=True)

    def run(self, sql: str, *params) -> int:
        cur = self.conn.execute(sql if self.kind == "sqlite" else sql.replace("?", "%s"), params)
        return cur.rowcount

    def rows(self, sql: str, *params) -> list[tuple]:
        cur = self.conn.execute(sql if self.kind == "sqlite" else sql.replace("?", "%s"), params)
        return [tuple(bytes(v) if isinstance(v, (memoryview, bytearray)) else v for v in r) for r in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class Layout:
    """The clean ledger, read once: what the oracles below name blocks from."""

    headers: dict[int, bytes]
    hashes: dict[int, bytes]
    transactions: list[tuple[bytes, int, int, bytes]]  # (hash, height, position, body)
    history: list[tuple[int, int]]  # (level, position)
    trie_added_by: dict[bytes, int]


def _layout(db: Db, trie_added_by: dict[bytes, int]) -> Layout:
    blocks = db.rows("SELECT height, hash, header FROM blocks ORDER BY height")
    assert [h for h, _, _ in blocks] == list(range(HEAD + 1))
    return Layout(
        {h: header for h, _, header in blocks},
        {h: digest for h, digest, _ in blocks},
        db.rows("SELECT hash, height, position, body FROM transactions ORDER BY height, position"),
        db.rows("SELECT level, position FROM history_nodes ORDER BY level, position"),
        trie_added_by,
    )


def history_owner(level: int, position: int) -> int:
    """The block whose append completes the history subtree (level, position)."""
    return (position + 1) * 2**level - 1


class Backend:
    """Copies of one built ledger, and its layout."""

    def __init__(self, kind: str, layout: Layout, copy, original: str) -> None:
        self.kind, self.layout, self._copy, self._original = kind, layout, copy, original

    def rows(self, query: str) -> list[tuple]:
        """A read of the built ledger itself (no copy: a PostgreSQL copy is a whole CREATE DATABASE)."""
        db = Db(self.kind, self._original)
        try:
            return db.rows(query)
        finally:
            db.close()

    @contextmanager
    def copy(self):
        """(a Db on a fresh copy, the copy's URL)."""
        with self._copy() as (db, url):
            try:
                yield db, url
            finally:
                db.close()


@pytest.fixture(scope="module")
def sqlite_backend(built, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rows")
    db = Db("sqlite", str(built.path))
    layout = _layout(db, built.trie_added_by)
    db.close()
    counter = iter(range(10**9))

    @contextmanager
    def copy():
        path = folder / f"copy{next(counter)}.db"
        _backup(built.path, path)
        try:
            yield Db("sqlite", str(path)), f"sqlite:///{path}"
        finally:
            path.unlink(missing_ok=True)

    return Backend("sqlite", layout, copy, str(built.path))


@pytest.fixture(scope="module")
def postgres_backend(postgres_url):  # noqa: F811
    import uuid

    import psycopg
    from psycopg import sql

    from tests.postgres import fresh_database, with_database

    with fresh_database(postgres_url, prefix="tamper") as url:
        reader = psycopg.connect(url, autocommit=True)
        added_by = _build(url, lambda: [bytes(h) for (h,) in reader.execute("SELECT hash FROM trie_nodes")])
        for table in TABLES:  # ALL: the append-only triggers and the foreign keys' own (a superuser can)
            reader.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER ALL").format(sql.Identifier(table)))
        reader.close()
        db = Db("postgres", url)
        layout = _layout(db, added_by)
        db.close()
        template = url.rsplit("/", 1)[1]

        @contextmanager
        def copy():
            name = f"case_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
            try:
                yield Db("postgres", with_database(postgres_url, name)), with_database(postgres_url, name)
            finally:
                with psycopg.connect(postgres_url, autocommit=True) as admin:
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

        yield Backend("postgres", layout, copy, url)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")


def _verify(url: str, since: PinnedHead | None = None):
    """BadBlock, or the report when the copy verifies."""
    store = open_store(url)
    try:
        return verify_chain(store, since=since)
    except BadBlock as e:
        return e
    finally:
        store.close()


def _tx_hash(tag: str) -> bytes:
    return hashlib.sha256(f"extra transaction {tag}".encode()).digest()


# -- rows added -----------------------------------------------------------------------------------


def add_block(height: int, header_of: int | None):
    def change(db: Db, layout: Layout) -> int:
        header = layout.headers[header_of] if header_of is not None else b'{"not":"a header"}'
        db.run("INSERT INTO blocks (height, hash, header) VALUES (?, ?, ?)", height, hashlib.sha256(b"extra block %d" % height).digest(), header)
        return 0 if height < 0 else AFTER_HEAD

    return change


def add_transaction(height: int, position: int | None):
    def change(db: Db, layout: Layout) -> int:
        body = layout.transactions[0][3]  # a real signed transaction, stored again, with a real receipt
        at = position if position is not None else 1 + max((p for _, h, p, _ in layout.transactions if h == height), default=-1)
        db.run("INSERT INTO transactions (hash, height, position, body, receipt) VALUES (?, ?, ?, ?, (SELECT receipt FROM transactions ORDER BY hash LIMIT 1))",
               _tx_hash(f"{height}/{at}"), height, at, body)
        return 0 if height < 0 else height if height <= HEAD else AFTER_HEAD

    return change


def add_trie_node(kind: str):
    def change(db: Db, layout: Layout) -> int:
        if kind == "content-addressed":  # a well-formed RLP leaf no block made, under its own Keccak-256
            node = bytes.fromhex("e4") + bytes.fromhex("a0") + b"\x11" * 32 + bytes.fromhex("82") + b"no"
            db.run("INSERT INTO trie_nodes (hash, node) VALUES (?, ?)", keccak256(node), node)
        elif kind == "copy under another hash":
            (node,) = db.rows("SELECT node FROM trie_nodes ORDER BY hash LIMIT 1")[0]
            db.run("INSERT INTO trie_nodes (hash, node) VALUES (?, ?)", b"\x00" * 32, node)
        else:
            db.run("INSERT INTO trie_nodes (hash, node) VALUES (?, ?)", b"\xff" * 32, b"garbage")
        return AFTER_HEAD

    return change


def add_history_node(level: int, position: int):
    def change(db: Db, layout: Layout) -> int:
        assert (level, position) not in layout.history
        db.run("INSERT INTO history_nodes (level, position, hash) VALUES (?, ?, ?)", level, position, b"\x07" * 32)
        if position < 0:
            return 0
        assert level < 0 or history_owner(level, position) > HEAD  # every subtree of a block 0..head is stored
        return AFTER_HEAD

    return change


ADDED = {
    "block at -1 (a copy of block 1's header)": add_block(-1, 1),
    "block at -2^62": add_block(-(2**62), None),
    "block after the head (a copy of the head's header)": add_block(AFTER_HEAD, HEAD),
    "block after the head (garbage)": add_block(AFTER_HEAD, None),
    "block at 100": add_block(100, 5),
    "block at 2^62": add_block(2**62, None),
    "transaction at -1": add_transaction(-1, 0),
    "transaction in genesis": add_transaction(0, 0),
    "transaction at block 3, next position": add_transaction(3, None),
    "transaction at block 3, position 99": add_transaction(3, 99),
    "transaction at block 3, position -1": add_transaction(3, -1),
    "transaction at the head, next position": add_transaction(HEAD, None),
    "transaction after the head": add_transaction(AFTER_HEAD, 0),
    "transaction at 100": add_transaction(100, 0),
    "transaction at 2^62": add_transaction(2**62, 0),
    "trie node, content-addressed": add_trie_node("content-addressed"),
    "trie node, a stored node under another hash": add_trie_node("copy under another hash"),
    "trie node, garbage": add_trie_node("garbage"),
    "history node (0, -1)": add_history_node(0, -1),
    "history node (3, -5)": add_history_node(3, -5),
    "history node (0, head + 1)": add_history_node(0, AFTER_HEAD),
    "history node (1, 4)": add_history_node(1, 4),
    "history node (4, 0)": add_history_node(4, 0),
    "history node (40, 0)": add_history_node(40, 0),
    "history node (0, 100)": add_history_node(0, 100),
    "history node (-1, 0)": add_history_node(-1, 0),
}


@pytest.mark.parametrize("case", ADDED)
def test_an_added_row_is_named_at_its_block(backend, case):
    with backend.copy() as (db, url):
        block = ADDED[case](db, backend.layout)
        verdict = _verify(url)
    assert isinstance(verdict, BadBlock), f"{case}: NOT DETECTED"
    assert verdict.height == block, verdict


def test_added_rows_cover_every_table():
    names = " ".join(ADDED)
    assert all(word in names for word in ("block", "transaction", "trie node", "history node"))


# -- rows removed ---------------------------------------------------------------------------------


def _removals(layout: Layout, kind: str) -> list[tuple[str, str, tuple, int, bool]]:
    """(description, table, key, block, exact): every row of blocks, transactions and history
    nodes on SQLite (a sample on PostgreSQL, where each copy is a database), a seeded sample of trie nodes."""
    out = [(f"block {h}", "blocks", (h,), h, True) for h in layout.headers]
    txs = layout.transactions if kind == "sqlite" else [t for t in layout.transactions if t[2] == 0]
    out += [(f"transaction {p} of block {h}", "transactions", (digest,), h, True) for digest, h, p, _ in txs]
    history = layout.history if kind == "sqlite" else layout.history[::3]
    out += [(f"history node {k}", "history_nodes", k, history_owner(*k), True) for k in history]
    sample = random.Random("trie removals").sample(sorted(layout.trie_added_by), 24 if kind == "sqlite" else 6)
    # A node blocks share fails the first block that reads or re-adds it: no later than the one that stored it.
    out += [(f"trie node {n.hex()[:12]}", "trie_nodes", (n,), layout.trie_added_by[n], False) for n in sample]
    return out


KEYS = {"blocks": ("height",), "transactions": ("hash",), "trie_nodes": ("hash",), "history_nodes": ("level", "position")}


def test_every_removed_row_is_named_at_its_block(backend):
    faults, cases = [], _removals(backend.layout, backend.kind)
    for what, table, key, block, exact in cases:
        with backend.copy() as (db, url):
            where = " AND ".join(f"{c} = ?" for c in KEYS[table])
            assert db.run(f"DELETE FROM {table} WHERE {where}", *key) == 1, what
            verdict = _verify(url)
        if not isinstance(verdict, BadBlock):
            faults.append(f"NOT DETECTED: {what} removed")
        elif (verdict.height != block) if exact else (verdict.height > block):
            faults.append(f"wrong block: {what} removed: named {verdict.height}, belongs to {block} ({verdict.reason})")
    assert len(cases) > 20
    assert not faults, "\n".join(faults)


def _remove_blocks_from(db: Db, layout: Layout, first: int, trie_nodes: bool = True, history: bool = True) -> None:
    """Remove blocks first..head and every row they added (what a truncating operator does)."""
    for height in range(first, HEAD + 1):
        db.run("DELETE FROM blocks WHERE height = ?", height)
        db.run("DELETE FROM transactions WHERE height = ?", height)
        if history:
            for level, position in layout.history:
                if history_owner(level, position) == height:
                    db.run("DELETE FROM history_nodes WHERE level = ? AND position = ?", level, position)
        if trie_nodes:
            for node, by in layout.trie_added_by.items():
                if by == height:
                    db.run("DELETE FROM trie_nodes WHERE hash = ?", node)


def test_the_head_removed_with_its_transactions_but_not_its_trie_nodes_is_named(backend):
    with backend.copy() as (db, url):
        _remove_blocks_from(db, backend.layout, HEAD, trie_nodes=False)
        verdict = _verify(url)
    assert isinstance(verdict, BadBlock) and verdict.height == HEAD, verdict
    assert "trie_nodes" in verdict.reason


def test_the_head_removed_with_all_but_its_history_nodes_is_named(backend):
    with backend.copy() as (db, url):
        _remove_blocks_from(db, backend.layout, HEAD, history=False)
        verdict = _verify(url)
    assert isinstance(verdict, BadBlock) and verdict.height == HEAD, verdict


# -- a truncated head, exposed by the head seen before (--since) ------------------------------------


def _pins(layout: Layout, height: int) -> dict[str, str]:
    """Every form a user can paste of block `height` as a head."""
    header = layout.headers[height]
    return {
        "hash": layout.hashes[height].hex(),
        "height:hash": f"{height}:{layout.hashes[height].hex()}",
        "header JSON": json.dumps(header_json(decode_header(header)), indent=1),
        "bundle JSON": json.dumps({"type": "coopchain/bundle/v2", "head": header_json(decode_header(header))}),
    }


def test_a_ledger_truncated_with_every_row_still_verifies_on_its_own(backend):
    # The limit that --since lifts: nothing stored contradicts a shorter chain.
    with backend.copy() as (db, url):
        _remove_blocks_from(db, backend.layout, HEAD)
        report = _verify(url)
    assert not isinstance(report, BadBlock), report
    assert report.blocks == HEAD and report.head_hash == backend.layout.hashes[HEAD - 1]


@pytest.mark.parametrize("removed", [1, 3])
def test_a_truncated_ledger_fails_against_the_head_seen_before(backend, removed):
    first = HEAD + 1 - removed
    with backend.copy() as (db, url):
        _remove_blocks_from(db, backend.layout, first)
        verdicts = {form: _verify(url, parse_pinned_head(text)) for form, text in _pins(backend.layout, HEAD).items()}
    for form, verdict in verdicts.items():
        assert isinstance(verdict, BadBlock), f"{form}: NOT DETECTED"
        assert verdict.height == first, (form, verdict)
    assert "signed by this ledger's node key" in verdicts["header JSON"].reason
    assert "missing" in verdicts["height:hash"].reason


def test_the_intact_ledger_holds_every_earlier_head(backend):
    with backend.copy() as (_, url):
        for height in (0, 3, HEAD):
            for form, text in _pins(backend.layout, height).items():
                report = _verify(url, parse_pinned_head(text))
                assert not isinstance(report, BadBlock), (height, form, report)
                assert report.pinned_height == height


def test_a_head_unlike_the_stored_block_at_its_height_names_that_block(backend):
    pin = PinnedHead(hashlib.sha256(b"some other block").digest(), 5)
    with backend.copy() as (_, url):
        verdict = _verify(url, pin)
    assert isinstance(verdict, BadBlock) and verdict.height == 5 and "rewritten" in verdict.reason


def test_another_chains_head_is_not_taken_for_this_ledgers(backend, tmp_path):
    other = Ledger.create(f"sqlite:///{tmp_path}/other.db", _key("ed25519", 9), CHAIN)
    text = json.dumps(header_json(other.head()))
    other.close()
    with backend.copy() as (_, url):
        verdict = _verify(url, parse_pinned_head(text))
    assert isinstance(verdict, BadBlock) and verdict.height == 0 and "not this ledger's" in verdict.reason


def test_a_height_that_is_not_the_hashs_is_refused_as_input(sqlite_backend):
    layout = sqlite_backend.layout
    with sqlite_backend.copy() as (_, url):
        store = open_store(url)
        # A height within the chain is checked where the walk gets there (another block: rewritten).
        with pytest.raises(BadPin, match=f"hash of block 4, not of block {HEAD + 3}"):
            verify_chain(store, since=parse_pinned_head(f"{HEAD + 3}:{layout.hashes[4].hex()}"))
        store.close()


@pytest.mark.parametrize("text", ["", "abc", "12:zz", "0x" + "00" * 32, "-1:" + "00" * 32, "00" * 31, "{", '{"type": "coopchain/bundle/v2"}',
                                  '{"height": ' + "9" * 5000 + "}", "[" * 100_000, '{"a": 1.5}'])
def test_what_is_not_a_head_is_refused_with_the_accepted_forms(text):
    with pytest.raises(BadPin):
        parse_pinned_head(text)


def test_a_head_can_be_read_from_a_file(sqlite_backend, tmp_path):
    layout = sqlite_backend.layout
    for form, text in _pins(layout, 2).items():
        path = tmp_path / f"{form.replace(' ', '_')}.txt"
        path.write_text(text + "\n")
        pin = parse_pinned_head(str(path))
        assert (pin.hash, pin.height) == (layout.hashes[2], None if form == "hash" else 2), form


# -- hostile encodings: a reason, never a traceback ------------------------------------------------


def _first_tx(layout: Layout, height: int) -> tuple[bytes, bytes]:
    digest, _, _, body = next(t for t in layout.transactions if t[1] == height)
    return digest, body


def set_header(height: int, make):
    def change(db: Db, layout: Layout) -> int:
        assert db.run("UPDATE blocks SET header = ? WHERE height = ?", make(layout.headers[height]), height) == 1
        return height

    return change


def set_body(height: int, make):
    def change(db: Db, layout: Layout) -> int:
        digest, body = _first_tx(layout, height)
        assert db.run("UPDATE transactions SET body = ? WHERE hash = ?", make(body), digest) == 1
        return height

    return change


def deep(_: bytes) -> bytes:
    return b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def shallow_but_too_deep(data: bytes) -> bytes:
    return data[:-1] + b',"z":' + b"[" * 70 + b"]" * 70 + b"}"  # parses; refused past 64 levels


def digits(field: str):
    def make(data: bytes) -> bytes:
        replaced = re.sub(rb'"%s":\d+' % field.encode(), b'"%s":%s' % (field.encode(), b"7" * 5000), data, count=1)
        assert replaced != data
        return replaced

    return make


HOSTILE = {
    "header of block 3 nested 100,000 deep": (set_header(3, deep), "nest deeper"),
    "header of block 3 nested 71 deep": (set_header(3, shallow_but_too_deep), "nest deeper"),
    "genesis header nested 100,000 deep": (set_header(0, deep), "nest deeper"),
    "header of block 3 with a 5,000-digit height": (set_header(3, digits("height")), "5000 digits"),
    "genesis header with a 5,000-digit timestamp": (set_header(0, digits("timestamp")), "5000 digits"),
    "header of block 6 not UTF-8": (set_header(6, lambda data: data.replace(b'"type"', b'"typ\xff"')), "UTF-8"),
    "transaction of block 5 nested 100,000 deep": (set_body(5, deep), None),
    "transaction of block 5 with a 5,000-digit nonce": (set_body(5, digits("nonce")), None),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_encoding_is_named_with_a_reason(backend, case):
    change, reason = HOSTILE[case]
    with backend.copy() as (db, url):
        block = change(db, backend.layout)
        verdict = _verify(url)
    assert isinstance(verdict, BadBlock) and verdict.height == block, verdict
    if reason:
        assert reason in verdict.reason, verdict


def _text_cells(layout: Layout) -> list[tuple[str, str, str, tuple, int, bool]]:
    """(description, table, column, key, block, exact): one row per column, its cell made TEXT."""
    tx_hash, _ = _first_tx(layout, 5)
    node = next(n for n, by in sorted(layout.trie_added_by.items()) if by == 5)
    return [
        ("blocks.hash of block 3", "blocks", "hash", (3,), 3, True),
        ("blocks.header of block 3", "blocks", "header", (3,), 3, True),
        ("transactions.hash", "transactions", "hash", (tx_hash,), 5, True),
        ("transactions.height", "transactions", "height", (tx_hash,), 5, True),
        ("transactions.position", "transactions", "position", (tx_hash,), 5, True),
        ("transactions.body", "transactions", "body", (tx_hash,), 5, True),
        ("trie_nodes.hash", "trie_nodes", "hash", (node,), 5, False),
        ("trie_nodes.node", "trie_nodes", "node", (node,), 5, False),
        ("history_nodes.level", "history_nodes", "level", (1, 1), 3, True),
        ("history_nodes.position", "history_nodes", "position", (1, 1), 3, True),
        ("history_nodes.hash", "history_nodes", "hash", (1, 1), 3, True),
    ]


@pytest.mark.parametrize("text", [b"\xff\xfe", b"\xed\xa0\x80", b"x"], ids=["invalid UTF-8", "encoded surrogate", "valid text"])
def test_a_sqlite_cell_turned_to_text_is_named_at_its_block(sqlite_backend, text):
    """SQLite keeps any type in any column (but a rowid): TEXT, even invalid UTF-8, where a blob or
    an integer was.  Every column but blocks.height (the rowid), one row each."""
    faults = []
    for what, table, column, key, block, exact in _text_cells(sqlite_backend.layout):
        with sqlite_backend.copy() as (db, url):
            where = " AND ".join(f"{c} = ?" for c in KEYS[table])
            assert db.run(f"UPDATE {table} SET {column} = CAST(? AS TEXT) WHERE {where}", text, *key) == 1, what
            assert db.rows(f"SELECT COUNT(*) FROM {table} WHERE typeof({column}) != 'blob' AND typeof({column}) != 'integer'") == [(1,)], what
            verdict = _verify(url)
        if not isinstance(verdict, BadBlock):
            faults.append(f"NOT DETECTED: {what}")
        elif (verdict.height != block) if exact else (verdict.height > block):
            faults.append(f"wrong block: {what}: named {verdict.height}, belongs to {block} ({verdict.reason})")
    assert not faults, "\n".join(faults)


def test_coopchain_chain_verify_names_a_header_of_invalid_utf8_text(sqlite_backend):
    with sqlite_backend.copy() as (db, url):
        db.run("UPDATE blocks SET header = CAST(? AS TEXT) WHERE height = 3", b"\xff" + sqlite_backend.layout.headers[3])
        run = subprocess.run([COOPCHAIN, "chain", "verify", "--db", url], capture_output=True, text=True, cwd=ROOT,
                             timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 3, (run.stdout, run.stderr)
    assert run.stdout.startswith("invalid: block 3:") and "Traceback" not in run.stderr, (run.stdout, run.stderr)


def test_coopchain_chain_verify_since_names_the_first_missing_block(sqlite_backend):
    layout = sqlite_backend.layout
    with sqlite_backend.copy() as (db, url):
        _remove_blocks_from(db, layout, HEAD - 1)
        run = subprocess.run([COOPCHAIN, "chain", "verify", "--db", url, "--since", f"{HEAD}:{layout.hashes[HEAD].hex()}"],
                             capture_output=True, text=True, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)
        clean = subprocess.run([COOPCHAIN, "chain", "verify", "--db", url], capture_output=True, text=True, cwd=ROOT,
                               timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 3 and run.stdout.startswith(f"invalid: block {HEAD - 1}: missing"), (run.stdout, run.stderr)
    assert clean.returncode == 0 and f"head {HEAD - 2}:{layout.hashes[HEAD - 2].hex()}" in clean.stdout, clean.stdout


def test_coopchain_chain_verify_since_refuses_what_is_not_a_head(sqlite_backend):
    with sqlite_backend.copy() as (_, url):
        run = subprocess.run([COOPCHAIN, "chain", "verify", "--db", url, "--since", "yesterday"],
                             capture_output=True, text=True, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 2 and "--since" in run.stderr and "HEIGHT:HASH" in run.stderr, (run.stdout, run.stderr)


def test_postgres_cell_changes_are_named_at_their_block(postgres_backend):
    """The single-cell changes above, a seeded sample of each column, on PostgreSQL (a database per
    change, so fewer than on SQLite).  Integer moves the database refuses (a key taken) are skipped."""
    import psycopg

    layout, rng, faults, applied = postgres_backend.layout, random.Random("postgres cells"), [], 0
    tx_height = {digest: h for digest, h, _, _ in layout.transactions}
    for table, column, kind, pk in COLUMNS:
        keys = postgres_backend.rows(f"SELECT {', '.join(pk)}, length({column}::text) FROM {table} ORDER BY {', '.join(pk)}")
        for key in rng.sample(keys, 3):
            key, length = key[:-1], key[-1]
            where = " AND ".join(f"{c} = ?" for c in pk)
            with postgres_backend.copy() as (db, url):
                try:
                    if kind == INTEGER:
                        delta = rng.choice((+1, -1))
                        db.run(f"UPDATE {table} SET {column} = {column} + ? WHERE {where}", delta, *key)
                    else:
                        (value,) = db.rows(f"SELECT {column} FROM {table} WHERE {where}", *key)[0]
                        value = bytearray(value)
                        bit = rng.randrange(8 * len(value))
                        value[bit // 8] ^= 1 << (bit % 8)
                        db.run(f"UPDATE {table} SET {column} = ? WHERE {where}", bytes(value), *key)
                except psycopg.errors.IntegrityError:
                    continue
                verdict = _verify(url)
            applied += 1
            if table == "blocks":
                owner, exact = key[0], True
            elif table == "transactions":
                height = tx_height[key[0]]
                owner, exact = (min(height, height + delta) if column == "height" else height), True
            elif table == "trie_nodes":
                owner, exact = layout.trie_added_by[key[0]], False
            else:
                owner, exact = history_owner(*key), True
            what = f"{table}.{column} of {key}"
            if not isinstance(verdict, BadBlock):
                faults.append(f"NOT DETECTED: {what}")
            elif (verdict.height != owner) if exact else (verdict.height > owner):
                faults.append(f"wrong block: {what}: named {verdict.height}, belongs to {owner} ({verdict.reason})")
    assert applied >= 20 and not faults, "\n".join(faults) or f"only {applied} changes applied"


@pytest.mark.parametrize("height", [3.5, "x", b"\x03"], ids=["real", "text", "blob"])
def test_a_sqlite_transaction_at_a_height_that_is_no_integer_belongs_to_no_block(sqlite_backend, height):
    with sqlite_backend.copy() as (db, url):
        db.run("INSERT INTO transactions (hash, height, position, body, receipt) VALUES (?, ?, 0, ?, (SELECT receipt FROM transactions ORDER BY hash LIMIT 1))", _tx_hash("odd"), height,
               sqlite_backend.layout.transactions[0][3])
        verdict = _verify(url)
    assert isinstance(verdict, BadBlock) and verdict.height == AFTER_HEAD, verdict
