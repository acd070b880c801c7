"""The allocation contract against the review of certificate v2 (R-2, R-6, R-12): each attack gets its
code in a rejected receipt (never a ContractFault), and the chain verifies when replayed at another stack depth."""

from __future__ import annotations

import json

import pytest

from coopchain.chain.verify import verify_chain
from coopchain.service import wiring
from tests.contracts.conftest import commit_args, key
from tests.contracts.test_allocation_contract import register, rejected

def at_stack_depth(extra: int, f):
    return f() if extra == 0 else at_stack_depth(extra - 1, f)


@pytest.mark.parametrize("volume", ["1e400", "-1e400"])
def test_R2_a_volume_that_reads_as_infinity_is_infeasible(world, solutions, volume):
    register(world, solutions["F1"])
    args = commit_args(solutions["F1"])
    first = next(iter(args["allocation"]))
    args["allocation"][first] = volume
    assert float(volume) in (float("inf"), float("-inf"))
    receipt = rejected(world, world.manager, "allocation.commit_allocation", args, "infeasible")
    assert "not a finite volume" in receipt.message


def test_R6_a_deeply_nested_certificate_gets_the_same_receipt_on_replay_at_another_stack_depth(world, solutions):
    """The reviewer's ledger: values.class nested 978–991 deep gave value_mismatch when produced and too_large on
    replay, and `chain verify` refused an honest chain.  Now too_large by a bracket count, whatever the stack."""
    register(world, solutions["F1"])
    for d in (65, 900, 985, 3000):
        cert = {k: v for k, v in solutions["F1"]["certificate"].items() if k != "problem"}
        cert["values"] = {**cert["values"], "class": "@@"}
        args = commit_args(solutions["F1"], certificate=json.dumps(cert).replace('"@@"', "[" * d + "]" * d))
        receipt = at_stack_depth(300, lambda: rejected(world, world.manager, "allocation.commit_allocation", args, "too_large"))
        assert "deeper than 64" in receipt.message
    # Block production ran 300 frames deeper than this replay: the receipts roots still agree.
    at_stack_depth(0, lambda: verify_chain(world.ledger.store, contracts=wiring.contracts()))
    at_stack_depth(600, lambda: verify_chain(world.ledger.store, contracts=wiring.contracts()))


def test_R6_a_deeply_nested_problem_is_refused_with_one_message(world):
    text = '{"cooperative":"' + world.cooperative + '","x":' + "[" * 950 + "]" * 950 + "}"
    receipts = [at_stack_depth(extra, lambda: rejected(world, world.manager, "allocation.register_problem", {"problem": text}, "invalid_document"))
                for extra in (0, 400)]
    assert receipts[0].message == receipts[1].message and "deeper than 64" in receipts[0].message
    verify_chain(world.ledger.store, contracts=wiring.contracts())


def test_R12_a_non_manager_is_refused_before_the_problem_is_proven(world, solutions, monkeypatch):
    """SPEC §4: the sender's check comes first; a stranger's large problem is refused from its head alone."""
    from coopchain.contracts import allocation

    proven = []
    real = allocation.proven_problem
    monkeypatch.setattr(allocation, "proven_problem", lambda *a: proven.append(a) or real(*a))
    rejected(world, key(9), "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]}, "not_manager")
    broken = solutions["F1"]["problem_text"].replace('"enterprises":[', '"enterprises": [', 1)  # not canonical
    rejected(world, key(9), "allocation.register_problem", {"problem": broken}, "not_manager")
    assert proven == []
    rejected(world, world.manager, "allocation.register_problem", {"problem": broken}, "not_canonical")
    assert len(proven) == 1


def test_R6_the_market_contract_refuses_deep_nesting_with_one_message(world):
    """The same class in the market contract: json.loads's RecursionError used to word the receipt."""
    deep = '{"id":"x","kind":' + "[" * 950 + "]" * 950 + "}"
    receipts = [at_stack_depth(extra, lambda: rejected(world, key(30), "market.register_participant", {"participant": deep}, "invalid_participant"))
                for extra in (0, 400)]
    assert receipts[0].message == receipts[1].message and "deeper than 64" in receipts[0].message
    verify_chain(world.ledger.store, contracts=wiring.contracts())
