"""The role × route matrix, generated from the application's own route list.

POLICY below is this test's statement of who may call what (SPEC §6: admin;
manager of given cooperatives; auditor reads all, writes nothing; market
participant).  A route of the app missing from POLICY fails the test, and so
does a route whose declared rule differs.  Then every cell is called over HTTP:
no key 401; a role outside the rule 403; a role inside it neither; and a manager
of another cooperative gets 404 for a cooperative's resources, exactly as for
one that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from coopchain.app.api.config import Settings
from coopchain.app.api.deps import Allow, _Public
from coopchain.app.api.main import create_app
from coopchain.chain.keys import PrivateKey
from coopchain.chain.transaction import sign_transaction, transaction_json
from tests.api.conftest import CHAIN_ID, SAMPLES

ALL = {"admin", "manager", "auditor", "participant"}
READ = {"admin", "manager", "auditor"}
WRITE = {"admin", "manager"}
POLICY = {
    ("GET", "/health"): {"public"},
    ("GET", "/"): {"public"},  # the web page (app/web): static, the key is entered in it
    ("POST", "/problems"): WRITE,
    ("POST", "/problems/csv"): WRITE,
    ("GET", "/problems"): READ,
    ("GET", "/problems/{digest}"): READ,
    ("POST", "/problems/{digest}/solutions"): WRITE,
    ("POST", "/problems/{digest}/fronts"): WRITE,
    ("GET", "/fronts"): READ,
    ("GET", "/fronts/{job_id}"): READ,
    ("POST", "/fronts/{job_id}/cancel"): WRITE,
    ("GET", "/fronts/{job_id}/events"): READ,
    ("GET", "/blocks"): ALL,
    ("GET", "/blocks/head"): ALL,
    ("GET", "/blocks/{height}"): ALL,
    ("GET", "/blocks/{height}/transactions"): {"admin", "auditor"},
    ("GET", "/transactions/{tx_hash}"): READ,
    ("POST", "/transactions"): {"admin", "manager", "participant"},
    ("POST", "/transactions/batch"): {"admin", "manager", "participant"},
    ("GET", "/transactions/{tx_hash}/receipt"): READ,
    ("GET", "/proofs/transactions/{tx_hash}"): READ,
    ("GET", "/proofs/blocks/{height}"): ALL,
    ("GET", "/proofs/consistency"): ALL,
    ("GET", "/proofs/state"): READ,
    ("GET", "/bundles/{tx_hash}"): READ,
    ("GET", "/checkpoint"): {"public"},  # a checkpoint is public: everyone compares the history they were shown
    ("POST", "/keys"): {"admin"},
    ("GET", "/keys"): {"admin"},
    ("GET", "/keys/{key_id}"): {"admin"},
    ("POST", "/keys/{key_id}/revoke"): {"admin"},
    ("GET", "/blocks/{height}/receipts"): {"admin", "auditor"},
    ("GET", "/accounts/{public_key}"): ALL,  # every role that submits reads its next nonce
    ("GET", "/cooperatives"): READ,
    ("GET", "/cooperatives/{cooperative_id}"): READ,
    ("GET", "/cooperatives/{cooperative_id}/history"): READ,
    ("GET", "/cooperatives/{cooperative_id}/rounds"): READ,
    ("GET", "/cooperatives/{cooperative_id}/rounds/{round:path}"): READ,
    ("GET", "/market/days"): ALL,  # a manager's list holds their cooperatives' days only
    ("GET", "/market/days/{market_id:path}"): ALL,
    ("GET", "/market/days/{market_id:path}/offers"): ALL,
    ("GET", "/market/days/{market_id:path}/clearing"): ALL,
    ("GET", "/market/participants"): ALL,
    ("GET", "/market/participants/{participant_id:path}"): ALL,  # the village's, not a cooperative's
}
# Routes whose resource belongs to one cooperative: another cooperative's manager gets 404.
SCOPED = {("GET", "/problems/{digest}"), ("POST", "/problems/{digest}/solutions"), ("POST", "/problems/{digest}/fronts"),
          ("GET", "/fronts/{job_id}"), ("POST", "/fronts/{job_id}/cancel"), ("GET", "/fronts/{job_id}/events"),
          ("GET", "/transactions/{tx_hash}"), ("GET", "/transactions/{tx_hash}/receipt"), ("GET", "/proofs/transactions/{tx_hash}"), ("GET", "/proofs/state"), ("GET", "/bundles/{tx_hash}"),
          ("POST", "/problems"), ("POST", "/problems/csv"), ("GET", "/cooperatives/{cooperative_id}"),
          ("GET", "/cooperatives/{cooperative_id}/history"), ("GET", "/cooperatives/{cooperative_id}/rounds"),
          ("GET", "/cooperatives/{cooperative_id}/rounds/{round:path}"), ("GET", "/market/days/{market_id:path}"),
          ("GET", "/market/days/{market_id:path}/offers"), ("GET", "/market/days/{market_id:path}/clearing")}


def declared_rule(route: APIRoute) -> set[str] | None:
    """The roles of the Allow (or public) dependency found anywhere in the route's dependency tree."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, (Allow, _Public)):
            return set(dependant.call.roles)
        stack.extend(dependant.dependencies)
    return None


