"""Checkpoints and signed notes: published known answers byte for byte, corrupted notes refused,
and the ledger's checkpoint checked against a naive RFC 6962 tree of its block hashes."""

import base64
import hashlib
import json
from pathlib import Path

import pytest
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from coopchain.chain import merkle
from coopchain.chain.block import block_hash
from coopchain.chain.checkpoint import (
    MAX_NOTE_BYTES, Checkpoint, MalformedCheckpoint, MalformedNote, Note, NoteSignature, NoteSignatureError, checkpoint_text,
    cosign, cosignature_message, cosignature_timestamp, head_proofs, ledger_checkpoint, node_note_key, note_bytes, open_note,
    parse_checkpoint_text, parse_note, parse_vkey, sign_checkpoint, sign_ledger_checkpoint, sign_note, verify_checkpoint,
    verify_head_in_checkpoint,
)
from coopchain.chain.errors import InvalidProof
from coopchain.chain.keys import PrivateKey, PublicKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.transaction import sign_transaction

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "data" / "vectors" / "signed_note.json").read_text())
GO, C2SP, CP, COSIG_MSG, FORMATS = (VECTORS[k] for k in ("go_sumdb_note", "c2sp_signed_note", "c2sp_checkpoint", "c2sp_cosignature_message", "formats_cosigv1"))
PETER_NOTE = (GO["text"] + "\n" + GO["peter_signature_line"]).encode()
BOTH_NOTE = (GO["text"] + "\n" + GO["peter_signature_line"] + GO["enoch_signature_line"]).encode()


def spec_key_id(name: str, kind: int, public: bytes) -> int:
    """signed-note: SHA-256(key name || 0x0A || signature type || public key)[:4], written out here."""
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4], "big")


def peter_signer() -> PrivateKey:
    # Go's private key text: PRIVATE+KEY+<name>+<key id>+base64(0x01 || 32-byte seed)
    raw = base64.b64decode(GO["peter_skey"].split("+", 4)[4])
    assert raw[0] == 0x01
    return PrivateKey.from_private_bytes("ed25519", raw[1:])


# --- known answers --------------------------------------------------------------------------


def test_go_signature_is_reproduced_byte_for_byte():
    assert sign_note(GO["text"], "PeterNeumann", peter_signer()).line() == GO["peter_signature_line"]


def test_go_signed_note_is_reproduced_byte_for_byte():
    note = Note(GO["text"], (sign_note(GO["text"], "PeterNeumann", peter_signer()),))
    assert note_bytes(note) == PETER_NOTE


@pytest.mark.parametrize("vkey", [GO["peter_vkey"], GO["enoch_vkey"], C2SP["vkey"], FORMATS["ed25519_vkey"]])
def test_ed25519_vkeys_have_the_spec_key_id(vkey):
    key = parse_vkey(vkey)
    name, hex_id, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert (key.kind, key.key_id, key.public.raw) == (0x01, int(hex_id, 16), raw[1:])
    assert key.key_id == spec_key_id(name, 0x01, raw[1:])
    assert key.vkey() == vkey


def test_cosignature_vkey_has_the_type_4_key_id():
    key = parse_vkey(FORMATS["cosignature_vkey"])
    assert (key.kind, key.key_id) == (0x04, 0xDA77ADE7)
    assert key.key_id == spec_key_id("remora.n621.de", 0x04, key.public.raw)


def test_go_skey_matches_its_vkey():
    assert peter_signer().public_key == parse_vkey(GO["peter_vkey"]).public


def test_go_note_opens_with_both_keys():
    note, verified = open_note(BOTH_NOTE, [parse_vkey(GO["peter_vkey"]), parse_vkey(GO["enoch_vkey"])])
    assert note.text == GO["text"]
    assert [v.key.name for v in verified] == ["PeterNeumann", "EnochRoot"]


def test_an_unknown_signature_is_ignored():
    _, verified = open_note(BOTH_NOTE, [parse_vkey(GO["peter_vkey"])])
    assert [v.key.name for v in verified] == ["PeterNeumann"]


