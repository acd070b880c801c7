"""Request and response schemas, one per use (`XCreate`, `XPublic`, `XsPublic` a `Page` of them), each with an example."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

HASH_EXAMPLE = "9f2c4e1b7a3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60"
TX_EXAMPLE = "3b7e5d1c9a2f4e6b8d0c1a3e5f7b9d2c4e6a8b0d1f3e5c7a9b2d4f6e8a0c1e3f"


def example(document: dict) -> ConfigDict:
    """A model's configuration with its one example (the OpenAPI document shows it)."""
    return ConfigDict(json_schema_extra={"examples": [document]})


def page_example(item: dict, count: int) -> ConfigDict:
    """A Page's configuration with its example: the first page of `count`, holding `item`."""
    return example({"data": [item], "count": count, "offset": 0, "limit": 50})


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list: `data` from `offset` on, at most `limit` of the `count` there are (every list route pages)."""

    data: list[Item]
    count: int = Field(description="how many there are in all")
    offset: int = Field(description="the place of data[0] in the whole list")
    limit: int = Field(description="the most this page could hold")


class FieldError(BaseModel):
    path: str = Field(description="where in the request: body.points, query.limit, enterprises[3].cap.water, …")
    detail: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, served as application/problem+json."""

    model_config = example({"type": "urn:coopchain:error:invalid-problem", "title": "Invalid request", "status": 422,
                             "detail": "the problem document is not valid (1 issue): enterprises[0].u0: must be greater than 0",
                             "instance": "/problems", "errors": [{"path": "enterprises[0].u0", "detail": "must be greater than 0"}]})
    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] = []


class Health(BaseModel):
    model_config = example({"status": "ok", "chain_id": "coopchain-demo", "height": 12, "head": HASH_EXAMPLE})
    status: Literal["ok"]
    chain_id: str
    height: int
    head: str


# -- problems ---------------------------------------------------------------------------
class ProblemSummary(BaseModel):
    model_config = example({"hash": HASH_EXAMPLE, "cooperative": "green-valley", "round": "2026-Q4", "created": 1796170000.0, "url": f"/problems/{HASH_EXAMPLE}"})
    hash: str = Field(description="SHA-256 of the canonical document, hex: the problem's identity")
    cooperative: str
    round: str
    created: float = Field(description="when this server first stored it, seconds since the epoch")
    url: str


class ProblemCreated(ProblemSummary):
    model_config = example({"hash": HASH_EXAMPLE, "cooperative": "green-valley", "round": "2026-Q4", "created": 1796170000.0,
                             "url": f"/problems/{HASH_EXAMPLE}", "notices": []})
    notices: list[str] = Field(description="what validation changed and tells you (e.g. alpha rescaled)")


class ProblemPublic(ProblemSummary):
    model_config = example({"hash": HASH_EXAMPLE, "cooperative": "green-valley", "round": "2026-Q4", "created": 1796170000.0,
                             "url": f"/problems/{HASH_EXAMPLE}", "document": {"schema": "coopchain/problem/v1", "cooperative": "green-valley", "round": "2026-Q4"}})
    document: dict[str, Any] = Field(description="the canonical problem document (coopchain/problem/v1, every default explicit)")


class ProblemsPublic(Page[ProblemSummary]):
    model_config = page_example(ProblemSummary.model_config["json_schema_extra"]["examples"][0], 1)


# -- solutions --------------------------------------------------------------------------
Objective = Literal["F1", "F2", "F3"]


