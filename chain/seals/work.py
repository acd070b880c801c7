"""Proof of work (SPEC §3, source algorithm 1): find a nonce with H(header ‖ nonce) < target.

What the work covers: `chain.block.sealing_bytes(header)` (every header field but
the seal and the signature: the transactions root, the parent hash, the state,
the clock) followed by the nonce as 8 bytes big-endian.  The hash H is the seal
kind's one hook (`WorkSeal.hasher`): SHA-256d for `pow` (chain/seals/pow.py),
RPCA16 for `rpca16` (chain/seals/rpca16.py).  A digest is read as a big-endian
256-bit integer and must be strictly below the target.

Seal fields: {"kind", "target": 64 lowercase hex digits, "nonce": integer in
0 .. 2^53 − 1 (the canonical encoding's integer range; the nonce bytes are its
8-byte big-endian form)}.  The target is not hashed: it is implied by the
earlier headers, and `verify` recomputes it.

Genesis parameters (`seal_params`): {"target": 64-hex initial target,
"interval_ms": the block interval to aim for, "window": how many blocks the
retarget averages over}.

Retargeting (`retarget`): the target of block h is a pure function of blocks
h − 1 − n .. h − 1, n = min(window, h − 1), in integers only so that every
machine agrees.  It estimates the hash rate from the work those n blocks
represent and the time they took, and aims the next block at interval_ms:

    work(T)  = 2^256 // T                 expected tries to find a hash below T
    actual   = time(h − 1) − time(h − 1 − n)                  (microseconds)
    wanted   = 2^256 · actual // (interval_µs · Σ work(T_i))  (i = h − n .. h − 1)

then clamped to [T_{h−1} // 4, T_{h−1} · 4] (one block moves the target at most
fourfold either way) and to [1, max_target].  Block 1 (n = 0) takes the initial
target; blocks before window + 1 average over what there is (genesis counts as a
block at the initial target, its timestamp the chain's creation).  With blocks
exactly on schedule at one target T the rule returns T exactly.  Summing work,
not multiplying the parent target by the window's time ratio, keeps a slow
window from compounding block after block (the harmonic mean of the window's
targets times actual / expected; Bitcoin Cash's cw-144 rule in this form).

max_target is the genesis target: it is the easiest target the chain ever
allows (Bitcoin's powLimit), so an operator's choice of starting difficulty is
also its floor and a quiet spell (the hours between genesis and block 1, say)
never makes blocks free.  Each block reads `window` earlier headers, so
`verify_chain` does O(blocks × window) header reads; window is capped at
MAX_WINDOW.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from coopchain.chain.block import Header
from coopchain.chain.errors import ChainError, InvalidBlock, ensure
from coopchain.chain.seals import SealContext, Signers

NONCE_BYTES = 8  # the nonce's width in the hashed bytes (big-endian)
MAX_NONCE = 2**53 - 1  # the canonical encoding's largest integer (chain/encoding.py)
HASH_BYTES = 32  # digests are compared as 256-bit big-endian integers
TARGET_DIGITS = 2 * HASH_BYTES  # a target is written as 64 lowercase hex digits
TWO_256 = 2**256
MAX_STEP = 4  # one block moves the target at most fourfold either way
MAX_WINDOW = 1024
MAX_INTERVAL_MS = 10**9  # ~11.6 days; keeps interval_µs well inside the encoding's range
SEAL_FIELDS = frozenset({"kind", "target", "nonce"})
PARAM_FIELDS = frozenset({"target", "interval_ms", "window"})

Hasher = Callable[[int], bytes]  # nonce -> 32-byte digest, for one header


@dataclass(frozen=True)
class WorkParams:
    target: int  # the initial target, also max_target
    interval_us: int  # the block interval aimed at, microseconds (header clocks are µs)
    window: int  # blocks averaged by the retarget


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def target_hex(target: int) -> str:
    """A target as written in seals and parameters: 64 lowercase hex digits."""
    return f"{target:0{TARGET_DIGITS}x}"


def parse_target(value: object, field: str) -> int:
    """A 64-hex target as an integer in 1 .. 2^256 − 1 (a target of 0 could never be met)."""
    ensure(
        isinstance(value, str) and len(value) == TARGET_DIGITS and all(c in "0123456789abcdef" for c in value),
        InvalidBlock,
        f"{field} must be {TARGET_DIGITS} lowercase hex digits, got {value!r}",
    )
    target = int(value, 16)
    ensure(target > 0, InvalidBlock, f"{field} is zero: no hash is below it")
    return target


def work_params(params: object) -> WorkParams:
    """The genesis `seal_params` of a work seal, checked: every fault says which field and why."""
    ensure(isinstance(params, dict), InvalidBlock, "work seal parameters are an object")
    ensure(set(params) == PARAM_FIELDS, InvalidBlock, f"work seal parameters are exactly {sorted(PARAM_FIELDS)}, got {sorted(params)}")
    target = parse_target(params["target"], "seal_params.target")
    interval, window = params["interval_ms"], params["window"]
    ensure(_is_int(interval) and 1 <= interval <= MAX_INTERVAL_MS, InvalidBlock, f"seal_params.interval_ms must be an integer in 1..{MAX_INTERVAL_MS}, got {interval!r}")
    ensure(_is_int(window) and 1 <= window <= MAX_WINDOW, InvalidBlock, f"seal_params.window must be an integer in 1..{MAX_WINDOW}, got {window!r}")
    return WorkParams(target, interval * 1000, window)


def block_work(target: int) -> int:
    """Expected tries to find a hash below `target` (2^256 / target, rounded down)."""
    return TWO_256 // target


def nonce_bytes(nonce: int) -> bytes:
    return nonce.to_bytes(NONCE_BYTES, "big")


def meets(digest: bytes, target: int) -> bool:
    """The PoW predicate: the digest, read big-endian, is below the target."""
    return int.from_bytes(digest, "big") < target


def target_of(header: Header, params: WorkParams) -> int:
    """The target a header was sealed at: the initial one for genesis, its seal's otherwise."""
    if header.height == 0:
        return params.target
    return parse_target(header.seal.get("target"), f"block {header.height}'s seal target")


