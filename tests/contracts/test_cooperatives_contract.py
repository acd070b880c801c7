"""Cooperatives and roles on chain: who may register, manage and commit, each refusal with its code."""

from __future__ import annotations

import pytest

from coopchain.chain.errors import InvalidTransaction
from coopchain.service import cooperatives as svc
from tests.contracts.conftest import commit_args, key, only_nonce_changed, text


def rejected(world, signer, kind, args, code):
    receipt, parent, header = world.send(signer, kind, args)
    assert (receipt.status, receipt.code) == ("rejected", code), receipt
    assert only_nonce_changed(world, signer, parent, header)


def test_only_the_admin_registers_a_cooperative(world):
    rejected(world, world.manager, "cooperatives.register", {"cooperative": "hill-farms", "managers": [text(key(3))]}, "not_admin")


def test_a_cooperative_is_registered_once(world):
    rejected(world, world.admin, "cooperatives.register", {"cooperative": world.cooperative, "managers": [text(key(3))]}, "cooperative_exists")


def test_managing_an_unknown_cooperative(world):
    rejected(world, world.manager, "cooperatives.add_manager", {"cooperative": "nowhere", "manager": text(key(3))}, "unknown_cooperative")


def test_a_non_manager_cannot_add_managers(world):
    rejected(world, key(9), "cooperatives.add_manager", {"cooperative": world.cooperative, "manager": text(key(9))}, "not_manager")


def test_a_manager_is_added_once(world):
    rejected(world, world.manager, "cooperatives.add_manager", {"cooperative": world.cooperative, "manager": text(world.manager)}, "already_manager")


def test_removing_someone_who_is_not_a_manager(world):
    rejected(world, world.manager, "cooperatives.remove_manager", {"cooperative": world.cooperative, "manager": text(key(3))}, "not_a_manager")


def test_the_last_manager_stays(world):
    rejected(world, world.manager, "cooperatives.remove_manager", {"cooperative": world.cooperative, "manager": text(world.manager)}, "last_manager")


def test_a_non_manager_cannot_set_the_policy(world):
    rejected(world, key(9), "cooperatives.set_policy", {"cooperative": world.cooperative, "members": [text(key(9))], "k": 1}, "not_manager")


@pytest.mark.parametrize("args, reason", [
    ({"cooperative": "x", "members": ["ed25519:00"], "k": 1}, "members\\[0\\]"),
    ({"cooperative": "x", "members": [], "k": 1}, "k must be an integer in 0 .. 0"),
    ({"cooperative": "", "members": [], "k": 0}, "cooperative must be"),
])
def test_a_malformed_policy_is_not_included(world, args, reason):
    with pytest.raises(InvalidTransaction, match=reason):
        world.send(world.manager, "cooperatives.set_policy", args)


def test_a_manager_of_one_cooperative_can_neither_register_nor_commit_for_another(world, solutions):
    other_manager = key(4)
    svc.create_cooperative(world.ledger, world.admin, "hill-farms", [text(other_manager)])
    rejected(world, other_manager, "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]}, "not_manager")
    world.send(world.manager, "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]})
    rejected(world, other_manager, "allocation.commit_allocation", commit_args(solutions["F1"]), "not_manager")


def test_a_removed_managers_key_is_refused(world, solutions):
    second = key(5)
    assert svc.add_manager(world.ledger, world.manager, world.cooperative, text(second)).receipt.status == "applied"
    assert svc.remove_manager(world.ledger, second, world.cooperative, text(world.manager)).receipt.status == "applied"
    assert svc.cooperative(world.ledger, world.cooperative).managers == (text(second),)
    rejected(world, world.manager, "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]}, "not_manager")
    assert world.send(second, "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]})[0].status == "applied"
    rejected(world, world.manager, "allocation.commit_allocation", commit_args(solutions["F1"]), "not_manager")
