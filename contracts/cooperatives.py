"""The `cooperatives` contract (version 1): cooperatives and their roles on chain (SPEC §4).

The chain's admin key (the contract's genesis parameter ``{"admin": key text}``)
registers a cooperative with its first manager keys.  A manager of a
cooperative adds and removes its managers and sets its endorsement policy: k
of its member enterprises' keys must endorse each allocation it commits (k = 0,
the default, asks for none).  Another cooperative's managers can do none of it.

State, in the contract's namespace (chain.namespaces)::

    cooperatives:coop/<id>  →  canonical JSON {"managers": [key, ...] (sorted),
                                 "members": [key, ...], "k": k, "registered": height}

Methods, their arguments and their conditions' codes, in the order they are checked:

| method | arguments | conditions |
|---|---|---|
| `register` | cooperative, managers | `not_admin`, `cooperative_exists` |
| `add_manager` | cooperative, manager | `unknown_cooperative`, `not_manager`, `already_manager` |
| `remove_manager` | cooperative, manager | `unknown_cooperative`, `not_manager`, `not_a_manager`, `last_manager` |
| `set_policy` | cooperative, members, k | `unknown_cooperative`, `not_manager` |

Arguments of the wrong shape (an id that is not a short printable name, a key
that is not a key text, k outside 0..len(members), duplicates) are refused at
admission: the transaction is not included.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from coopchain.chain.contract import Call, Method, require
from coopchain.chain.encoding import canonical, decode
from coopchain.chain.errors import InvalidBlock, InvalidSignature, InvalidTransaction, ensure
from coopchain.chain.keys import PublicKey

NAME, VERSION = "cooperatives", 1
COOPERATIVE_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
MAX_KEYS = 1000


@dataclass(frozen=True)
class Cooperative:
    id: str
    managers: tuple[str, ...]
    members: tuple[str, ...]
    k: int
    registered: int


def state_key(cooperative: str) -> str:
    return "coop/" + cooperative


def encode(c: Cooperative) -> bytes:
    return canonical({"managers": sorted(c.managers), "members": list(c.members), "k": c.k, "registered": c.registered})


def read_cooperative(read: Callable[[str, str], bytes | None], cooperative: str) -> Cooperative | None:
    """The cooperative as the state holds it; `read(contract, key)` as `Call.read`."""
    value = read(NAME, state_key(cooperative))
    if value is None:
        return None
    doc = decode(value)
    return Cooperative(cooperative, tuple(doc["managers"]), tuple(doc["members"]), doc["k"], doc["registered"])


def require_manager(call: Call, cooperative: str) -> Cooperative:
    """The conditions every manager's action starts with: the cooperative exists, the sender manages it."""
    coop = read_cooperative(call.read, cooperative)
    require(coop is not None, "unknown_cooperative", f"no cooperative {cooperative!r} is registered on this chain")
    require(call.sender in coop.managers, "not_manager", f"{call.sender} is not a manager of {cooperative!r}")
    return coop


# -- shapes (admission) ---------------------------------------------------------------


def check_key(value: object, field: str) -> None:
    ensure(isinstance(value, str), InvalidTransaction, f"{field} must be a public key text (ed25519:<hex> or p256:<hex>)")
    try:
        ensure(PublicKey.from_text(value).to_text() == value, InvalidTransaction, f"{field}: {value!r} is not in canonical key text form")
    except InvalidSignature as e:
        raise InvalidTransaction(f"{field}: {e}") from e


def check_cooperative_id(value: object) -> None:
    ensure(isinstance(value, str) and COOPERATIVE_ID.match(value), InvalidTransaction, "cooperative must be a name of 1 to 200 printable characters")


def _keys(value: object, field: str, allow_empty: bool) -> None:
    ensure(isinstance(value, list) and (allow_empty or value) and len(value) <= MAX_KEYS, InvalidTransaction,
           f"{field} must be a list of {'0' if allow_empty else '1'} to {MAX_KEYS} public key texts")
    for i, key in enumerate(value):
        check_key(key, f"{field}[{i}]")
    ensure(len(set(value)) == len(value), InvalidTransaction, f"{field} must be distinct")


