"""The 16 pool hash functions of RPCA16 and the RPCA16 proof-of-work hash (SPEC §3).

Pool A, indexed by one hex digit (SPEC §3; the same 16 as Ravencoin's X16R):
0 blake512, 1 bmw512, 2 groestl512, 3 jh512, 4 keccak512 (original Keccak padding,
not SHA3-512), 5 skein512, 6 luffa512, 7 cubehash512, 8 shavite512, 9 simd512,
A echo512, B hamsi512, C fugue512, D shabal512, E whirlpool, F sha512.

None of them is implemented here.  They are the sphlib C functions compiled into the
shared object of the PyPI package ``x16r_hash`` (1.0.1, built from its sdist by
``pip install x16r_hash==1.0.1``), loaded with ctypes.  The package's own Python entry
point ``getPoWHash`` is unusable on Python >= 3.10 (its ``Py_BuildValue("y#", ...)``
without ``PY_SSIZE_T_CLEAN`` raises SystemError on every call), but the object exports
every ``sph_*`` function and the C ``x16r_hash`` itself; the module is located with
``importlib.util.find_spec`` and never imported as Python.

Each wrapper runs sphlib's three calls, ``init(ctx)``, ``update(ctx, data, len)``,
``close(ctx, out)``, on a fresh context, so the wrappers are re-entrant and
thread-safe (ctypes releases the GIL for the call).

- `POOL[i](data)` / `pool_hash(i, data)`: the 64-byte digest of pool function i.
- `x16r(data, previous_hash)`: Ravencoin's X16R chain of all 16, ordered by the last
  16 hex digits of the previous block hash; tests check it against the package's C
  ``x16r_hash``.
- `rpca16(header, previous_hash)`: the 256-bit L of SPEC §3; `rpca16_order` its four
  algorithm indices in application order.
"""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Callable

from coopchain.chain.types import Hash32

PACKAGE = "x16r_hash"
INSTALL = "pip install x16r_hash==1.0.1"

DIGEST_SIZE = 64  # every pool function here is a 512-bit hash
HASH_SIZE = 32  # previous block hash, and RPCA16's L (SPEC §3 step 5: 256 bits)
RPCA16_DIGITS = 4  # SPEC §3 step 1: the last four hex digits of the previous hash
X16R_DIGITS = 16  # X16R: the last sixteen

# Pool A in SPEC §3 order: (name, sphlib symbol stem).  sphlib's SHA-512 update is a
# macro, ``#define sph_sha512 sph_sha384`` (sph_sha2.h: both share one context and
# compression; only init and close differ), so its stem for update is sph_sha384.
POOL_NAMES = (
    "blake512", "bmw512", "groestl512", "jh512", "keccak512", "skein512", "luffa512", "cubehash512",
    "shavite512", "simd512", "echo512", "hamsi512", "fugue512", "shabal512", "whirlpool", "sha512",
)  # fmt: skip
_SYMBOLS = {name: (f"sph_{name}_init", f"sph_{name}", f"sph_{name}_close") for name in POOL_NAMES}
_SYMBOLS["sha512"] = ("sph_sha512_init", "sph_sha384", "sph_sha512_close")

