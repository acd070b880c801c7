"""chain.merkle against known answers, a naive RFC 9162 reference, and corrupted proofs.

Known answers:
- tests/data/vectors/rfc6962_roots.json: roots of the first N of eight leaves, from
  transparency-dev/merkle testonly/constants.go (a copy of ../shared/vectors).
- KNOWN_INCLUSION / KNOWN_CONSISTENCY: proofs over those eight leaves, from
  transparency-dev/merkle proof/verify_test.go (its leaf numbers are 1-based; ours 0-based).
The reference below transcribes the recursive definitions of RFC 9162 §2.1.1, §2.1.3.1
and §2.1.4.1 literally, with hashlib, and shares no code with chain.merkle.
"""

import hashlib
import json
import random
from pathlib import Path

import pytest

from coopchain.chain.errors import InvalidProof
from coopchain.chain.merkle import (
    LEAF_HASH_PREFIX,
    NODE_HASH_PREFIX,
    Frontier,
    MemoryTree,
    RootMismatch,
    consistency_proof_json,
    empty_root,
    inclusion_proof_json,
    leaf_hash,
    node_hash,
    parse_consistency_proof_json,
    parse_inclusion_proof_json,
    root,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "vectors" / "rfc6962_roots.json").read_text())
KAT_DATA = [bytes.fromhex(x) for x in VECTORS["leaves_hex"]]
KAT_ROOTS = {int(n): bytes.fromhex(r) for n, r in VECTORS["roots"].items()}
KAT_TREE = MemoryTree([leaf_hash(d) for d in KAT_DATA])

MAX = 64  # every (index, size) and (first, second) up to this is checked
_RNG = random.Random(6962)
DATA = [_RNG.randbytes(_RNG.randrange(8, 40)) for _ in range(2 * MAX + 2)]  # distinct leaves of varied length
LEAVES = [leaf_hash(d) for d in DATA]
TREE = MemoryTree(LEAVES)
SOME_HASH = hashlib.sha256(b"some other hash").digest()


# --- the naive reference: RFC 9162 §2.1 as written ------------------------------------------


def _k(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d):
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m, d):
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m, d, b):
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m, d):
    return ref_subproof(m, d, True)


# --- known answers -----------------------------------------------------------------------------


def test_prefixes_are_rfc_6962():
    assert (LEAF_HASH_PREFIX, NODE_HASH_PREFIX) == (0, 1)


def test_empty_root_is_sha256_of_empty_string():
    assert empty_root().hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_leaf_hash_prefixes_zero_byte():
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()


def test_node_hash_prefixes_one_byte():
    assert node_hash(LEAVES[0], LEAVES[1]) == hashlib.sha256(b"\x01" + LEAVES[0] + LEAVES[1]).digest()


def _frontier_root(leaves):
    frontier = Frontier()
    frontier.extend(leaves)
    return frontier.root()


BUILDERS = {
    "root": root,
    "memory_tree": lambda leaves: MemoryTree(leaves).root(),
    "memory_tree_root_at_past_size": lambda leaves: MemoryTree([*leaves, *LEAVES[:5]]).root_at(len(leaves)),
    "frontier": _frontier_root,
}


@pytest.mark.parametrize("n", sorted(KAT_ROOTS))
@pytest.mark.parametrize("builder", BUILDERS)
def test_root_of_first_n_vector_leaves(builder, n):
    assert BUILDERS[builder]([leaf_hash(d) for d in KAT_DATA[:n]]) == KAT_ROOTS[n]


def _h(*hexes):
    return [bytes.fromhex(x) for x in hexes]


