"""The published checkpoints table (service/checkpoints.py) on SQLite and PostgreSQL: the latest
by size, the latest covering a block, append-only (UPDATE and DELETE refused by the database),
and `published` refusing a note the node did not sign."""

from __future__ import annotations

import pytest

from coopchain.chain.checkpoint import Checkpoint, ledger_origin, sign_checkpoint, sign_ledger_checkpoint
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.checkpoint import NoteSignatureError
from coopchain.chain.transaction import sign_transaction
from coopchain.service.checkpoints import CheckpointStore, NoCheckpoint, published
from tests.postgres import postgres_db, postgres_url  # noqa: F401  (fixtures)

CHAIN = "checkpoint-store"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return f"sqlite:///{tmp_path}/ledger.db" if request.param == "sqlite" else request.getfixturevalue("postgres_db")


def test_latest_covering_and_append_only(url):
    node, user = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    ledger = Ledger.create(url, node, CHAIN)
    store = CheckpointStore(url)
    try:
        with pytest.raises(NoCheckpoint, match="no checkpoint has been published"):
            published(ledger, store)
        notes = {}
        for i in range(3):
            ledger.commit([sign_transaction(user, CHAIN, i, "record.put", {"key": f"k{i}", "value": i})])
            notes[i + 2] = sign_ledger_checkpoint(ledger, node)  # sizes 2, 3, 4
            store.add(i + 2, notes[i + 2], 1)
        assert published(ledger, store).note == notes[4]
        assert published(ledger, store, covering=3).note == notes[4]
        with pytest.raises(NoCheckpoint, match="that covers block 4"):
            published(ledger, store, covering=4)
        assert store.latest(covering=1).size == 4 and [store.latest(covering=h).size for h in (0, 1, 2, 3)] == [4, 4, 4, 4]
        for sql in ("UPDATE published_checkpoints SET size = 9", "DELETE FROM published_checkpoints"):
            with pytest.raises(Exception, match="append-only"):
                store._rows(sql)
        assert store.latest().size == 4
        forged = sign_checkpoint(Checkpoint(ledger_origin(ledger), 4, ledger.history().root_at(4)), PrivateKey.generate("ed25519"))
        store.add(4, forged, 0)  # the newest row of the largest size: not the node's
        with pytest.raises(NoteSignatureError):
            published(ledger, store)
    finally:
        store.close()
        ledger.close()
