"""`rpca16`: proof of work with the RPCA16 hash (SPEC §3).

H(header, nonce) = L = chain.x16.rpca16(sealing_bytes(header) ‖ nonce as 8 bytes
big-endian, header.previous): four of the sixteen pool functions, chosen and
ordered by the last four hex digits of the parent's hash, their first 64 bits
interleaved.  L, read big-endian, must be below the retargeted target
(chain/seals/work.py: seal fields, parameters, retarget rule).

chain.x16 loads the compiled `x16r_hash` package; it is imported on first use,
so that a machine without it can still open chains of the other seal kinds
(every seal module is imported to look any kind up).
"""

from __future__ import annotations

from coopchain.chain.block import Header, sealing_bytes
from coopchain.chain.seals import register
from coopchain.chain.seals.work import Hasher, WorkSeal, nonce_bytes
from coopchain.chain.types import Hash32


def rpca16_hash(sealing: bytes, previous: Hash32, nonce: int) -> Hash32:
    """RPCA16's L of the sealing bytes followed by the nonce, ordered by the parent hash `previous`."""
    from coopchain.chain.x16 import rpca16

    return rpca16(sealing + nonce_bytes(nonce), previous)


class Rpca16Seal(WorkSeal):
    kind = "rpca16"

    def hasher(self, header: Header) -> Hasher:
        # sphlib contexts cannot be copied through ctypes, so each try hashes the whole
        # header; only the sealing bytes and the pool order's inputs are prepared once.
        from coopchain.chain.x16 import rpca16

        prefix, previous = sealing_bytes(header), header.previous
        return lambda nonce: rpca16(prefix + nonce.to_bytes(8, "big"), previous)


SEAL = register(Rpca16Seal())
