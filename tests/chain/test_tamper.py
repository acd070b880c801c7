"""SPEC §8: any single stored cell changed, and `chain verify` fails naming the first bad block.

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
    ledger = Ledger.create(url, _key("ed25519", 1), CHAIN)
    users = [_key("ed25519", 2), _key("p256", 3), _key("ed25519", 4)]
    nonces = [0, 0, 0]
    rng = random.Random(20260)
    reader = sqlite3.connect(folder / "ledger.db")
    trie_added_by = {bytes(h): 0 for (h,) in reader.execute("SELECT hash FROM trie_nodes")}
    for height in range(1, BLOCKS + 1):
        txs = []
        for _ in range(rng.randint(1, 5)):
            who = rng.randrange(len(users))
            # Eight record keys for ~24 records: later ones overwrite earlier ones.
            payload = {"key": f"k{rng.randrange(8)}", "value": {"n": rng.randrange(1000), "by": who}}
            txs.append(sign_transaction(users[who], CHAIN, nonces[who], "record", payload))
            nonces[who] += 1
        ledger.commit(txs)
        for (h,) in reader.execute("SELECT hash FROM trie_nodes"):
            trie_added_by.setdefault(bytes(h), height)
    reader.close()
    ledger.close()
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
def test_coopchain_chain_verify_exits_non_zero_naming_the_block(built, tmp_path, case):
    change = _cli_change(built, case)
    copy = tmp_path / "copy.db"
    _backup(built.path, copy)
    assert _apply(copy, change), f"{change}: refused by the database"
    owner, _ = _owner(built, change)
    run = subprocess.run(
        [COOPCHAIN, "chain", "verify", "--db", f"sqlite:///{copy}"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert run.returncode != 0, run.stdout
    assert f"block {owner}" in run.stdout + run.stderr, (run.stdout, run.stderr)


def test_coopchain_chain_verify_passes_a_clean_copy(built, tmp_path):
    copy = tmp_path / "copy.db"
    _backup(built.path, copy)
    run = subprocess.run(
        [COOPCHAIN, "chain", "verify", "--db", f"sqlite:///{copy}"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert run.stdout.startswith("valid")
