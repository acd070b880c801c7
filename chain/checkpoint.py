"""Checkpoints: the node's head as a C2SP signed note (SPEC §10).

Formats, byte for byte as the specifications give them:

- signed note (c2sp.org/signed-note): a text ending in a newline, a blank line, and one
  or more lines ``— <key name> base64(key ID ‖ signature)``; the key ID is the first four
  bytes of SHA-256(key name ‖ 0x0A ‖ signature type ‖ public key).  Type 0x01 is an
  Ed25519 signature of the text; type 0x04 a timestamped cosignature (below).  A verifier
  key ("vkey") is ``<name>+<hex key ID>+base64(type ‖ public key)``.
- checkpoint (c2sp.org/tlog-checkpoint): the note text is three lines, the origin, the
  tree size in decimal and the base64 RFC 6962 root hash.
- cosignature (c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``): the signature is
  an 8-byte big-endian POSIX timestamp followed by the Ed25519 signature of
  ``cosignature/v1\\ntime <timestamp>\\n`` ‖ the checkpoint text.

What tree the node's checkpoint commits to.  The ledger keeps one RFC 9162 tree over
block hashes (chain.merkle, the ``history_nodes`` rows): leaf i is the hash of block i.
The checkpoint of a chain whose head is at height h has tree size h + 1 and the root of
that tree over blocks 0 .. h, so it covers the head itself (a header's own
``history_root`` stops one block short: it cannot hash itself).  Consistency between two
checkpoints is then the ledger's own consistency proof between two sizes, and a block is
tied to a checkpoint by the ledger's own inclusion proof.  An auditor holding a head
header at height h and a checkpoint of size n > h checks two proofs: the head's hash is
leaf h of the checkpoint's tree, and the tree of size h with the head's ``history_root``
is consistent with it; together they say that the checkpoint's first h + 1 leaves are
exactly the blocks the head commits to (`verify_head_in_checkpoint`).

The origin of a chain is ``coopchain/<chain id>/<genesis block hash in hex>``: one log
identity per genesis, so a chain rebuilt with fresh keys under the same chain id is
another origin, which no witness or policy that pins the first one accepts.

This module needs the standard library and pycryptodome only (through chain.keys): the
offline verifier imports it.  Parsers refuse, with `MalformedNote` or `MalformedCheckpoint`
and the reason, anything that is not exactly the format: extension lines, non-canonical
base64, control characters, duplicate signatures, notes over `MAX_NOTE_BYTES`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from coopchain.chain import merkle
from coopchain.chain.errors import ChainError, InvalidProof, InvalidSignature
from coopchain.chain.keys import ED25519, PrivateKey, PublicKey
from coopchain.chain.types import Hash32, Root

SIGNATURE_ED25519: Final = 0x01  # c2sp.org/signed-note, "Signature types"
SIGNATURE_COSIGNATURE_V1: Final = 0x04  # c2sp.org/tlog-cosignature, timestamped Ed25519
SIGNATURE_TYPES: Final = {SIGNATURE_ED25519: "Ed25519 note signature", SIGNATURE_COSIGNATURE_V1: "Ed25519 cosignature/v1"}

MAX_NOTE_BYTES: Final = 64 * 1024
"""A checkpoint is three short lines; signed-note asks verifiers to accept at least 16
signatures (about 2 KiB with Ed25519), and a bound keeps parsing time bounded."""
MAX_SIGNATURES: Final = 64
MAX_TREE_SIZE: Final = 2**64 - 1  # tlog-checkpoint sizes are uint64 in every implementation
MAX_TIMESTAMP: Final = 2**63 - 1  # tlog-cosignature: "MUST NOT exceed 2^63 - 1"

_DASH: Final = "\u2014 "  # em dash, space
_COSIGNATURE_HEADER: Final = b"cosignature/v1\n"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")  # no leading zeroes (tlog-checkpoint, tlog-witness)
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")


class MalformedNote(ChainError):
    """Bytes that are not a signed note, or a key that is not a verifier key."""


class MalformedCheckpoint(MalformedNote):
    """A note whose text is not exactly a tlog-checkpoint body."""


class NoteSignatureError(InvalidSignature):
    """A note with no verified signature from a trusted key, or a trusted key's signature that fails."""


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 6962 root (c2sp.org/tlog-checkpoint)."""

    origin: str
    size: int
    root: Root


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key ID, and the signature bytes after the key ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {_b64(self.key_id.to_bytes(4, 'big') + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed signed note: the text (with its final newline) and its signature lines, unverified."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class NoteKey:
    """A verifier key: a name, a signature type (0x01 or 0x04) and an Ed25519 public key."""

    name: str
    kind: int
    public: PublicKey

    def __post_init__(self) -> None:
        _check_name(self.name, "key name")
        if self.kind not in SIGNATURE_TYPES:
            raise MalformedNote(f"signature type {self.kind:#04x} is not supported (0x01 note signatures, 0x04 cosignatures)")
        if not isinstance(self.public, PublicKey) or self.public.scheme != ED25519:
            raise MalformedNote("note keys are Ed25519 keys")

    @property
    def key_id(self) -> int:
        """SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], big-endian (signed-note, tlog-cosignature)."""
        digest = hashlib.sha256(self.name.encode() + b"\n" + bytes([self.kind]) + self.public.raw).digest()
        return int.from_bytes(digest[:4], "big")

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{_b64(bytes([self.kind]) + self.public.raw)}"

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id:08x}"


@dataclass(frozen=True)
class VerifiedSignature:
    key: NoteKey
    timestamp: int | None  # cosignatures only: POSIX seconds


@dataclass(frozen=True)
class VerifiedCheckpoint:
    checkpoint: Checkpoint
    note: Note
    cosignatures: tuple[VerifiedSignature, ...]  # by the witness keys given, in note order


# --- keys -------------------------------------------------------------------------------------


def parse_vkey(text: str) -> NoteKey:
    """Read ``<name>+<hex key ID>+base64(type ‖ key)``; MalformedNote unless every part checks."""
    if not isinstance(text, str):
        raise MalformedNote(f"a verifier key is text, got {type(text).__name__}")
    parts = text.split("+", 2)  # the name has no '+', the base64 may
    if len(parts) != 3:
        raise MalformedNote(f"verifier key {_clip(text)}: want <name>+<key id>+<base64 key>, three parts")
    name, hex_id, material = parts
    if not _HEX_KEY_ID.fullmatch(hex_id):
        raise MalformedNote(f"verifier key {_clip(text)}: the key id must be 8 lower-case hex digits")
    raw = _unb64(material, "verifier key")
    if len(raw) != 33:
        raise MalformedNote(f"verifier key {_clip(text)}: want a type byte and a 32-byte Ed25519 key, got {len(raw)} bytes")
    try:
        key = NoteKey(name, raw[0], PublicKey(ED25519, raw[1:]))
    except InvalidSignature as e:
        raise MalformedNote(f"verifier key {_clip(text)}: {e}") from e
    if key.key_id != int(hex_id, 16):
        raise MalformedNote(f"verifier key {_clip(text)}: key id {hex_id} does not match the name and key ({key.key_id:08x})")
    return key


def note_key(name: str, public: PublicKey, kind: int = SIGNATURE_ED25519) -> NoteKey:
    return NoteKey(name, kind, public)


# --- notes ------------------------------------------------------------------------------------


def parse_note(data: bytes) -> Note:
    """Split a signed note into its text and signature lines, refusing anything malformed.

    Stricter than golang.org/x/mod/sumdb/note.Open in one respect: two lines with the same
    key name and key ID are refused, not silently dropped.
    """
    if not isinstance(data, bytes):
        raise MalformedNote(f"a note is bytes, got {type(data).__name__}")
    if len(data) > MAX_NOTE_BYTES:
        raise MalformedNote(f"the note is {len(data):,} bytes, more than the {MAX_NOTE_BYTES:,} accepted")
    try:
        message = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedNote(f"the note is not UTF-8 (byte {e.start})") from None
    bad = next((i for i, ch in enumerate(message) if ch < " " and ch != "\n"), None)
    if bad is not None:
        raise MalformedNote(f"the note holds control character {ord(message[bad]):#04x} at character {bad}")
    split = message.rfind("\n\n")
    if split < 0:
        raise MalformedNote("the note has no blank line before its signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNote("the note has no signature lines, or its last line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"the note has {len(lines)} signatures, more than the {MAX_SIGNATURES} accepted")
    signatures, seen = [], set()
    for n, line in enumerate(lines, 1):
        if not line.startswith(_DASH):
            raise MalformedNote(f"signature line {n} does not start with an em dash and a space")
        name, sep, b64 = line[len(_DASH) :].partition(" ")
        if not sep:
            raise MalformedNote(f"signature line {n}: want '— <name> <base64>'")
        _check_name(name, f"signature line {n}: key name")
        raw = _unb64(b64, f"signature line {n}")
        if len(raw) < 5:
            raise MalformedNote(f"signature line {n}: {len(raw)} bytes, want a 4-byte key id and a signature")
        sig = NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])
        if (sig.name, sig.key_id) in seen:
            raise MalformedNote(f"signature line {n}: a second signature by {name}+{sig.key_id:08x}")
        seen.add((sig.name, sig.key_id))
        signatures.append(sig)
    return Note(text, tuple(signatures))


def note_bytes(note: Note) -> bytes:
    return (note.text + "\n" + "".join(s.line() for s in note.signatures)).encode()


def sign_note(text: str, name: str, key: PrivateKey) -> NoteSignature:
    """The Ed25519 note signature (type 0x01) of `text` by `key` under `name`."""
    _check_text(text)
    signer = note_key(name, key.public_key, SIGNATURE_ED25519)
    return NoteSignature(name, signer.key_id, key.sign(text.encode()))


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What an Ed25519 cosignature/v1 signs: header line, time line, the checkpoint text."""
    return _COSIGNATURE_HEADER + f"time {timestamp}\n".encode() + text.encode()


