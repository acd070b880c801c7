"""Submitter and node keys, and their signatures (SPEC §2: "Transactions are signed by
their submitter (pycryptodome: Ed25519 or ECDSA P-256) ...; block headers signed by the node").

Two schemes:

- ``ed25519``: pure Ed25519 of RFC 8032 §5.1 (``Crypto.Signature.eddsa``, mode
  ``'rfc8032'``); 32-byte public keys, 64-byte signatures.
- ``p256``: ECDSA over NIST P-256 with SHA-256 (FIPS 186-4/5; ``Crypto.Signature.DSS``,
  mode ``'fips-186-3'``); public keys as compressed SEC1 points (33 bytes), signatures
  as fixed-length big-endian ``r || s`` (64 bytes), never DER, and in low-S form.

One signature, one byte string.  ECDSA is malleable: if (r, s) verifies, so does
(r, n − s), so a third party can re-encode a submitter's signature without the key.
As Bitcoin's BIP 146 (LOW_S) and Ethereum's EIP-2 do, `sign` returns the form with
s ≤ n/2 and `verify` refuses s > n/2 (``P256_HALF_ORDER``).  Ed25519 has its own rule,
S < L (RFC 8032 §5.1.7), which pycryptodome and libsodium both enforce.

A public key's text form, used in transactions and genesis, is ``"<scheme>:<hex>"``, e.g.
``"ed25519:d75a98...511a"``: lower-case hex of the raw bytes above, nothing else.
`PublicKey.from_text` accepts exactly that (upper-case hex is refused, so one key has one
text).

Which public keys exist.  An Ed25519 key must be the canonical encoding of a curve point
of large order: a small-order key (the identity, for instance) has signatures that verify
for every message under pycryptodome's cofactored check, and no honest key generator
makes one, so `PublicKey` refuses it at construction.

Verification, one and many.  `PublicKey.verify` uses pycryptodome alone: it is the rule,
and the offline audit-bundle verifier may import only the stdlib, numpy and pycryptodome.
`verify_many` is the same rule made fast for the ledger, whose SPEC §7 target is 3,000
signed tx/s on 2 cores.  pycryptodome verifies about 3,300 Ed25519 signatures/s on one
core here and holds the GIL (2 threads: no gain), so it alone caps the ledger at the
target with nothing left for hashing and SQLite.  Measured with bench/bench_signatures.py
on the same 10,000 signed 200-byte messages, one key each, the public key parsed per item
(2-core machine, verifies/s; 1-core figures are stable across runs, 2-core ones are those
of the quietest run, load average < 0.5: the machine is shared and they drop under load):

    ==============  ===============  ==================  ===================
    library         1 core           2 cores, threads    2 cores, processes
    ==============  ===============  ==================  ===================
    pycryptodome     3,000 -  3,400   3,200 (GIL held)    3,900 - 6,500
    cryptography     8,700 - 11,200  15,300 - 20,700     10,700 - 21,300
    PyNaCl          21,400 - 23,500  41,900              21,700 - 44,600
    verify_many     21,900 - 23,300  40,800 (threads)
    ==============  ===============  ==================  ===================

PyNaCl (libsodium; maintained by PyCA like `cryptography`) is twice as fast as
`cryptography` (OpenSSL) on one core and seven times pycryptodome, and it releases the
GIL inside ``crypto_sign_open``, so two threads nearly double it without the pickling,
start-up and fork hazards of a process pool inside a server.  `verify_many` therefore
uses PyNaCl, imported lazily, in ``os.cpu_count()`` threads, and falls back to
pycryptodome in the calling thread when PyNaCl is not installed.  P-256 items always take
the pycryptodome path (they are not the SPEC's throughput case).  A commit checks its block's
signatures beside its own pure-Python work, where these threads wait for the GIL after every
signature: it uses the helper process of `chain.signature_checker` instead, with this verdict.

Why the fast path agrees with the rule.  libsodium is stricter than pycryptodome: it
checks the cofactorless equation ``[S]B = R + [k]A`` byte-for-byte against the canonical
encoding of R and refuses non-canonical or small-order keys and ``S >= L``, while
pycryptodome checks the cofactored ``[8S]B = [8]R + [8k]A``.  Every signature libsodium
accepts therefore satisfies pycryptodome too; the converse fails only for crafted
signatures (R with a torsion component).  So a libsodium acceptance is final, and every
libsodium rejection is decided again by `PublicKey.verify`: `verify_many` raises exactly
when, and at the first index where, the single verifier would.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS, eddsa

from coopchain.chain.errors import InvalidSignature

ED25519: Final = "ed25519"
P256: Final = "p256"
SCHEMES: Final = (ED25519, P256)

PUBLIC_KEY_SIZE: Final = {ED25519: 32, P256: 33}  # RFC 8032 §5.1.5; SEC1 §2.3.3 compressed
SIGNATURE_SIZE: Final = {ED25519: 64, P256: 64}  # RFC 8032 §5.1.6; r || s, 32 bytes each
_CURVE: Final = {ED25519: "Ed25519", P256: "P-256"}

P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""n, the order of P-256's base point (FIPS 186-4 §D.1.2.3; SEC 2 §2.4.2)."""
P256_HALF_ORDER: Final = P256_ORDER // 2
"""The largest s of a low-S P-256 signature (module docstring); n is odd, so s and n − s
are never both at most this."""

