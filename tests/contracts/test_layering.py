"""Where the contracts live: chain/ imports neither models/ nor contracts/; contracts/ imports no solver."""

from tests.blocked_imports import run_blocked

CHAIN = """
import coopchain.chain.ledger, coopchain.chain.verify, coopchain.chain.bundle, coopchain.chain.execution
from coopchain.chain.seals import seal_for
for kind in ("signed", "pow", "pos", "endorsement"):
    seal_for(kind)
print("loaded:", blocked_loaded())
"""

CONTRACTS = """
from coopchain.contracts import contract_set
contract_set()
import coopchain.contracts.allocation, coopchain.contracts.cooperatives
print("loaded:", blocked_loaded())
"""


def test_chain_imports_neither_models_nor_contracts():
    run = run_blocked({"coopchain.models", "coopchain.contracts", "coopchain.service", "numpy"}, CHAIN)
    assert run.returncode == 0 and "loaded: []" in run.stdout, run.stdout + run.stderr


def test_contracts_import_no_solver():
    run = run_blocked({"pyomo", "highspy", "pymoo", "cvxpy", "scipy", "pydantic", "coopchain.models.solve", "coopchain.models.problem"}, CONTRACTS)
    assert run.returncode == 0 and "loaded: []" in run.stdout, run.stdout + run.stderr
