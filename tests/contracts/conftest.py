"""A ledger running the concrete contracts, a registered cooperative with its manager, certified solutions of the sample."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import pytest
import rlp

from coopchain.chain.keys import PrivateKey
from coopchain.chain.namespaces import nonce_key
from coopchain.chain.state import trie_key
from coopchain.chain.transaction import sign_transaction
from coopchain.chain.trie import trie_update
from coopchain.service import wiring

CHAIN = "contracts-test"


def key(n: int, scheme: str = "ed25519") -> PrivateKey:
    return PrivateKey.from_private_bytes(scheme, bytes([n]) * 32)


def text(k: PrivateKey) -> str:
    return k.public_key.to_text()


@dataclass
class World:
    ledger: object
    admin: PrivateKey
    manager: PrivateKey
    cooperative: str

    def send(self, signer: PrivateKey, kind: str, args: dict):
        """Commit one transaction in its own block; return (receipt, parent header, new header)."""
        parent = self.ledger.head()
        tx = sign_transaction(signer, CHAIN, self.ledger.next_nonce(text(signer)), kind, args)
        block = self.ledger.commit([tx])
        return block.receipts[0], parent, block.header


def only_nonce_changed(world: World, signer: PrivateKey, parent, header) -> bool:
    """The new state root is the parent's with nothing but the signer's nonce advanced by one:
    recomputed here from the parent's trie and the one entry, not read back from the ledger."""
    from coopchain.chain.state import StateView

    old = StateView(world.ledger.store, parent.state_root, {}).get(nonce_key(text(signer)))
    n = 0 if old is None else rlp.decode(old, sedes=rlp.sedes.big_endian_int)
    root, _ = trie_update(world.ledger.store, parent.state_root, {trie_key(nonce_key(text(signer))): rlp.encode(n + 1)})
    return root == header.state_root and header.height == parent.height + 1


def create_ledger(url: str, admin: PrivateKey, chain_id: str, market_version: int | None = None, allocation_version: int | None = None):
    """A new ledger as wiring.create_ledger makes it, its genesis naming market `market_version` and allocation
    `allocation_version` (default: what new ledgers run)."""
    from coopchain.chain.contract import ContractSpec
    from coopchain.chain.ledger import Ledger
    from coopchain.contracts import genesis_specs

    if market_version is None and allocation_version is None:
        return wiring.create_ledger(url, admin, chain_id)
    versions = {"market": market_version, "allocation": allocation_version}
    specs = [ContractSpec(s.name, versions[s.name], s.params) if versions.get(s.name) is not None else s for s in genesis_specs(text(admin))]
    return Ledger.create(url, admin, chain_id, "signed", None, (), wiring.contracts(), specs)


def make_world(tmp_path, cooperative: str, market_version: int | None = None, allocation_version: int | None = None) -> World:
    admin, manager = key(1), key(2)
    tmp_path.mkdir(parents=True, exist_ok=True)
    w = World(create_ledger(f"sqlite:///{tmp_path}/ledger.db", admin, CHAIN, market_version, allocation_version), admin, manager, cooperative)
    receipt, _, _ = w.send(admin, "cooperatives.register", {"cooperative": w.cooperative, "managers": [text(manager)]})
    assert receipt.status == "applied"
    return w


@pytest.fixture
def world(tmp_path, sample_document):
    admin, manager = key(1), key(2)
    ledger = wiring.create_ledger(f"sqlite:///{tmp_path}/ledger.db", admin, CHAIN)
    w = World(ledger, admin, manager, sample_document["cooperative"])
    receipt, _, _ = w.send(admin, "cooperatives.register", {"cooperative": w.cooperative, "managers": [text(manager)]})
    assert receipt.status == "applied"
    yield w
    ledger.close()


@pytest.fixture(scope="session")
def solutions(sample_document):
    """Certified optima of the sample (F1, F3) and of the sample for another round, as their JSON."""
    from coopchain.models.problem import parse_problem
    from coopchain.models.solve import prepare, solve

    out = {}
    for objective in ("F1", "F3"):
        out[objective] = json.loads(json.dumps(solve(prepare(parse_problem(copy.deepcopy(sample_document))), objective).as_json()))
    other = {**copy.deepcopy(sample_document), "round": "2027-Q1"}
    out["other-round"] = json.loads(json.dumps(solve(prepare(parse_problem(other)), "F1").as_json()))
    return out


def commit_args(solution: dict, **changes) -> dict:
    """commit_allocation's arguments for a solve output, as the service builds them (written out here)."""
    from coopchain.models.certificate import problem_hash

    cert = solution["certificate"]
    doc = json.loads(solution["problem_text"])  # a v2 certificate names its problem by hash; the output holds it beside
    args = {
        "cooperative": doc["cooperative"],
        "round": doc["round"],
        "problem": problem_hash(solution["problem_text"]),
        "allocation": {eid: repr(float(w)) for eid, w in zip([e["id"] for e in doc["enterprises"]], cert["allocation"])},
        "certificate": json.dumps({k: v for k, v in cert.items() if k != "problem"}),
        "chosen_by": {"objective": cert["objective"], "method": None, "pick": None},
        "supersedes": None,
        "reason": None,
        "endorsements": [],
    }
    args.update(changes)
    return args
