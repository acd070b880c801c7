"""The witness (C2SP tlog-witness add-checkpoint): each refusal with its status code, a split view
refused, truncation and replays refused, check-and-persist atomic under races and under kill -9,
and the immudb lessons (falsified consistency proofs; a server identity that was not pinned)."""

import base64
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from coopchain.chain import merkle
from coopchain.chain.checkpoint import (
    Checkpoint, MalformedNote, Note, add_signatures, checkpoint_text, ledger_origin, node_note_key, note_bytes, note_key, parse_note,
    sign_checkpoint, sign_ledger_checkpoint, sign_note, verify_checkpoint,
)
from coopchain.chain.errors import StorageError
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.transaction import sign_transaction
from coopchain.chain.witness import (
    BadProof, BadRequest, Conflict, UnknownOrigin, UntrustedCheckpoint, Witness, WitnessStore, add_checkpoint_request,
)

ROOT = Path(__file__).resolve().parents[2]
CHAIN = "witness-test"
EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")  # SHA-256(""), RFC 6962 §2.1


class Node:
    """A ledger and its node key, growing by one record per block."""

    def __init__(self, path: Path, node: PrivateKey | None = None, user: PrivateKey | None = None):
        self.path, self.key = path, node or PrivateKey.generate("ed25519")
        self.user = user or PrivateKey.generate("ed25519")
        self.ledger = Ledger.open(f"sqlite:///{path}", self.key) if path.exists() else Ledger.create(f"sqlite:///{path}", self.key, CHAIN)

    def grow(self, blocks: int, tag: str = "") -> None:
        for _ in range(blocks):
            nonce = self.ledger.next_nonce(self.user.public_key.to_text())
            self.ledger.commit([sign_transaction(self.user, CHAIN, nonce, "record.put", {"key": f"lot/{nonce}", "value": {"by": tag or "honest"}})])

    @property
    def size(self) -> int:
        return self.ledger.history().size

    def checkpoint(self) -> bytes:
        return sign_ledger_checkpoint(self.ledger, self.key)

    def request(self, old: int, proof=None) -> bytes:
        proof = self.ledger.history().consistency_proof(old, self.size) if proof is None and old else proof or []
        return add_checkpoint_request(old, proof, self.checkpoint())

    def copy(self, path: Path) -> "Node":
        """The operator copies its database (sqlite3's online backup, WAL included)."""
        with sqlite3.connect(self.path) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
        return Node(path, self.key, self.user)


def new_witness(tmp_path: Path, name: str, node: Node, follow: bool = True) -> Witness:
    key = PrivateKey.generate("ed25519")
    store = WitnessStore.create(tmp_path / f"{name}.db", f"witness.example/{name}", key.public_key)
    if follow:
        store.follow(ledger_origin(node.ledger), node_note_key(node.ledger))
    return Witness(store, key)


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path / "ledger.db")
    n.grow(3)
    yield n
    n.ledger.close()


@pytest.fixture
def witness(tmp_path, node):
    w = new_witness(tmp_path, "w1", node)
    yield w
    w.store.close()


def held(witness: Witness, node: Node) -> int:
    latest = witness.store.latest(ledger_origin(node.ledger))
    return latest.size if latest else 0


# --- acceptance -----------------------------------------------------------------------------


def test_first_checkpoint_is_cosigned_and_verifies(witness, node):
    answer = witness.add_checkpoint(node.request(0))
    cosigned = add_signatures(node.checkpoint(), answer)
    verified = verify_checkpoint(cosigned, node_note_key(node.ledger), [witness.identity])
    assert [c.key for c in verified.cosignatures] == [witness.identity]
    assert held(witness, node) == 4


def test_growth_with_a_consistency_proof_is_cosigned(witness, node):
    witness.add_checkpoint(node.request(0))
    node.grow(5)
    witness.add_checkpoint(node.request(4))
    assert held(witness, node) == 9


def test_the_same_checkpoint_again_is_cosigned_again(witness, node):
    witness.add_checkpoint(node.request(0))
    witness.add_checkpoint(node.request(4))
    assert held(witness, node) == 4


def test_the_answer_is_one_cosignature_line(witness, node):
    answer = witness.add_checkpoint(node.request(0)).decode()
    assert answer.startswith("\u2014 witness.example/w1 ") and answer.endswith("\n") and answer.count("\n") == 1