class SolveCreate(BaseModel):
    """What to optimise: `objective` alone, or a scalarisation `method` with its arguments."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"objective": "F2"}, {"method": "epsilon", "objective": "F2", "limits": {"F1": 20000, "F3": 0.9}}]})
    objective: Objective | None = None
    method: Literal["weighted", "epsilon", "lexicographic", "chebyshev"] | None = None
    weights: dict[Objective, float] = Field(default_factory=dict, description="weighted, chebyshev")
    limits: dict[Objective, float] = Field(default_factory=dict, description="epsilon: F1/F2 at least, F3 at most")
    order: list[Objective] = Field(default_factory=list, max_length=3, description="lexicographic")
    reference: dict[Objective, float] = Field(default_factory=dict, description="chebyshev (default: the ideal point)")
    backend: Literal["highs", "pyomo"] = "highs"


class ValuesPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    F1: float
    F2: float
    C: float
    T: float
    F3: float
    class_: str = Field(alias="class", serialization_alias="class")


class ConflictPublic(BaseModel):
    constraint: str
    sentence: str


class ShadowPricePublic(BaseModel):
    constraint: str
    resource: str | None
    enterprise: str | None
    price: float
    sentence: str


class EnterpriseCapPricesPublic(BaseModel):
    """The binding enterprise caps' shadow prices as columns of equal length: entry i is `resource[i]` in `enterprise[i]`."""

    enterprise: list[str]
    resource: list[str]
    price: list[float] = Field(description="change of the objective per unit added to the cap")
    cap: list[float] = Field(description="the cap's value in the data")


class SolutionPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "optimal", "objective": "F2", "message": "certified global optimum", "problem": HASH_EXAMPLE,
        "allocation": {"e01": 120.0, "e02": 80.5}, "values": {"F1": 21000.5, "F2": 0.61, "C": 0.97, "T": 0.38, "F3": 0.71, "class": "primary coordination"},
        "bound": 0.6100001, "gap": 1e-8, "certificate": {"type": "coopchain/certificate/v1"}, "conflicts": [], "shadow_prices": []}]})
    status: Literal["optimal", "infeasible", "failed"]
    objective: str
    message: str
    problem: str
    allocation: dict[str, float] | None = None
    values: ValuesPublic | None = None
    bound: float | None = None
    gap: float | None = None
    certificate: dict[str, Any] | None = Field(None, description="the optimality certificate (docs/certificate.md); `coopchain verify` checks it offline")
    problem_text: str | None = Field(None, description="the canonical problem text the certificate names by its hash (`problem`)")
    conflicts: list[ConflictPublic] = []
    shadow_prices: list[ShadowPricePublic] = Field([], description="the cooperative caps and the demand window, each with a sentence")
    enterprise_cap_prices: EnterpriseCapPricesPublic | None = None


# -- fronts -----------------------------------------------------------------------------
class FrontCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"method": "augmecon", "points": 25, "objectives": ["F1", "F2", "F3"]}]})
    method: Literal["augmecon", "nsga2", "nsga3"] = "augmecon"
    points: int = Field(100, ge=2, le=2000, description="grid points (augmecon) or population (nsga)")
    objectives: list[Literal["F1", "F2", "F3", "T"]] = Field(default_factory=lambda: ["F1", "F2", "F3"], min_length=2, max_length=3)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class FrontPointPublic(BaseModel):
    values: ValuesPublic
    allocation: dict[str, float]
    certificate: dict[str, Any] | None = None


class HypervolumePublic(BaseModel):
    value: float
    reference: list[float] | None


class PickPublic(BaseModel):
    name: str
    index: int
    values: ValuesPublic
    sentence: str


class FrontPublic(BaseModel):
    method: str
    objectives: list[str]
    message: str
    seconds: float
    points: list[FrontPointPublic]
    hypervolume: HypervolumePublic
    picks: list[PickPublic]
    reported: list[str]


_JOB = {"id": "5f1c2a9e0b7d4c3a8e6f1b2d", "url": "/fronts/5f1c2a9e0b7d4c3a8e6f1b2d", "events": "/fronts/5f1c2a9e0b7d4c3a8e6f1b2d/events",
        "cooperative": "green-valley", "problem": HASH_EXAMPLE, "request": {"method": "augmecon", "points": 25, "objectives": ["F1", "F2", "F3"], "seed": 0},
        "state": "running", "progress": 0.4, "message": "7 points, 40 of 100 grid points settled", "result": None, "created": 1796170000.0, "updated": 1796170001.5}


class JobPublic(BaseModel):
    model_config = example(_JOB)
    id: str
    url: str
    events: str = Field(description="server-sent progress events of this job")
    cooperative: str
    problem: str
    request: FrontCreate
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1)
    message: str
    result: FrontPublic | None = None
    created: float
    updated: float


