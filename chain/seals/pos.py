"""`pos`: Peercoin-style proof of stake (SPEC §3, source algorithm 2).

The target is multiplied by the staker's coin-age, and the coin-age resets
when the staker stakes.  As in Peercoin (King & Nadal 2012), coin-age is coins
× time since the coins last staked: here coin-seconds, all exact integers.

Genesis parameters::

    {"stakes": {public key text: coins}, "target": 64-hex base target,
     "drift": seconds (optional, default 15), "modifier_depth": m (optional, default 1)}

State: genesis writes ``balance:<key>`` → RLP(coins) and ``stake:<key>`` →
RLP(0) (the height the coins last staked) for each staker; a block staked by
``key`` sets ``stake:<key>`` → RLP(its height).  No transaction moves
balances yet, and staking mints no reward.

Seal::

    {"kind": "pos", "staker": key text, "second": s, "kernel": 64-hex, "signature": hex}

Kernel and the rule.  With ``h`` the block's height and ``m`` the modifier depth,

    modifier = hash of block max(0, h − 1 − m)       (m = 1: the parent's `previous`)
    kernel   = SHA-256(modifier ‖ staker key text (UTF-8) ‖ s as 8-byte big-endian)
    coin-age = coins × (s − second of the block at ``stake:<key>``)
    valid   ⇔ int(kernel) < target × coin-age,  s = header.timestamp // 10^6

Why the kernel cannot be ground.  Nothing in it is free once the parent
exists: there is no nonce, and neither the block's transactions nor its state
enter it, so reordering or adding transactions changes nothing; the modifier
is the hash of an ancestor fixed before the parent (so even the parent's
producer, who chose the parent's contents, cannot pick the modifier its own
next block sees; a larger m pushes that influence further back).  The only
variable is the second, so a staker gets one try per second, and only up to
``drift`` seconds ahead of the verifier's clock: `verify` refuses a timestamp
later than now + drift, so trying future seconds buys nothing beyond that
window.  The signature over the header (`chain.block.sealing_bytes`) then binds
the staker to the block's contents.  (What remains, as in Peercoin's own stake
modifier, is that a producer may grind an ancestor's contents to steer the
modifier m blocks later; a VRF-based lottery would close that and is out of
scope.)
"""

from __future__ import annotations

import hashlib
import time

import rlp

from coopchain.chain.block import Header, block_hash, sealing_bytes
from coopchain.chain.encoding import MAX_SAFE_INTEGER, EncodingError, hex_bytes
from coopchain.chain.errors import InvalidBlock, InvalidSignature, SealNotReady, ensure
from coopchain.chain.keys import PublicKey, verify_many
from coopchain.chain.namespaces import balance_key, stake_key  # defined with every other namespace
from coopchain.chain.seals import SealContext, Signers, register

KIND = "pos"
DEFAULT_DRIFT = 15  # seconds a header may run ahead of the verifier's clock
DEFAULT_MODIFIER_DEPTH = 1
MICROS = 10**6
SEARCH_WINDOW = 86_400  # begin() looks back at most a day: any second after the parent is valid, and the loop stays bounded
LOOK_AHEAD = 3_600  # and, finding none it may use now, at most an hour ahead for the second it may wait for
_SEAL_FIELDS = {"kind", "staker", "second", "kernel", "signature"}


class NoEligibleStake(SealNotReady):
    """No staker key this node holds meets the target in the seconds it may use (`ready_at`: when one will)."""


def _int(value: bytes | None) -> int | None:
    return None if value is None else rlp.sedes.big_endian_int.deserialize(rlp.decode(value))


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SAFE_INTEGER


def kernel(modifier: bytes, staker: str, second: int) -> bytes:
    """SHA-256(stake modifier ‖ staker key text ‖ second): the only input the staker varies is the second."""
    return hashlib.sha256(modifier + staker.encode() + second.to_bytes(8, "big")).digest()


def stake_modifier(ctx: SealContext, params: dict) -> bytes:
    """The hash of block max(0, h − 1 − m), h = parent.height + 1: fixed before the parent was made."""
    anchor = max(0, ctx.parent.height - params.get("modifier_depth", DEFAULT_MODIFIER_DEPTH))
    if anchor == ctx.parent.height:
        return block_hash(ctx.parent)
    if anchor == ctx.parent.height - 1:
        return ctx.parent.previous
    return block_hash(ctx.header_at(anchor))


def last_stake(ctx: SealContext, staker: str) -> tuple[int, int, int]:
    """(coins, height of the last stake, its second) of `staker` in the parent's state."""
    coins = _int(ctx.state(balance_key(staker)))
    ensure(coins, InvalidBlock, f"staker {staker} has no stake")
    last = _int(ctx.state(stake_key(staker)))
    ensure(last is not None, InvalidBlock, f"staker {staker} has a balance but no last-stake marker")
    header = ctx.parent if last == ctx.parent.height else ctx.header_at(last)
    return coins, last, header.timestamp // MICROS


def coin_age(coins: int, since: int, second: int) -> int:
    """Coin-seconds: coins × whole seconds since the coins last staked."""
    return coins * max(0, second - since)