def test_the_witness_serves_the_last_cosigned_checkpoint(witness, node):
    witness.add_checkpoint(node.request(0))
    served = witness.checkpoint(ledger_origin(node.ledger))
    verify_checkpoint(served, node_note_key(node.ledger), [witness.identity])
    assert parse_note(served).text == parse_note(node.checkpoint()).text


# --- each refusal, one test each ------------------------------------------------------------


def test_unknown_origin_is_404(tmp_path, node):
    w = new_witness(tmp_path, "stranger", node, follow=False)
    with pytest.raises(UnknownOrigin) as e:
        w.add_checkpoint(node.request(0))
    assert e.value.status == 404


def test_a_checkpoint_signed_by_another_key_is_403(witness, node):
    text = checkpoint_text(Checkpoint(ledger_origin(node.ledger), 4, node.ledger.history().root_at(4)))
    forged = note_bytes(Note(text, (sign_note(text, ledger_origin(node.ledger), PrivateKey.generate("ed25519")),)))
    with pytest.raises(UntrustedCheckpoint) as e:
        witness.add_checkpoint(add_checkpoint_request(0, [], forged))
    assert e.value.status == 403


def test_a_failing_signature_by_the_log_key_is_403(witness, node):
    note = bytearray(node.checkpoint())
    note[note.index(b"\n\n") - 3] ^= 0x01  # a base64 character of the root: the text changes, the signature does not
    with pytest.raises((UntrustedCheckpoint, BadRequest)) as e:
        witness.add_checkpoint(add_checkpoint_request(0, [], bytes(note)))
    assert e.value.status in (403, 400)
    line = node.checkpoint().split(b"\n\n")[1]
    sig = bytearray(base64.b64decode(line.split(b" ")[-1]))
    sig[10] ^= 0x01  # the signature itself, key id intact
    bad = node.checkpoint().split(b"\n\n")[0] + b"\n\n" + line.rsplit(b" ", 1)[0] + b" " + base64.b64encode(bytes(sig)) + b"\n"
    with pytest.raises(UntrustedCheckpoint) as e:
        witness.add_checkpoint(add_checkpoint_request(0, [], bad))
    assert e.value.status == 403


def test_old_size_larger_than_the_checkpoint_is_400(witness, node):
    with pytest.raises(BadRequest, match="larger than") as e:
        witness.add_checkpoint(add_checkpoint_request(5, [], node.checkpoint()))
    assert e.value.status == 400


def test_old_size_other_than_the_held_size_is_409_with_that_size(witness, node):
    witness.add_checkpoint(node.request(0))
    node.grow(2)
    with pytest.raises(Conflict) as e:
        witness.add_checkpoint(node.request(3))
    assert (e.value.status, e.value.held, e.value.body()) == (409, 4, b"4\n")


def test_a_proof_that_does_not_verify_is_422(witness, node):
    witness.add_checkpoint(node.request(0))
    node.grow(3)
    proof = node.ledger.history().consistency_proof(4, 7)
    proof[0] = bytes(32)
    with pytest.raises(BadProof) as e:
        witness.add_checkpoint(node.request(4, proof))
    assert e.value.status == 422


def test_a_proof_with_old_size_zero_is_422(witness, node):
    with pytest.raises(BadProof, match="old size 0"):
        witness.add_checkpoint(add_checkpoint_request(0, [bytes(32)], node.checkpoint()))


def test_a_size_zero_checkpoint_must_have_the_empty_root(tmp_path, node, witness):
    origin = ledger_origin(node.ledger)
    for root, ok in ((EMPTY_ROOT, True), (bytes(32), False)):
        note = sign_checkpoint(Checkpoint(origin, 0, root), node.key)
        if ok:
            witness.add_checkpoint(add_checkpoint_request(0, [], note))
        else:
            with pytest.raises(BadProof, match="empty tree"):
                witness.add_checkpoint(add_checkpoint_request(0, [], note))


@pytest.mark.parametrize("body, why", [
    (b"old 0\n", "no blank line"),
    (b"old 01\n\n", "leading zeroes"),
    (b"old -1\n\n", "old <size>"),
    (b"new 0\n\n", "old <size>"),
    (b"old 0\nnot base64!\n\n", "not base64"),
    (b"old 0\n" + base64.b64encode(bytes(31)) + b"\n\n", "32-byte"),
    (b"old 1\n" + b"".join(base64.b64encode(bytes([i]) * 32) + b"\n" for i in range(64)) + b"\n", "more than 63"),
    (b"old 0\n\nnot a note", "checkpoint"),
])
def test_malformed_requests_are_400(witness, body, why):
    with pytest.raises(BadRequest, match=why) as e:
        witness.add_checkpoint(body)
    assert e.value.status == 400