KNOWN_INCLUSION = [  # (index, size, path)
    (0, 1, []),
    (0, 8, _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (5, 8, _h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, _h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
]
KNOWN_CONSISTENCY = [  # (first, second, path)
    (1, 1, []),
    (1, 8, _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 5, _h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (6, 7, _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
              "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
]


@pytest.mark.parametrize("index, size, path", KNOWN_INCLUSION, ids=lambda v: str(v) if isinstance(v, int) else "")
def test_known_inclusion_proof_is_built(index, size, path):
    assert KAT_TREE.inclusion_proof(index, size) == path


@pytest.mark.parametrize("index, size, path", KNOWN_INCLUSION, ids=lambda v: str(v) if isinstance(v, int) else "")
def test_known_inclusion_proof_verifies(index, size, path):
    assert verify_inclusion(leaf_hash(KAT_DATA[index]), index, size, path, KAT_ROOTS[size]) is None


@pytest.mark.parametrize("first, second, path", KNOWN_CONSISTENCY, ids=lambda v: str(v) if isinstance(v, int) else "")
def test_known_consistency_proof_is_built(first, second, path):
    assert KAT_TREE.consistency_proof(first, second) == path


@pytest.mark.parametrize("first, second, path", KNOWN_CONSISTENCY, ids=lambda v: str(v) if isinstance(v, int) else "")
def test_known_consistency_proof_verifies(first, second, path):
    assert verify_consistency(first, second, KAT_ROOTS[first], KAT_ROOTS[second], path) is None


# --- the fast code against the reference --------------------------------------------------


@pytest.mark.parametrize("builder", BUILDERS)
def test_root_matches_reference_for_every_size(builder):
    assert [n for n in range(TREE.size + 1) if BUILDERS[builder](LEAVES[:n]) != ref_mth(DATA[:n])] == []


@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_inclusion_proofs_match_reference(size):
    assert [i for i in range(size) if TREE.inclusion_proof(i, size) != ref_path(i, DATA[:size])] == []


@pytest.mark.parametrize("second", range(1, MAX + 1))
def test_consistency_proofs_match_reference(second):
    assert [m for m in range(1, second) if TREE.consistency_proof(m, second) != ref_proof(m, DATA[:second])] == []


def _refused(call, *args):
    try:
        call(*args)
    except InvalidProof:
        return True
    return False


@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_every_inclusion_proof_verifies(size):
    r = TREE.root_at(size)
    refused = [i for i in range(size)
               if _refused(verify_inclusion, LEAVES[i], i, size, TREE.inclusion_proof(i, size), r)]
    assert refused == []


@pytest.mark.parametrize("second", range(0, MAX + 1))
def test_every_consistency_proof_verifies(second):
    r = TREE.root_at(second)
    refused = [m for m in range(second + 1)
               if _refused(verify_consistency, m, second, TREE.root_at(m), r, TREE.consistency_proof(m, second))]
    assert refused == []


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 63, 64])
def test_root_from_inclusion_proof_is_the_root(size):
    path = TREE.inclusion_proof(size - 1, size)
    assert root_from_inclusion_proof(LEAVES[size - 1], size - 1, size, path) == TREE.root_at(size)


def test_append_returns_exactly_the_completed_perfect_subtrees():
    tree, n = MemoryTree(), 37
    rows = {(lv, i): h for leaf in LEAVES[:n] for lv, i, h in tree.append(leaf)}
    want = {(lv, i): ref_mth(DATA[i << lv:(i + 1) << lv]) for lv in range(6) for i in range((n >> lv))}
    assert rows == want


def test_frontier_resumes_from_a_stored_tree():
    frontier = Frontier.from_source(MemoryTree(LEAVES[:37]))
    frontier.extend(LEAVES[37:MAX])
    assert frontier.root() == ref_mth(DATA[:MAX])


def test_frontier_append_completes_the_same_nodes_as_the_tree():
    frontier, tree = Frontier(), MemoryTree()
    assert [frontier.append(h) for h in LEAVES] == [tree.append(h) for h in LEAVES]


# --- edge cases and conventions -------------------------------------------------------------

R5, R8 = TREE.root_at(5), TREE.root_at(8)
EMPTY = empty_root()

ACCEPTED_EDGES = {
    "same size, empty path, same root": lambda: verify_consistency(5, 5, R5, R5, []),
    "from empty tree, empty path": lambda: verify_consistency(0, 5, EMPTY, R5, []),
    "empty to empty": lambda: verify_consistency(0, 0, EMPTY, EMPTY, []),
    "single leaf, empty path": lambda: verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0]),
}
REFUSED_EDGES = {
    "same size, different roots": lambda: verify_consistency(5, 5, R5, R8, []),
    "same size, non-empty path": lambda: verify_consistency(5, 5, R5, R5, [R5]),
    "from empty tree, non-empty path": lambda: verify_consistency(0, 5, EMPTY, R5, [R5]),
    "from empty tree, root not empty": lambda: verify_consistency(0, 5, R5, R5, []),
    "empty to empty, roots differ": lambda: verify_consistency(0, 0, EMPTY, R5, []),
    "root from consistency needs first > 0": lambda: root_from_consistency_proof(0, 5, EMPTY, []),
    "first above second": lambda: verify_consistency(8, 5, R8, R5, []),
    "negative first": lambda: verify_consistency(-1, 5, EMPTY, R5, []),
    "size 0 inclusion": lambda: verify_inclusion(LEAVES[0], 0, 0, [], EMPTY),
    "index equal to size": lambda: verify_inclusion(LEAVES[5], 5, 5, TREE.inclusion_proof(4, 5), R5),
    "boolean index": lambda: verify_inclusion(LEAVES[1], True, 5, TREE.inclusion_proof(1, 5), R5),
    "31-byte leaf hash": lambda: verify_inclusion(LEAVES[0][:31], 0, 1, [], LEAVES[0]),
    "31-byte root": lambda: verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0][:31]),
    "path as bytes": lambda: verify_inclusion(LEAVES[0], 0, 2, LEAVES[1], TREE.root_at(2)),
    "path element as hex": lambda: verify_inclusion(LEAVES[0], 0, 2, [LEAVES[1].hex()], TREE.root_at(2)),
}


