"""The allocation contract: each condition failing alone gives its code, changes nothing but the nonce, and the block is committed."""

from __future__ import annotations

import json

import pytest

from coopchain.chain.errors import InvalidTransaction
from coopchain.chain.seals.endorsement import endorse
from coopchain.contracts.allocation import endorsement_message
from tests.contracts.conftest import CHAIN, commit_args, key, only_nonce_changed, text


def register(world, solution, signer=None):
    return world.send(signer or world.manager, "allocation.register_problem", {"problem": solution["problem_text"]})


def rejected(world, signer, kind, args, code):
    receipt, parent, header = world.send(signer, kind, args)
    assert (receipt.status, receipt.code) == ("rejected", code), receipt
    assert receipt.events == () and receipt.message
    assert only_nonce_changed(world, signer, parent, header)
    return receipt


# -- register_problem ------------------------------------------------------------------


def test_a_registered_problem_is_applied_and_stored_under_its_hash(world, solutions):
    import hashlib

    from coopchain.chain.namespaces import contract_key
    from coopchain.contracts.allocation import document_key

    text_ = solutions["F1"]["problem_text"]
    receipt, _, _ = register(world, solutions["F1"])
    assert receipt.status == "applied" and receipt.events[0].name == "problem_registered"
    digest = hashlib.sha256(text_.encode()).hexdigest()
    assert world.ledger.state(contract_key("allocation", document_key(digest))) == text_.encode()


def test_register_not_json(world):
    rejected(world, world.manager, "allocation.register_problem", {"problem": "{not json"}, "invalid_document")


def test_register_for_an_unknown_cooperative(world, solutions):
    doc = json.loads(solutions["F1"]["problem_text"])
    doc["cooperative"] = "nowhere"
    rejected(world, world.manager, "allocation.register_problem", {"problem": json.dumps(doc, sort_keys=True, separators=(",", ":"))}, "unknown_cooperative")