def retarget(ctx: SealContext, params: WorkParams) -> int:
    """The target of the block after `ctx.parent` (module docstring: work over time, clamped)."""
    parent = ctx.parent
    previous = target_of(parent, params)
    n = min(params.window, parent.height)
    if n == 0:
        return params.target
    first = ctx.header_at(parent.height - n)
    window = [ctx.header_at(h) for h in range(parent.height - n + 1, parent.height)] + [parent]
    work = sum(block_work(target_of(h, params)) for h in window)
    actual = parent.timestamp - first.timestamp  # > 0: header clocks strictly increase
    wanted = TWO_256 * actual // (params.interval_us * work)
    low, high = max(1, previous // MAX_STEP), min(params.target, previous * MAX_STEP)
    return min(max(wanted, low), high)


def search(hasher: Hasher, target: int, start: int = 0) -> int:
    """The first nonce from `start` whose digest is below `target`.

    Equal-length byte strings compare as their big-endian integers, so the loop
    compares bytes (no int conversion per try).
    """
    bound = target_hex(target)
    bound_bytes = bytes.fromhex(bound)
    for nonce in range(start, MAX_NONCE + 1):
        if hasher(nonce) < bound_bytes:
            return nonce
    raise ChainError(f"no nonce in {start}..{MAX_NONCE} meets target {bound}")


class WorkSeal:
    """A proof-of-work seal; a kind supplies `kind` and one hook, `hasher`."""

    kind: str

    def hasher(self, header: Header) -> Hasher:
        """nonce -> the 32-byte digest of sealing_bytes(header) ‖ nonce_bytes(nonce).

        Called once per header; whatever depends on the header alone (a hash state
        over the sealing bytes) is prepared here, so a try costs only the nonce.
        """
        raise NotImplementedError

    def check_params(self, params: dict) -> None:
        work_params(params)

    def genesis_state(self, params: dict) -> dict[bytes, bytes]:
        return {}

    def begin(self, ctx: SealContext, signers: Signers, now: int) -> tuple[int, dict]:
        return now, {"kind": self.kind, "target": target_hex(retarget(ctx, work_params(ctx.config.seal_params)))}

    def state_changes(self, seal: dict, height: int, ctx: SealContext) -> dict[bytes, bytes]:
        return {}

    def finish(self, header: Header, ctx: SealContext, signers: Signers) -> dict:
        """Search nonces from 0 over the final header (the target is the one `begin` chose)."""
        target = parse_target(header.seal.get("target"), "seal target")
        return {"kind": self.kind, "target": target_hex(target), "nonce": search(self.hasher(header), target)}

    def verify(self, header: Header, ctx: SealContext) -> None:
        """Shape first, then the retargeted target, then the work."""
        seal = header.seal
        ensure(seal.get("kind") == self.kind, InvalidBlock, f"seal kind {seal.get('kind')!r} is not {self.kind!r}")
        ensure(set(seal) == SEAL_FIELDS, InvalidBlock, f"a {self.kind} seal has exactly the fields {sorted(SEAL_FIELDS)}, got {sorted(seal)}")
        target = parse_target(seal["target"], "seal target")
        nonce = seal["nonce"]
        ensure(_is_int(nonce) and 0 <= nonce <= MAX_NONCE, InvalidBlock, f"nonce {nonce!r} is not an integer in 0..{MAX_NONCE}")
        want = retarget(ctx, work_params(ctx.config.seal_params))
        ensure(target == want, InvalidBlock, f"target not the retargeted one: got {target_hex(target)}, want {target_hex(want)}")
        digest = self.hasher(header)(nonce)
        ensure(meets(digest, target), InvalidBlock, f"target not met: {self.kind} hash {digest.hex()} with nonce {nonce} is not below {target_hex(target)}")