class JobsPublic(Page[JobPublic]):
    model_config = page_example(_JOB, 1)


# -- the ledger -------------------------------------------------------------------------
class HeaderPublic(BaseModel):
    """A block header (docs/ledger.md), hashes and roots in hex."""

    model_config = ConfigDict(extra="allow")
    type: str
    chain_id: str
    height: int
    previous: str
    timestamp: int = Field(description="microseconds since the Unix epoch")
    transactions_root: str
    transaction_count: int
    state_root: str
    history_root: str
    seal: dict[str, Any]
    signature: str


_HEADER = {"type": "coopchain/header/v2", "chain_id": "coopchain-demo", "height": 3, "previous": HASH_EXAMPLE, "timestamp": 1796170000000000,
           "transactions_root": HASH_EXAMPLE, "transaction_count": 1, "state_root": HASH_EXAMPLE, "history_root": HASH_EXAMPLE,
           "seal": {"kind": "signed"}, "signature": "ab" * 64}


class BlockPublic(BaseModel):
    model_config = example({"height": 3, "hash": HASH_EXAMPLE, "header": _HEADER})
    height: int
    hash: str
    header: HeaderPublic


class BlocksPublic(Page[BlockPublic]):
    model_config = page_example({"height": 3, "hash": HASH_EXAMPLE, "header": _HEADER}, 4)


class TransactionDocument(BaseModel):
    type: str
    chain_id: str
    sender: str
    nonce: int
    kind: str
    payload: dict[str, Any]
    signature: str


_TX = {"hash": TX_EXAMPLE, "height": 3, "position": 0, "transaction": {"type": "coopchain/transaction/v1", "chain_id": "coopchain-demo",
       "sender": "ed25519:" + "cd" * 32, "nonce": 0, "kind": "record.put", "payload": {"key": "allocation/green-valley/2026-Q4", "value": {}}, "signature": "ef" * 64}}


class TransactionPublic(BaseModel):
    model_config = example(_TX)
    hash: str
    height: int
    position: int
    transaction: TransactionDocument


class TransactionsPublic(Page[TransactionPublic]):
    model_config = page_example(_TX, 1)


class InclusionProofPublic(BaseModel):
    """RFC 9162 §4.12 inclusion proof; for a transaction, `height` and `block` name the block whose tree it is."""

    model_config = example({"leaf_index": 0, "tree_size": 1, "path": [], "height": 3, "block": HASH_EXAMPLE})
    leaf_index: int
    tree_size: int
    path: list[str]
    height: int | None = None
    block: str | None = None


class ConsistencyProofPublic(BaseModel):
    model_config = example({"first": 2, "second": 4, "path": [HASH_EXAMPLE, HASH_EXAMPLE]})
    first: int
    second: int
    path: list[str]


class StateProofPublic(BaseModel):
    model_config = example({"key": "record:allocation/green-valley/2026-Q4", "height": 3, "state_root": HASH_EXAMPLE, "nodes": ["f851a0" + "00" * 32]})
    key: str
    height: int
    state_root: str
    nodes: list[str] = Field(description="RLP trie nodes, root to leaf, hex")


