"""The state trie (SPEC §2, §6): the official trie vectors, the `trie` package as a reference,
old roots readable after updates, proofs that verify offline and corrupted ones refused."""

import json
import random

import pytest
import rlp
from trie import HexaryTrie

from coopchain.chain.errors import InvalidProof, StorageError
from coopchain.chain.state_proof import decode_rlp, verify_state_proof
from coopchain.chain.trie import EMPTY_ROOT, keccak256, prove, rlp_encode, stored, trie_get, trie_update
from tests.blocked_imports import run_blocked
from tests.conftest import ROOT

VECTORS = ROOT / "tests" / "data" / "vectors" / "mpt_trietest.json"  # ethereum/tests TrieTests/trietest.json


def _vector_bytes(text: str | None) -> bytes | None:
    """The file's convention (its _source note): 0x-prefixed is hex, anything else UTF-8, null deletes."""
    if text is None:
        return None
    return bytes.fromhex(text[2:]) if text.startswith("0x") else text.encode()


def _vectors() -> list:
    cases = json.loads(VECTORS.read_text())
    return [pytest.param(case, id=name) for name, case in cases.items() if not name.startswith("_")]


def _updated(store: dict, root: bytes, changes: dict) -> bytes:
    """Apply changes and write the new nodes, as the block store does."""
    root, new_nodes = trie_update(store, root, changes)
    store.update(new_nodes)
    return root


# --- known answers ----------------------------------------------------------------------------------


def test_empty_root_is_keccak_of_rlp_empty_string():
    assert EMPTY_ROOT == keccak256(rlp.encode(b""))


def test_empty_trie_has_no_keys_and_an_empty_proof():
    assert trie_get({}, EMPTY_ROOT, b"any") is None
    assert prove({}, EMPTY_ROOT, b"any") == []
    assert verify_state_proof(EMPTY_ROOT, b"any", []) is None


@pytest.mark.parametrize("case", _vectors())
def test_vector_root_one_batch(case):
    changes = {}
    for key, value in case["in"]:
        changes[_vector_bytes(key)] = _vector_bytes(value)  # the last change of a key wins
    root, new_nodes = trie_update({}, EMPTY_ROOT, changes)
    assert "0x" + root.hex() == case["root"]


@pytest.mark.parametrize("case", _vectors())
def test_vector_root_one_batch_per_entry(case):
    store, root = {}, EMPTY_ROOT
    for key, value in case["in"]:
        root = _updated(store, root, {_vector_bytes(key): _vector_bytes(value)})
    assert "0x" + root.hex() == case["root"]


@pytest.mark.parametrize("case", _vectors())
def test_vector_values_readable_and_proved(case):
    final = {}
    for key, value in case["in"]:
        final[_vector_bytes(key)] = _vector_bytes(value)
    store = {}
    root = _updated(store, EMPTY_ROOT, final)
    for key, value in final.items():
        assert trie_get(store, root, key) == value
        assert verify_state_proof(root, key, prove(store, root, key)) == value


def test_new_nodes_are_exactly_those_referenced_by_hash_from_the_new_root():
    store, rng = {}, random.Random(3)
    root = _updated(store, EMPTY_ROOT, {rng.randbytes(32): rng.randbytes(20) for _ in range(300)})
    root, new_nodes = trie_update(store, root, {rng.randbytes(32): b"x" * 40 for _ in range(30)})
    assert root in new_nodes
    assert all(keccak256(encoded) == node_hash for node_hash, encoded in new_nodes.items())
    assert not set(new_nodes) & set(store)
    reachable = _hashed_nodes(new_nodes | store, root)
    assert set(new_nodes) <= reachable


def _hashed_nodes(store: dict, root: bytes) -> set:
    """Every node hash reachable from root (a naive walk of the whole trie)."""
    seen, todo = set(), [root]
    while todo:
        ref = todo.pop()
        if isinstance(ref, bytes) and len(ref) == 32:
            if ref in seen:
                continue
            seen.add(ref)
            ref = rlp.decode(store[ref])
        if isinstance(ref, list) and len(ref) == 17:
            todo += [sub for sub in ref[:16] if sub != b""]
        elif isinstance(ref, list) and ref[0][0] >> 4 in (0, 1):  # an extension (hex-prefix flags 0b000p)
            todo.append(ref[1])
    return seen


def test_single_short_node_root_is_returned_as_a_new_node():
    root, new_nodes = trie_update({}, EMPTY_ROOT, {b"a": b"b"})
    assert list(new_nodes) == [root] and len(new_nodes[root]) < 32