def test_a_note_without_a_trusted_signature_is_refused():
    with pytest.raises(NoteSignatureError, match="no signature by a trusted key"):
        open_note(BOTH_NOTE, [])


def test_c2sp_example_note_verifies():
    note, verified = open_note(C2SP["note"].encode(), [parse_vkey(C2SP["vkey"])])
    assert note.text == "This is an example message.\n" and len(verified) == 1


def test_c2sp_checkpoint_text_parses():
    note = parse_note(CP["note"].encode())
    cp = parse_checkpoint_text(note.text)
    assert cp == Checkpoint(CP["origin_line"], CP["size"], base64.b64decode(CP["root_base64"]))
    assert checkpoint_text(cp) == note.text
    assert (note.signatures[0].name, len(note.signatures[0].signature)) == (CP["origin_line"], 64)


def test_cosignature_message_is_the_spec_example():
    assert cosignature_message(COSIG_MSG["checkpoint_text"], COSIG_MSG["timestamp"]) == COSIG_MSG["message"].encode()


def test_cosignature_timestamp_known_answer():
    raw = base64.b64decode(FORMATS["timestamped_signature_base64"])
    sig = NoteSignature("w", int.from_bytes(raw[:4], "big"), raw[4:])
    assert cosignature_timestamp(sig) == FORMATS["timestamp"]


def test_a_plain_signature_is_not_a_cosignature():
    raw = base64.b64decode(FORMATS["not_a_cosignature_base64"])
    with pytest.raises(NoteSignatureError, match="want 8 \\+ 64"):
        cosignature_timestamp(NoteSignature("w", int.from_bytes(raw[:4], "big"), raw[4:]))


def test_cosignature_verifies_under_pycryptodome_on_the_spec_message():
    key = PrivateKey.generate("ed25519")
    sig = cosign(COSIG_MSG["checkpoint_text"], "witness.example/w1", key, COSIG_MSG["timestamp"])
    assert sig.signature[:8] == COSIG_MSG["timestamp"].to_bytes(8, "big")
    assert sig.key_id == spec_key_id("witness.example/w1", 0x04, key.public_key.raw)
    public = ECC.EccKey(curve="Ed25519", point=eddsa.import_public_key(key.public_key.raw).pointQ)
    eddsa.new(public, "rfc8032").verify(COSIG_MSG["message"].encode(), sig.signature[8:])  # raises if not


# --- corrupted notes (Go's TestOpen and TestNewVerifier cases, and ours) ---------------------


@pytest.mark.parametrize("message", [
    GO["text"],
    GO["text"] + "\n",
    GO["text"] + "\n" + GO["peter_signature_line"][:-1],
    "\x01" + GO["text"] + "\n" + GO["peter_signature_line"],
    GO["text"] + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
    GO["text"] + "\n" + GO["peter_signature_line"] + "Unexpected line.\n",
    GO["text"] + "\n" + "- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
    GO["text"] + "\n" + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n",
    GO["text"] + "\n" + "\u2014 a+b x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
    GO["text"] + "\n" + "\u2014 PeterNeumann AAAA\n",
    GO["text"] + "\n" + GO["peter_signature_line"] + GO["peter_signature_line"],
])
def test_malformed_notes_are_refused(message):
    with pytest.raises(MalformedNote):
        open_note(message.encode(), [parse_vkey(GO["peter_vkey"])])


def test_a_note_that_is_not_utf8_is_refused():
    with pytest.raises(MalformedNote, match="not UTF-8"):
        parse_note(b"\xff" + PETER_NOTE)


def test_too_many_signatures_are_refused():
    with pytest.raises(MalformedNote, match="more than"):
        parse_note((GO["text"] + "\n" + GO["peter_signature_line"] * 101).encode())


def test_an_over_long_note_is_refused():
    with pytest.raises(MalformedNote, match="more than the"):
        parse_note(b"x" * MAX_NOTE_BYTES + b"\n\n" + GO["peter_signature_line"].encode())