class BundlePublic(BaseModel):
    """An audit bundle (docs/ledger.md): `coopchain verify bundle.json` checks it offline."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"type": "coopchain/bundle/v2", "genesis": _HEADER, "block": _HEADER, "head": _HEADER}]})
    type: str


# -- API keys ---------------------------------------------------------------------------
class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "manager", "cooperatives": ["green-valley"], "label": "Li's laptop"}]})
    role: Literal["admin", "manager", "auditor", "participant"]
    cooperatives: list[str] = Field(default_factory=list, max_length=1000, description="a manager's cooperatives; empty for other roles")
    label: str = Field("", max_length=200)


_KEY = {"id": "8d4fff8593126800", "role": "manager", "cooperatives": ["green-valley"], "label": "Li's laptop", "created": 1796170000.0, "revoked": None}


class KeyPublic(BaseModel):
    model_config = example(_KEY)
    id: str
    role: str
    cooperatives: list[str]
    label: str
    created: float
    revoked: float | None


class KeyCreated(BaseModel):
    model_config = example({"key": _KEY, "token": "cck_8d4fff8593126800_7KzhVu7IxSCvL-ccPlLKul6PPLkS9NS_RtcGjwx_3-0"})
    key: KeyPublic
    token: str = Field(description="the API key: shown once, stored only as a hash")


class KeysPublic(Page[KeyPublic]):
    model_config = page_example(_KEY, 1)


# -- submitting transactions ----------------------------------------------------------------
class ReceiptDocument(BaseModel):
    type: str
    transaction: str
    status: Literal["applied", "rejected"]
    code: str | None
    message: str
    events: list[dict[str, Any]]


_RECEIPT = {"type": "coopchain/receipt/v1", "transaction": TX_EXAMPLE, "status": "applied", "code": None, "message": "applied", "events": []}


class ReceiptPublic(BaseModel):
    model_config = example({"hash": TX_EXAMPLE, "height": 3, "position": 0, "receipt": _RECEIPT})
    hash: str
    height: int
    position: int
    receipt: ReceiptDocument


class SubmittedPublic(BaseModel):
    """A submitted transaction: pending (202), or with `wait` its block and receipt (200)."""

    model_config = example({"hash": TX_EXAMPLE, "status": "committed", "url": f"/transactions/{TX_EXAMPLE}/receipt", "height": 3, "position": 0, "receipt": _RECEIPT})
    hash: str
    status: Literal["pending", "committed"]
    url: str = Field(description="where its receipt is, once committed")
    height: int | None = None
    position: int | None = None
    receipt: ReceiptDocument | None = None


class ReceiptsPublic(Page[ReceiptPublic]):
    model_config = page_example({"hash": TX_EXAMPLE, "height": 3, "position": 0, "receipt": _RECEIPT}, 1)


# -- accounts and cooperatives (the chain's state) -------------------------------------------
_KEY_TEXT = "ed25519:" + "cd" * 32


class AccountPublic(BaseModel):
    """What the chain's state says of a public key: the nonce its next transaction carries, and its roles."""

    model_config = example({"public_key": _KEY_TEXT, "next_nonce": 2, "height": 12, "admin": False, "manages": ["green-valley"], "endorses": []})
    public_key: str
    next_nonce: int = Field(description="the nonce the key's next transaction must carry (0 for a key the chain has not seen)")
    height: int = Field(description="the head this answer was read at")
    admin: bool = Field(description="the chain's admin key, which registers cooperatives")
    manages: list[str] = Field(description="the cooperatives it manages (for a manager's API key: among the key's own)")
    endorses: list[str] = Field(description="the cooperatives whose endorsement policy names it as a member")


_COOP = {"id": "green-valley", "managers": [_KEY_TEXT], "members": [], "k": 0, "registered": 1}


class CooperativePublic(BaseModel):
    model_config = example(_COOP)
    id: str
    managers: list[str] = Field(description="the public keys that sign its commits and manage its roles")
    members: list[str] = Field(description="member enterprises' keys that may endorse its allocations")
    k: int = Field(description="how many members must endorse each allocation (0: none)")
    registered: int = Field(description="the height of the block that registered it")


class CooperativesPublic(Page[CooperativePublic]):
    model_config = page_example(_COOP, 1)


class SubmittedItem(BaseModel):
    """One transaction of a batch: its position in the request, then as SubmittedPublic, or refused with why."""

    index: int = Field(description="its position in the request's array")
    hash: str | None = Field(None, description="absent when the item is not a transaction at all")
    status: Literal["pending", "committed", "refused"]
    url: str | None = None
    height: int | None = None
    position: int | None = None
    receipt: ReceiptDocument | None = None
    detail: str | None = Field(None, description="why it was refused: at admission, or by the ledger (its nonce)")


class SubmittedBatchPublic(BaseModel):
    """A batch of submitted transactions, in request order: 202, or with `wait` 200 once each is committed or refused."""

    model_config = example({"data": [{"index": 0, "hash": TX_EXAMPLE, "status": "committed", "url": f"/transactions/{TX_EXAMPLE}/receipt", "height": 3, "position": 0,
                                       "receipt": _RECEIPT, "detail": None}], "count": 1})
    data: list[SubmittedItem]
    count: int