def app_routes() -> list[tuple[str, str, APIRoute]]:
    app = create_app(Settings(db="sqlite:///unused.db"))
    # FastAPI includes routers lazily: the served paths (prefix included) come from the route contexts.
    contexts = [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]
    return [(method, c.path, c.original_route) for c in contexts for method in sorted(c.methods)]


ROUTES = app_routes()


def test_every_route_has_a_rule_and_it_is_the_policy():
    served = {(m, p) for m, p, _ in ROUTES}
    assert served == set(POLICY), f"routes without a policy: {sorted(served - set(POLICY))}; policy of no route: {sorted(set(POLICY) - served)}"
    for method, path, route in ROUTES:
        assert declared_rule(route) == POLICY[method, path], (method, path)


@pytest.fixture(scope="module")
def fixtures(server):
    """Real resources of green-valley to call the routes on: a problem, a front job, a transaction, a key."""
    publish_checkpoint(server)
    node = PrivateKey.load(Path(urlparse(server.db).path).parent / "node.key")  # the chain's admin
    with server.client("admin") as c:
        digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        job = c.post(f"/problems/{digest}/fronts", json={"points": 4, "objectives": ["F1", "F3"]}).json()["id"]
        nonce = c.get(f"/accounts/{node.public_key.to_text()}").json()["next_nonce"]
        for i, cooperative in enumerate(("green-valley", "hill-top")):
            tx = sign_transaction(node, CHAIN_ID, nonce + i, "cooperatives.register", {"cooperative": cooperative, "managers": [node.public_key.to_text()]})
            answer = c.post("/transactions", params={"wait": "true"}, json=transaction_json(tx)).json()
            assert answer["receipt"]["status"] in ("applied", "rejected")  # rejected: registered by an earlier module of this session
    return {"digest": digest, "job_id": job, "tx_hash": server.records["green-valley"], "height": "1",
            "public_key": node.public_key.to_text(), "cooperative_id": "green-valley", "round:path": server.contracts.round,
            "market_id:path": server.contracts.market, "participant_id:path": server.contracts.village["participants"][-1]["id"]}


