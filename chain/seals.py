"""Consensus seals (SPEC §3): what, besides the node's signature, makes a header valid.

A seal kind is fixed at genesis (`ChainConfig.seal`).  Each kind makes the seal
for a header whose other fields are final (`make`), and checks one (`verify`,
raising InvalidBlock with the reason).  Seals work on `chain.block.sealing_bytes`:
the header without its seal and signature; the node then signs header and seal.

`signed` is the node's signature alone: no work, the kind a single-operator
cooperative runs.  Proof of work, RPCA16, proof of stake and endorsement plug in
here with the same two functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chain.block import ChainConfig, Header, sealing_bytes
from chain.errors import InvalidBlock, ensure


class Seal(Protocol):
    kind: str

    def make(self, header: Header, config: ChainConfig) -> dict: ...

    def verify(self, header: Header, config: ChainConfig) -> None: ...


@dataclass(frozen=True)
class SignedSeal:
    """The node-signed seal: the header's signature by the genesis node key is the whole proof."""

    kind: str = "signed"

    def make(self, header: Header, config: ChainConfig) -> dict:
        sealing_bytes(header)  # the header must be encodable before it is signed
        return {"kind": self.kind}

    def verify(self, header: Header, config: ChainConfig) -> None:
        ensure(header.seal == {"kind": self.kind}, InvalidBlock, f"a {self.kind} seal is exactly {{'kind': '{self.kind}'}}, got {header.seal}")


SEALS: dict[str, Seal] = {"signed": SignedSeal()}


def seal_for(kind: str) -> Seal:
    ensure(kind in SEALS, InvalidBlock, f"unknown seal kind {kind!r}; known: {sorted(SEALS)}")
    return SEALS[kind]


def verify_seal(header: Header, config: ChainConfig) -> None:
    """The header's seal is of the chain's kind and holds."""
    kind = header.seal.get("kind")
    ensure(kind == config.seal, InvalidBlock, f"seal kind {kind!r} on a chain whose genesis fixed {config.seal!r}")
    seal_for(config.seal).verify(header, config)