# sizeof(sph_<name>_context) from the sdist's sphlib headers (sha3/sph_*.h), measured
# with gcc on x86-64 Linux (LP64); all have alignment 8.  The wrappers do not rely on
# these exact figures: every context gets CONTEXT_BYTES, 8-byte aligned, which is
# 2.8 times the largest (keccak512).  sphlib functions touch nothing outside their
# context struct, and the structs only shrink or stay equal on ILP32 (their size_t
# fields shrink; without a 64-bit type their state arrays become the same bytes in
# 32-bit words), so the margin holds on any platform the C code builds on.  The
# tests check that no function writes past the size listed here.
CONTEXT_SIZES = {
    "blake512": 248, "bmw512": 272, "groestl512": 272, "jh512": 208, "keccak512": 360, "skein512": 144,
    "luffa512": 200, "cubehash512": 168, "shavite512": 216, "simd512": 272, "echo512": 280,
    "hamsi512": 88, "fugue512": 168, "shabal512": 256, "whirlpool": 136, "sha512": 200,
}  # fmt: skip
CONTEXT_BYTES = 1024
_Context = ctypes.c_uint64 * (CONTEXT_BYTES // 8)  # c_uint64 elements: 8-byte alignment
_Digest = ctypes.c_char * DIGEST_SIZE


def library_path() -> str:
    """Path of the ``x16r_hash`` package's compiled shared object (not imported as Python)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.origin or not spec.origin.endswith((".so", ".pyd", ".dylib")):
        raise ImportError(f"the compiled {PACKAGE} extension is not installed: {INSTALL}")
    return spec.origin


_LIB = ctypes.CDLL(library_path())


def _bind(name: str) -> Callable[[bytes], bytes]:
    init_name, update_name, close_name = _SYMBOLS[name]
    init, update, close = (getattr(_LIB, symbol) for symbol in _SYMBOLS[name])
    # init and close take only ctypes arrays, which ctypes passes as pointers without
    # argtypes (a third faster per call); update declares size_t so the length is
    # passed as 64 bits, not as a C int.
    init.restype = close.restype = None
    update.argtypes, update.restype = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t), None

    def digest(data: bytes) -> bytes:
        if type(data) is not bytes:
            data = bytes(data)  # a bytes-like value; c_char_p takes bytes without copying
        ctx = _Context()
        out = _Digest()
        init(ctx)
        update(ctx, data, len(data))
        close(ctx, out)
        return out.raw

    digest.__name__ = digest.__qualname__ = name
    digest.__doc__ = f"The 64-byte {name} digest of `data` (sphlib {init_name} / {update_name} / {close_name})."
    return digest


POOL: tuple[Callable[[bytes], bytes], ...] = tuple(_bind(name) for name in POOL_NAMES)
"""Pool A of SPEC §3: POOL[i] is the function with hex index i, bytes -> 64 bytes."""

(blake512, bmw512, groestl512, jh512, keccak512, skein512, luffa512, cubehash512,
 shavite512, simd512, echo512, hamsi512, fugue512, shabal512, whirlpool, sha512) = POOL  # fmt: skip


def pool_hash(index: int, data: bytes) -> bytes:
    """The 64-byte digest of `data` under pool function `index` (0 <= index < 16, SPEC §3)."""
    if not 0 <= index < len(POOL):
        raise ValueError(f"pool index {index} is outside 0..15")
    return POOL[index](data)


def _check_hash(previous_hash: bytes) -> None:
    if not isinstance(previous_hash, bytes | bytearray | memoryview):
        raise TypeError(f"previous_hash must be bytes, got {type(previous_hash).__name__}")
    if len(previous_hash) != HASH_SIZE:
        raise ValueError(f"previous_hash is {len(previous_hash)} bytes, want {HASH_SIZE}")


def _last_digits(previous_hash: bytes, count: int) -> list[int]:
    """The last `count` hex digits of the hash written big-endian, as ints, in written order."""
    _check_hash(previous_hash)
    return [int(c, 16) for c in bytes(previous_hash).hex()[-count:]]


def x16r_order(previous_hash: Hash32) -> list[int]:
    """Ravencoin X16R's 16 pool indices in application order.

    The package's C ``getAlgoString`` reads bytes 7..0 of the header's previous-hash
    field (stored little-endian), high nibble first: that is the last 16 hex digits of
    the hash as written big-endian, in written order.  `previous_hash` is big-endian.
    """
    return _last_digits(previous_hash, X16R_DIGITS)


def x16r(data: bytes, previous_hash: Hash32) -> Hash32:
    """X16R: all 16 pool functions chained in `x16r_order(previous_hash)`; the first 32 bytes.

    For a Ravencoin-style 80-byte header, previous_hash = header[4:36] reversed, and
    this equals the package's C ``x16r_hash(header)`` (which takes the order from the
    header itself and always hashes 80 bytes; here `data` may have any length).
    """
    h = data
    for index in x16r_order(previous_hash):
        h = POOL[index](h)
    return Hash32(h[:HASH_SIZE])


def rpca16_order(previous_hash: Hash32) -> list[int]:
    """The four pool indices of RPCA16 in application order (SPEC §3 steps 1–3).

    The last four hex digits d1..d4 of the hash written big-endian, ranked ascending
    with ties by position; A[d_i] is applied in ascending rank order.  For ...9d2a the
    ranks are 1 3 0 2 and the order is 2, 9, A, D: groestl, simd, echo, shabal.  (SPEC
    §3's prose and the vector's note say "shavite" for digit 9, but A[9] is simd512 in
    the SPEC's own table and the vector's L_hex is the value with simd512.)
    """
    digits = _last_digits(previous_hash, RPCA16_DIGITS)
    by_rank = sorted(range(RPCA16_DIGITS), key=lambda i: (digits[i], i))
    return [digits[i] for i in by_rank]


def rpca16(header: bytes, previous_hash: Hash32) -> Hash32:
    """RPCA16's L for a serialized header with its nonce, D (SPEC §3 steps 3–5).

    h1 = A[first](D), h_i = A[i-th](h_{i-1}); p_i = the first 64 bits of h_i, halves
    p_ia ‖ p_ib; L = p1a‖p2a‖p3a‖p4a‖p1b‖p2b‖p3b‖p4b (32 bytes).  The seal is valid
    when L, read big-endian, is below the target.
    """
    highs, lows = [], []
    h = header
    for index in rpca16_order(previous_hash):
        h = POOL[index](h)
        highs.append(h[0:4])
        lows.append(h[4:8])
    return Hash32(b"".join(highs) + b"".join(lows))


def c_x16r(header: bytes) -> Hash32:
    """The package's own C ``x16r_hash`` on an 80-byte header (a reference for tests and benches)."""
    if len(header) != 80:
        raise ValueError(f"the C x16r_hash reads exactly 80 bytes, got {len(header)}")
    out = ctypes.create_string_buffer(HASH_SIZE)
    _C_X16R(bytes(header), out)
    return Hash32(out.raw)


_C_X16R = _LIB.x16r_hash
_C_X16R.argtypes, _C_X16R.restype = (ctypes.c_char_p, ctypes.c_void_p), None
