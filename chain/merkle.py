"""RFC 6962 / RFC 9162 Merkle trees: hashing, an append-only tree, proofs (SPEC §2, §6).

The tree hash MTH of RFC 9162 §2.1.1 hashes a leaf as SHA-256(0x00 ‖ data) and an
interior node as SHA-256(0x01 ‖ left ‖ right); the distinct prefixes are what close
the CVE-2012-2459 ambiguity of a plain pairwise tree (SPEC §2).

A tree of n leaves is stored as its *perfect subtrees*: node (level, index) is the
hash of leaves [index·2^level, (index+1)·2^level).  Once written such a node never
changes, so a database can keep them as append-only rows; every root of an earlier
size and every proof (RFC 9162 §2.1.3, §2.1.4) is a fold of O(log n) of them.

- `NodeSource` reads nodes (one hook, `nodes`) and builds roots and proofs from them;
  `MemoryTree` is the in-memory source, `Frontier` the O(log n) compact range that
  streams leaves and says which nodes each append completed.
- `verify_inclusion` / `verify_consistency` check proofs with the standard library
  only (an offline verifier imports this module), shape first, then the roots.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from coopchain.chain.errors import InvalidProof
from coopchain.chain.types import Hash32, Root

LEAF_HASH_PREFIX = 0  # RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))
NODE_HASH_PREFIX = 1  # RFC 9162 §2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
HASH_SIZE = 32  # SHA-256

_LEAF = bytes([LEAF_HASH_PREFIX])
_NODE = bytes([NODE_HASH_PREFIX])
_HEX_HASH = re.compile(r"[0-9a-f]{64}")  # bytes.fromhex would also take spaces and upper case

Key = tuple[int, int]
"""(level, index) of a perfect subtree."""


def leaf_hash(data: bytes) -> Hash32:
    """The hash of one leaf, SHA-256(0x00 ‖ data) (RFC 9162 §2.1.1)."""
    digest = hashlib.sha256(_LEAF)
    digest.update(data)  # no copy of data: a transaction may take 96 MiB
    return Hash32(digest.digest())


def node_hash(left: Hash32, right: Hash32) -> Hash32:
    """The hash of an interior node, SHA-256(0x01 ‖ left ‖ right) (RFC 9162 §2.1.1)."""
    return Hash32(hashlib.sha256(_NODE + left + right).digest())


def empty_root() -> Root:
    """MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1)."""
    return Root(hashlib.sha256(b"").digest())


def root(leaf_hashes: Sequence[Hash32]) -> Root:
    """MTH over already-hashed leaves (RFC 9162 §2.1.1).

    Pairs neighbours level by level and lifts an unpaired last node unchanged: the
    same tree as the RFC's split at the largest power of two below n.
    """
    level = list(leaf_hashes)
    for i, h in enumerate(level):
        _check_hash(h, f"leaf hash {i}", ValueError)
    if not level:
        return empty_root()
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return Root(level[0])


class Node(NamedTuple):
    """A perfect subtree hash: one append-only row of a stored tree."""

    level: int
    index: int
    hash: Hash32


# --- building: which nodes a root or a proof needs ------------------------------------------


def _range_keys(begin: int, end: int) -> list[Key]:
    """The perfect subtrees covering leaves [begin, end), left to right, largest first.

    Requires begin to be a multiple of a power of two ≥ end − begin (true of every
    subtree the RFC recursion visits), so each piece stays aligned.
    """
    keys, span = [], end - begin
    for level in reversed(range(span.bit_length())):
        if span >> level & 1:
            keys.append((level, begin >> level))
            begin += 1 << level
    return keys


def _fold(hashes: Sequence[Hash32]) -> Hash32:
    """Right-to-left fold of a range's perfect subtrees: the RFC hash of the range."""
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def _path_groups(level: int, index: int, size: int) -> list[list[Key]]:
    """Siblings of node (level, index) up to the root of a tree of `size` leaves, bottom-up.

    Each sibling is a group of perfect subtrees to fold.  Below the level where the
    paths to `index` and to the last leaf diverge ("inner") siblings are perfect,
    except the right one at the divergence, which is the partial range up to `size`;
    above it the node is on the right border and the RFC only takes left siblings.
    """
    inner = (index ^ ((size - 1) >> level)).bit_length()
    groups = []
    for i in range(inner):
        sibling, lvl = (index >> i) ^ 1, level + i
        begin = sibling << lvl
        end = min(begin + (1 << lvl), size)
        groups.append(_range_keys(begin, end) if end - begin < 1 << lvl else [(lvl, sibling)])
    for i in range(inner, index.bit_length()):
        if index >> i & 1:
            groups.append([(level + i, (index >> i) - 1)])
    return groups


