"""Cooperatives and their roles as use cases (SPEC §4, §6): create one, add or remove managers, set its policy.

Each call signs one `cooperatives.*` transaction with the caller's key and
commits it; the result carries the receipt, which says `applied` or why not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coopchain.chain.ledger import Ledger
from coopchain.chain.namespaces import contract_key
from coopchain.contracts.cooperatives import NAME, read_cooperative
from coopchain.service.wiring import Submitted, submit


@dataclass(frozen=True)
class CooperativeView:
    id: str
    managers: tuple[str, ...]
    members: tuple[str, ...]
    k: int
    registered: int  # the height of the block that registered it


def create_cooperative(ledger: Ledger, admin_key, cooperative: str, managers: Sequence[str]) -> Submitted:
    return submit(ledger, admin_key, [(f"{NAME}.register", {"cooperative": cooperative, "managers": list(managers)})])[0]


def add_manager(ledger: Ledger, manager_key, cooperative: str, manager: str) -> Submitted:
    return submit(ledger, manager_key, [(f"{NAME}.add_manager", {"cooperative": cooperative, "manager": manager})])[0]


def remove_manager(ledger: Ledger, manager_key, cooperative: str, manager: str) -> Submitted:
    return submit(ledger, manager_key, [(f"{NAME}.remove_manager", {"cooperative": cooperative, "manager": manager})])[0]


def set_policy(ledger: Ledger, manager_key, cooperative: str, members: Sequence[str], k: int) -> Submitted:
    return submit(ledger, manager_key, [(f"{NAME}.set_policy", {"cooperative": cooperative, "members": list(members), "k": k})])[0]


def cooperative(ledger: Ledger, cooperative_id: str, height: int | None = None) -> CooperativeView | None:
    """The cooperative as the state holds it at `height` (default: the head), None if not registered."""
    found = read_cooperative(lambda contract, key: ledger.state(contract_key(contract, key), height), cooperative_id)
    return None if found is None else CooperativeView(found.id, found.managers, found.members, found.k, found.registered)