def publish_checkpoint(server) -> None:
    """A checkpoint cosigned by one witness (in process), published as `coopchain chain publish-checkpoint` does."""
    from pathlib import Path

    from coopchain.chain.checkpoint import ledger_origin, node_note_key
    from coopchain.chain.witness import Witness, WitnessStore
    from coopchain.service.checkpoints import CheckpointStore, publish
    from coopchain.service.wiring import open_ledger

    folder = Path(server.db.removeprefix("sqlite:///")).parent
    ledger = open_ledger(server.db, PrivateKey.load(folder / "node.key"))
    key = PrivateKey.generate("ed25519")
    witness_store = WitnessStore.create(folder / "roles-witness.db", "w.example/roles", key.public_key)
    witness_store.follow(ledger_origin(ledger), node_note_key(ledger))
    store = CheckpointStore(server.db)
    try:
        done = publish(ledger, [("w", lambda body: (200, Witness(witness_store, key).add_checkpoint(body)))], store)
        assert done.stored
    finally:
        store.close()
        witness_store.close()
        ledger.close()


def request_for(server, method: str, path: str, fx: dict, role: str | None):
    values = dict(fx)
    if "{key_id}" in path:
        with server.client("admin") as c:  # a fresh key per call: revoking one must not spoil the next cell
            values["key_id"] = c.post("/keys", json={"role": "auditor"}).json()["key"]["id"]
    url = path
    for name, value in values.items():
        url = url.replace("{" + name + "}", str(value))
    kwargs = {}
    if (method, path) == ("POST", "/problems"):
        kwargs["content"] = (SAMPLES / "green-valley.json").read_bytes()
    elif (method, path) == ("POST", "/problems/csv"):
        kwargs["files"] = {"table": ("t.csv", (SAMPLES / "green-valley.csv").read_bytes(), "text/csv")}
        kwargs["data"] = {"header": (SAMPLES / "green-valley.header.json").read_text()}
    elif path.endswith("/solutions"):
        kwargs["json"] = {"objective": "F1"}
    elif path.endswith("/fronts") and method == "POST":
        kwargs["json"] = {"points": 4, "objectives": ["F1", "F3"]}
    elif (method, path) == ("POST", "/transactions"):
        kwargs["json"] = transaction_json(sign_transaction(PrivateKey.generate("ed25519"), CHAIN_ID, 0, "record.put", {"key": "matrix", "value": 1}))
    elif (method, path) == ("POST", "/transactions/batch"):
        kwargs["json"] = [transaction_json(sign_transaction(PrivateKey.generate("ed25519"), CHAIN_ID, 0, "record.put", {"key": "matrix", "value": 1}))]
    elif (method, path) == ("POST", "/keys"):
        kwargs["json"] = {"role": "auditor", "label": "matrix"}
    elif path == "/proofs/consistency":
        kwargs["params"] = {"first": 1, "second": 2}
    elif path == "/proofs/state":
        kwargs["params"] = {"key": "record:allocation/green-valley/2026-Q4"}
    with server.client(role) as c:
        if path.endswith("/events"):
            with c.stream(method, url, **kwargs) as response:
                return response.status_code
        return c.request(method, url, **kwargs).status_code


CELLS = [(m, p, role) for m, p, _ in ROUTES for role in (None, "admin", "manager", "auditor", "participant")]


@pytest.mark.parametrize("method,path,role", CELLS, ids=[f"{m} {p} {r or 'no key'}" for m, p, r in CELLS])
def test_cell(server, fixtures, method, path, role):
    status = request_for(server, method, path, fixtures, role)
    allowed = POLICY[method, path]
    if "public" in allowed:
        assert status == 200
    elif role is None:
        assert status == 401
    elif role not in allowed:
        assert status == 403
    else:
        assert 200 <= status < 300, status


@pytest.mark.parametrize("method,path", sorted(SCOPED), ids=[f"{m} {p}" for m, p in sorted(SCOPED)])
def test_another_cooperatives_manager_gets_404(server, fixtures, method, path):
    assert request_for(server, method, path, fixtures, "other_manager") == 404


def test_a_wrong_key_is_401(server):
    with server.client() as c:
        assert c.get("/blocks", headers={"X-API-Key": server.tokens["admin"] + "x"}).status_code == 401
        assert c.get("/blocks", headers={"X-API-Key": "cck_0000000000000000_nothing"}).status_code == 401