class NodeSource(ABC):
    """An append-only tree read through its perfect subtrees; builds roots and proofs.

    A subclass supplies `size` and one hook, `nodes`, so a database can answer a whole
    proof with one query.  Arguments beyond the current size raise ValueError.
    """

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of leaves."""

    @abstractmethod
    def nodes(self, keys: Sequence[Key]) -> list[Hash32]:
        """The hashes of perfect subtrees (level, index), in the order asked."""

    def node(self, level: int, index: int) -> Hash32:
        return self.nodes([(level, index)])[0]

    def root_at(self, size: int) -> Root:
        """MTH of the first `size` leaves (RFC 9162 §2.1.1), for any size ≤ self.size."""
        self._check(0 <= size <= self.size, f"size {size} outside [0, {self.size}]")
        return Root(_fold(self.nodes(_range_keys(0, size)))) if size else empty_root()

    def inclusion_proof(self, index: int, size: int) -> list[Hash32]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1, bottom-up; requires 0 ≤ index < size ≤ self.size."""
        self._check(0 <= index < size <= self.size, f"need 0 <= index {index} < size {size} <= {self.size}")
        return self._fetch(_path_groups(0, index, size))

    def consistency_proof(self, first: int, second: int) -> list[Hash32]:
        """PROOF(first, D[second]) of RFC 9162 §2.1.4.1; requires 0 ≤ first ≤ second ≤ self.size.

        Empty when first == second or first == 0 (see `verify_consistency`).  Otherwise
        the proof is the inclusion path, in the tree of `second`, of the last perfect
        subtree of the first tree, preceded by that subtree unless it is the whole first tree.
        """
        self._check(0 <= first <= second <= self.size, f"need 0 <= first {first} <= second {second} <= {self.size}")
        if first in (0, second):
            return []
        shift = _trailing_zeros(first)
        index = (first - 1) >> shift
        seed = [[(shift, index)]] if index else []  # index 0: first is a power of two, its root is the seed
        return self._fetch(seed + _path_groups(shift, index, second))

    def _fetch(self, groups: list[list[Key]]) -> list[Hash32]:
        hashes = iter(self.nodes([key for group in groups for key in group]))
        return [_fold([next(hashes) for _ in group]) for group in groups]

    @staticmethod
    def _check(condition: bool, message: str) -> None:
        if not condition:
            raise ValueError(message)