def test_no_change_returns_the_same_root_and_no_nodes():
    store = {}
    root = _updated(store, EMPTY_ROOT, {b"dog": b"puppy", b"doge": b"coin", b"horse": b"stallion"})
    assert trie_update(store, root, {b"cat": None, b"dog": b"puppy"}) == (root, {})


def test_deleting_every_key_gives_the_empty_root():
    store = {}
    root = _updated(store, EMPTY_ROOT, {bytes([i]) * 3: b"v" * 40 for i in range(50)})
    assert trie_update(store, root, {bytes([i]) * 3: None for i in range(50)}) == (EMPTY_ROOT, {})


def test_missing_node_is_a_storage_error():
    store = {}
    root = _updated(store, EMPTY_ROOT, {bytes([i]) * 32: b"v" * 40 for i in range(20)})
    for call in (lambda: trie_get({}, root, b"x"), lambda: prove({}, root, b"x"), lambda: trie_update({}, root, {b"x": b"y"})):
        with pytest.raises(StorageError, match="not in the store"):
            call()


def test_empty_value_deletes():
    store = {}
    root = _updated(store, EMPTY_ROOT, {b"do": b"verb", b"dog": b"puppy"})
    assert trie_update(store, root, {b"dog": b""}) == trie_update(store, root, {b"dog": None})


# --- the `trie` package as a reference, old roots ---------------------------------------------------


def test_random_batches_match_hexary_trie_and_old_roots_stay_readable():
    rng = random.Random(11)
    store, root, reference, model = {}, EMPTY_ROOT, HexaryTrie({}), {}
    history = []
    for _ in range(60):
        changes = {}
        for _ in range(rng.randint(1, 60)):
            if model and rng.random() < 0.3:
                changes[rng.choice(list(model))] = None
            else:  # short keys make prefixes, extensions, branch values and inlined nodes
                changes[rng.randbytes(rng.choice([1, 2, 3, 32]))] = rng.randbytes(rng.choice([1, 4, 40]))
        root = _updated(store, root, changes)
        for key, value in changes.items():
            if value is None:
                reference.delete(key)
                model.pop(key, None)
            else:
                reference[key] = value
                model[key] = value
        assert root == reference.root_hash
        history.append((root, dict(model)))
    for old_root, old_model in history[::7]:
        for key in list(old_model)[:30]:
            assert trie_get(store, old_root, key) == old_model[key]
        assert trie_get(store, old_root, b"\xff" * 33) is None


def test_keys_set_again_match_hexary_trie():
    """Blocks that mostly rewrite existing keys (as every committed block does: nonces, entries posted
    again), to the same value, a new one (short values inline their leaf), b"" or None, with new keys
    beside them: the roots the `trie` package gives, and a store holding only the nodes returned."""
    rng = random.Random(16)
    store, root, reference, model = {}, EMPTY_ROOT, HexaryTrie({}), {}
    for _ in range(80):
        changes = {}
        for _ in range(rng.randint(1, 80)):
            roll = rng.random()
            if model and roll < 0.75:
                key = rng.choice(list(model))
                changes[key] = rng.choice([model[key], rng.randbytes(rng.choice([1, 3, 40, 1200])), b"", None])
            else:
                changes[rng.randbytes(rng.choice([1, 2, 32]))] = rng.randbytes(rng.choice([1, 3, 40]))
        root, new_nodes = trie_update(store, root, changes)
        store.update(new_nodes)
        stored(new_nodes)  # as the ledger does once a block is written: the next update reads them decoded
        for key, value in changes.items():
            if value:
                reference[key] = value
                model[key] = value
            else:
                reference.delete(key)
                model.pop(key, None)
        assert root == reference.root_hash
        for key in rng.sample(list(model), min(20, len(model))):
            assert trie_get(store, root, key) == model[key]


def test_proofs_carry_the_same_nodes_as_hexary_trie():
    rng = random.Random(5)
    changes = {rng.randbytes(32): rng.randbytes(rng.choice([1, 40])) for _ in range(200)}
    store = {}
    root = _updated(store, EMPTY_ROOT, changes)
    reference = HexaryTrie({})
    for key, value in changes.items():
        reference[key] = value
    for key in list(changes)[:20] + [rng.randbytes(32) for _ in range(20)]:
        ours = prove(store, root, key)
        theirs = [rlp.encode(node) for node in reference.get_proof(key)]
        assert ours == [node for node in theirs if len(node) >= 32 or node is theirs[0]]