KEY_FILE_MODE: Final = 0o600
"""Private key files are written owner read/write only, and refused by `PrivateKey.load`
when the group or others may read or write them (as OpenSSH refuses an unprotected key)."""

VERIFY_MANY_MIN_PARALLEL: Final = 64
"""Below this many items `verify_many` stays in the calling thread: a thread hand-off
costs more than it saves."""


def _scheme_of(key: ECC.EccKey) -> str | None:
    """Our scheme name for a pycryptodome key, or None for other curves."""
    return {"ed25519": ED25519, "nist p-256": P256, "p-256": P256, "p256": P256}.get(key.curve.lower())


def _check_scheme(scheme: object) -> str:
    if scheme not in SCHEMES:
        raise InvalidSignature(f"unknown signature scheme {scheme!r}: want one of {', '.join(SCHEMES)}")
    return scheme  # type: ignore[return-value]


ORDER_8_POINT: Final = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
"""A point of order 8 on edwards25519 (canonical encoding; in libsodium's blocklist).  Its
multiples are the eight points of small order."""


@lru_cache(maxsize=1)
def small_order_encodings() -> frozenset[bytes]:
    """The canonical encodings of the 8 small-order points, as multiples of ORDER_8_POINT.

    A set lookup instead of computing [8]A per key (about 170 us in pycryptodome).
    """
    torsion = eddsa.import_public_key(ORDER_8_POINT).pointQ
    if not (torsion * 8).is_point_at_infinity() or (torsion * 4).is_point_at_infinity():
        raise AssertionError("ORDER_8_POINT is not of order 8")
    out, point = set(), torsion
    for _ in range(8):
        out.add(ECC.EccKey(curve=_CURVE[ED25519], point=point).export_key(format="raw"))
        point = point + torsion
    return frozenset(out)


@lru_cache(maxsize=8192)
def _public_ecc_key(scheme: str, raw: bytes) -> ECC.EccKey:
    """The pycryptodome key for (scheme, raw), or InvalidSignature; cached, as submitters repeat."""
    want = PUBLIC_KEY_SIZE[scheme]
    if len(raw) != want:
        raise InvalidSignature(f"{scheme} public key is {len(raw)} bytes, want {want}")
    if scheme == ED25519 and raw in small_order_encodings():
        # Such keys verify forged signatures under the cofactored check (module docstring).
        raise InvalidSignature(f"ed25519 public key {raw.hex()} has small order")
    try:
        if scheme == ED25519:
            key = eddsa.import_public_key(raw)
        else:
            if raw[0] not in (2, 3):
                raise ValueError("not a compressed SEC1 point (prefix 02 or 03)")
            key = ECC.import_key(raw, curve_name=_CURVE[P256])
    except ValueError as e:
        raise InvalidSignature(f"{scheme} public key {raw.hex()} is not a curve point: {e}") from e
    # Canonical: re-encoding the decoded point gives the same bytes (y < p, no "-0"), so the
    # small-order set above, which holds canonical encodings, catches every small-order key.
    if scheme == ED25519 and key.export_key(format="raw") != raw:
        raise InvalidSignature(f"ed25519 public key {raw.hex()} is not canonically encoded")
    return key