def test_register_by_a_non_manager(world, solutions):
    rejected(world, key(9), "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]}, "not_manager")


def test_register_twice(world, solutions):
    register(world, solutions["F1"])
    rejected(world, world.manager, "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]}, "already_registered")


def test_register_an_invalid_document(world, solutions):
    doc = json.loads(solutions["F1"]["problem_text"])
    doc["demand"]["min"] = -5.0  # a negative demand is refused by the problem model
    receipt = rejected(world, world.manager, "allocation.register_problem", {"problem": json.dumps(doc, sort_keys=True, separators=(",", ":"))}, "invalid_document")
    assert "demand" in receipt.message


def test_register_a_valid_but_not_canonical_text(world, solutions):
    pretty = json.dumps(json.loads(solutions["F1"]["problem_text"]), indent=2)
    rejected(world, world.manager, "allocation.register_problem", {"problem": pretty}, "not_canonical")


# -- commit_allocation -------------------------------------------------------------------


def test_a_certified_allocation_is_applied_and_readable(world, solutions):
    from coopchain.chain.encoding import decode
    from coopchain.chain.namespaces import contract_key
    from coopchain.contracts.allocation import commit_key

    register(world, solutions["F1"])
    args = commit_args(solutions["F1"])
    receipt, _, header = world.send(world.manager, "allocation.commit_allocation", args)
    assert receipt.status == "applied" and receipt.code is None
    (event,) = receipt.events
    assert event.name == "allocation_committed" and event.data["sequence"] == 0
    entry = decode(world.ledger.state(contract_key("allocation", commit_key(args["cooperative"], args["round"], 0))))
    assert entry["allocation"] == args["allocation"] and entry["height"] == header.height
    assert entry["values"]["F1"] == repr(solutions["F1"]["values"]["F1"])


def test_commit_for_an_unknown_cooperative(world, solutions):
    register(world, solutions["F1"])
    rejected(world, world.manager, "allocation.commit_allocation", commit_args(solutions["F1"], cooperative="nowhere"), "unknown_cooperative")


def test_commit_by_a_non_manager(world, solutions):
    register(world, solutions["F1"])
    rejected(world, key(9), "allocation.commit_allocation", commit_args(solutions["F1"]), "not_manager")


def test_commit_of_an_unregistered_problem(world, solutions):
    rejected(world, world.manager, "allocation.commit_allocation", commit_args(solutions["F1"]), "unknown_problem")


def test_commit_of_another_rounds_problem(world, solutions):
    register(world, solutions["other-round"])
    register(world, solutions["F1"])
    args = commit_args(solutions["F1"], problem=commit_args(solutions["other-round"])["problem"])
    rejected(world, world.manager, "allocation.commit_allocation", args, "problem_mismatch")


def test_a_second_commit_of_a_round_without_supersedes(world, solutions):
    register(world, solutions["F1"])
    world.send(world.manager, "allocation.commit_allocation", commit_args(solutions["F1"]))
    rejected(world, world.manager, "allocation.commit_allocation", commit_args(solutions["F1"]), "round_committed")


def test_an_amendment_that_names_another_commit(world, solutions):
    register(world, solutions["F1"])
    world.send(world.manager, "allocation.commit_allocation", commit_args(solutions["F1"]))
    rejected(world, world.manager, "allocation.commit_allocation", commit_args(solutions["F3"], supersedes="ab" * 32, reason="wrong data"), "bad_supersedes")


def test_an_amendment_is_a_new_commit_and_the_first_stays_readable(world, solutions):
    from coopchain.chain.encoding import decode
    from coopchain.chain.namespaces import contract_key
    from coopchain.contracts.allocation import commit_key, round_key

    register(world, solutions["F1"])
    first, _, _ = world.send(world.manager, "allocation.commit_allocation", commit_args(solutions["F1"]))
    args = commit_args(solutions["F3"], supersedes=first.transaction.hex(), reason="the footprint matters more this round")
    amended, _, _ = world.send(world.manager, "allocation.commit_allocation", args)
    assert amended.status == "applied" and amended.events[0].data["sequence"] == 1
    coop, rnd = args["cooperative"], args["round"]
    read = lambda k: decode(world.ledger.state(contract_key("allocation", k)))  # noqa: E731
    assert read(commit_key(coop, rnd, 0))["allocation"] == commit_args(solutions["F1"])["allocation"]
    assert read(commit_key(coop, rnd, 1))["supersedes"] == first.transaction.hex()
    assert read(round_key(coop, rnd)) == {"commits": 2, "current": amended.transaction.hex()}


def test_commit_naming_the_wrong_enterprises(world, solutions):
    register(world, solutions["F1"])
    args = commit_args(solutions["F1"])
    args["allocation"].pop(next(iter(args["allocation"])))
    rejected(world, world.manager, "allocation.commit_allocation", args, "wrong_enterprises")


def test_commit_of_an_infeasible_allocation(world, solutions, sample_document):
    register(world, solutions["F1"])
    args = commit_args(solutions["F1"])
    first = sample_document["enterprises"][0]
    args["allocation"][first["id"]] = repr(float(first["max"]) + 1.0)  # above its maximum
    rejected(world, world.manager, "allocation.commit_allocation", args, "infeasible")


def test_commit_with_an_invalid_certificate(world, solutions):
    register(world, solutions["F1"])
    cert = {k: v for k, v in solutions["F1"]["certificate"].items() if k != "problem"}
    cert["bound"] = cert["bound"] * 1.5  # a bound the multipliers do not prove
    receipt = rejected(world, world.manager, "allocation.commit_allocation", commit_args(solutions["F1"], certificate=json.dumps(cert)),
                       _certificate_code(cert, solutions["F1"]["problem_text"]))
    assert "bound" in receipt.message


@pytest.mark.parametrize("named_by, schema", [("text", "v3"), ("form", "v3"), ("text", "v9")])
def test_version_1_refuses_a_v3_certificate_as_it_always_did(world, solutions, named_by, schema):
    """Ledgers made with allocation v1 replay with the same receipts (their sentences are in the receipts root): a v3
    certificate (a later format), or any other schema, is refused with the sentence the verifier gave before v3
    existed, whichever problem hash it names."""
    import hashlib

    from coopchain.models.problem_form import encode
    from coopchain.models.problem_rules import read_canonical

    register(world, solutions["F1"])
    text = solutions["F1"]["problem_text"]
    form_hash = hashlib.sha256(encode(read_canonical(json.loads(text)))).hexdigest()
    cert = {**solutions["F1"]["certificate"], "schema": f"coopchain/certificate/{schema}"}
    if named_by == "form":
        cert["problem_hash"] = form_hash
    receipt = rejected(world, world.manager, "allocation.commit_allocation", commit_args(solutions["F1"], certificate=json.dumps(cert)),
                       "certificate_mismatch" if named_by == "form" else "malformed")
    if named_by == "text":
        assert receipt.message == "not a certificate: 'schema' must be 'coopchain/certificate/v2' (or the older 'coopchain/certificate/v1')"


def _certificate_code(cert, problem):
    """The code the leaf verifier gives this certificate (the contract records it), else the generic one."""
    from coopchain.models.certificate import CertificateError, verify_certificate

    try:
        verify_certificate(cert, problem)
    except CertificateError as e:
        return getattr(e, "code", None) or "certificate_invalid"
    raise AssertionError("the test's certificate should not verify")


def test_commit_with_a_certificate_of_another_objective(world, solutions):
    register(world, solutions["F1"])
    args = commit_args(solutions["F1"], chosen_by={"objective": "F2", "method": None, "pick": None})
    rejected(world, world.manager, "allocation.commit_allocation", args, "certificate_mismatch")


def test_commit_of_an_allocation_its_certificate_does_not_prove(world, solutions):
    register(world, solutions["F1"])
    args = commit_args(solutions["F1"], allocation=commit_args(solutions["F3"])["allocation"])  # feasible, but not F1's
    rejected(world, world.manager, "allocation.commit_allocation", args, "certificate_mismatch")


def test_commit_without_the_policys_endorsements(world, solutions):
    members = [key(20), key(21), key(22, "p256")]
    world.send(world.manager, "cooperatives.set_policy", {"cooperative": world.cooperative, "members": [text(m) for m in members], "k": 2})
    register(world, solutions["F1"])
    args = commit_args(solutions["F1"])
    args["endorsements"] = endorse(members[:1], endorsement_message(CHAIN, args))  # k − 1
    receipt = rejected(world, world.manager, "allocation.commit_allocation", args, "endorsement_missing")
    assert "1 endorsements; the policy needs 2 of 3" in receipt.message
    args["endorsements"] = endorse(members[1:], endorsement_message(CHAIN, args))  # k
    applied, _, _ = world.send(world.manager, "allocation.commit_allocation", args)
    assert applied.status == "applied"


def test_an_endorsement_of_another_allocation_does_not_count(world, solutions):
    members = [key(20), key(21)]
    world.send(world.manager, "cooperatives.set_policy", {"cooperative": world.cooperative, "members": [text(m) for m in members], "k": 1})
    register(world, solutions["F1"])
    other = commit_args(solutions["F3"])
    args = commit_args(solutions["F1"], endorsements=endorse(members[:1], endorsement_message(CHAIN, other)))
    rejected(world, world.manager, "allocation.commit_allocation", args, "endorsement_missing")


@pytest.mark.parametrize("change, reason", [
    ({"allocation": {"e01": 15}}, "decimal string"),
    ({"allocation": {"e01": "nan"}}, "decimal string"),
    ({"problem": "XY"}, "64 lower-case hex"),
    ({"chosen_by": {"objective": "F9", "method": None, "pick": None}}, "chosen_by.objective"),
    ({"supersedes": "ab" * 32}, "says why"),
    ({"certificate": ""}, "JSON text"),
])
def test_a_malformed_commit_is_not_included(world, solutions, change, reason):
    register(world, solutions["F1"])
    height = world.ledger.height()
    with pytest.raises(InvalidTransaction, match=reason):
        world.send(world.manager, "allocation.commit_allocation", {**commit_args(solutions["F1"]), **change})
    assert world.ledger.height() == height
