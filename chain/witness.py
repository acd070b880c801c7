"""A checkpoint witness (SPEC §10; C2SP tlog-witness ``add-checkpoint``, tlog-cosignature).

A witness follows logs, each named by its origin and pinned to its Ed25519 note key.  For
each origin it keeps the last checkpoint it cosigned, and it cosigns a new one only when
that one provably extends it: the submitter names the size it believes the witness holds
("old size") and sends an RFC 9162 consistency proof from there.  The answers, with the
status codes of tlog-witness:

==============================================================  ======
the request body or the checkpoint is malformed; old > new        400
no signature by the origin's key, or that key's signature fails   403
the checkpoint's origin is not followed                           404
the old size is not the size the witness holds (body: that size)  409
the proof does not verify, a size-0 tree with another root, the
same size with another root, or a proof sent with old size 0      422
==============================================================  ======

Check and persist are one SQLite transaction (``BEGIN IMMEDIATE``: one writer at a time),
and the insert itself is a compare-and-swap on the stored size, so two concurrent
requests can never roll the witness back (tlog-witness's race A/B).  The cosignature is
made inside the transaction, before the commit, and returned only after it: a crash
anywhere before the commit leaves the old state and no cosignature in anyone's hands.

The store is its own SQLite file, separate from any ledger.  Its rows are only ever
inserted: the cosigned checkpoints of an origin form a growing list whose largest size is
the current state, and a validly signed checkpoint that was refused (a fork or a rollback
shown to this witness) is kept as evidence beside it.

The HTTP service around `Witness.add_checkpoint` (``POST /add-checkpoint``, ``GET
/<origin hash>/checkpoint``) is app/witness_server.py (`coopchain witness serve`).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from coopchain.chain import merkle
from coopchain.chain.checkpoint import (
    MAX_NOTE_BYTES, SIGNATURE_COSIGNATURE_V1, SIGNATURE_ED25519, Checkpoint, MalformedNote, Note, NoteKey, NoteSignatureError,
    cosign, note_bytes, note_key, parse_checkpoint_text, parse_note, parse_vkey, verify_checkpoint,
)
from coopchain.chain.errors import ChainError, InvalidProof, StorageError
from coopchain.chain.keys import ED25519, PrivateKey, PublicKey
from coopchain.chain.types import Hash32, Root

MAX_PROOF_LINES: Final = 63  # tlog-witness: "The client MUST NOT send more than 63 consistency proof lines"
MAX_REQUEST_BYTES: Final = MAX_NOTE_BYTES + 64 * (MAX_PROOF_LINES + 1)
MAX_STORED_SIZE: Final = 2**63 - 1  # an SQLite INTEGER
SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"  # the body type of a 409
REASONS: Final = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS witness (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    name TEXT NOT NULL,
    public_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    vkey TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT NOT NULL REFERENCES logs (origin),
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note BLOB NOT NULL,
    cosigned_at INTEGER NOT NULL,
    PRIMARY KEY (origin, size)
);
CREATE TABLE IF NOT EXISTS evidence (
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note BLOB NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS cosigned_no_update BEFORE UPDATE ON cosigned BEGIN SELECT RAISE(ABORT, 'cosigned rows are never changed'); END;
CREATE TRIGGER IF NOT EXISTS cosigned_no_delete BEFORE DELETE ON cosigned BEGIN SELECT RAISE(ABORT, 'cosigned rows are never deleted'); END;
"""