def test_a_checkpoint_with_extension_lines_is_400(witness, node):
    origin = ledger_origin(node.ledger)
    text = checkpoint_text(Checkpoint(origin, 4, node.ledger.history().root_at(4))) + "extension\n"
    note = note_bytes(Note(text, (sign_note(text, origin, node.key),)))
    with pytest.raises(BadRequest, match="extension"):
        witness.add_checkpoint(add_checkpoint_request(0, [], note))


# --- split views, truncation, replays -------------------------------------------------------


def test_a_fork_shown_to_a_second_witness_is_refused(tmp_path, node):
    """The operator copies its database at size 4 and forks it; both witnesses cosigned the original
    at 6.  Shown the fork with its own old size, the second witness answers 409 with the size it holds;
    shown it from that size, the fork's proof fails (422) and the signed fork is kept as evidence."""
    a, b = new_witness(tmp_path, "a", node), new_witness(tmp_path, "b", node)
    for w in (a, b):
        w.add_checkpoint(node.request(0))
    fork = node.copy(tmp_path / "fork.db")
    node.grow(2)
    for w in (a, b):
        w.add_checkpoint(node.request(4))
    fork.grow(3, tag="mallory")
    assert ledger_origin(fork.ledger) == ledger_origin(node.ledger)  # the same chain, as far as names go
    with pytest.raises(Conflict) as e:
        b.add_checkpoint(fork.request(4))
    assert (e.value.status, e.value.body()) == (409, b"6\n")
    forked_proof = fork.ledger.history().consistency_proof(6, 7)
    with pytest.raises(BadProof):
        b.add_checkpoint(fork.request(6, forked_proof))
    assert held(b, node) == 6
    evidence = b.store.evidence(ledger_origin(node.ledger))
    assert [(size, status) for size, _, status, _ in evidence] == [(7, 422)]
    verify_checkpoint(evidence[0][1], node_note_key(node.ledger))  # the node's own signature on the fork
    fork.ledger.close()


def test_a_fork_at_the_held_size_is_422(tmp_path, node, witness):
    witness.add_checkpoint(node.request(0))
    fork = node.copy(tmp_path / "fork.db")
    node.grow(1)
    witness.add_checkpoint(node.request(4))
    fork.grow(1, tag="mallory")  # the same size, 5, another root
    with pytest.raises(BadProof, match="another root at the size held"):
        witness.add_checkpoint(fork.request(5, []))
    fork.ledger.close()


def test_truncation_below_the_held_checkpoint_is_refused(tmp_path, node, witness):
    truncated = node.copy(tmp_path / "truncated.db")  # size 4, kept aside
    node.grow(4)
    witness.add_checkpoint(node.request(0))  # the witness holds 8
    with pytest.raises(BadRequest, match="larger than"):
        witness.add_checkpoint(add_checkpoint_request(8, [], truncated.checkpoint()))
    with pytest.raises(Conflict) as e:
        witness.add_checkpoint(truncated.request(0))
    assert e.value.held == 8
    truncated.ledger.close()


def test_a_replayed_old_checkpoint_is_refused(witness, node):
    first = node.request(0)
    witness.add_checkpoint(first)
    node.grow(2)
    witness.add_checkpoint(node.request(4))
    with pytest.raises(Conflict) as e:
        witness.add_checkpoint(first)
    assert e.value.held == 6
    assert held(witness, node) == 6


# --- atomic check and persist ---------------------------------------------------------------