def _fields(args: dict, fields: set[str], method: str) -> None:
    ensure(set(args) == fields, InvalidTransaction, f"{NAME}.{method} takes exactly the arguments {', '.join(sorted(fields))}")
    check_cooperative_id(args["cooperative"])


def _register_shape(args: dict) -> None:
    _fields(args, {"cooperative", "managers"}, "register")
    _keys(args["managers"], "managers", allow_empty=False)


def _manager_shape(args: dict) -> None:
    _fields(args, {"cooperative", "manager"}, "add_manager / remove_manager")
    check_key(args["manager"], "manager")


def _policy_shape(args: dict) -> None:
    _fields(args, {"cooperative", "members", "k"}, "set_policy")
    _keys(args["members"], "members", allow_empty=True)
    k = args["k"]
    ensure(isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= len(args["members"]), InvalidTransaction,
           f"k must be an integer in 0 .. {len(args['members'])} (the number of members)")


# -- execution ---------------------------------------------------------------------


def _register(call: Call, args: dict) -> str:
    cooperative = args["cooperative"]
    require(call.sender == call.params["admin"], "not_admin", f"only the chain's admin key registers cooperatives; {call.sender} is not it")
    require(read_cooperative(call.read, cooperative) is None, "cooperative_exists", f"cooperative {cooperative!r} is already registered")
    call.put(state_key(cooperative), encode(Cooperative(cooperative, tuple(args["managers"]), (), 0, call.block.height)))
    call.emit("cooperative_registered", cooperative=cooperative, managers=sorted(args["managers"]))
    return f"cooperative {cooperative!r} registered with {len(args['managers'])} manager{'s' if len(args['managers']) != 1 else ''}"


def _add_manager(call: Call, args: dict) -> str:
    coop = require_manager(call, args["cooperative"])
    require(args["manager"] not in coop.managers, "already_manager", f"{args['manager']} already manages {coop.id!r}")
    call.put(state_key(coop.id), encode(Cooperative(coop.id, (*coop.managers, args["manager"]), coop.members, coop.k, coop.registered)))
    call.emit("manager_added", cooperative=coop.id, manager=args["manager"])
    return f"{args['manager']} now manages {coop.id!r}"


def _remove_manager(call: Call, args: dict) -> str:
    coop = require_manager(call, args["cooperative"])
    require(args["manager"] in coop.managers, "not_a_manager", f"{args['manager']} does not manage {coop.id!r}")
    require(len(coop.managers) > 1, "last_manager", f"{args['manager']} is the last manager of {coop.id!r}; add another first")
    managers = tuple(m for m in coop.managers if m != args["manager"])
    call.put(state_key(coop.id), encode(Cooperative(coop.id, managers, coop.members, coop.k, coop.registered)))
    call.emit("manager_removed", cooperative=coop.id, manager=args["manager"])
    return f"{args['manager']} no longer manages {coop.id!r}"


def _set_policy(call: Call, args: dict) -> str:
    coop = require_manager(call, args["cooperative"])
    call.put(state_key(coop.id), encode(Cooperative(coop.id, coop.managers, tuple(args["members"]), args["k"], coop.registered)))
    call.emit("policy_set", cooperative=coop.id, members=args["members"], k=args["k"])
    return f"{coop.id!r} now needs {args['k']} of {len(args['members'])} member endorsements on each allocation"


class CooperativesContract:
    name = NAME
    version = VERSION
    methods = {
        "register": Method("register", _register_shape, _register, ("not_admin", "cooperative_exists")),
        "add_manager": Method("add_manager", _manager_shape, _add_manager, ("unknown_cooperative", "not_manager", "already_manager")),
        "remove_manager": Method("remove_manager", _manager_shape, _remove_manager, ("unknown_cooperative", "not_manager", "not_a_manager", "last_manager")),
        "set_policy": Method("set_policy", _policy_shape, _set_policy, ("unknown_cooperative", "not_manager")),
    }

    def check_params(self, params: dict) -> None:
        ensure(set(params) == {"admin"}, InvalidBlock, "the cooperatives contract takes one parameter, admin (a public key text)")
        try:
            check_key(params["admin"], "admin")
        except InvalidTransaction as e:
            raise InvalidBlock(str(e)) from e

    def genesis_state(self, params: dict) -> dict[str, bytes]:
        return {}