@pytest.mark.parametrize("case", ACCEPTED_EDGES)
def test_edge_case_accepted(case):
    assert ACCEPTED_EDGES[case]() is None


@pytest.mark.parametrize("case", REFUSED_EDGES)
def test_edge_case_refused(case):
    with pytest.raises(InvalidProof):
        REFUSED_EDGES[case]()


BAD_BUILDS = {
    "inclusion index beyond size": lambda: TREE.inclusion_proof(5, 5),
    "inclusion size beyond tree": lambda: TREE.inclusion_proof(0, TREE.size + 1),
    "consistency first above second": lambda: TREE.consistency_proof(6, 5),
    "consistency second beyond tree": lambda: TREE.consistency_proof(1, TREE.size + 1),
    "root beyond tree": lambda: TREE.root_at(TREE.size + 1),
    "node not yet complete": lambda: TREE.node(7, 1),
    "append a 31-byte leaf": lambda: MemoryTree().append(b"x" * 31),
}


@pytest.mark.parametrize("case", BAD_BUILDS)
def test_building_outside_the_tree_raises_value_error(case):
    with pytest.raises(ValueError):
        BAD_BUILDS[case]()


def test_consistency_from_empty_tree_has_empty_path():
    assert TREE.consistency_proof(0, 9) == []


def test_mismatch_names_both_roots_in_hex():
    with pytest.raises(RootMismatch, match=f"calculated {R5.hex()}, expected {R8.hex()}"):
        verify_inclusion(LEAVES[2], 2, 5, TREE.inclusion_proof(2, 5), R8)


def test_mismatch_carries_got_and_want():
    with pytest.raises(RootMismatch) as info:
        verify_consistency(3, 5, TREE.root_at(3), R8, TREE.consistency_proof(3, 5))
    assert (info.value.got, info.value.want) == (R5, R8)


def test_size_is_bound_by_the_signed_head_not_the_path():
    # Documented limitation of RFC 9162 paths: for leaf 0, size 3 and size 4 share a path
    # shape, so (size 4, root of size 3) checks; a signed head binds size to root.
    assert verify_inclusion(LEAVES[0], 0, 4, TREE.inclusion_proof(0, 3), TREE.root_at(3)) is None


# --- corrupted proofs: every variant must be refused ----------------------------------------


def _flips(path):
    """Each element with one bit flipped, at both ends of the hash."""
    out = []
    for i in range(len(path)):
        for byte, bit in ((0, 0x08), (31, 0x80)):
            h = bytearray(path[i])
            h[byte] ^= bit
            out.append(path[:i] + [bytes(h)] + path[i + 1:])
    return out


