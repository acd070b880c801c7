"""`endorsement`: k of n alliance members sign each block (SPEC §3), as a Fabric endorsement policy.

Genesis parameters: ``{"members": [public key texts], "k": k}``, 1 <= k <= n,
members distinct.  Genesis writes them to the state as the ``alliance:policy`` entry,
canonical JSON ``{"members": [...], "k": k, "sequence": 0}``, so the state
always holds the current policy and a transaction can read it.

Seal::

    {"kind": "endorsement", "endorsements": [{"member": key text, "signature": hex}, ...]}

each signature over `chain.block.sealing_bytes(header)`.  A block is valid when
its endorsements number at least k, come from distinct members of the policy in
the parent's state, and every one verifies (a listed endorsement that fails is
refused, not skipped).

Changing the policy.  The seal brings its own contract, ``alliance`` (version
1), which every chain with this seal runs (the seal is fixed at genesis, so the
contract is too).  A transaction of kind ``alliance.set_policy`` carries the payload
``{"members", "k", "sequence", "endorsements"}``: the new policy, the current
sequence + 1, and endorsements by k distinct CURRENT members over the
canonical document ``{"type": "coopchain/policy/v1", "chain_id", "members",
"k", "sequence"}``.  The chain id and the sequence make an endorsed change
unusable on another chain or a second time.  The block holding the change is
sealed under the old policy; the next one needs the new members.  Its
submitter may be anyone: the endorsements are the authority.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coopchain.chain.block import Header, sealing_bytes
from coopchain.chain.contract import Call, Method, Rejection, require
from coopchain.chain.encoding import EncodingError, canonical, decode, hex_bytes
from coopchain.chain.errors import ChainError, InvalidBlock, InvalidSignature, InvalidTransaction, ensure
from coopchain.chain.keys import PublicKey, verify_many
from coopchain.chain.namespaces import policy_key
from coopchain.chain.seals import SealContext, Signers, register

KIND = "endorsement"
POLICY_KEY = policy_key()
POLICY_TYPE = "coopchain/policy/v1"


class NotEnoughMembers(ChainError):
    """This node holds fewer member keys than the policy's k."""


@dataclass(frozen=True)
class Policy:
    members: tuple[str, ...]
    k: int
    sequence: int


def encode_policy(policy: Policy) -> bytes:
    return canonical({"members": list(policy.members), "k": policy.k, "sequence": policy.sequence})


def decode_policy(value: bytes) -> Policy:
    doc = decode(value)
    return Policy(tuple(doc["members"]), doc["k"], doc["sequence"])


def check_policy(members: object, k: object, error: type[ChainError]) -> None:
    """members: a non-empty list of distinct public key texts; k: an integer in 1 .. n."""
    ensure(isinstance(members, list) and members, error, "policy members: a non-empty list of public key texts")
    for member in members:
        try:
            ensure(PublicKey.from_text(member).to_text() == member, error, f"member {member!r} is not in text form")
        except InvalidSignature as e:
            raise error(f"member {member!r}: {e}") from e
    ensure(len(set(members)) == len(members), error, "policy members must be distinct")
    ensure(isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= len(members), error, f"policy k must be an integer in 1 .. {len(members)}, got {k!r}")


def current_policy(read, error: type[ChainError]) -> Policy:
    value = read(POLICY_KEY)
    ensure(value is not None, error, "the state holds no endorsement policy")
    return decode_policy(value)


def check_endorsements(endorsements: object, policy: Policy, message: bytes, error: type[ChainError]) -> None:
    """At least k endorsements of `message`, by distinct members of `policy`, every one valid."""
    ensure(isinstance(endorsements, list), error, "endorsements: a list of {member, signature}")
    seen: set[str] = set()
    items = []
    for i, item in enumerate(endorsements):
        ensure(isinstance(item, dict) and set(item) == {"member", "signature"}, error, f"endorsement {i} has exactly the fields member and signature")
        member = item["member"]
        ensure(member in policy.members, error, f"endorsement {i}: {member!r} is not a current member (policy {policy.sequence})")
        ensure(member not in seen, error, f"endorsement {i}: member {member} endorses twice (each member counts once)")
        seen.add(member)
        try:
            items.append((PublicKey.from_text(member), hex_bytes(item["signature"], f"endorsement {i} signature"), message))
        except EncodingError as e:
            raise error(str(e)) from e
    ensure(len(items) >= policy.k, error, f"{len(items)} endorsements; the policy needs {policy.k} of {len(policy.members)}")
    try:
        verify_many(items)
    except InvalidSignature as e:
        for index, (key, signature, _) in enumerate(items):  # name the first bad one
            try:
                key.verify(signature, message)
            except InvalidSignature:
                raise error(f"endorsement {index} by {key} does not verify") from e
        raise error(f"endorsements: {e}") from e


