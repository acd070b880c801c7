"""Consensus seals (SPEC §3): what, besides the node's signature, makes a block valid.

The seal kind is fixed at genesis (`ChainConfig.seal`, with `seal_params`).  A
block is sealed in three steps, so that a seal may choose who seals and when
(proof of stake) before the state root is known, and may search over the final
header (proof of work) after it:

0. `genesis_state(params)` → state entries the genesis holds (stakes), derived
   from the genesis config alone, so that verification recomputes them;
1. `begin(ctx, signers, now)` → (timestamp, the seal's first fields), e.g. the
   staker and the timestamp whose kernel meets the target;
2. `state_changes(seal, height, ctx)` → state entries the seal itself writes
   (proof of stake resets the staker's coin-age), applied after the block's
   transactions and before the state root;
3. `finish(header, ctx, signers)` → the complete seal over
   `chain.block.sealing_bytes(header)` (the header without seal and signature):
   a nonce, the staker's or the members' signatures.

`verify(header, ctx)` checks a seal, raising InvalidBlock with the reason.  The
context gives the chain's config, the parent, any earlier header (for
retargeting) and the state at the parent (stakes, the endorsement policy).  The
genesis seal is exactly {"kind": kind}: genesis is trusted by its hash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from coopchain.chain.block import ChainConfig, Header
from coopchain.chain.errors import InvalidBlock, ensure


@dataclass(frozen=True)
class SealContext:
    """What a seal may read: never the block's own transactions or state."""

    config: ChainConfig
    parent: Header
    header_at: Callable[[int], Header]  # any header at height <= parent.height
    state: Callable[[bytes], bytes | None]  # state keys at the parent's state root


@dataclass(frozen=True)
class Signers:
    """The keys this node may seal with: its own, and any staker or member keys it holds."""

    node: object  # chain.keys.PrivateKey
    others: dict = field(default_factory=dict)  # public key text -> PrivateKey

    def key(self, public_text: str):
        if self.node.public_key.to_text() == public_text:
            return self.node
        return self.others.get(public_text)


class Seal(Protocol):
    kind: str

    def check_params(self, params: dict) -> None: ...

    def genesis_state(self, params: dict) -> dict[bytes, bytes]: ...

    def begin(self, ctx: SealContext, signers: Signers, now: int) -> tuple[int, dict]: ...

    def state_changes(self, seal: dict, height: int, ctx: SealContext) -> dict[bytes, bytes]: ...

    def finish(self, header: Header, ctx: SealContext, signers: Signers) -> dict: ...

    def verify(self, header: Header, ctx: SealContext) -> None: ...


class SignedSeal:
    """`signed`: the node's signature on the header (checked for every kind) is the whole proof."""

    kind = "signed"

    def check_params(self, params: dict) -> None:
        ensure(params == {}, InvalidBlock, "the signed seal takes no parameters")

    def genesis_state(self, params: dict) -> dict[bytes, bytes]:
        return {}

    def begin(self, ctx: SealContext, signers: Signers, now: int) -> tuple[int, dict]:
        return now, {"kind": self.kind}

    def state_changes(self, seal: dict, height: int, ctx: SealContext) -> dict[bytes, bytes]:
        return {}

    def finish(self, header: Header, ctx: SealContext, signers: Signers) -> dict:
        return {"kind": self.kind}

    def verify(self, header: Header, ctx: SealContext) -> None:
        ensure(header.seal == {"kind": self.kind}, InvalidBlock, f"a {self.kind} seal is exactly {{'kind': '{self.kind}'}}, got {header.seal}")


SEALS: dict[str, Seal] = {"signed": SignedSeal()}


def register(seal: Seal) -> Seal:
    SEALS[seal.kind] = seal
    return seal


# Each kind's module, imported on first use (it registers itself): a chain loads only its own
# seal, so a kind's dependency (x16r_hash for rpca16) is needed only by chains of that kind.
MODULES = {"pow": "coopchain.chain.seals.pow", "rpca16": "coopchain.chain.seals.rpca16", "pos": "coopchain.chain.seals.pos", "endorsement": "coopchain.chain.seals.endorsement"}
KINDS = ("signed", *MODULES)


def seal_for(kind: str) -> Seal:
    ensure(kind in KINDS, InvalidBlock, f"unknown seal kind {kind!r}; known: {', '.join(KINDS)}")
    if kind not in SEALS:
        import importlib

        importlib.import_module(MODULES[kind])
    return SEALS[kind]


def genesis_seal(config: ChainConfig) -> dict:
    seal_for(config.seal).check_params(config.seal_params)
    return {"kind": config.seal}


def verify_seal(header: Header, ctx: SealContext | None, config: ChainConfig) -> None:
    """The header's seal is of the chain's kind and holds (genesis: exactly {"kind": kind})."""
    kind = header.seal.get("kind")
    ensure(kind == config.seal, InvalidBlock, f"seal kind {kind!r} on a chain whose genesis fixed {config.seal!r}")
    if header.height == 0:
        ensure(header.seal == {"kind": kind}, InvalidBlock, "the genesis seal is exactly {'kind': kind}")
        return
    seal_for(config.seal).verify(header, ctx)