class WitnessRefusal(ChainError):
    """A refused add-checkpoint request; `status` is its tlog-witness HTTP status code."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def reason(self) -> str:
        return REASONS[self.status]


class BadRequest(WitnessRefusal):
    status = 400


class UntrustedCheckpoint(WitnessRefusal):
    status = 403


class UnknownOrigin(WitnessRefusal):
    status = 404


class Conflict(WitnessRefusal):
    """The old size is not the size held; `held` is that size (the 409 body)."""

    status = 409

    def __init__(self, message: str, held: int) -> None:
        super().__init__(message)
        self.held = held

    def body(self) -> bytes:
        return f"{self.held}\n".encode()


class BadProof(WitnessRefusal):
    status = 422


@dataclass(frozen=True)
class AddCheckpointRequest:
    """The body of POST add-checkpoint: old size, consistency proof, checkpoint note."""

    old_size: int
    proof: tuple[Hash32, ...]
    checkpoint: bytes


@dataclass(frozen=True)
class Cosigned:
    origin: str
    size: int
    root: Root
    note: bytes  # the checkpoint with the log's signature and this witness's cosignature


# --- the request format -----------------------------------------------------------------------


def add_checkpoint_request(old_size: int, proof: list[bytes] | tuple[bytes, ...], checkpoint: bytes) -> bytes:
    """``old <size>\\n``, one base64 hash per line, a blank line, the checkpoint note."""
    import base64

    lines = [f"old {old_size}\n"] + [base64.b64encode(h).decode() + "\n" for h in proof]
    return "".join(lines).encode() + b"\n" + checkpoint


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Read an add-checkpoint body; BadRequest (400) with the reason when it is malformed."""
    import base64
    import binascii

    if not isinstance(body, bytes):
        raise BadRequest(f"the request body is bytes, got {type(body).__name__}")
    if len(body) > MAX_REQUEST_BYTES:
        raise BadRequest(f"the request is {len(body):,} bytes, more than the {MAX_REQUEST_BYTES:,} accepted")
    head, sep, checkpoint = body.partition(b"\n\n")  # the old and proof lines have no empty line
    if not sep:
        raise BadRequest("the request has no blank line between the old size and proof lines and the checkpoint")
    lines = head.split(b"\n")
    old = lines[0]
    if not old.startswith(b"old ") or not old[4:].isdigit() or (old[4:5] == b"0" and len(old) > 5) or len(old) > 24:
        raise BadRequest(f"the first line must be 'old <size>' in decimal without leading zeroes, got {old[:40]!r}")
    proof = []
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise BadRequest(f"{len(lines) - 1} consistency proof lines, more than {MAX_PROOF_LINES}")
    for n, line in enumerate(lines[1:], 1):
        try:
            digest = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"proof line {n} is not base64") from None
        if len(digest) != merkle.HASH_SIZE or base64.b64encode(digest) != line:
            raise BadRequest(f"proof line {n} is not the canonical base64 of a 32-byte hash")
        proof.append(Hash32(digest))
    return AddCheckpointRequest(int(old[4:]), tuple(proof), checkpoint)


# --- the store --------------------------------------------------------------------------------


