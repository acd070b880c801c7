"""Seals checked offline (SPEC §3, §10): what a bundle carries so that an auditor checks the seals of
its block and its head with no ledger at hand.

A seal's `verify(header, ctx)` reads two things besides the header (chain.seals.SealContext):
earlier headers (`ctx.header_at`: the retarget window of proof of work, the stake modifier of proof
of stake) and state entries at the parent's state root (`ctx.state`: the endorsement policy, stakes).
The bundle carries exactly what the seal read when the node checked it, each piece proven:

- the headers, from the lowest one read up to the parent, contiguous: each hashes to the next one's
  ``previous``, and the parent to the checked header's, so they are the chain's own headers (the
  checked header is signed by the node and tied to the head, the head to a checkpoint);
- each state entry with its Merkle Patricia Trie proof against the parent's state root.

The verifier then runs the seal's own `verify` on a context that serves only these (the code
`chain verify` runs, not a second reading of the rules), and anything the seal reads that the
bundle does not carry is refused with its name.  So for `pow` and `rpca16` the retargeted target is
recomputed from the window and the header's hash checked against it; for `endorsement` the policy
in force (k of n members) is proven from the parent's state and every endorsement verified.

Section format (``seals`` in a bundle, one entry per checked header that is not genesis)::

    {"height": h, "headers": [header JSON, heights a .. h-1], "state": [{"key": hex, "proof": [hex nodes]}]}

Standard library and pycryptodome only, plus whatever the chain's seal kind itself needs (the
x16r_hash package for rpca16).
"""

from __future__ import annotations

from collections.abc import Callable

from coopchain.chain.block import ChainConfig, Header, block_hash, header_from_json, header_json
from coopchain.chain.encoding import hex_bytes
from coopchain.chain.errors import ChainError, InvalidProof, ensure
from coopchain.chain.seals import SealContext, seal_for, verify_seal
from coopchain.chain.state_proof import verify_state_proof

MAX_HEADERS = 1025  # a retarget window (chain.seals.work.MAX_WINDOW) and the parent
MAX_ENTRIES = 64


def _keccak(data: bytes) -> bytes:
    from Crypto.Hash import keccak

    return keccak.new(digest_bits=256, data=data).digest()


class SealEvidenceError(ChainError):
    """Seal evidence that is malformed, does not link to the header, or lacks what the seal reads."""


def seal_evidence(header: Header, config: ChainConfig, header_at: Callable[[int], Header],
                  state_at: Callable[[bytes, int], bytes | None], state_proof: Callable[[bytes, int], list[bytes]]) -> dict:
    """The evidence of one header's seal, recorded by running the seal's check on the ledger's data.

    `header_at(h)`, `state_at(key, h)` and `state_proof(key, h)` read the ledger at height h."""
    ensure(header.height > 0, SealEvidenceError, "the genesis seal needs no evidence")
    parent = header_at(header.height - 1)
    heights: set[int] = {parent.height}
    keys: list[bytes] = []

    def read_header(h: int) -> Header:
        heights.add(h)
        return header_at(h)

    def read_state(key: bytes) -> bytes | None:
        if key not in keys:
            keys.append(key)
        return state_at(key, parent.height)

    verify_seal(header, SealContext(config, parent, read_header, read_state), config)
    return {
        "height": header.height,
        "headers": [header_json(header_at(h)) for h in range(min(heights), parent.height + 1)],
        "state": [{"key": key.hex(), "proof": [node.hex() for node in state_proof(key, parent.height)]} for key in keys],
    }


def verify_seal_offline(header: Header, config: ChainConfig, evidence: object) -> None:
    """Check `header`'s seal from its evidence alone; SealEvidenceError or InvalidBlock (the seal fails), with the reason."""
    if header.height == 0:
        verify_seal(header, None, config)
        return
    ensure(isinstance(evidence, dict) and set(evidence) == {"height", "headers", "state"}, SealEvidenceError,
           "seal evidence is an object with height, headers and state")
    ensure(evidence["height"] == header.height, SealEvidenceError, f"the evidence is for block {evidence['height']!r}, not {header.height}")
    raw_headers, raw_state = evidence["headers"], evidence["state"]
    ensure(isinstance(raw_headers, list) and 1 <= len(raw_headers) <= MAX_HEADERS, SealEvidenceError,
           f"the evidence's headers are a list of 1 .. {MAX_HEADERS}")
    ensure(isinstance(raw_state, list) and len(raw_state) <= MAX_ENTRIES, SealEvidenceError, f"the evidence's state is a list of at most {MAX_ENTRIES}")
    headers = [header_from_json(h) for h in raw_headers]
    first = header.height - len(headers)
    child = header
    for expected, earlier in zip(range(header.height - 1, first - 1, -1), reversed(headers)):
        ensure(earlier.height == expected, SealEvidenceError, f"the evidence's headers are not blocks {first} .. {header.height - 1} in order")
        ensure(block_hash(earlier) == child.previous, SealEvidenceError,
               f"the evidence's block {expected} is not the one block {child.height} links to")
        child = earlier
    by_height = {h.height: h for h in headers}
    parent = by_height[header.height - 1]
    state: dict[bytes, bytes | None] = {}
    for i, entry in enumerate(raw_state):
        ensure(isinstance(entry, dict) and set(entry) == {"key", "proof"} and isinstance(entry["proof"], list), SealEvidenceError,
               f"state entry {i} is an object with key and proof")
        key = hex_bytes(entry["key"], f"state entry {i} key")
        nodes = [hex_bytes(node, f"state entry {i} proof[{j}]") for j, node in enumerate(entry["proof"])]
        try:
            state[key] = verify_state_proof(parent.state_root, _keccak(key), nodes)
        except InvalidProof as e:
            raise SealEvidenceError(f"state entry {i} ({key!r}) is not proven at block {parent.height}'s state root: {e}") from e

    def header_at(h: int) -> Header:
        ensure(h in by_height, SealEvidenceError, f"the seal reads block {h}, which the evidence does not carry")
        return by_height[h]

    def state_at(key: bytes) -> bytes | None:
        ensure(key in state, SealEvidenceError, f"the seal reads state entry {key!r}, which the evidence does not prove")
        return state[key]

    seal_for(config.seal)  # an unknown kind: InvalidBlock with the known ones
    verify_seal(header, SealContext(config, parent, header_at, state_at), config)