def test_racing_requests_never_roll_the_witness_back(tmp_path, node):
    """tlog-witness's race: requests for sizes 5 .. 12, each claiming old size 4, at once from
    their own connections; exactly one is cosigned, the others get 409, and the size held is the winner's."""
    w = new_witness(tmp_path, "race", node)
    w.add_checkpoint(node.request(0))
    bodies = {}
    for size in range(5, 13):
        node.grow(1)
        bodies[size] = node.request(4)
    results, start = {}, threading.Barrier(len(bodies))

    def submit(size):
        mine = Witness(WitnessStore.open(w.store.path), w.key)
        start.wait()
        try:
            mine.add_checkpoint(bodies[size])
            results[size] = 200
        except Conflict as e:
            results[size] = e.status
        finally:
            mine.store.close()

    threads = [threading.Thread(target=submit, args=(s,)) for s in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [s for s, status in results.items() if status == 200]
    assert len(winners) == 1 and sorted(results.values()) == [200] + [409] * 7
    assert held(w, node) == winners[0]


KILL_SCRIPT = """
import sys, time
from coopchain.chain import witness as wm
from coopchain.chain.keys import PrivateKey
insert = wm.WitnessStore._insert
def insert_then_hang(self, cur, held, cosigned, now):
    insert(self, cur, held, cosigned, now)  # the row is written, the transaction not committed
    print("inserted", flush=True)
    time.sleep(120)
wm.WitnessStore._insert = insert_then_hang
w = wm.Witness(wm.WitnessStore.open(sys.argv[1]), PrivateKey.load(sys.argv[2]))
w.add_checkpoint(open(sys.argv[3], "rb").read())
print("answered", flush=True)
"""


def test_kill_9_between_check_and_commit_leaves_the_old_state(tmp_path, node):
    w = new_witness(tmp_path, "killed", node)
    w.add_checkpoint(node.request(0))
    w.key.save(tmp_path / "w.key")
    node.grow(3)
    (tmp_path / "req").write_bytes(node.request(4))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(w.store.path), str(tmp_path / "w.key"), str(tmp_path / "req")],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "inserted"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    w.store.close()
    reopened = Witness(WitnessStore.open(tmp_path / "killed.db"), w.key)
    assert held(reopened, node) == 4  # the uncommitted row is gone
    reopened.add_checkpoint(node.request(4))  # and the lock with it: the same request now succeeds
    assert held(reopened, node) == 7
    reopened.store.close()


def test_cosigned_rows_are_never_updated_or_deleted(witness, node):
    witness.add_checkpoint(node.request(0))
    for sql in ("UPDATE cosigned SET size = 99", "DELETE FROM cosigned"):
        with pytest.raises(sqlite3.IntegrityError, match="never"):
            witness.store.db.execute(sql)


# --- the immudb lessons ---------------------------------------------------------------------


def _variants(proof):
    """Falsified proofs (after transparency-dev/merkle's corruption tests): each must fail."""
    yield proof[:-1]
    yield proof + [proof[-1]]
    yield [bytes(32)] + proof
    yield proof[::-1]
    for i in range(len(proof)):
        for bit in (0, 7, 255):
            changed = bytearray(proof[i])
            changed[bit // 8] ^= 1 << (bit % 8)
            yield proof[:i] + [bytes(changed)] + proof[i + 1:]


def test_falsified_consistency_proofs_are_refused(witness, node):
    """GHSA-672p-m5jq-mrh8: immudb's client accepted consistency proofs that did not prove the old
    root; here every element counts and the old root is the one the witness holds."""
    witness.add_checkpoint(node.request(0))
    node.grow(7)
    proof = node.ledger.history().consistency_proof(4, 11)
    count = 0
    for bad in _variants(proof):
        if bad == proof:
            continue
        with pytest.raises(BadProof):
            witness.add_checkpoint(node.request(4, bad))
        count += 1
    assert count >= 3 * len(proof) + 3
    assert held(witness, node) == 4
    witness.add_checkpoint(node.request(4, proof))


def test_a_proof_of_another_tree_with_the_same_sizes_is_refused(tmp_path, witness, node):
    """A proof that is self-consistent for another old root (the fork's) does not prove the held one."""
    witness.add_checkpoint(node.request(0))
    fork = Node(tmp_path / "other.db", node.key, node.user)  # another chain of the same node key
    fork.grow(6)
    node.grow(3)
    other_proof = fork.ledger.history().consistency_proof(4, 7)
    with pytest.raises(BadProof):
        witness.add_checkpoint(node.request(4, other_proof))
    fork.ledger.close()


def test_the_log_key_is_pinned_once(tmp_path, node, witness):
    """CVE-2022-39199: immudb's client trusted whatever identity the server announced.  Here the
    witness pins each origin's key when it first follows it, and refuses another key for it."""
    stranger = note_key(ledger_origin(node.ledger), PrivateKey.generate("ed25519").public_key)
    with pytest.raises(StorageError, match="pinned once"):
        witness.store.follow(ledger_origin(node.ledger), stranger)
    with pytest.raises(MalformedNote, match="named"):
        witness.store.follow("another/origin", node_note_key(node.ledger))


def test_a_chain_rebuilt_with_fresh_keys_is_another_origin(tmp_path, node, witness):
    rebuilt = Node(tmp_path / "rebuilt.db")  # same chain id, new node key, new genesis
    rebuilt.grow(3)
    assert ledger_origin(rebuilt.ledger) != ledger_origin(node.ledger)
    with pytest.raises(UnknownOrigin):
        witness.add_checkpoint(rebuilt.request(0))
    rebuilt.ledger.close()


def test_a_witness_refuses_another_key_than_its_own(tmp_path, node):
    w = new_witness(tmp_path, "own", node)
    from coopchain.chain.checkpoint import NoteSignatureError

    with pytest.raises(NoteSignatureError, match="not the witness's key"):
        Witness(w.store, PrivateKey.generate("ed25519"))
    w.store.close()


def test_store_files_are_made_once_and_opened_only_if_they_are_stores(tmp_path):
    key = PrivateKey.generate("ed25519")
    WitnessStore.create(tmp_path / "s.db", "w.example", key.public_key).close()
    with pytest.raises(StorageError, match="exists"):
        WitnessStore.create(tmp_path / "s.db", "w.example", key.public_key)
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StorageError, match="not a coopchain witness store"):
        WitnessStore.open(tmp_path / "junk.db")
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE blocks (height INTEGER)")
    other.commit()
    other.close()
    before = (tmp_path / "other.db").read_bytes()
    with pytest.raises(StorageError, match="not a coopchain witness store"):
        WitnessStore.open(tmp_path / "other.db")
    assert (tmp_path / "other.db").read_bytes() == before  # untouched: no WAL switch, no tables
    with pytest.raises(StorageError, match="no such file"):
        WitnessStore.open(tmp_path / "absent.db")
    assert merkle.empty_root() == EMPTY_ROOT


