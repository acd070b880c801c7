"""The built-in `record` contract (version 1): a plain keyed record, the ledger's simplest use.

Method ``record.put`` with arguments ``{"key": non-empty string, "value": any
canonical JSON}``.  It has no conditions: anyone may record, and a later record
under the same key becomes the current one (the earlier stays in its block).
State: ``record:<key>`` → RLP([SHA-256 of the canonical value, transaction
hash]); the value itself stays in the transaction, and the state proves which
one is current.  Knows nothing of allocations: the allocation contract
(coopchain.contracts) is what checks those.
"""

from __future__ import annotations

import hashlib

from coopchain.chain.contract import Call, ContractSet, Method
from coopchain.chain.encoding import canonical
from coopchain.chain.errors import InvalidBlock, InvalidTransaction, ensure
from coopchain.chain.state import encode_record


def _shape(args: dict) -> None:
    ensure(set(args) == {"key", "value"}, InvalidTransaction, "record.put takes exactly the arguments key and value")
    ensure(isinstance(args["key"], str) and args["key"], InvalidTransaction, "key must be a non-empty string")


def _put(call: Call, args: dict) -> str:
    digest = hashlib.sha256(canonical(args["value"])).digest()
    call.put(args["key"], encode_record(digest, call.tx_hash))
    call.emit("recorded", key=args["key"])
    return f"recorded under {args['key']!r}"


class RecordContract:
    name = "record"
    version = 1
    methods = {"put": Method("put", _shape, _put, ())}

    def check_params(self, params: dict) -> None:
        ensure(params == {}, InvalidBlock, "the record contract takes no parameters")

    def genesis_state(self, params: dict) -> dict[str, bytes]:
        return {}


RECORD = RecordContract()


def builtin_contracts() -> ContractSet:
    """The contracts chain/ itself provides."""
    return ContractSet([RECORD])
