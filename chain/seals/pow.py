"""`pow`: proof of work with SHA-256d (SPEC §3, source algorithm 1; Bitcoin's hash).

H(header, nonce) = SHA-256(SHA-256(sealing_bytes(header) ‖ nonce as 8 bytes
big-endian)), read big-endian, must be below the retargeted target
(chain/seals/work.py: seal fields, parameters, retarget rule).
"""

from __future__ import annotations

import hashlib

from coopchain.chain.block import Header, sealing_bytes
from coopchain.chain.seals import register
from coopchain.chain.seals.work import Hasher, WorkSeal, nonce_bytes
from coopchain.chain.types import Hash32


def pow_hash(sealing: bytes, nonce: int) -> Hash32:
    """SHA-256d of the sealing bytes followed by the nonce (the definition; `hasher` is its fast form)."""
    return Hash32(hashlib.sha256(hashlib.sha256(sealing + nonce_bytes(nonce)).digest()).digest())


class PowSeal(WorkSeal):
    kind = "pow"

    def hasher(self, header: Header) -> Hasher:
        # The SHA-256 state after the sealing bytes is computed once and copied per try,
        # so a try hashes only the 8 nonce bytes and the 32-byte inner digest.
        prefix = hashlib.sha256(sealing_bytes(header))
        sha256 = hashlib.sha256

        def digest(nonce: int) -> bytes:
            inner = prefix.copy()
            inner.update(nonce.to_bytes(8, "big"))
            return sha256(inner.digest()).digest()

        return digest


SEAL = register(PowSeal())