# --- the node's side ------------------------------------------------------------------------


def through(w: Witness):
    """submit(body) -> (status, body) straight into a witness, as its HTTP service answers."""
    from coopchain.chain.witness import WitnessRefusal

    def submit(body):
        try:
            return 200, w.add_checkpoint(body)
        except Conflict as e:
            return 409, e.body()
        except WitnessRefusal as e:
            return e.status, str(e).encode()

    return submit


def test_the_node_resubmits_once_from_the_size_a_409_names(witness, node):
    from coopchain.chain.witness import request_cosignature

    witness.add_checkpoint(node.request(0))
    node.grow(2)
    lines = request_cosignature(node.ledger.history(), node.checkpoint(), through(witness), old=0)
    verify_checkpoint(add_signatures(node.checkpoint(), lines), node_note_key(node.ledger), [witness.identity])
    assert held(witness, node) == 6


def test_a_witness_ahead_of_the_node_is_reported(tmp_path, witness, node):
    from coopchain.chain.witness import WitnessAnswer, request_cosignature

    behind = node.copy(tmp_path / "behind.db")
    node.grow(2)
    witness.add_checkpoint(node.request(0))  # holds 6
    with pytest.raises(WitnessAnswer, match="beyond this checkpoint's 4"):
        request_cosignature(behind.ledger.history(), behind.checkpoint(), through(witness))
    behind.ledger.close()


@pytest.mark.parametrize("answer", [(409, b"four\n"), (409, b"4"), (500, b"oops"), (200, b"not a signature line\n")])
def test_a_witness_answer_that_is_not_the_protocol_is_refused(node, answer):
    from coopchain.chain.witness import WitnessAnswer, request_cosignature

    with pytest.raises((WitnessAnswer, MalformedNote)):
        request_cosignature(node.ledger.history(), node.checkpoint(), lambda body: answer)


def test_mutated_requests_are_refused_with_a_status(witness, node):
    """Random byte changes to a valid growth request: each is cosigned unchanged in meaning or refused
    with a WitnessRefusal; never another exception, and the witness never goes backwards."""
    import random

    from coopchain.chain.witness import WitnessRefusal

    witness.add_checkpoint(node.request(0))
    node.grow(5)
    good = node.request(4)
    rng, outcomes = random.Random(14), {}
    for _ in range(400):
        b = bytearray(good)
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        try:
            witness.add_checkpoint(bytes(b))
            outcomes[200] = outcomes.get(200, 0) + 1
        except WitnessRefusal as e:
            outcomes[e.status] = outcomes.get(e.status, 0) + 1
        assert held(witness, node) in (4, 9)
    assert set(outcomes) <= {200, 400, 403, 404, 409, 422} and outcomes.get(200, 0) <= 1