def cosign(text: str, name: str, key: PrivateKey, timestamp: int) -> NoteSignature:
    """A timestamped Ed25519 cosignature (type 0x04) of a checkpoint text (c2sp.org/tlog-cosignature)."""
    _check_text(text)
    if not isinstance(timestamp, int) or not 0 < timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"a cosignature's timestamp lies in 1 .. 2^63 - 1, got {timestamp!r}")
    signer = note_key(name, key.public_key, SIGNATURE_COSIGNATURE_V1)
    signature = key.sign(cosignature_message(text, timestamp))
    return NoteSignature(name, signer.key_id, timestamp.to_bytes(8, "big") + signature)


def cosignature_timestamp(sig: NoteSignature) -> int:
    """The timestamp of a cosignature/v1 line (not yet verified): the 8 bytes after the key ID."""
    if len(sig.signature) != 8 + 64:
        raise NoteSignatureError(f"the cosignature by {sig.name}+{sig.key_id:08x} is {len(sig.signature)} bytes, want 8 + 64")
    timestamp = int.from_bytes(sig.signature[:8], "big")
    if not 0 < timestamp <= MAX_TIMESTAMP:
        raise NoteSignatureError(f"the cosignature by {sig.name}+{sig.key_id:08x} has timestamp {timestamp}, outside 1 .. 2^63 - 1")
    return timestamp