def test_a_corrupted_signature_by_a_known_key_rejects_the_note():
    line = GO["peter_signature_line"]
    corrupted = (GO["text"] + "\n" + line[:60] + "ABCD" + line[60:]).encode()
    with pytest.raises(NoteSignatureError, match="does not verify"):
        open_note(corrupted, [parse_vkey(GO["peter_vkey"])])


@pytest.mark.parametrize("position", range(len(GO["text"])))
def test_every_changed_text_byte_fails_the_signature(position):
    text = bytearray(PETER_NOTE)
    text[position] ^= 0x01
    with pytest.raises((NoteSignatureError, MalformedNote)):
        open_note(bytes(text), [parse_vkey(GO["peter_vkey"])])


def test_every_mangled_vkey_is_refused():
    vkey = GO["peter_vkey"]
    bad = [vkey[i:j] for i in range(len(vkey) + 1) for j in range(i + 1, len(vkey) + 1) if (i, j) != (0, len(vkey))]
    bad += [vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1:] for i in range(len(vkey))]
    bad += GO["bad_vkeys"]
    for text in bad:
        with pytest.raises(MalformedNote):
            parse_vkey(text)


# --- checkpoint text ------------------------------------------------------------------------

ROOT_B64 = CP["root_base64"]


@pytest.mark.parametrize("text, why", [
    (f"example.com/log\n7\n{ROOT_B64}\nextension\n", "extension lines"),
    (f"example.com/log\n07\n{ROOT_B64}\n", "leading zeroes"),
    (f"example.com/log\n{2**64}\n{ROOT_B64}\n", "below 2"),
    (f"example.com/log\n-1\n{ROOT_B64}\n", "decimal"),
    (f"example.com/log\n7\n{ROOT_B64[:-1]}!\n", "not base64"),
    (f"example.com/log\n7\n{ROOT_B64[:-1]}\n", "not base64"),
    (f"example.com/log\n7\n {ROOT_B64}\n", "not base64"),
    ("example.com/log\n7\n" + base64.b64encode(bytes(31)).decode() + "\n", "31 bytes"),
    (f"\n7\n{ROOT_B64}\n", "empty"),
    (f"example.com/log\n7\n{ROOT_B64}", "newline"),
    ("example.com/log\n7\n", "three lines"),
])
def test_malformed_checkpoints_are_refused(text, why):
    with pytest.raises(MalformedCheckpoint, match=why):
        parse_checkpoint_text(text)


def test_padding_bits_make_base64_non_canonical():
    # 'I' and 'J' differ only in the two padding bits of a 32-byte hash's last character
    assert base64.b64decode(ROOT_B64[:-2] + "J=") == base64.b64decode(ROOT_B64)
    with pytest.raises(MalformedCheckpoint, match="canonical"):
        parse_checkpoint_text(f"example.com/log\n7\n{ROOT_B64[:-2]}J=\n")


def test_a_checkpoint_signed_by_another_key_under_the_origin_is_refused():
    cp = Checkpoint("example.com/log", 3, hashlib.sha256(b"x").digest())
    right, wrong = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    key = node_key_of("example.com/log", right)
    verify_checkpoint(sign_checkpoint(cp, right), key)
    with pytest.raises(NoteSignatureError):
        verify_checkpoint(sign_checkpoint(cp, wrong), key)


def test_a_checkpoint_whose_origin_is_not_the_key_name_is_refused():
    key = PrivateKey.generate("ed25519")
    text = checkpoint_text(Checkpoint("example.com/other", 3, hashlib.sha256(b"x").digest()))
    resigned = note_bytes(Note(text, (sign_note(text, "example.com/log", key),)))  # a valid signature by the log's key
    with pytest.raises(MalformedCheckpoint, match="origin"):
        verify_checkpoint(resigned, node_key_of("example.com/log", key))


def node_key_of(name, key):
    from coopchain.chain.checkpoint import note_key

    return note_key(name, key.public_key)


# --- the ledger's checkpoint ----------------------------------------------------------------


def naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 as written: split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


