"""Audit bundles of allocation commits: the receipt and its inclusion proof travel with the commit, and
`coopchain verify BUNDLE` accepts only an applied commit whose certificate proves it."""

from __future__ import annotations

import copy

import pytest

from coopchain.app.ledger_commands import verify_bundle_file
from coopchain.chain import merkle
from coopchain.chain.bundle import InvalidBundle, verify_bundle
from coopchain.chain.receipt import encode_receipt, receipt_from_json
from coopchain.service.bundles import audit_bundle
from tests.contracts.conftest import commit_args


@pytest.fixture
def committed(world, solutions):
    world.send(world.manager, "allocation.register_problem", {"problem": solutions["F1"]["certificate"]["problem"]})
    applied, _, _ = world.send(world.manager, "allocation.commit_allocation", commit_args(solutions["F1"]))
    rejected, _, _ = world.send(world.manager, "allocation.commit_allocation", commit_args(solutions["F1"]))  # round_committed
    assert (applied.status, rejected.code) == ("applied", "round_committed")
    return world, applied, rejected


def test_the_receipt_is_in_its_blocks_receipts_root(committed):
    world, applied, _ = committed
    doc = audit_bundle(world.ledger, applied.transaction)
    receipt = receipt_from_json(doc["receipt"])
    proof = doc["receipt_proof"]
    # RFC 6962 inclusion, recomputed here from the proof's path against the header's receipts root.
    merkle.verify_inclusion(merkle.leaf_hash(encode_receipt(receipt)), proof["leaf_index"], proof["tree_size"],
                            [bytes.fromhex(h) for h in proof["path"]], bytes.fromhex(doc["block"]["receipts_root"]))
    assert receipt == applied


def test_an_applied_commit_verifies_offline(committed, capsys):
    world, applied, _ = committed
    assert verify_bundle_file(audit_bundle(world.ledger, applied.transaction), None, None) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid:") and "certificate valid" in out and "(commit 0)" in out


def test_a_rejected_commit_is_not_valid(committed, capsys):
    world, _, rejected = committed
    assert verify_bundle_file(audit_bundle(world.ledger, rejected.transaction), None, None) == 3
    assert "its receipt says rejected: round_committed" in capsys.readouterr().out


def test_a_receipt_swapped_for_another_is_refused(committed):
    world, applied, rejected = committed
    doc = audit_bundle(world.ledger, applied.transaction)
    doc["receipt"] = audit_bundle(world.ledger, rejected.transaction)["receipt"]
    with pytest.raises(InvalidBundle, match="receipt of another transaction"):
        verify_bundle(doc)


def test_a_receipt_altered_to_applied_is_refused(committed):
    world, _, rejected = committed
    doc = audit_bundle(world.ledger, rejected.transaction)
    doc["receipt"] = {**doc["receipt"], "status": "applied", "code": None}
    with pytest.raises(InvalidBundle, match="receipt_proof"):
        verify_bundle(doc)


@pytest.mark.parametrize("mutate, reason", [
    (lambda d, other: d.pop("extra"), "no problem document"),
    (lambda d, other: d["extra"].update(problem=other), "no problem document"),
    (lambda d, other: d.update(state_key=d["state_key"][:-2] + "31"), "state"),
])
def test_a_bundle_without_the_commits_problem_or_entry_is_invalid(committed, solutions, capsys, mutate, reason):
    world, applied, _ = committed
    doc = copy.deepcopy(audit_bundle(world.ledger, applied.transaction))
    mutate(doc, solutions["other-round"]["certificate"]["problem"])
    code = verify_bundle_file(doc, None, None)
    out = capsys.readouterr().out
    assert code == 3 and out.startswith("invalid:") and reason in out


def test_a_commit_bundled_against_an_earlier_head_verifies(committed, capsys):
    """The API's bundle route proves against the head of the latest published checkpoint, which may lie
    below the current head (service.checkpoints.pinned_bundle): the commit's entry and problem are read there."""
    world, applied, _ = committed
    height = world.ledger.receipt(applied.transaction)[0]
    assert world.ledger.height() > height  # the rejected commit came later
    doc = audit_bundle(world.ledger, applied.transaction, head=height)
    assert doc["head"]["height"] == height == doc["block"]["height"]
    assert verify_bundle_file(doc, None, None) == 0 and "certificate valid" in capsys.readouterr().out
    from coopchain.chain.errors import ChainError

    with pytest.raises(ChainError, match=f"a bundle's head lies in {height}.."):
        audit_bundle(world.ledger, applied.transaction, head=height - 1)