def verify_signature(key: NoteKey, text: str, sig: NoteSignature) -> int | None:
    """Check one signature line by `key`; return its timestamp (cosignatures) or None; else NoteSignatureError."""
    if (sig.name, sig.key_id) != (key.name, key.key_id):
        raise NoteSignatureError(f"the signature by {sig.name}+{sig.key_id:08x} is not by {key}")
    try:
        if key.kind == SIGNATURE_ED25519:
            key.public.verify(sig.signature, text.encode())
            return None
        timestamp = cosignature_timestamp(sig)
        key.public.verify(sig.signature[8:], cosignature_message(text, timestamp))
        return timestamp
    except InvalidSignature as e:
        if isinstance(e, NoteSignatureError):
            raise
        raise NoteSignatureError(f"the signature by {key} does not verify") from e


def open_note(data: bytes, keys: Iterable[NoteKey]) -> tuple[Note, tuple[VerifiedSignature, ...]]:
    """Parse a note and verify the signatures of the keys given (signed-note's rules).

    Lines by unknown keys are ignored; a known key's failing signature rejects the whole
    note; a note with no verified signature is rejected.  Two keys of the same name and
    key ID make the key list ambiguous and are refused.
    """
    by_id: dict[tuple[str, int], NoteKey] = {}
    for key in keys:
        ident = (key.name, key.key_id)
        if ident in by_id and by_id[ident] != key:
            raise NoteSignatureError(f"two trusted keys share the name and key id {key}")
        by_id[ident] = key
    note = parse_note(data)
    verified = []
    for sig in note.signatures:
        key = by_id.get((sig.name, sig.key_id))
        if key is not None:
            verified.append(VerifiedSignature(key, verify_signature(key, note.text, sig)))
    if not verified:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in note.signatures)
        raise NoteSignatureError(f"no signature by a trusted key (the note is signed by {names})")
    return note, tuple(verified)