# Each corruption maps an honest (leaf, index, size, path, root) to variants of it.
INCLUSION_CORRUPTIONS = {
    "index - 1": lambda l, i, n, p, r: [(l, i - 1, n, p, r)] if i else [],
    "index + 1": lambda l, i, n, p, r: [(l, i + 1, n, p, r)],
    "index ^ 2": lambda l, i, n, p, r: [(l, i ^ 2, n, p, r)],
    "size * 2": lambda l, i, n, p, r: [(l, i, 2 * n, p, r)],
    "size // 2": lambda l, i, n, p, r: [(l, i, n // 2, p, r)],
    "size + 1 with its root": lambda l, i, n, p, r: [(l, i, n + 1, p, TREE.root_at(n + 1))],
    "size - 1 with its root": lambda l, i, n, p, r: [(l, i, n - 1, p, TREE.root_at(n - 1))],
    "wrong leaf": lambda l, i, n, p, r: [(LEAVES[i + 1], i, n, p, r)],
    "leaf and root swapped": lambda l, i, n, p, r: [(r, i, n, p, l)] if n > 1 else [],
    "root of another size": lambda l, i, n, p, r: [(l, i, n, p, TREE.root_at(n + 1))],
    "empty root": lambda l, i, n, p, r: [(l, i, n, p, EMPTY)],
    "random root": lambda l, i, n, p, r: [(l, i, n, p, SOME_HASH)],
    "element appended": lambda l, i, n, p, r: [(l, i, n, p + [SOME_HASH], r), (l, i, n, p + [r], r)],
    "element prepended": lambda l, i, n, p, r: [(l, i, n, [SOME_HASH] + p, r), (l, i, n, [r] + p, r)],
    "last element missing": lambda l, i, n, p, r: [(l, i, n, p[:-1], r)] if p else [],
    "first element missing": lambda l, i, n, p, r: [(l, i, n, p[1:], r)] if p else [],
    "element inserted": lambda l, i, n, p, r: [(l, i, n, p[:1] + [SOME_HASH] + p[1:], r)] if p else [],
    "one bit flipped in each element": lambda l, i, n, p, r: [(l, i, n, q, r) for q in _flips(p)],
    "empty garbage element": lambda l, i, n, p, r: [(l, i, n, p + [b""], r)],
}

CONSISTENCY_CORRUPTIONS = {  # over (first, second, first_root, second_root, path), 0 < first < second
    "first - 1": lambda m, n, a, b, p: [(m - 1, n, a, b, p)],
    "first + 1": lambda m, n, a, b, p: [(m + 1, n, a, b, p)],
    "first ^ 2": lambda m, n, a, b, p: [(m ^ 2, n, a, b, p)],
    "first - 1 with its root": lambda m, n, a, b, p: [(m - 1, n, TREE.root_at(m - 1), b, p)],
    "first + 1 with its root": lambda m, n, a, b, p: [(m + 1, n, TREE.root_at(m + 1), b, p)],
    "second * 2": lambda m, n, a, b, p: [(m, 2 * n, a, b, p)],
    "second // 2": lambda m, n, a, b, p: [(m, n // 2, a, b, p)],
    "second + 1 with its root": lambda m, n, a, b, p: [(m, n + 1, a, TREE.root_at(n + 1), p)],
    "second - 1 with its root": lambda m, n, a, b, p: [(m, n - 1, a, TREE.root_at(n - 1), p)],
    "swapped roots": lambda m, n, a, b, p: [(m, n, b, a, p)],
    "wrong first root": lambda m, n, a, b, p: [(m, n, SOME_HASH, b, p), (m, n, EMPTY, b, p)],
    "wrong second root": lambda m, n, a, b, p: [(m, n, a, SOME_HASH, p), (m, n, a, TREE.root_at(n + 1), p)],
    "empty path": lambda m, n, a, b, p: [(m, n, a, b, [])],
    "element appended": lambda m, n, a, b, p: [(m, n, a, b, p + [x]) for x in (a, b, SOME_HASH)],
    "element prepended": lambda m, n, a, b, p: [(m, n, a, b, [x] + p) for x in (a, b, p[0], SOME_HASH)],
    "last element missing": lambda m, n, a, b, p: [(m, n, a, b, p[:-1])],
    "first element missing": lambda m, n, a, b, p: [(m, n, a, b, p[1:])],
    "one bit flipped in each element": lambda m, n, a, b, p: [(m, n, a, b, q) for q in _flips(p)],
    "empty garbage element": lambda m, n, a, b, p: [(m, n, a, b, [b""] + p)],
}

CORRUPT_MAX = 33  # every pair up to this size is corrupted every way


@pytest.mark.parametrize("corruption", INCLUSION_CORRUPTIONS)
def test_corrupted_inclusion_proof_is_refused(corruption):
    accepted = []
    for n in range(1, CORRUPT_MAX + 1):
        r = TREE.root_at(n)
        for i in range(n):
            for variant in INCLUSION_CORRUPTIONS[corruption](LEAVES[i], i, n, TREE.inclusion_proof(i, n), r):
                if not _refused(verify_inclusion, *variant):
                    accepted.append((i, n))
    assert accepted == []


@pytest.mark.parametrize("corruption", CONSISTENCY_CORRUPTIONS)
def test_corrupted_consistency_proof_is_refused(corruption):
    accepted = []
    for n in range(2, CORRUPT_MAX + 1):
        b = TREE.root_at(n)
        for m in range(1, n):
            for variant in CONSISTENCY_CORRUPTIONS[corruption](m, n, TREE.root_at(m), b, TREE.consistency_proof(m, n)):
                if not _refused(verify_consistency, *variant):
                    accepted.append((m, n))
    assert accepted == []


# --- JSON shapes (SPEC §6) ------------------------------------------------------------------

ROUND_TRIPS = [(0, 1), (1, 5), (6, 8), (17, 64), (63, 64)]


@pytest.mark.parametrize("index, size", ROUND_TRIPS)
def test_inclusion_json_round_trip(index, size):
    path = TREE.inclusion_proof(index, size)
    text = json.dumps(inclusion_proof_json(index, size, path))
    assert parse_inclusion_proof_json(json.loads(text)) == (index, size, tuple(path))


@pytest.mark.parametrize("first, second", [(0, 5), (5, 5), (1, 5), (6, 8), (17, 64)])
def test_consistency_json_round_trip(first, second):
    path = TREE.consistency_proof(first, second)
    text = json.dumps(consistency_proof_json(first, second, path))
    assert parse_consistency_proof_json(json.loads(text)) == (first, second, tuple(path))


def test_inclusion_json_shape():
    assert inclusion_proof_json(1, 2, [LEAVES[0]]) == {"leaf_index": 1, "tree_size": 2, "path": [LEAVES[0].hex()]}


GOOD_HEX = LEAVES[0].hex()
MALFORMED_INCLUSION = {
    "not an object": [0, 1, []],
    "missing path": {"leaf_index": 0, "tree_size": 1},
    "extra key": {"leaf_index": 0, "tree_size": 1, "path": [], "root": GOOD_HEX},
    "negative index": {"leaf_index": -1, "tree_size": 1, "path": []},
    "boolean size": {"leaf_index": 0, "tree_size": True, "path": []},
    "float index": {"leaf_index": 0.0, "tree_size": 1, "path": []},
    "string size": {"leaf_index": 0, "tree_size": "1", "path": []},
    "path not a list": {"leaf_index": 0, "tree_size": 2, "path": GOOD_HEX},
    "element not a string": {"leaf_index": 0, "tree_size": 2, "path": [7]},
    "element null": {"leaf_index": 0, "tree_size": 2, "path": [None]},
    "element too short": {"leaf_index": 0, "tree_size": 2, "path": [GOOD_HEX[:-2]]},
    "element too long": {"leaf_index": 0, "tree_size": 2, "path": [GOOD_HEX + "00"]},
    "element not hex": {"leaf_index": 0, "tree_size": 2, "path": ["zz" + GOOD_HEX[2:]]},
    "element upper case": {"leaf_index": 0, "tree_size": 2, "path": [GOOD_HEX.upper()]},
    "element with spaces": {"leaf_index": 0, "tree_size": 2, "path": [" ".join([GOOD_HEX[:32], GOOD_HEX[32:62]])]},
}
MALFORMED_CONSISTENCY = {
    "inclusion keys": {"leaf_index": 0, "tree_size": 1, "path": []},
    "negative second": {"first": 0, "second": -1, "path": []},
    "element not hex": {"first": 1, "second": 2, "path": ["g" * 64]},
    "null": None,
}


@pytest.mark.parametrize("case", MALFORMED_INCLUSION)
def test_malformed_inclusion_json_refused(case):
    with pytest.raises(InvalidProof):
        parse_inclusion_proof_json(MALFORMED_INCLUSION[case])


@pytest.mark.parametrize("case", MALFORMED_CONSISTENCY)
def test_malformed_consistency_json_refused(case):
    with pytest.raises(InvalidProof):
        parse_consistency_proof_json(MALFORMED_CONSISTENCY[case])