def endorse(keys: Sequence, message: bytes) -> list[dict]:
    return [{"member": key.public_key.to_text(), "signature": key.sign(message).hex()} for key in keys]


def policy_message(chain_id: str, members: list[str], k: int, sequence: int) -> bytes:
    """What current members sign to change the policy."""
    return canonical({"type": POLICY_TYPE, "chain_id": chain_id, "members": members, "k": k, "sequence": sequence})


def policy_payload(keys: Sequence, chain_id: str, members: list[str], k: int, sequence: int) -> dict:
    """A `policy` transaction's payload endorsed by `keys` (current member keys)."""
    return {"members": members, "k": k, "sequence": sequence, "endorsements": endorse(keys, policy_message(chain_id, members, k, sequence))}


class _Refused(ChainError):
    """A policy change that does not hold (becomes a rejected receipt)."""


def _policy_shape(args: dict) -> None:
    fields = {"members", "k", "sequence", "endorsements"}
    ensure(set(args) == fields, InvalidTransaction, f"a policy payload has exactly the fields {sorted(fields)}")
    check_policy(args["members"], args["k"], InvalidTransaction)
    ensure(isinstance(args["sequence"], int) and not isinstance(args["sequence"], bool), InvalidTransaction, "sequence must be an integer")
    ensure(isinstance(args["endorsements"], list), InvalidTransaction, "endorsements: a list of {member, signature}")


def _set_policy(call: Call, args: dict) -> str:
    """Replace the policy, if k distinct current members endorsed exactly this change."""
    current = decode_policy(call.get("policy"))
    sequence = args["sequence"]
    require(sequence == current.sequence + 1, "wrong_sequence", f"policy sequence {sequence!r}, expected {current.sequence + 1} (a replayed or out-of-order policy change)")
    message = policy_message(call.block.chain_id, args["members"], args["k"], sequence)
    try:
        check_endorsements(args["endorsements"], current, message, _Refused)
    except _Refused as e:
        raise Rejection("endorsement_missing", str(e)) from e
    call.put("policy", encode_policy(Policy(tuple(args["members"]), args["k"], sequence)))
    call.emit("policy_changed", members=args["members"], k=args["k"], sequence=sequence)
    return f"the alliance's policy {sequence} is {args['k']} of {len(args['members'])} members"


class Alliance:
    """The endorsement seal's own contract: the policy's members change only by their own endorsement."""

    name = "alliance"
    version = 1
    methods = {"set_policy": Method("set_policy", _policy_shape, _set_policy, ("wrong_sequence", "endorsement_missing"))}

    def check_params(self, params: dict) -> None:
        pass  # the seal's parameters, checked by the seal

    def genesis_state(self, params: dict) -> dict[str, bytes]:
        return {}  # the seal's genesis_state writes the policy


class Endorsement:
    kind = KIND
    contracts = (Alliance(),)

    def check_params(self, params: dict) -> None:
        ensure(set(params) == {"members", "k"}, InvalidBlock, f"endorsement parameters are members and k; got {sorted(params)}")
        check_policy(params["members"], params["k"], InvalidBlock)

    def genesis_state(self, params: dict) -> dict[bytes, bytes]:
        self.check_params(params)  # the framework may ask for the genesis state first
        return {POLICY_KEY: encode_policy(Policy(tuple(params["members"]), params["k"], 0))}

    def _held(self, ctx: SealContext, signers: Signers) -> list:
        policy = current_policy(ctx.state, InvalidBlock)
        held = [key for key in map(signers.key, policy.members) if key is not None]
        if len(held) < policy.k:
            raise NotEnoughMembers(f"this node holds {len(held)} member keys; the policy needs {policy.k} of {len(policy.members)}")
        return held[: policy.k]

    def begin(self, ctx: SealContext, signers: Signers, now: int) -> tuple[int, dict]:
        self._held(ctx, signers)  # refuse before the transactions run
        return now, {"kind": KIND}

    def state_changes(self, seal: dict, height: int, ctx: SealContext) -> dict[bytes, bytes]:
        return {}

    def finish(self, header: Header, ctx: SealContext, signers: Signers) -> dict:
        """Signed by the first k member keys the node holds, in the policy's order."""
        return {"kind": KIND, "endorsements": endorse(self._held(ctx, signers), sealing_bytes(header))}

    def verify(self, header: Header, ctx: SealContext) -> None:
        seal = header.seal
        ensure(set(seal) == {"kind", "endorsements"}, InvalidBlock, f"an endorsement seal has the fields endorsements and kind; got {sorted(seal)}")
        policy = current_policy(ctx.state, InvalidBlock)
        check_endorsements(seal["endorsements"], policy, sealing_bytes(header), InvalidBlock)


register(Endorsement())
