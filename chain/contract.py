"""The contract interface (SPEC §4): named methods of named conditions, each with a stable code.

A contract is deterministic code with preset trigger conditions and responses
(the source's figure 6).  Here a contract has a name and a version, fixed in the
genesis config, and methods.  A method has two parts:

- `shape(args)`, checked at **admission**: a pure function of the arguments
  (fields, types, sizes).  A transaction whose arguments have the wrong shape
  is not included; its submitter gets the reason (`InvalidTransaction`).
- `run(call, args)`, the **execution**: the method's conditions in order, each
  written `require(holds, "code", "sentence")`.  The first that fails ends the
  call with a `Rejection`, which the chain turns into a receipt with status
  ``rejected``, the code and the sentence, and no state change but the sender's
  nonce.  When all hold, the method writes through `call.put`, says what
  happened with `call.emit`, and returns a sentence; the receipt says
  ``applied``.

A method sees only the transaction (sender, hash, arguments), the state at the
parent block with the block's earlier changes on top, and the block context
(chain id, height, time): SPEC §4's determinism.  It writes only its own
contract's keys (chain.namespaces); it may read any contract's.

Which contracts a chain runs is fixed at genesis by name and version
(`ContractSpec` in the genesis config); the implementations are handed to the
ledger by whoever opens it (the service wiring), as a `ContractSet`, never
found through what a process happened to import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from coopchain.chain.encoding import canonical
from coopchain.chain.errors import ChainError, InvalidTransaction, StorageError, ensure
from coopchain.chain.namespaces import contract_key, valid_contract_name
from coopchain.chain.types import Hash32

APPLIED, REJECTED = "applied", "rejected"


@dataclass(frozen=True)
class BlockContext:
    """The only outside input of a block's execution (SPEC §4)."""

    chain_id: str
    height: int
    timestamp: int  # microseconds since the Unix epoch, the block header's


@dataclass(frozen=True)
class Event:
    """What an applied call reports: a name and canonical JSON data."""

    name: str
    data: dict
    encoded: bytes | None = field(default=None, compare=False, repr=False)
    """canonical(data), when `Call.emit` has already encoded it (to refuse what has no canonical form): the receipt reuses it."""


class Rejection(Exception):
    """A condition of a method failed: the transaction is included with a `rejected` receipt.

    Not a ChainError: it is an outcome of execution, not a fault of the ledger."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class ContractFault(InvalidTransaction):
    """A contract raised something other than a Rejection: a bug, refused like a malformed transaction."""


def require(condition: object, code: str, message: str) -> None:
    """A named condition: `code` is stable (receipts carry it), `message` says why in a sentence."""
    if not condition:
        raise Rejection(code, message)


@dataclass
class Call:
    """What one method call may see and do.  Writes and events are kept only if it is applied."""

    contract: str
    params: dict  # the contract's genesis parameters
    sender: str
    tx_hash: Hash32
    block: BlockContext
    _read: Callable[[bytes], bytes | None]
    writes: dict[bytes, bytes] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def get(self, key: str) -> bytes | None:
        """A key of this contract's namespace, with this call's own writes on top."""
        return self.read(self.contract, key)

    def read(self, contract: str, key: str) -> bytes | None:
        """A key of any contract's namespace (read only)."""
        full = contract_key(contract, key)
        if full in self.writes:
            return self.writes[full]
        return self._read(full)

    def put(self, key: str, value: bytes) -> None:
        # Only immutable bytes: a bytearray would be encoded, then shared by the head-state cache and the
        # trie's node cache, and changed in place by a later call (state would depend on process history).
        if type(value) is not bytes:  # not `ensure`: its sentence would be formatted on every put of every transaction
            raise ChainError(f"contract {self.contract}: a state value must be bytes, not {type(value).__name__}")
        self.writes[contract_key(self.contract, key)] = value

    def emit(self, name: str, **data: Any) -> None:
        # Refused here, not when the receipt is encoded; `data` is this call's own dict, so the bytes stay its encoding.
        self.events.append(Event(name, data, canonical(data)))