class Frontier:
    """A compact range from leaf 0: the perfect subtrees of the size's binary decomposition.

    O(log n) hashes; `append` streams leaf hashes with flat memory and returns the
    nodes each append completed (the rows a store inserts).
    """

    def __init__(self) -> None:
        self.size = 0
        self._hashes: list[Hash32] = []  # largest subtree first, as _range_keys(0, size)

    @classmethod
    def from_source(cls, source: NodeSource) -> Frontier:
        """Resume from a stored tree: read the O(log n) nodes of its decomposition."""
        frontier = cls()
        frontier.size = source.size
        frontier._hashes = list(source.nodes(_range_keys(0, source.size)))
        return frontier

    def append(self, leaf: Hash32) -> list[Node]:
        """Add one leaf hash; the new leaf node and every subtree it completed, lowest first."""
        _check_hash(leaf, "leaf hash", ValueError)
        index, h = self.size, leaf
        completed = [Node(0, index, h)]
        level = 0
        while index >> level & 1:  # each trailing 1 bit of the old size is a pair to close
            h = node_hash(self._hashes.pop(), h)
            level += 1
            completed.append(Node(level, index >> level, h))
        self._hashes.append(h)
        self.size += 1
        return completed

    def extend(self, leaves: Iterable[Hash32]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> Root:
        """MTH of the leaves appended so far (RFC 9162 §2.1.1)."""
        return Root(_fold(self._hashes)) if self._hashes else empty_root()


class MemoryTree(NodeSource):
    """All perfect subtrees in memory, one bytearray of 32-byte hashes per level."""

    def __init__(self, leaves: Iterable[Hash32] = ()) -> None:
        self._frontier = Frontier()
        self._levels: list[bytearray] = []
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return self._frontier.size

    def append(self, leaf: Hash32) -> list[Node]:
        """Add one leaf hash; returns the nodes it completed (what a store would insert)."""
        completed = self._frontier.append(leaf)
        for level, _, h in completed:  # completed in index order on every level
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += h
        return completed

    def nodes(self, keys: Sequence[Key]) -> list[Hash32]:
        out = []
        for level, index in keys:
            row = self._levels[level] if 0 <= level < len(self._levels) else b""
            self._check(0 <= index and (index + 1) * HASH_SIZE <= len(row), f"no node ({level}, {index})")
            out.append(Hash32(bytes(row[index * HASH_SIZE : (index + 1) * HASH_SIZE])))
        return out

    def root(self) -> Root:
        return self._frontier.root()


# --- verification (RFC 9162 §2.1.3.2, §2.1.4.2) ---------------------------------------------


class RootMismatch(InvalidProof):
    """A well-formed proof that leads to another root than the one expected."""

    def __init__(self, what: str, got: bytes, want: bytes) -> None:
        super().__init__(f"{what}: calculated {got.hex()}, expected {want.hex()}")
        self.got, self.want = got, want


def root_from_inclusion_proof(leaf_hash: Hash32, index: int, size: int, path: Sequence[Hash32]) -> Root:
    """The root that `path` proves for leaf `index` of a tree of `size` leaves (RFC 9162 §2.1.3.2).

    Requires 0 ≤ index < size and exactly as many path hashes as the sizes imply.
    The loop of §2.1.3.2 is split where the paths to `index` and to the last leaf
    diverge: below, the index bits say left or right; above, every hash is a left
    sibling.  Knowing both lengths lets the shape be refused before any hashing.
    """
    _check_count(index, "leaf index")
    _check_count(size, "tree size")
    if not index < size:
        raise InvalidProof(f"leaf index {index} is not below tree size {size}")
    _check_hash(leaf_hash, "leaf hash", InvalidProof)
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    _check_path(path, inner + border)
    return Root(_chain_border(_chain_inner(leaf_hash, index, path[:inner]), path[inner:]))


def verify_inclusion(leaf_hash: Hash32, index: int, size: int, path: Sequence[Hash32], root: Root) -> None:
    """Return if `path` proves leaf `index` in the tree (size, root), else raise InvalidProof.

    The proof binds the leaf to the root; binding the root to the size is the job of
    whoever signed the pair (a path for size 3 also checks against size 4 with the same root).
    """
    _check_hash(root, "root", InvalidProof)
    got = root_from_inclusion_proof(leaf_hash, index, size, path)
    if got != root:
        raise RootMismatch("inclusion proof", got, root)


def root_from_consistency_proof(first: int, second: int, first_root: Root, path: Sequence[Hash32]) -> Root:
    """Check `path` against the first tree and return the second root it proves (RFC 9162 §2.1.4.2).

    Requires 0 < first ≤ second (first == second: the path is empty and the root is
    first_root) and exactly as many path hashes as the sizes imply.
    """
    _check_count(first, "first size")
    _check_count(second, "second size")
    _check_hash(first_root, "first root", InvalidProof)
    if not 0 < first <= second:
        raise InvalidProof(f"need 0 < first size {first} <= second size {second}")
    if first == second:
        _check_path(path, 0)
        return first_root
    # As in §2.1.4.2 step 4, skip the levels where first − 1 ends in 1 bits: the proof
    # starts at the last perfect subtree of the first tree, node (shift, index).
    shift = _trailing_zeros(first)
    index = (first - 1) >> shift
    inner = (index ^ ((second - 1) >> shift)).bit_length()  # ≥ 1 since first < second
    border = (index >> inner).bit_count()
    seeded = 1 if index else 0  # a power-of-two first size is its own last subtree: §2.1.4.2 step 2
    _check_path(path, seeded + inner + border)
    seed, rest = (path[0], path[1:]) if seeded else (first_root, path)
    got_first = _chain_border(_chain_left(seed, index, rest[:inner]), rest[inner:])
    if got_first != first_root:
        raise RootMismatch("consistency proof, first root", got_first, first_root)
    return Root(_chain_border(_chain_inner(seed, index, rest[:inner]), rest[inner:]))


def verify_consistency(first: int, second: int, first_root: Root, second_root: Root, path: Sequence[Hash32]) -> None:
    """Return if `path` proves (second, second_root) extends (first, first_root), else raise InvalidProof.

    Requires 0 ≤ first ≤ second.  first == second: the path is empty and the roots
    equal.  first == 0, which RFC 9162 §2.1.4 leaves undefined: every tree extends the
    empty one, so the path must be empty and first_root the empty root; nothing is
    then learnt about second_root beyond its shape.
    """
    _check_count(first, "first size")
    _check_hash(second_root, "second root", InvalidProof)
    if first == 0:
        _check_count(second, "second size")
        _check_hash(first_root, "first root", InvalidProof)
        _check_path(path, 0)
        if first_root != empty_root():
            raise RootMismatch("consistency from the empty tree, first root", empty_root(), first_root)
        if second == 0 and second_root != first_root:
            raise RootMismatch("consistency of equal sizes, second root", first_root, second_root)
        return
    got = root_from_consistency_proof(first, second, first_root, path)
    if got != second_root:
        raise RootMismatch("consistency proof, second root", got, second_root)


def _chain_inner(seed: bytes, index: int, hashes: Sequence[bytes]) -> bytes:
    for i, h in enumerate(hashes):
        seed = node_hash(h, seed) if index >> i & 1 else node_hash(seed, h)
    return seed


def _chain_left(seed: bytes, index: int, hashes: Sequence[bytes]) -> bytes:
    # The first tree's view of the same path: right siblings lie beyond `first`, skip them.
    for i, h in enumerate(hashes):
        if index >> i & 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border(seed: bytes, hashes: Sequence[bytes]) -> bytes:
    for h in hashes:
        seed = node_hash(h, seed)
    return seed


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _check_count(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidProof(f"{what} must be a non-negative integer, got {value!r}")


def _check_hash(value: object, what: str, error: type[Exception]) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise error(f"{what} must be {HASH_SIZE} bytes, got {got}")


def _check_path(path: Sequence[Hash32], want: int) -> None:
    if not isinstance(path, Sequence) or isinstance(path, (bytes, str)):
        raise InvalidProof(f"path must be a sequence of hashes, got {type(path).__name__}")
    if len(path) != want:
        raise InvalidProof(f"path has {len(path)} hashes, want {want}")
    for i, h in enumerate(path):
        _check_hash(h, f"path[{i}]", InvalidProof)


# --- JSON shapes (SPEC §6) --------------------------------------------------------------------


class InclusionProof(NamedTuple):
    leaf_index: int
    tree_size: int
    path: tuple[Hash32, ...]


class ConsistencyProof(NamedTuple):
    first: int
    second: int
    path: tuple[Hash32, ...]


def inclusion_proof_json(index: int, size: int, path: Sequence[Hash32]) -> dict:
    """SPEC §6: {"leaf_index", "tree_size", "path": [hex, ...]} (RFC 9162 §4.12 fields)."""
    return {"leaf_index": index, "tree_size": size, "path": [h.hex() for h in path]}


def consistency_proof_json(first: int, second: int, path: Sequence[Hash32]) -> dict:
    """SPEC §6: {"first", "second", "path": [hex, ...]}."""
    return {"first": first, "second": second, "path": [h.hex() for h in path]}


def parse_inclusion_proof_json(doc: object) -> InclusionProof:
    """Read the SPEC §6 inclusion shape; InvalidProof naming the field if it is malformed."""
    index, size, path = _parse_proof(doc, ("leaf_index", "tree_size"))
    return InclusionProof(index, size, path)


def parse_consistency_proof_json(doc: object) -> ConsistencyProof:
    """Read the SPEC §6 consistency shape; InvalidProof naming the field if it is malformed."""
    first, second, path = _parse_proof(doc, ("first", "second"))
    return ConsistencyProof(first, second, path)


def _parse_proof(doc: object, sizes: tuple[str, str]) -> tuple[int, int, tuple[Hash32, ...]]:
    want = {*sizes, "path"}
    if not isinstance(doc, dict):
        raise InvalidProof(f"proof must be a JSON object, got {type(doc).__name__}")
    if set(doc) != want:
        raise InvalidProof(f"proof keys are {sorted(doc)}, want {sorted(want)}")
    for key in sizes:
        _check_count(doc[key], key)
    path = doc["path"]
    if not isinstance(path, list):
        raise InvalidProof(f"path must be a list of hex strings, got {type(path).__name__}")
    for i, h in enumerate(path):
        if not isinstance(h, str) or not _HEX_HASH.fullmatch(h):
            raise InvalidProof(f"path[{i}] must be {2 * HASH_SIZE} lower-case hex digits, got {_clip(h)}")
    return doc[sizes[0]], doc[sizes[1]], tuple(Hash32(bytes.fromhex(h)) for h in path)


def _clip(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
