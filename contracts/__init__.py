"""coopchain's concrete contracts (SPEC §4): cooperatives and roles, and the allocation contract.

They use chain/'s contract interface (chain.contract) and the numpy-only
certificate leaf (models.certificate), never a solver.  A chain runs the
contracts its genesis names; the program that opens it hands the ledger their
implementations with `contract_set()` (the service wiring does), so which
contracts exist never depends on what a process happened to import.
"""

from __future__ import annotations

from coopchain.chain.contract import ContractSet, ContractSpec


def contract_set() -> ContractSet:
    """Every contract this package implements, by name and version."""
    from coopchain.contracts.allocation import AllocationContract
    from coopchain.contracts.cooperatives import CooperativesContract
    from coopchain.contracts.market import MarketContract

    # Every version a ledger may name: allocation v1, market v1 and v2 for the ledgers created with them; allocation
    # v2 and market v3 for new ones.
    return ContractSet([CooperativesContract(), AllocationContract(1), AllocationContract(2), MarketContract(1), MarketContract(2), MarketContract(3)])


def genesis_specs(admin: str) -> list[ContractSpec]:
    """The contracts a new coopchain ledger runs: records, cooperatives (with its admin key), allocations (v2) and the market (v3)."""
    return [ContractSpec("record", 1), ContractSpec("cooperatives", 1, {"admin": admin}), ContractSpec("allocation", 2), ContractSpec("market", 3)]