@dataclass(frozen=True)
class Method:
    """One entry point: its admission check, its execution and the codes its conditions use."""

    name: str
    shape: Callable[[dict], None]  # raises InvalidTransaction
    run: Callable[[Call, dict], str]  # raises Rejection; returns the applied receipt's sentence
    codes: tuple[str, ...]  # the conditions' codes, in the order they are checked (docs, tests)


class Contract(Protocol):
    name: str
    version: int
    methods: Mapping[str, Method]

    def check_params(self, params: dict) -> None:
        """Refuse bad genesis parameters with the reason (a ChainError)."""

    def genesis_state(self, params: dict) -> dict[str, bytes]:
        """Keys of the contract's own namespace that genesis holds."""


@dataclass(frozen=True)
class ContractSpec:
    """One line of the genesis config: a contract by name and version, and its parameters."""

    name: str
    version: int
    params: dict = field(default_factory=dict)


def spec_json(spec: ContractSpec) -> dict:
    return {"name": spec.name, "version": spec.version, "params": spec.params}


def spec_from_json(doc: object, error: type[ChainError]) -> ContractSpec:
    ensure(isinstance(doc, dict) and set(doc) == {"name", "version", "params"}, error, "a contract in the genesis config has exactly the fields name, version and params")
    ensure(valid_contract_name(doc["name"]), error, f"contract name {doc['name']!r}: lower-case letters, digits and _, not a reserved word")
    version = doc["version"]
    ensure(isinstance(version, int) and not isinstance(version, bool) and version >= 1, error, f"contract {doc['name']}: version must be an integer >= 1")
    ensure(isinstance(doc["params"], dict), error, f"contract {doc['name']}: params must be an object")
    return ContractSpec(doc["name"], version, doc["params"])


class ContractSet:
    """Contract implementations a program provides, by (name, version): handed to the ledger, not global."""

    def __init__(self, contracts: Iterable[Contract] = ()) -> None:
        self._by_key: dict[tuple[str, int], Contract] = {}
        for contract in contracts:
            key = (contract.name, contract.version)
            if self._by_key.get(key) is contract:
                continue
            if key in self._by_key:
                raise ValueError(f"two implementations of contract {contract.name} v{contract.version}")
            self._by_key[key] = contract

    def __or__(self, other: ContractSet) -> ContractSet:
        return ContractSet([*self._by_key.values(), *other._by_key.values()])

    def get(self, name: str, version: int) -> Contract | None:
        return self._by_key.get((name, version))

    def names(self) -> list[str]:
        return sorted(f"{name} v{version}" for name, version in self._by_key)


@dataclass(frozen=True)
class Runtime:
    """The contracts one chain runs, resolved: name -> (implementation, genesis parameters)."""

    contracts: Mapping[str, tuple[Contract, dict]]

    def method(self, kind: str) -> tuple[str, Method]:
        """(contract name, method) of a transaction kind ``<contract>.<method>``; InvalidTransaction if none."""
        # `if`, not `ensure`: the sentences (a sort and a join) are built only for a refusal; this runs per transaction.
        name, dot, method = kind.partition(".")
        if dot != "." or name not in self.contracts:
            raise InvalidTransaction(f"kind {kind!r}: this chain runs the contracts {', '.join(sorted(self.contracts))}; a kind is <contract>.<method>")
        contract = self.contracts[name][0]
        if method not in contract.methods:
            raise InvalidTransaction(f"contract {name} has no method {method!r}; its methods: {', '.join(sorted(contract.methods))}")
        return name, contract.methods[method]


def resolve(specs: Iterable[ContractSpec], available: ContractSet) -> Runtime:
    """The runtime of a chain whose genesis names `specs`; StorageError names a contract this program lacks."""
    table: dict[str, tuple[Contract, dict]] = {}
    for spec in specs:
        contract = available.get(spec.name, spec.version)
        ensure(contract is not None, StorageError,
               f"this chain runs contract {spec.name} v{spec.version}, which this program does not provide (it has: {', '.join(available.names()) or 'none'})")
        ensure(spec.name not in table, StorageError, f"contract {spec.name} is named twice in the genesis config")
        table[spec.name] = (contract, spec.params)
    return Runtime(table)