@lru_cache(maxsize=8192)
def _public_key_from_text(text: str) -> PublicKey:
    return PublicKey._parse(text)


@dataclass(frozen=True)
class PublicKey:
    """A public key of one scheme: `raw` is 32 bytes (Ed25519) or a 33-byte compressed
    SEC1 point (P-256).  Construction validates it, so every `PublicKey` can verify."""

    scheme: str
    raw: bytes
    _key: ECC.EccKey = field(init=False, repr=False, compare=False)  # decoded once

    def __post_init__(self) -> None:
        _check_scheme(self.scheme)
        if not isinstance(self.raw, bytes):
            raise InvalidSignature(f"public key must be bytes, got {type(self.raw).__name__}")
        object.__setattr__(self, "_key", _public_ecc_key(self.scheme, self.raw))

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """Parse ``"ed25519:<64 hex>"`` or ``"p256:<66 hex>"`` (lower-case hex, nothing around it)."""
        if not isinstance(text, str):
            raise InvalidSignature(f"public key text must be str, got {type(text).__name__}")
        if cls is PublicKey and type(text) is str:
            return _public_key_from_text(text)  # submitters repeat: parsed once (a refusal is not kept)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> PublicKey:
        scheme, sep, hex_part = text.partition(":")
        if not sep:
            raise InvalidSignature(f"public key text {text!r} has no '<scheme>:' prefix")
        _check_scheme(scheme)
        if hex_part != hex_part.lower() or not hex_part.isascii():
            raise InvalidSignature(f"public key text {text!r}: hex must be lower-case")
        try:
            raw = bytes.fromhex(hex_part)
        except ValueError as e:
            raise InvalidSignature(f"public key text {text!r}: not hex") from e
        if raw.hex() != hex_part:  # bytes.fromhex skips spaces; the text form has none
            raise InvalidSignature(f"public key text {text!r}: not plain hex")
        return cls(scheme, raw)

    def __reduce__(self):
        return (PublicKey, (self.scheme, self.raw))  # the decoded key is rebuilt, not pickled

    def to_text(self) -> str:
        return f"{self.scheme}:{self.raw.hex()}"

    def __str__(self) -> str:
        return self.to_text()

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return if `signature` is this key's signature of `message`, else raise InvalidSignature.

        pycryptodome only (the audit verifier's rule); see `verify_many` for batches.
        """
        if not isinstance(signature, bytes) or not isinstance(message, bytes):
            raise InvalidSignature("signature and message must be bytes")
        want = SIGNATURE_SIZE[self.scheme]
        if len(signature) != want:
            raise InvalidSignature(f"{self.scheme} signature is {len(signature)} bytes, want {want}")
        key = self._key
        if self.scheme == P256 and int.from_bytes(signature[32:], "big") > P256_HALF_ORDER:
            raise InvalidSignature("p256 signature has a high S (s > n/2): only the low-S form is accepted")
        try:
            if self.scheme == ED25519:
                eddsa.new(key, "rfc8032").verify(message, signature)
            else:
                DSS.new(key, "fips-186-3", encoding="binary").verify(SHA256.new(message), signature)
        except ValueError as e:
            raise InvalidSignature(f"{self.scheme} signature does not verify under {self.to_text()}") from e


class PrivateKey:
    """A signing key.  Its secret never appears in repr/str; it leaves the process only
    through `save` (PKCS#8 PEM, mode 0600)."""

    __slots__ = ("scheme", "_key", "_public")

    def __init__(self, scheme: str, key: ECC.EccKey) -> None:
        _check_scheme(scheme)
        if not key.has_private() or _scheme_of(key) != scheme:
            raise InvalidSignature(f"not a {scheme} private key")
        self.scheme = scheme
        self._key = key
        if scheme == ED25519:
            raw = key.public_key().export_key(format="raw")
        else:
            raw = key.public_key().export_key(format="SEC1", compress=True)
        self._public = PublicKey(scheme, raw)

    @classmethod
    def generate(cls, scheme: str) -> PrivateKey:
        _check_scheme(scheme)
        return cls(scheme, ECC.generate(curve=_CURVE[scheme]))

    @classmethod
    def from_private_bytes(cls, scheme: str, raw: bytes) -> PrivateKey:
        """From the 32-byte RFC 8032 seed (Ed25519) or the 32-byte big-endian scalar d (P-256)."""
        _check_scheme(scheme)
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise InvalidSignature(f"{scheme} private key must be 32 bytes")
        try:
            if scheme == ED25519:
                key = eddsa.import_private_key(raw)
            else:
                key = ECC.construct(curve=_CURVE[P256], d=int.from_bytes(raw, "big"))
        except ValueError as e:
            raise InvalidSignature(f"not a valid {scheme} private key") from e
        return cls(scheme, key)

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        """Ed25519: the deterministic RFC 8032 signature.  P-256: r || s with a random nonce,
        s in low-S form (n − s when pycryptodome's s is above n/2: the same signature)."""
        if not isinstance(message, bytes):
            raise TypeError(f"message must be bytes, got {type(message).__name__}")
        if self.scheme == ED25519:
            return eddsa.new(self._key, "rfc8032").sign(message)
        signature = DSS.new(self._key, "fips-186-3", encoding="binary").sign(SHA256.new(message))
        s = int.from_bytes(signature[32:], "big")
        if s > P256_HALF_ORDER:
            signature = signature[:32] + (P256_ORDER - s).to_bytes(32, "big")
        return signature

    def derive_secret(self, info: bytes) -> bytes:
        """A 32-byte secret for the purpose `info`, from an Ed25519 key's RFC 8032 seed: HKDF-SHA256 (RFC 5869,
        pycryptodome's, no salt).  Only the key's holder can make it, the same every time; the seed never leaves."""
        if self.scheme != ED25519:
            raise InvalidSignature(f"a {self.scheme} key has no RFC 8032 seed to derive secrets from")
        return HKDF(self._key.seed, 32, None, SHA256, context=info)

    def __repr__(self) -> str:
        return f"PrivateKey({self.scheme}, public={self._public.to_text()})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a PrivateKey is not pickled; save() it to a 0600 file instead")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key as unencrypted PKCS#8 PEM to a new file of mode 0600.

        The file is created with O_EXCL: an existing file (or symlink) is never
        overwritten, FileExistsError is raised instead.
        """
        pem = self._key.export_key(format="PEM", use_pkcs8=True).encode("ascii")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags, KEY_FILE_MODE)
        except FileExistsError as e:
            raise FileExistsError(e.errno, f"{os.fspath(path)} exists: a key file is never overwritten") from None
        try:
            os.fchmod(fd, KEY_FILE_MODE)  # whatever the umask
            with os.fdopen(fd, "wb") as f:
                fd = -1
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            if fd != -1:
                os.close(fd)
            os.unlink(path)  # never leave a half-written key behind
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PrivateKey:
        """Read a key written by `save` (or any unencrypted PKCS#8 PEM Ed25519/P-256 key).

        Raises InvalidSignature naming the path and the fault: no such file, not a file,
        readable or writable by group or others (refused, fix with ``chmod 600``), not a
        PEM private key, or a curve other than Ed25519 and P-256.
        """
        name = os.fspath(path)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError as e:
            raise InvalidSignature(f"key file {name}: no such file") from e
        except OSError as e:
            raise InvalidSignature(f"key file {name}: cannot open ({e.strerror})") from e
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidSignature(f"key file {name}: not a regular file")
            if st.st_mode & 0o077:
                raise InvalidSignature(
                    f"key file {name}: mode {stat.S_IMODE(st.st_mode):04o} lets group or others at it; "
                    f"refused (chmod 600 {name})"
                )
            data = os.read(fd, 64 * 1024)
        finally:
            os.close(fd)
        text = data.decode("ascii", errors="replace")
        if "-----BEGIN PRIVATE KEY-----" not in text:
            raise InvalidSignature(f"key file {name}: not a PKCS#8 PEM private key ('BEGIN PRIVATE KEY' missing)")
        try:
            key = ECC.import_key(text)
        except (ValueError, IndexError, TypeError) as e:
            raise InvalidSignature(f"key file {name}: not a readable PKCS#8 EC or Ed25519 key") from e
        scheme = _scheme_of(key)
        if scheme is None:
            raise InvalidSignature(f"key file {name}: curve {key.curve} is neither Ed25519 nor P-256")
        if not key.has_private():
            raise InvalidSignature(f"key file {name}: holds a public key only")
        return cls(scheme, key)


# --- many signatures at once (the ledger's hot path) ------------------------------------


def _nacl_verifier():
    """libsodium's Ed25519 check through PyNaCl, or None when PyNaCl is not installed."""
    try:
        from nacl.bindings import crypto_sign_open
        from nacl.exceptions import BadSignatureError, CryptoError
    except ImportError:
        return None

    def rejected(items: Sequence[tuple[PublicKey, bytes, bytes]], start: int, stop: int) -> list[int]:
        out = []
        for i in range(start, stop):
            try:
                key, signature, message = items[i]
                # Exactly what PublicKey.verify accepts, or the reference decides below.
                if (type(key) is not PublicKey or key.scheme != ED25519 or type(signature) is not bytes
                        or type(message) is not bytes or len(signature) != 64):
                    raise CryptoError
                crypto_sign_open(signature + message, key.raw)  # releases the GIL
            except (BadSignatureError, CryptoError, TypeError, ValueError, AttributeError):
                out.append(i)  # decided again by the reference below
        return out

    return rejected


def _first_fault(items: Sequence[tuple[PublicKey, bytes, bytes]], i: int) -> str | None:
    """Why item i fails `PublicKey.verify`, or None if it verifies."""
    try:
        key, signature, message = items[i]
    except (TypeError, ValueError):
        return "not a (PublicKey, signature, message) triple"
    if not isinstance(key, PublicKey):
        return f"key is {type(key).__name__}, not PublicKey"
    try:
        key.verify(signature, message)
    except InvalidSignature as e:
        return str(e)
    return None


def verify_many(items: Sequence[tuple[PublicKey, bytes, bytes]], *, workers: int | None = None) -> None:
    """Verify every (public key, signature, message); raise InvalidSignature naming the first bad index.

    Same verdict as calling `PublicKey.verify` on each item in order (module docstring),
    spread over `workers` threads (default ``os.cpu_count()``) when PyNaCl is installed.
    """
    n = len(items)
    fast = _nacl_verifier()
    workers = max(1, workers or os.cpu_count() or 1)
    if fast is None:  # pycryptodome holds the GIL: threads would not help it
        suspects = range(n)
    elif workers == 1 or n < VERIFY_MANY_MIN_PARALLEL:
        suspects = fast(items, 0, n)
    else:
        bounds = [n * w // workers for w in range(workers + 1)]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify_many") as pool:
            parts = pool.map(lambda w: fast(items, bounds[w], bounds[w + 1]), range(workers))
            suspects = [i for part in parts for i in part]
    _raise_first(items, suspects)


def _raise_first(items: Sequence[tuple[PublicKey, bytes, bytes]], suspects) -> None:
    """Decide the fast path's rejections, in ascending order, by the rule; raise at the first it refuses too."""
    for i in suspects:
        fault = _first_fault(items, i)
        if fault is not None:
            error = InvalidSignature(f"item {i}: {fault}")
            error.index, error.reason = i, fault  # a caller that handed in a subset names its own position
            raise error