class ProofOfStake:
    kind = KIND

    def check_params(self, params: dict) -> None:
        ensure({"stakes", "target"} <= set(params) <= {"stakes", "target", "drift", "modifier_depth"}, InvalidBlock,
               f"pos parameters are stakes, target and optionally drift, modifier_depth; got {sorted(params)}")
        stakes = params["stakes"]
        ensure(isinstance(stakes, dict) and stakes, InvalidBlock, "pos stakes: a non-empty object {public key text: coins}")
        for staker, coins in stakes.items():
            try:
                ensure(PublicKey.from_text(staker).to_text() == staker, InvalidBlock, f"stake key {staker!r} is not in text form")
            except InvalidSignature as e:
                raise InvalidBlock(f"stake key {staker!r}: {e}") from e
            ensure(_count(coins) and coins > 0, InvalidBlock, f"stake of {staker}: coins must be an integer in 1 .. 2^53 − 1, got {coins!r}")
        try:
            hex_bytes(params["target"], "pos target", 32)
        except EncodingError as e:
            raise InvalidBlock(str(e)) from e
        ensure(_count(params.get("drift", DEFAULT_DRIFT)), InvalidBlock, "pos drift: whole seconds >= 0")
        depth = params.get("modifier_depth", DEFAULT_MODIFIER_DEPTH)
        ensure(_count(depth) and depth >= 1, InvalidBlock, "pos modifier_depth: an integer >= 1 (0 would let the parent's producer grind it)")

    def genesis_state(self, params: dict) -> dict[bytes, bytes]:
        self.check_params(params)  # the framework may ask for the genesis state first
        entries = {}
        for staker, coins in params["stakes"].items():
            entries[balance_key(staker)] = rlp.encode(coins)
            entries[stake_key(staker)] = rlp.encode(0)
        return entries

    def begin(self, ctx: SealContext, signers: Signers, now: int) -> tuple[int, dict]:
        """The earliest (second, staker) among the staker keys the node holds (its other keys, and its
        own if it stakes) whose kernel meets the target,
        searching from the parent's second + 1 (at most a day back) to now + drift, stakers in key order."""
        params = ctx.config.seal_params
        target = int(params["target"], 16)
        modifier = stake_modifier(ctx, params)
        candidates = {*signers.others, signers.node.public_key.to_text()}
        held = sorted(s for s in candidates if _int(ctx.state(balance_key(s))))
        if not held:
            raise NoEligibleStake("this node holds no staker key with a stake")
        first = max(ctx.parent.timestamp // MICROS + 1, now // MICROS - SEARCH_WINDOW)
        last = now // MICROS + params.get("drift", DEFAULT_DRIFT)
        stakes = {s: last_stake(ctx, s) for s in held}

        def eligible(seconds: range) -> tuple[int, dict] | None:
            for second in seconds:
                for staker in held:
                    coins, _, since = stakes[staker]
                    digest = kernel(modifier, staker, second)
                    if int.from_bytes(digest, "big") < target * coin_age(coins, since, second):
                        return second * MICROS, {"kind": KIND, "staker": staker, "second": second, "kernel": digest.hex()}
            return None

        found = eligible(range(first, last + 1))
        if found is not None:
            return found
        # Blocks sealed back to back move the parent's second towards now + drift, leaving few seconds to
        # search: the producer waits for the first later second that meets the target, as coin-age grows.
        later = eligible(range(max(first, last + 1), last + 1 + LOOK_AHEAD))
        raise NoEligibleStake(f"no staker key held ({len(held)}) meets the target in seconds {first} .. {last}; "
                              + (f"second {later[0] // MICROS} will" if later else f"none within {LOOK_AHEAD} s after them either"),
                              ready_at=None if later is None else later[0] - params.get("drift", DEFAULT_DRIFT) * MICROS)

    def state_changes(self, seal: dict, height: int, ctx: SealContext) -> dict[bytes, bytes]:
        return {stake_key(seal["staker"]): rlp.encode(height)}  # the coin-age starts again from this block

    def finish(self, header: Header, ctx: SealContext, signers: Signers) -> dict:
        key = signers.key(header.seal["staker"])
        return {**header.seal, "signature": key.sign(sealing_bytes(header)).hex()}

    def verify(self, header: Header, ctx: SealContext) -> None:
        seal, params = header.seal, ctx.config.seal_params
        ensure(set(seal) == _SEAL_FIELDS, InvalidBlock, f"a pos seal has the fields {sorted(_SEAL_FIELDS)}; got {sorted(seal)}")
        staker, second = seal["staker"], seal["second"]
        ensure(isinstance(staker, str), InvalidBlock, "pos seal: staker must be a public key text")
        ensure(_count(second), InvalidBlock, "pos seal: second must be an integer >= 0")
        try:
            claimed = hex_bytes(seal["kernel"], "pos seal kernel", 32)
            signature = hex_bytes(seal["signature"], "pos seal signature")
        except EncodingError as e:
            raise InvalidBlock(str(e)) from e
        ensure(header.timestamp // MICROS == second, InvalidBlock, f"timestamp {header.timestamp} lies in second {header.timestamp // MICROS}, the kernel's second is {second}")
        drift = params.get("drift", DEFAULT_DRIFT)
        now = time.time_ns() // 1000
        ensure(header.timestamp <= now + drift * MICROS, InvalidBlock, f"timestamp {header.timestamp} lies more than {drift} s ahead of this clock ({now})")
        coins, last, since = last_stake(ctx, staker)
        age = coin_age(coins, since, second)
        digest = kernel(stake_modifier(ctx, params), staker, second)
        ensure(digest == claimed, InvalidBlock, f"kernel {claimed.hex()} in the seal, but the modifier, staker and second give {digest.hex()}")
        ensure(int.from_bytes(digest, "big") < int(params["target"], 16) * age, InvalidBlock,
               f"kernel {digest.hex()} does not meet target × coin-age: coin-age {age} = {coins} coins × {max(0, second - since)} s since its last stake at block {last}")
        try:
            verify_many([(PublicKey.from_text(staker), signature, sealing_bytes(header))])  # libsodium when present: 7× pycryptodome
        except InvalidSignature as e:
            raise InvalidBlock(f"staker signature by {staker} does not verify: {e}") from e


register(ProofOfStake())
