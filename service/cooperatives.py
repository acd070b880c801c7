"""Cooperatives and their roles as use cases (SPEC §4, §6): create one, add or remove managers, set its policy;
list them, and say what the chain holds of a key (its next nonce, the cooperatives it manages).

Each call signs one `cooperatives.*` transaction with the caller's key and
commits it; the result carries the receipt, which says `applied` or why not.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from coopchain.chain.ledger import Ledger
from coopchain.chain.namespaces import contract_key
from coopchain.chain.receipt import decode_receipt
from coopchain.contracts.cooperatives import NAME, Cooperative, check_key, read_cooperative
from coopchain.service.wiring import Submitted, submit


# A read answers the contract's own record: id, managers, members, k, and registered (the height of the
# block that registered it).
CooperativeView = Cooperative


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
    return read_cooperative(lambda contract, key: ledger.state(contract_key(contract, key), height), cooperative_id)


# -- reading: which cooperatives there are, and what the chain says of a key -----------------
# The state trie's keys are hashed (a secure trie), so it cannot list its cooperatives: the chain's
# receipts can.  Every applied `cooperatives.register` emits `cooperative_registered`; the ids are
# scanned once and then only the blocks added since (the ledger is append-only, so what was
# scanned never changes).

_registered: "weakref.WeakKeyDictionary[Ledger, tuple[int, tuple[str, ...]]]" = weakref.WeakKeyDictionary()
_registered_lock = threading.Lock()


def cooperative_ids(ledger: Ledger) -> tuple[str, ...]:
    """Every registered cooperative's id, in the order they were registered."""
    head = ledger.height()
    with _registered_lock:
        scanned, ids = _registered.get(ledger, (0, ()))
    if scanned >= head:
        return ids
    found = list(ids)
    for height in range(scanned + 1, head + 1):
        for receipt_bytes in ledger.receipts(height):
            found.extend(e.data["cooperative"] for e in decode_receipt(receipt_bytes).events if e.name == "cooperative_registered")
    result = tuple(found)
    with _registered_lock:
        if _registered.get(ledger, (0, ()))[0] < head:
            _registered[ledger] = (head, result)
    return result


def admin_key(ledger: Ledger) -> str | None:
    """The key that registers cooperatives (the cooperatives contract's genesis parameter), None on a chain without it."""
    spec = next((s for s in ledger.config.contracts if s.name == NAME), None)
    return None if spec is None else spec.params.get("admin")


@dataclass(frozen=True)
class AccountView:
    """What the chain's state says of a public key: its next nonce and its roles."""

    public_key: str
    next_nonce: int  # the nonce its next transaction must carry
    admin: bool  # it registers cooperatives
    manages: tuple[str, ...]  # the cooperatives it manages
    endorses: tuple[str, ...]  # the cooperatives whose endorsement policy names it as a member


def account(ledger: Ledger, public_key: str, cooperatives: Sequence[str] | None = None) -> AccountView:
    """The key's next nonce and roles at the head; `cooperatives` limits which cooperatives are
    looked at (a manager's API key sees its own only), None looks at all.  A key text that is not
    one is InvalidTransaction, as at admission."""
    check_key(public_key, "public_key")
    registered = cooperative_ids(ledger)
    ids = registered if cooperatives is None else tuple(c for c in cooperatives if c in frozenset(registered))
    views = [v for v in (cooperative(ledger, c) for c in ids) if v is not None]
    return AccountView(public_key, ledger.next_nonce(public_key), admin_key(ledger) == public_key,
                       tuple(v.id for v in views if public_key in v.managers), tuple(v.id for v in views if public_key in v.members))