@pytest.fixture(scope="module")
def growing(tmp_path_factory):
    """A ledger grown block by block, with the signed checkpoint after each block."""
    folder = tmp_path_factory.mktemp("checkpoint")
    node, user = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    ledger = Ledger.create(f"sqlite:///{folder}/ledger.db", node, "checkpoint-test")
    notes = [sign_ledger_checkpoint(ledger, node)]
    for i in range(12):
        ledger.commit([sign_transaction(user, "checkpoint-test", i, "record.put", {"key": f"lot/{i}", "value": {"t": str(i)}})])
        notes.append(sign_ledger_checkpoint(ledger, node))
    yield ledger, node, notes
    ledger.close()


def test_the_checkpoint_is_the_tree_over_every_block_hash_up_to_the_head(growing):
    ledger, _, notes = growing
    hashes = [block_hash(ledger.header(h)) for h in range(ledger.height() + 1)]
    for size, note in enumerate(notes, 1):
        cp = verify_checkpoint(note, node_note_key(ledger)).checkpoint
        assert (cp.size, cp.root) == (size, naive_mth(hashes[:size]))


def test_the_origin_names_chain_and_genesis(growing):
    ledger, _, notes = growing
    origin = parse_checkpoint_text(parse_note(notes[0]).text).origin
    assert origin == "coopchain/checkpoint-test/" + block_hash(ledger.genesis).hex()


def test_the_node_key_text_is_the_genesis_node_key(growing):
    ledger, node, _ = growing
    assert node_note_key(ledger).public == PublicKey.from_text(ledger.config.node) == node.public_key


def test_checkpoints_are_consistent_across_growth(growing):
    ledger, _, notes = growing
    cps = [verify_checkpoint(n, node_note_key(ledger)).checkpoint for n in notes]
    history = ledger.history()
    for a in cps:
        for b in cps[cps.index(a):]:
            merkle.verify_consistency(a.size, b.size, a.root, b.root, history.consistency_proof(a.size, b.size))


def test_a_checkpoint_is_not_consistent_with_a_shuffled_history(growing):
    ledger, _, notes = growing
    hashes = [block_hash(ledger.header(h)) for h in range(ledger.height() + 1)]
    small = verify_checkpoint(notes[4], node_note_key(ledger)).checkpoint
    swapped = hashes[:2] + [hashes[3], hashes[2]] + hashes[4:]
    proof = merkle.MemoryTree(merkle.leaf_hash(h) for h in swapped).consistency_proof(small.size, len(swapped))
    with pytest.raises(InvalidProof):
        merkle.verify_consistency(small.size, len(swapped), small.root, naive_mth(swapped), proof)


def test_every_head_is_in_every_later_checkpoint(growing):
    ledger, _, notes = growing
    for height in range(ledger.height() + 1):
        head = ledger.header(height)
        for note in notes[height:]:
            cp = verify_checkpoint(note, node_note_key(ledger)).checkpoint
            verify_head_in_checkpoint(block_hash(head), height, head.history_root, cp, head_proofs(ledger, height, cp.size))


def test_a_head_with_another_history_root_is_not_in_the_checkpoint(growing):
    ledger, _, notes = growing
    head, cp = ledger.header(5), verify_checkpoint(notes[-1], node_note_key(ledger)).checkpoint
    proofs = head_proofs(ledger, 5, cp.size)
    with pytest.raises(InvalidProof):
        verify_head_in_checkpoint(block_hash(head), 5, ledger.header(4).history_root, cp, proofs)
    with pytest.raises(InvalidProof):
        verify_head_in_checkpoint(block_hash(ledger.header(4)), 5, head.history_root, cp, proofs)


def test_a_checkpoint_older_than_the_head_does_not_cover_it(growing):
    ledger, _, notes = growing
    cp = verify_checkpoint(notes[3], node_note_key(ledger)).checkpoint  # blocks 0 .. 3
    with pytest.raises(InvalidProof, match="not the head at 5"):
        verify_head_in_checkpoint(block_hash(ledger.header(5)), 5, ledger.header(5).history_root, cp, head_proofs(ledger, 3, 4))


def test_a_p256_node_cannot_sign_checkpoints(tmp_path):
    node = PrivateKey.generate("p256")
    ledger = Ledger.create(f"sqlite:///{tmp_path}/p.db", node, "p256-chain")
    try:
        with pytest.raises(NoteSignatureError, match="Ed25519 node key"):
            sign_ledger_checkpoint(ledger, node)
    finally:
        ledger.close()


