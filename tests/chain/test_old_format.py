"""A ledger written in the old format (header v1, transactions without receipts) is refused with how to start a new one."""

from __future__ import annotations

import json
import sqlite3

import pytest

from coopchain.chain.errors import StorageError
from coopchain.chain.ledger import Ledger
from coopchain.chain.store import open_store
from coopchain.chain.verify import BadBlock, verify_chain

# The schema of the earlier version, written out here as it was (no receipt column).
OLD_SCHEMA = """
CREATE TABLE blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header BLOB NOT NULL);
CREATE TABLE transactions (hash BLOB PRIMARY KEY, height INTEGER NOT NULL REFERENCES blocks(height),
    position INTEGER NOT NULL, body BLOB NOT NULL, UNIQUE (height, position));
CREATE TABLE trie_nodes (hash BLOB PRIMARY KEY, node BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE history_nodes (level INTEGER NOT NULL, position INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, position)) WITHOUT ROWID;
"""


def test_an_old_schema_is_refused_with_how_to_start_anew(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.close()
    with pytest.raises(StorageError, match="earlier version of coopchain.*start a new ledger.*chain init --db sqlite:///NEW.db"):
        Ledger.open(f"sqlite:///{path}")
    assert sqlite3.connect(path).execute("PRAGMA table_info(transactions)").fetchall()[-1][1] == "body"  # left untouched


def test_an_old_header_is_refused_with_how_to_start_anew(tmp_path):
    from coopchain.chain.keys import PrivateKey

    url = f"sqlite:///{tmp_path}/l.db"
    Ledger.create(url, PrivateKey.generate("ed25519"), "c").close()
    conn = sqlite3.connect(tmp_path / "l.db")
    conn.execute("DROP TRIGGER blocks_no_update")
    header = json.loads(conn.execute("SELECT header FROM blocks WHERE height = 0").fetchone()[0])
    header["type"] = "coopchain/header/v1"
    conn.execute("UPDATE blocks SET header = ? WHERE height = 0", (json.dumps(header, sort_keys=True, separators=(",", ":")).encode(),))
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="old header format \\(coopchain/header/v1.*start a new ledger"):
        Ledger.open(url)
    with pytest.raises(BadBlock, match="block 0: this ledger was written in the old header format"):
        verify_chain(open_store(url))