# --- proofs ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proved_state():
    rng = random.Random(7)
    keys = [rng.randbytes(32) for _ in range(400)] + [b"do", b"dog", b"doge", b"d"]
    store = {}
    root = _updated(store, EMPTY_ROOT, {key: rng.randbytes(rng.choice([1, 3, 50])) for key in keys})
    absent = [rng.randbytes(32) for _ in range(20)] + [b"", b"do\x00", b"dogs", b"c"]
    return store, root, keys, absent


def test_present_keys_verify_to_their_value(proved_state):
    store, root, keys, _ = proved_state
    for key in keys:
        assert verify_state_proof(root, key, prove(store, root, key)) == trie_get(store, root, key) is not None


def test_absent_keys_verify_to_none(proved_state):
    store, root, _, absent = proved_state
    for key in absent:
        assert verify_state_proof(root, key, prove(store, root, key)) is None


def _corruptions(proof: list[bytes], rng: random.Random):
    """Every node dropped, every node with one random bit flipped, an extra node at the end."""
    for i in range(len(proof)):
        yield f"node {i} dropped", proof[:i] + proof[i + 1 :]
        node = bytearray(proof[i])
        bit = rng.randrange(len(node) * 8)
        node[bit // 8] ^= 1 << (bit % 8)
        yield f"node {i} bit {bit} flipped", proof[:i] + [bytes(node)] + proof[i + 1 :]
    yield "extra node", proof + [proof[-1]]
    yield "garbage node", proof + [b"\xc0"]


def test_corrupted_proofs_are_refused(proved_state):
    store, root, keys, absent = proved_state
    rng = random.Random(1)
    for key in keys[:40] + absent[:10] + keys[-4:] + absent[-4:]:
        for what, proof in _corruptions(prove(store, root, key), rng):
            with pytest.raises(InvalidProof):
                verify_state_proof(root, key, proof)
                pytest.fail(f"{what} accepted for key 0x{key.hex()}")


def test_wrong_root_refused(proved_state):
    store, root, keys, _ = proved_state
    other = _updated(dict(store), root, {keys[0]: b"changed"})
    for key in keys[:20]:
        with pytest.raises(InvalidProof, match="hashes to"):
            verify_state_proof(other, key, prove(store, root, key))


def test_wrong_key_refused(proved_state):
    store, root, keys, absent = proved_state
    for key, other in zip(keys[:40], keys[40:80] + absent[:20]):
        with pytest.raises(InvalidProof):
            verify_state_proof(root, other, prove(store, root, key))


def test_wrong_shapes_refused(proved_state):
    store, root, keys, _ = proved_state
    proof = prove(store, root, keys[0])
    for root_, key, proof_ in [(root[:31], keys[0], proof), (root, "text", proof), (root, keys[0], tuple(proof)),
                               (root, keys[0], [*proof[:-1], "x"]), (root, keys[0], []), (EMPTY_ROOT, keys[0], proof)]:
        with pytest.raises(InvalidProof):
            verify_state_proof(root_, key, proof_)


def test_hash_referenced_node_under_32_bytes_refused():
    # A branch that holds a 31-byte node by hash is not canonical, even though it hashes right.
    leaf = rlp.encode([b"\x20", b"x" * 27])
    assert len(leaf) < 32
    branch = rlp.encode([keccak256(leaf), keccak256(leaf)] + [b""] * 15)
    with pytest.raises(InvalidProof, match="inlined"):
        verify_state_proof(keccak256(branch), b"\x00", [branch, leaf])


# --- the verifier's own RLP decoder against the `rlp` package ----------------------------------------


def _random_item(rng: random.Random, depth: int = 0):
    if depth < 3 and rng.random() < 0.3:
        return [_random_item(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 5, 17, 40]))]
    return rng.randbytes(rng.choice([0, 1, 1, 2, 31, 55, 56, 57, 300, 70_000 if rng.random() < 0.01 else 3]))


def _rlp_package_decode(data: bytes):
    try:
        return rlp.decode(data)
    except rlp.DecodingError:
        return InvalidProof


def _our_decode(data: bytes):
    try:
        return decode_rlp(data)
    except InvalidProof:
        return InvalidProof


def test_decoder_agrees_with_rlp_package_on_valid_encodings():
    rng = random.Random(2)
    for _ in range(2000):
        item = _random_item(rng)
        assert decode_rlp(rlp.encode(item)) == item


def test_trie_encoder_agrees_with_rlp_package():
    """chain.trie's own RLP encoder (lists of byte strings and lists) against the `rlp` package."""
    rng = random.Random(3)
    for _ in range(2000):
        item = [_random_item(rng) for _ in range(rng.choice([0, 1, 2, 17]))]
        assert rlp_encode(item) == rlp.encode(item)