def test_ledger_checkpoint_sizes_outside_the_chain_are_refused(growing):
    ledger, _, _ = growing
    from coopchain.chain.errors import ChainError

    for size in (0, ledger.height() + 2):
        with pytest.raises(ChainError, match="a checkpoint covers"):
            ledger_checkpoint(ledger, size)


def _mutations(data: bytes, count: int, seed: int):
    """Random byte flips, insertions, deletions and truncations (fixed seed: the same cases every run)."""
    import random

    rng = random.Random(seed)
    for _ in range(count):
        b = bytearray(data)
        kind = rng.randrange(4)
        i = rng.randrange(len(b))
        if kind == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            b[i:i] = bytes([rng.randrange(256)])
        elif kind == 2:
            del b[i]
        else:
            b = b[:i]
        yield bytes(b)


def test_mutated_cosigned_checkpoints_are_refused_with_a_typed_error(growing):
    """Every mutation is refused as MalformedNote or NoteSignatureError, or (a change to an unknown
    line's bytes only) still verifies with the same checkpoint; never another exception."""
    ledger, _, notes = growing
    from coopchain.chain.checkpoint import SIGNATURE_COSIGNATURE_V1, note_key

    witness = PrivateKey.generate("ed25519")
    wkey = note_key("w.example", witness.public_key, SIGNATURE_COSIGNATURE_V1)
    text = parse_note(notes[-1]).text
    data = notes[-1] + cosign(text, "w.example", witness, 1_700_000_000).line().encode()
    honest = verify_checkpoint(data, node_note_key(ledger), [wkey]).checkpoint
    accepted = 0
    for bad in _mutations(data, 3000, seed=14):
        try:
            got = verify_checkpoint(bad, node_note_key(ledger), [wkey])
        except (MalformedNote, NoteSignatureError):
            continue
        # e.g. the cosignature line cut off whole, or its key name changed (an unknown key is ignored)
        assert got.checkpoint == honest and [c.key for c in got.cosignatures] in ([], [wkey])
        accepted += 1
    assert accepted < 100  # out of 3,000: almost every change is refused


def test_a_note_text_may_hold_empty_lines():
    """signed-note's own example text has an empty line; the signatures follow the last one."""
    text = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u00e8 subito sera.\n"
    key = PrivateKey.generate("ed25519")
    data = note_bytes(Note(text, (sign_note(text, "quasimodo.example/salvatore", key),)))
    note, verified = open_note(data, [node_key_of("quasimodo.example/salvatore", key)])
    assert note.text == text and len(verified) == 1


def test_a_postgresql_ledger_has_the_same_checkpoint_tree(postgres_db):  # noqa: F811  (tests/conftest.py's fixture)
    """The multi-worker deployment: the checkpoint and check_ledger_holds read PostgreSQL the same way."""
    from coopchain.chain.checkpoint import CheckpointMismatch, check_ledger_holds

    node, user = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    ledger = Ledger.create(postgres_db, node, "pg-checkpoint")
    try:
        for i in range(5):
            ledger.commit([sign_transaction(user, "pg-checkpoint", i, "record.put", {"key": f"k{i}", "value": {}})])
        cp = verify_checkpoint(sign_ledger_checkpoint(ledger, node), node_note_key(ledger)).checkpoint
        hashes = [block_hash(ledger.header(h)) for h in range(6)]
        assert (cp.size, cp.root) == (6, naive_mth(hashes))
        assert check_ledger_holds(ledger.store, cp) == 6
        with pytest.raises(CheckpointMismatch, match="truncated"):
            check_ledger_holds(ledger.store, Checkpoint(cp.origin, 7, naive_mth(hashes + [bytes(32)])))
        with pytest.raises(CheckpointMismatch, match="rewritten"):
            check_ledger_holds(ledger.store, Checkpoint(cp.origin, 3, naive_mth(hashes[:2] + [bytes(32)])))
    finally:
        ledger.close()
