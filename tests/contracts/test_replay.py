"""Replay: a chain of applied and rejected transactions of every contract rebuilds the same roots, here and in a
second process with another BLAS thread count; an altered certificate is found at its block."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from coopchain.chain.verify import BadBlock, replay_chain, verify_chain
from coopchain.service import wiring
from tests.contracts.conftest import commit_args, key, text

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def mixed(world, solutions):
    """Every kind of every contract, applied and rejected, several in one block."""
    w, m = world, world.manager
    statuses = []
    for signer, kind, args in [
        (key(7), "record.put", {"key": "lot/1", "value": {"t": "4"}}),
        (m, "cooperatives.add_manager", {"cooperative": w.cooperative, "manager": text(key(5))}),
        (m, "cooperatives.add_manager", {"cooperative": w.cooperative, "manager": text(key(5))}),  # already_manager
        (key(5), "cooperatives.remove_manager", {"cooperative": w.cooperative, "manager": text(key(5))}),
        (w.manager, "cooperatives.register", {"cooperative": "x", "managers": [text(m)]}),  # not_admin
        (m, "cooperatives.set_policy", {"cooperative": w.cooperative, "members": [], "k": 0}),
        (m, "allocation.commit_allocation", commit_args(solutions["F1"])),  # unknown_problem
        (m, "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]}),
        (m, "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]}),  # already_registered
        (m, "allocation.commit_allocation", commit_args(solutions["F1"], chosen_by={"objective": "F3", "method": None, "pick": None})),  # mismatch
        (m, "allocation.commit_allocation", commit_args(solutions["F1"])),
    ]:
        receipt, _, _ = w.send(signer, kind, args)
        statuses.append(receipt.status)
    # A block of several transactions, one of them rejected.
    from coopchain.chain.transaction import sign_transaction

    txs = [sign_transaction(m, "contracts-test", w.ledger.next_nonce(text(m)) + i, "allocation.commit_allocation",
                            commit_args(solutions["F3"], supersedes=None if i == 0 else "00" * 32, reason=None if i == 0 else "x")) for i in range(2)]
    block = w.ledger.commit(txs)
    statuses += [r.status for r in block.receipts]
    assert {"applied", "rejected"} == set(statuses)
    return w


def test_verify_and_replay_rebuild_every_root(mixed):
    store = mixed.ledger.store
    verified = verify_chain(store, contracts=wiring.contracts())
    replayed = replay_chain(store, contracts=wiring.contracts())
    head = mixed.ledger.head()
    assert verified.state_root == replayed.state_root == head.state_root
    assert verified.blocks == replayed.blocks == head.height + 1


def test_a_chain_of_contracts_cannot_be_verified_without_them(mixed):
    with pytest.raises(BadBlock, match="contract allocation v2, which this program does not provide"):
        verify_chain(mixed.ledger.store)


REPLAY = """
import json, sys
from coopchain.chain.store import open_store
from coopchain.chain.verify import replay_chain
from coopchain.service import wiring
store = open_store(sys.argv[1])
report = replay_chain(store, contracts=wiring.contracts())
print(json.dumps({"state_root": report.state_root.hex(), "blocks": report.blocks}))
"""


def test_a_second_process_with_another_blas_thread_count_replays_to_the_same_roots(mixed, tmp_path):
    url = f"sqlite:///{tmp_path}/ledger.db"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    run = subprocess.run([sys.executable, "-c", REPLAY, url], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    head = mixed.ledger.head()
    # replay_chain compares every block's state and receipts root with its header: reaching the head means all matched.
    assert got == {"state_root": head.state_root.hex(), "blocks": head.height + 1}
    env2 = {**env, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    again = subprocess.run([sys.executable, "-c", REPLAY, url], capture_output=True, text=True, env=env2, timeout=300)
    assert json.loads(again.stdout) == got


def test_an_altered_certificate_is_found_at_its_block(mixed, tmp_path):
    import hashlib

    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER transactions_no_update")
    (height, digest, body) = conn.execute(
        "SELECT height, hash, body FROM transactions WHERE CAST(body AS TEXT) LIKE '%commit_allocation%' ORDER BY height DESC LIMIT 1").fetchone()
    doc = json.loads(body)
    cert = json.loads(doc["payload"]["certificate"])
    cert["bound"] = cert["bound"] * (1 + 1e-3)
    doc["payload"]["certificate"] = json.dumps(cert)
    altered = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    conn.execute("UPDATE transactions SET body = ?, hash = ? WHERE hash = ?", (altered, hashlib.sha256(altered).digest(), digest))
    conn.commit()
    conn.close()
    with pytest.raises(BadBlock) as found:
        verify_chain(mixed.ledger.store, contracts=wiring.contracts())
    assert found.value.height == height