def test_state_entries_agree_with_rlp_package():
    """chain.state's nonce and record entries, written out for speed, against the `rlp` package."""
    from coopchain.chain.state import decode_nonce, encode_nonce, encode_record

    rng = random.Random(5)
    for n in [0, 1, 127, 128, 255, 256, 2**53 - 1, 2**64] + [rng.randrange(2**rng.randrange(1, 70)) for _ in range(500)]:
        assert encode_nonce(n) == rlp.encode(n)
        assert decode_nonce(rlp.encode(n)) == n
    for bad in (rlp.encode(b"\x00\x01"), rlp.encode([b"\x01"]), b"\x81\x01"):
        with pytest.raises(InvalidProof):
            decode_nonce(bad)
    digest, tx_hash = rng.randbytes(32), rng.randbytes(32)
    assert encode_record(digest, tx_hash) == rlp.encode([digest, tx_hash])


def test_a_node_made_but_never_stored_is_still_missing():
    """Nodes a batch made are kept decoded only once a store has written them (trie.stored)."""
    store: dict = {}
    root, made = trie_update(store, EMPTY_ROOT, {bytes([i]) * 32: b"v" * 40 for i in range(20)})
    with pytest.raises(StorageError, match="not in the store"):
        trie_get({}, root, bytes([3]) * 32)
    store.update(made)
    stored(made)
    assert trie_get(store, root, bytes([3]) * 32) == b"v" * 40


def test_decoder_agrees_with_rlp_package_on_malformed_inputs():
    rng = random.Random(4)
    for _ in range(4000):
        data = bytearray(rlp.encode(_random_item(rng)))
        kind = rng.randrange(4)
        if kind == 0 and data:  # one bit flipped
            bit = rng.randrange(len(data) * 8)
            data[bit // 8] ^= 1 << (bit % 8)
        elif kind == 1:  # truncated or extended
            data = data[: rng.randrange(len(data) + 1)] if rng.random() < 0.5 else data + rng.randbytes(rng.randint(1, 3))
        elif kind == 2:
            data = bytearray(rng.randbytes(rng.randint(0, 40)))
        assert _our_decode(bytes(data)) == _rlp_package_decode(bytes(data)), bytes(data).hex()


@pytest.mark.parametrize(
    "encoding, reason",
    [
        ("8100", "single byte"),  # 0x00 must be encoded as itself
        ("817f", "single byte"),
        ("b80141", "long form"),  # a 1-byte string in long form
        ("b90001" + "41", "zero byte"),  # a length with a leading zero
        ("f801c0", "long form"),  # a 1-byte list in long form
        ("c0c0", "after the item"),  # trailing bytes
        ("83ab", "runs past"),  # truncated string
        ("c283ab", "runs past"),
        ("", "input ends"),
    ],
)
def test_decoder_refuses_non_canonical(encoding, reason):
    with pytest.raises(InvalidProof, match=reason):
        decode_rlp(bytes.fromhex(encoding))
    assert _rlp_package_decode(bytes.fromhex(encoding)) is InvalidProof


# --- the verifier needs neither `rlp`, `trie` nor `eth_hash` ------------------------------------------

BLOCKER = """
from coopchain.chain.state_proof import verify_state_proof
case = json.load(sys.stdin)
results = [verify_state_proof(bytes.fromhex(case["root"]), bytes.fromhex(key), [bytes.fromhex(n) for n in proof])
           for key, proof in case["proofs"]]
print(json.dumps({"values": [None if v is None else v.hex() for v in results], "loaded": blocked_loaded()}))
"""


def test_verifier_runs_with_rlp_trie_and_eth_hash_blocked(proved_state):
    store, root, keys, absent = proved_state
    asked = keys[:5] + absent[:5]
    case = {"root": root.hex(), "proofs": [(key.hex(), [n.hex() for n in prove(store, root, key)]) for key in asked]}
    run = run_blocked({"rlp", "trie", "eth_hash", "eth_utils", "coopchain.chain.trie"}, BLOCKER, stdin=json.dumps(case))
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["loaded"] == []
    assert out["values"] == [None if trie_get(store, root, k) is None else trie_get(store, root, k).hex() for k in asked]


@pytest.mark.parametrize("length", [0, 1, 31, 32, 135, 136, 137, 500])
def test_keccak256_agrees_with_pycryptodome(length):
    from Crypto.Hash import keccak

    from coopchain.chain.trie import keccak256

    data = bytes(range(256)) * 2
    assert keccak256(data[:length]) == keccak.new(digest_bits=256, data=data[:length]).digest()
