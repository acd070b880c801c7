"""A real API server for the tests: a ledger on disk with committed allocation records, uvicorn in a
subprocess on loopback, and one API key per role (made through the side table, as `coopchain keys api new` does)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from coopchain.chain.keys import PrivateKey
from coopchain.chain.transaction import sign_transaction, transaction_hash
from coopchain.models.problem import load_problem_json
from coopchain.models.solve import solve
from coopchain.service.api_store import ApiStore
from coopchain.service.wiring import create_ledger, open_ledger
from tests.server import free_port, stop_server  # noqa: F401 (the API tests import them from here)
from tests.server import start_server as _start_server

SAMPLES = Path(__file__).resolve().parents[2] / "models" / "samples"
CHAIN_ID = "coopchain-api-test"
MAX_BODY = 4 * 1024 * 1024  # the test server's request size limit


@dataclass
class Server:
    url: str
    db: str
    tokens: dict  # role name -> API key; "manager" manages green-valley, "other_manager" another cooperative
    records: dict  # cooperative -> record transaction hash (hex)
    process: subprocess.Popen
    contracts: "ContractData | None" = None  # what add_contract_data committed

    def client(self, role: str | None = None, **kw) -> httpx.Client:
        headers = {"X-API-Key": self.tokens[role]} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)


def allocation_value(document_text: str, cooperative: str) -> dict:
    """A record value as docs/ledger.md describes an allocation record (decimal strings, the certificate as text)."""
    problem = load_problem_json(document_text)
    solution = solve(problem, "F2")
    assert solution.success
    return {
        "cooperative": cooperative,
        "round": problem.round,
        "problem": solution.certificate["problem_hash"],
        "method": "max F2",
        "allocation": {eid: repr(float(w)) for eid, w in zip(solution.ids, solution.allocation)},
        "certificate": json.dumps(solution.certificate, sort_keys=True, separators=(",", ":")),
    }


def make_ledger(folder: Path) -> tuple[str, dict]:
    """A ledger with one allocation record for green-valley and one for another cooperative."""
    url = f"sqlite:///{folder / 'ledger.db'}"
    node = PrivateKey.generate("ed25519")
    manager = PrivateKey.generate("ed25519")
    ledger = create_ledger(url, node, CHAIN_ID)  # the contracts at genesis (allocation, cooperatives, market); the node key is the chain's admin
    text = (SAMPLES / "green-valley.json").read_text()
    other_text = json.dumps({**json.loads(text), "cooperative": "hill-top"})
    records = {}
    for nonce, (cooperative, doc) in enumerate((("green-valley", text), ("hill-top", other_text))):
        value = allocation_value(doc, cooperative)
        tx = sign_transaction(manager, CHAIN_ID, nonce, "record.put", {"key": f"allocation/{cooperative}/2026-Q4", "value": value})
        ledger.commit([tx])
        records[cooperative] = transaction_hash(tx).hex()
    ledger.close()
    node.save(str(folder / "node.key"))  # the server commits submitted transactions with it
    return url, records


@dataclass(frozen=True)
class ContractData:
    """What add_contract_data committed through the contracts, as the test itself knows it (the reference)."""

    cooperative: str
    round: str
    first: str  # the round's first commit (max F2), superseded
    amendment: str  # its amendment (max F1), current
    reason: str
    allocations: dict  # transaction hash -> {enterprise: decimal string} as committed
    objectives: dict  # transaction hash -> the certificate's objective
    market: str
    village: dict  # the market document traded (service.market.sample_day())
    open_market: str  # a day opened after it, with no offer and no clearing
    other_cooperative: str  # registered, managed by another key: its history is another manager's


def add_contract_data(db: str, folder: Path) -> ContractData:
    """Through the contracts, signed by the node key (the chain's admin, green-valley's manager and every market
    participant's owner): green-valley registered, its sample round committed at max F2 and amended at max F1,
    hill-top registered with no commit, the sample village day traded and cleared (HiGHS, checked by the contract), and
    the next day opened with no offer yet."""
    from coopchain.service.commit import commit, from_solution
    from coopchain.service.cooperatives import create_cooperative
    from coopchain.service.market import open_day, sample_day, split_market_document, trade_day

    node = PrivateKey.load(str(folder / "node.key"))
    ledger = open_ledger(db, node)
    try:
        me = node.public_key.to_text()
        for cooperative in ("green-valley", "hill-top"):
            assert create_cooperative(ledger, node, cooperative, [me]).receipt.applied
        problem = load_problem_json((SAMPLES / "green-valley.json").read_text())
        done, allocations, objectives = [], {}, {}
        for objective in ("F2", "F1"):
            solution = solve(problem, objective)
            assert solution.success
            reason = "the benefit counts more this quarter" if done else None
            result = commit(ledger, node, from_solution(json.loads(json.dumps(solution.as_json()))), supersedes=done[-1] if done else None, reason=reason)
            assert result.commit.receipt.applied, result.commit.receipt.message
            done.append(result.commit.transaction)
            allocations[result.commit.transaction] = {eid: repr(float(w)) for eid, w in zip(solution.ids, solution.allocation)}
            objectives[result.commit.transaction] = objective
        village = sample_day()
        view = trade_day(ledger, node, "green-valley", village)
        assert view.cleared is not None
        # The next day, opened with nobody posting yet: a day with no clearing.
        terms = split_market_document({**village, "market": village["market"] + "-next"}).terms
        assert open_day(ledger, node, "green-valley", terms, gate=ledger.height() + 1000).receipt.applied
    finally:
        ledger.close()
    return ContractData("green-valley", problem.round, done[0], done[1], "the benefit counts more this quarter", allocations, objectives,
                        village["market"], village, village["market"] + "-next", "hill-top")


def start_server(db: str, workers: int = 1, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """The shared test server (tests/server.py) with this suite's request size limit."""
    return _start_server(db, workers, {"COOPCHAIN_MAX_BODY_BYTES": str(MAX_BODY), **(extra_env or {})})


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    folder = tmp_path_factory.mktemp("api")
    db, records = make_ledger(folder)
    contracts = add_contract_data(db, folder)
    store = ApiStore(db)
    tokens = {
        "admin": store.create_key("admin", (), "test admin").token,
        "manager": store.create_key("manager", ("green-valley",), "test manager").token,
        "other_manager": store.create_key("manager", ("hill-top",), "another cooperative's manager").token,
        "auditor": store.create_key("auditor", (), "test auditor").token,
        "participant": store.create_key("participant", (), "test participant").token,
    }
    store.close()
    process, url = start_server(db, extra_env={"COOPCHAIN_NODE_KEY": str(folder / "node.key"), "COOPCHAIN_BATCH_WAIT_MS": "20"})
    yield Server(url, db, tokens, records, process, contracts)
    stop_server(process)