# --- checkpoints ------------------------------------------------------------------------------


def checkpoint_text(cp: Checkpoint) -> str:
    """The three lines of tlog-checkpoint: origin, decimal size, base64 root."""
    _check_checkpoint(cp)
    return f"{cp.origin}\n{cp.size}\n{_b64(cp.root)}\n"


def parse_checkpoint_text(text: str) -> Checkpoint:
    """Read a checkpoint body; MalformedCheckpoint for anything but exactly three well-formed lines."""
    if not text.endswith("\n"):
        raise MalformedCheckpoint("a checkpoint's text ends in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpoint(f"a checkpoint has three lines (origin, size, root), got {len(lines)}")
    if len(lines) > 3:
        raise MalformedCheckpoint(f"extension lines are refused: line 4 is {_clip(lines[3])}")
    origin, size, root = lines
    if not origin:
        raise MalformedCheckpoint("the origin line is empty")
    if not _DECIMAL.fullmatch(size) or int(size) > MAX_TREE_SIZE:
        raise MalformedCheckpoint(f"the tree size {_clip(size)} is not a decimal below 2^64 without leading zeroes")
    try:
        digest = _unb64(root, "root hash")
    except MalformedNote as e:
        raise MalformedCheckpoint(str(e)) from None
    if len(digest) != merkle.HASH_SIZE:
        raise MalformedCheckpoint(f"the root hash is {len(digest)} bytes, want {merkle.HASH_SIZE}")
    return Checkpoint(origin, int(size), Root(digest))


def sign_checkpoint(cp: Checkpoint, key: PrivateKey) -> bytes:
    """The checkpoint as a signed note, signed by `key` under the origin as key name."""
    text = checkpoint_text(cp)
    return note_bytes(Note(text, (sign_note(text, cp.origin, key),)))


def verify_checkpoint(data: bytes, log_key: NoteKey, witnesses: Sequence[NoteKey] = ()) -> VerifiedCheckpoint:
    """Check a (co)signed checkpoint: the log key's signature must verify, the text must be a
    checkpoint whose origin is the log key's name; return the witnesses' verified cosignatures.

    Raises MalformedNote / MalformedCheckpoint (shape) or NoteSignatureError (signatures).
    """
    if log_key.kind != SIGNATURE_ED25519:
        raise NoteSignatureError(f"the log key {log_key} is a cosignature key, not a note signing key")
    for w in witnesses:
        if w.kind != SIGNATURE_COSIGNATURE_V1:
            raise NoteSignatureError(f"witness key {w} is not a cosignature/v1 key (type 0x04)")
    note, verified = open_note(data, [log_key, *witnesses])
    if not any(v.key == log_key for v in verified):
        raise NoteSignatureError(f"the checkpoint is not signed by the log key {log_key}")
    cp = parse_checkpoint_text(note.text)
    if cp.origin != log_key.name:
        raise MalformedCheckpoint(f"the checkpoint's origin {_clip(cp.origin)} is not the log key's name {_clip(log_key.name)}")
    return VerifiedCheckpoint(cp, note, tuple(v for v in verified if v.key != log_key))


def add_signatures(data: bytes, lines: bytes) -> bytes:
    """A note with more signature lines (a witness's add-checkpoint answer) appended; both must parse."""
    note, extra = parse_note(data), parse_note(b"x\n\n" + lines)
    return note_bytes(parse_note(note_bytes(Note(note.text, note.signatures + extra.signatures))))


# --- the node's side --------------------------------------------------------------------------


def chain_origin(chain_id: str, genesis_hash: bytes) -> str:
    """``coopchain/<chain id>/<genesis hash>``: the log identity of one chain (module docstring)."""
    origin = f"coopchain/{chain_id}/{genesis_hash.hex()}"
    _check_name(origin, f"chain id {chain_id!r}: the origin")
    return origin


def ledger_origin(ledger) -> str:
    from coopchain.chain.block import block_hash

    return chain_origin(ledger.config.chain_id, block_hash(ledger.genesis))


def node_note_key(ledger) -> NoteKey:
    """The node's checkpoint key: the genesis node key, named by the chain's origin."""
    public = PublicKey.from_text(ledger.config.node)
    if public.scheme != ED25519:
        raise NoteSignatureError(f"the node key is {public.scheme}; signed-note checkpoints need an Ed25519 node key")
    return note_key(ledger_origin(ledger), public)


def ledger_checkpoint(ledger, size: int | None = None) -> Checkpoint:
    """The checkpoint of the ledger's block tree at `size` blocks (default: up to the head)."""
    history = ledger.history()
    size = history.size if size is None else size
    if not 0 < size <= history.size:
        raise ChainError(f"a checkpoint covers 1 .. {history.size} blocks, not {size}")
    return Checkpoint(ledger_origin(ledger), size, history.root_at(size))


def sign_ledger_checkpoint(ledger, key: PrivateKey, size: int | None = None) -> bytes:
    if key.public_key.to_text() != ledger.config.node:
        raise NoteSignatureError(f"this key ({key.public_key}) is not the chain's node key ({ledger.config.node})")
    node_note_key(ledger)  # refuses a P-256 node key with the reason
    return sign_checkpoint(ledger_checkpoint(ledger, size), key)


def head_proofs(ledger, height: int, size: int) -> dict:
    """What ties the header at `height` to the checkpoint of `size` blocks (`verify_head_in_checkpoint`)."""
    history = ledger.history()
    return {
        "inclusion": merkle.inclusion_proof_json(height, size, history.inclusion_proof(height, size)),
        "consistency": merkle.consistency_proof_json(height, size, history.consistency_proof(height, size)),
    }


def verify_head_in_checkpoint(head_hash: Hash32, height: int, history_root: Root, cp: Checkpoint, proofs: object) -> None:
    """Return if the header (hash, height, history root) is block `height` of the checkpoint's tree, with
    the blocks before it exactly those its history root commits to; else InvalidProof.

    Requires height < cp.size.  The inclusion proof puts the head's hash at leaf `height`; the
    consistency proof from (height, history_root) to (cp.size, cp.root) fixes every leaf below it.
    """
    if not isinstance(proofs, dict) or set(proofs) != {"inclusion", "consistency"}:
        raise InvalidProof("the checkpoint proofs are an object with 'inclusion' and 'consistency'")
    if not height < cp.size:
        raise InvalidProof(f"the checkpoint covers blocks 0 .. {cp.size - 1}, not the head at {height}")
    inc = merkle.parse_inclusion_proof_json(proofs["inclusion"])
    con = merkle.parse_consistency_proof_json(proofs["consistency"])
    if (inc.leaf_index, inc.tree_size) != (height, cp.size):
        raise InvalidProof(f"inclusion proves leaf {inc.leaf_index} of {inc.tree_size}, need {height} of {cp.size}")
    if (con.first, con.second) != (height, cp.size):
        raise InvalidProof(f"consistency from {con.first} to {con.second}, need {height} to {cp.size}")
    merkle.verify_inclusion(merkle.leaf_hash(head_hash), height, cp.size, inc.path, cp.root)
    merkle.verify_consistency(height, cp.size, history_root, cp.root, con.path)


# --- helpers ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    """Strict RFC 4648 §4 base64: the alphabet, padding, and the canonical encoding only."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedNote(f"{what}: {_clip(text)} is not base64") from None
    if not text or _b64(raw) != text:  # non-zero padding bits: another text for the same bytes
        raise MalformedNote(f"{what}: {_clip(text)} is not canonical base64")
    return raw


def _check_name(name: object, what: str) -> None:
    """signed-note: key names are non-empty, without Unicode spaces or '+'."""
    if not isinstance(name, str) or not name or "+" in name or any(ch.isspace() or ch < " " for ch in name):
        raise MalformedNote(f"{what} {_clip(name)} must be non-empty, without spaces, control characters or '+'")


def _check_text(text: str) -> None:
    # signed-note: the text ends in a newline and may hold empty lines (the signatures follow the last one)
    if not isinstance(text, str) or not text.endswith("\n") or any(ch < " " and ch != "\n" for ch in text):
        raise MalformedNote("a note text ends in a newline and holds no control characters but newlines")


def _check_checkpoint(cp: Checkpoint) -> None:
    if not isinstance(cp.origin, str) or not cp.origin or "\n" in cp.origin or any(ch < " " for ch in cp.origin):
        raise MalformedCheckpoint(f"origin {_clip(cp.origin)} must be one non-empty line")
    if not isinstance(cp.size, int) or isinstance(cp.size, bool) or not 0 <= cp.size <= MAX_TREE_SIZE:
        raise MalformedCheckpoint(f"tree size {cp.size!r} must be an integer in 0 .. 2^64 - 1")
    if not isinstance(cp.root, bytes) or len(cp.root) != merkle.HASH_SIZE:
        raise MalformedCheckpoint("the root hash must be 32 bytes")


def _clip(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bundle_checkpoint(ledger, head_height: int, data: bytes) -> dict:
    """The bundle's ``checkpoint`` section: a (co)signed checkpoint of this ledger that covers the
    head at `head_height`, with the proofs that tie that head to it.

    Refuses a note the node did not sign, a checkpoint of another chain or another tree, and
    one older than the head (cosign a newer one).
    """
    verified = verify_checkpoint(data, node_note_key(ledger))
    cp = verified.checkpoint
    if cp.size > ledger.history().size or ledger.history().root_at(cp.size) != cp.root:
        raise ChainError(f"the checkpoint (size {cp.size}) is not of this ledger's block tree")
    if cp.size <= head_height:
        raise ChainError(f"the checkpoint covers blocks 0 .. {cp.size - 1}, older than the head {head_height}: cosign a newer one")
    return {"note": data.decode(), "proofs": head_proofs(ledger, head_height, cp.size)}


class CheckpointMismatch(ChainError):
    """A stored ledger that does not hold a checkpoint it signed: truncated below it, or rewritten."""


def check_ledger_holds(store, cp: Checkpoint) -> int:
    """Return the stored ledger's block count if its first `cp.size` blocks are the checkpoint's tree; else
    CheckpointMismatch saying whether the ledger was cut short below it or its blocks differ.

    Block hashes are recomputed from the stored header bytes (SHA-256, as `block_hash`) and folded
    into a compact range, streaming: memory stays flat with the length of the chain, and the stored
    history rows are not trusted.  `store` is a chain.store.SqlStore (its `block_rows`).
    """
    frontier, count = merkle.Frontier(), 0
    for height, _, header in store.block_rows(0):
        if height != count:
            raise CheckpointMismatch(f"block {count} is missing from the ledger (the next stored block is {height}); "
                                     f"the checkpoint covers blocks 0 .. {cp.size - 1}")
        if count < cp.size:
            frontier.append(merkle.leaf_hash(hashlib.sha256(header).digest()))
        count += 1
    if count < cp.size:
        raise CheckpointMismatch(f"truncated: the ledger holds {count} blocks, 0 .. {count - 1}, below a checkpoint of {cp.size} it signed")
    if frontier.root() != cp.root:
        raise CheckpointMismatch(f"rewritten: the ledger's first {cp.size} blocks have root {frontier.root().hex()}, "
                                 f"the checkpoint it signed has {cp.root.hex()}")
    return count