class WitnessStore:
    """The witness's own SQLite file: its name and public key, the logs it follows, what it cosigned."""

    def __init__(self, path: str | os.PathLike[str], create: bool = False) -> None:
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except sqlite3.Error as e:
            raise StorageError(f"witness store {self.path}: cannot open it ({e})") from e
        if not create:  # before any pragma writes to it: another program's file is left untouched
            try:
                tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            except sqlite3.DatabaseError as e:
                self.db.close()
                raise StorageError(f"witness store {self.path}: not a coopchain witness store ({e})") from e
            if not {"witness", "logs", "cosigned", "evidence"} <= tables:
                self.db.close()
                raise StorageError(f"witness store {self.path}: not a coopchain witness store (no witness tables)")
        try:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")  # a cosignature handed out is on disk
            self.db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            raise StorageError(f"witness store {self.path}: cannot open it ({e})") from e

    @classmethod
    def create(cls, path: str | os.PathLike[str], name: str, public_key: PublicKey) -> WitnessStore:
        """A new store for the witness `name` (a signed-note key name) with this Ed25519 key."""
        note_key(name, public_key, SIGNATURE_COSIGNATURE_V1)  # checks the name and the key
        if Path(path).exists():
            raise StorageError(f"witness store {path}: the file exists; a store is made once")
        store = cls(path, create=True)
        with store._transaction() as cur:
            for statement in filter(str.strip, SCHEMA.split(";\n")):
                cur.execute(statement)
            cur.execute("INSERT INTO witness (one, name, public_key) VALUES (1, ?, ?)", (name, public_key.to_text()))
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> WitnessStore:
        if not Path(path).is_file():
            raise StorageError(f"witness store {path}: no such file (make one with `coopchain witness new`)")
        store = cls(path)
        store.identity()
        return store

    def close(self) -> None:
        self.db.close()

    def identity(self) -> NoteKey:
        """The witness's cosignature key (type 0x04) under its name."""
        row = self.db.execute("SELECT name, public_key FROM witness").fetchone()
        if row is None:
            raise StorageError(f"witness store {self.path}: holds no witness identity")
        return note_key(row[0], PublicKey.from_text(row[1]), SIGNATURE_COSIGNATURE_V1)

    def follow(self, origin: str, log_key: NoteKey) -> None:
        """Follow `origin`, whose checkpoints `log_key` (an Ed25519 note key named `origin`) signs."""
        if log_key.kind != SIGNATURE_ED25519 or log_key.name != origin:
            raise MalformedNote(f"the log key must be an Ed25519 note key (type 0x01) named {origin!r}, got {log_key.vkey()}")
        with self._transaction() as cur:
            known = cur.execute("SELECT vkey FROM logs WHERE origin = ?", (origin,)).fetchone()
            if known is not None:
                if known[0] == log_key.vkey():
                    return
                raise StorageError(f"origin {origin!r} is already followed with another key ({known[0]}); a log's key is pinned once")
            cur.execute("INSERT INTO logs (origin, vkey) VALUES (?, ?)", (origin, log_key.vkey()))

    def log_key(self, origin: str) -> NoteKey | None:
        row = self.db.execute("SELECT vkey FROM logs WHERE origin = ?", (origin,)).fetchone()
        return parse_vkey(row[0]) if row else None

    def latest(self, origin: str, cur=None) -> Cosigned | None:
        """The last checkpoint cosigned for `origin` (the largest size), or None."""
        row = (cur or self.db).execute(
            "SELECT size, root, note FROM cosigned WHERE origin = ? ORDER BY size DESC LIMIT 1", (origin,)).fetchone()
        return Cosigned(origin, row[0], Root(bytes(row[1])), bytes(row[2])) if row else None

    def evidence(self, origin: str) -> list[tuple[int, bytes, int, str]]:
        """Refused but validly signed checkpoints of `origin`: (size, note, status, reason)."""
        rows = self.db.execute("SELECT size, note, status, reason FROM evidence WHERE origin = ? ORDER BY rowid", (origin,))
        return [(size, bytes(note), status, reason) for size, note, status, reason in rows]

    def _transaction(self):
        return _Immediate(self.db)

    def _insert(self, cur, held: int, cosigned: Cosigned, now: int) -> None:
        """Compare-and-swap: insert only while the largest stored size is still `held`."""
        cur.execute(
            "INSERT INTO cosigned (origin, size, root, note, cosigned_at) SELECT ?, ?, ?, ?, ? "
            "WHERE (SELECT coalesce(max(size), 0) FROM cosigned WHERE origin = ?) = ?",
            (cosigned.origin, cosigned.size, cosigned.root, cosigned.note, now, cosigned.origin, held))
        if cur.rowcount != 1:
            size = self.latest(cosigned.origin, cur)
            raise Conflict(f"the witness's size for {cosigned.origin!r} changed during the request", size.size if size else 0)

    def _record_evidence(self, cp: Checkpoint, note: bytes, refusal: WitnessRefusal, now: int) -> None:
        with self._transaction() as cur:
            cur.execute("INSERT INTO evidence (origin, size, root, note, status, reason, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (cp.origin, min(cp.size, MAX_STORED_SIZE), cp.root, note, refusal.status, str(refusal), now))


class _Immediate:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception: SQLite's one-writer lock for the whole check."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db.cursor()

    def __exit__(self, kind, value, tb) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


# --- the witness ------------------------------------------------------------------------------


class Witness:
    """add-checkpoint over a `WitnessStore`, cosigning with the witness's Ed25519 key."""

    def __init__(self, store: WitnessStore, key: PrivateKey, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.identity = store.identity()
        if key.scheme != ED25519 or key.public_key != self.identity.public:
            raise NoteSignatureError(f"this key ({key.public_key}) is not the witness's key ({self.identity.public})")
        self.key = key
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> bytes:
        """Check a request and cosign: the response body, one cosignature line; else a WitnessRefusal."""
        request = parse_add_checkpoint(body)
        try:
            note = parse_note(request.checkpoint)
            cp = parse_checkpoint_text(note.text)
        except MalformedNote as e:
            raise BadRequest(f"the checkpoint: {e}") from e
        log_key = self.store.log_key(cp.origin)
        if log_key is None:
            raise UnknownOrigin(f"this witness does not follow origin {cp.origin!r}")
        try:
            verified = verify_checkpoint(request.checkpoint, log_key)
        except NoteSignatureError as e:
            raise UntrustedCheckpoint(str(e)) from e
        except MalformedNote as e:
            raise BadRequest(f"the checkpoint: {e}") from e
        if request.old_size > cp.size:
            raise BadRequest(f"old size {request.old_size} is larger than the checkpoint's size {cp.size}")
        if cp.size > MAX_STORED_SIZE:
            raise BadRequest(f"tree size {cp.size} is beyond what this witness stores (2^63 - 1)")
        now = int(self.clock())
        try:
            return self._check_and_cosign(request, cp, verified.note, log_key, now)
        except BadProof as refusal:
            # Signed by the log and inconsistent with what it signed before: proof of a fork or a
            # rollback, kept.  (A 409 is kept out: an honest client that is merely behind gets one.)
            self.store._record_evidence(cp, request.checkpoint, refusal, now)
            raise

    def _check_and_cosign(self, request: AddCheckpointRequest, cp: Checkpoint, note: Note, log_key: NoteKey, now: int) -> bytes:
        if cp.size == 0 and cp.root != merkle.empty_root():
            raise BadProof("a checkpoint of size 0 must carry the empty tree's root, SHA-256('')")
        if request.old_size == 0 and request.proof:
            raise BadProof("with old size 0 the consistency proof must be empty: every tree extends the empty one")
        with self.store._transaction() as cur:
            held = self.store.latest(cp.origin, cur)
            held_size = held.size if held else 0
            if request.old_size != held_size:
                raise Conflict(f"old size {request.old_size}, but this witness holds size {held_size} for {cp.origin!r}", held_size)
            if held is not None:
                try:
                    merkle.verify_consistency(held.size, cp.size, held.root, cp.root, request.proof)
                except InvalidProof as e:
                    what = "another root at the size held" if cp.size == held.size else "the consistency proof does not verify"
                    raise BadProof(f"{what}: {e}") from e
            signature = cosign(note.text, self.identity.name, self.key, now)
            log_signature = next(s for s in note.signatures if (s.name, s.key_id) == (log_key.name, log_key.key_id))
            cosigned = Cosigned(cp.origin, cp.size, cp.root, note_bytes(Note(note.text, (log_signature, signature))))
            if held is None or cp.size > held.size:
                self.store._insert(cur, held_size, cosigned, now)
            # same size, same root: the state is unchanged; the fresh cosignature only renews its time
        return signature.line().encode()

    def checkpoint(self, origin: str) -> bytes:
        """The last cosigned checkpoint of `origin` (tlog-witness's monitoring GET); UnknownOrigin if none."""
        held = self.store.latest(origin)
        if held is None:
            raise UnknownOrigin(f"this witness has cosigned no checkpoint of {origin!r}")
        return held.note


def origin_hash(origin: str) -> str:
    """The path segment of tlog-witness's monitoring URL: SHA-256 of the origin, lower-case hex."""
    return hashlib.sha256(origin.encode()).hexdigest()


# --- the node's side: asking a witness ----------------------------------------------------------


class WitnessAnswer(ChainError):
    """A witness refused the node's checkpoint; `status` is its HTTP status, the message its body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {REASONS.get(status, '')}: {message}".replace("  ", " "))
        self.status = status


def request_cosignature(history: merkle.NodeSource, checkpoint: bytes, submit: Callable[[bytes], tuple[int, bytes]], old: int = 0) -> bytes:
    """Ask one witness to cosign `checkpoint` (of the tree `history`), from the size `old` it is believed
    to hold; after a 409 ask once more from the size it answered.  Returns its signature lines.

    `submit(body) -> (status, answer body)` carries the request (over HTTP in app/).
    """
    size = parse_checkpoint_text(parse_note(checkpoint).text).size
    for attempt in range(2):
        if not 0 <= old <= size:
            raise WitnessAnswer(409, f"the witness holds size {old}, beyond this checkpoint's {size}: it has seen a longer (or another) ledger")
        proof = history.consistency_proof(old, size) if old else []
        status, answer = submit(add_checkpoint_request(old, proof, checkpoint))
        if status == 200:
            parse_note(b"x\n\n" + answer)  # signature lines, or MalformedNote
            return answer
        if status == 409 and attempt == 0:
            text = answer.decode("ascii", errors="replace")
            if not text.endswith("\n") or not text[:-1].isdigit() or len(text) > 21:
                raise WitnessAnswer(409, f"the answer is not a size: {text[:40]!r}")
            old = int(text[:-1])
            continue
        raise WitnessAnswer(status, answer.decode("utf-8", errors="replace")[:500])
    raise AssertionError("unreachable")
