"""Allocation contract v2, new ledgers' genesis: its receipts show a refused certificate's recomputed numbers as
the verifier's machine-independent figures; v1, kept for the ledgers made with it, still writes the float
estimate it always wrote (tests/chain/test_replay_across_versions.py replays such a ledger)."""

from __future__ import annotations

import json

import pytest

from coopchain.contracts.allocation import AllocationContract
from coopchain.models import certificate_verify as cv
from coopchain.models.certificate import CertificateError

from .conftest import commit_args, make_world


def _wrong_certificate(solution: dict) -> dict:
    """The solve's certificate claiming an F1 1 % above the allocation's."""
    cert = json.loads(json.dumps(solution["certificate"]))
    cert["values"]["F1"] *= 1.01
    return cert


def _wrong_value(solution: dict) -> dict:
    cert = _wrong_certificate(solution)
    return commit_args(solution, certificate=json.dumps({k: v for k, v in cert.items() if k != "problem"}))


def _verifier_says(solution: dict, legacy: bool) -> str:
    with pytest.raises(CertificateError) as refused:
        cv.verify(_wrong_certificate(solution), solution["problem_text"], legacy=legacy)
    return str(refused.value)


@pytest.mark.parametrize("version", [1, 2])
def test_a_refusals_receipt_shows_the_figure_its_version_shows(tmp_path, solutions, version):
    w = make_world(tmp_path / f"v{version}", json.loads(solutions["F1"]["problem_text"])["cooperative"], allocation_version=version)
    receipt, _, _ = w.send(w.manager, "allocation.register_problem", {"problem": solutions["F1"]["problem_text"]})
    assert receipt.status == "applied"
    receipt, _, _ = w.send(w.manager, "allocation.commit_allocation", _wrong_value(solutions["F1"]))
    assert (receipt.status, receipt.code) == ("rejected", "value_mismatch")
    assert receipt.message == _verifier_says(solutions["F1"], legacy=version == 1)
    w.ledger.close()


def test_new_ledgers_run_version_2_and_version_1_stays_available():
    from coopchain.contracts import contract_set, genesis_specs

    assert [s.version for s in genesis_specs("ed25519:" + "00" * 32) if s.name == "allocation"] == [2]
    assert contract_set().get("allocation", 1).version == 1 and contract_set().get("allocation", 2).version == 2
    with pytest.raises(ValueError, match="versions 1, 2"):
        AllocationContract(3)
