"""The state trie: an Ethereum-compatible Merkle Patricia Trie over a content-addressed node store (SPEC §2, §6).

The trie is the Yellow Paper's (appendix D): leaf, extension and branch nodes,
hex-prefix encoded paths (appendix C), RLP encoded nodes (appendix B), each node
referenced by the Keccak-256 of its encoding, or inlined in its parent when the
encoding is shorter than 32 bytes.  The root node is always referenced by hash,
and the empty trie's root is Keccak-256(RLP(b"")) = `EMPTY_ROOT`.  Keys are used
as given: a caller that wants a "secure" trie hashes its keys first.  An empty
value is no value (as in Ethereum): setting b"" deletes the key.

Persistence.  Nodes live in a store keyed by their hash (content-addressed,
append-only): a node is inserted once and never updated or deleted, so every old
root stays readable for replay and for proofs of old blocks.  The functions here
only read the store, through anything with `get(hash) -> bytes | None` (a dict
works); `trie_update` returns the new root and the new nodes, and the caller
writes them in the block's database transaction.

Why our own trie and not the `trie` package (ethereum/py-trie).  Measured by
bench/bench_trie.py on the same 10^5 random 32-byte keys, one run, the 2-core
machine shared and loaded (so both figures are slow): a block of 1,000 changes
on the 10^5-key state 100 ms here against 326 ms for `trie.HexaryTrie`; 10^5
inserts 11,600 keys/s in blocks of 1,000 against 4,000/s; a proof built in
71 µs against 89 µs and verified offline in 90 µs against 273 µs; peak RSS
239 against 432 MiB.  `HexaryTrie` sets one key at a time and re-encodes and
re-hashes the whole path on every set (its `squash_changes` is slower still),
and it writes every intermediate node into its database (6,100 nodes per such
block against our 3,200), so it could not hand back a block's new nodes without
writing them.  Here a block's batch is applied in one recursive pass over its
sorted keys: each touched node is decoded once, rebuilt once, and encoded and
hashed once, and only nodes reachable from the new root that the batch made are
returned.  RLP was the `rlp` package's, 60% of a batch's time; nodes are now encoded
by `rlp_encode` below and decoded by chain/state_proof.py's strict decoder, and the
nodes a block made stay decoded for the next one: a block of 2,000 changes on a
6,000-key state takes half the time (100 ms to 50 ms, docs/ledger.md "Storage").  Paths are strings of hex digits,
one character per nibble, so `bytes.hex()` and `bytes.fromhex()` convert them.
The offline verifier of a proof lives in chain/state_proof.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from sha3 import keccak_256 as _keccak_256

from coopchain.chain.errors import EncodingError, InvalidProof, StorageError
from coopchain.chain.state_proof import decode_rlp
from coopchain.chain.types import Hash32, Root

EMPTY_ROOT = Root(bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"))
"""Keccak-256(RLP(b"")) = Keccak-256(0x80): the root of the trie with no keys (Yellow Paper eq. 207)."""

_HEX = "0123456789abcdef"
_NIBBLE = {c: i for i, c in enumerate(_HEX)}


class NodeSource(Protocol):
    """Where the trie reads its nodes: the RLP encoding of a node by its Keccak-256, None if absent."""

    def get(self, node_hash: Hash32, /) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class LeafNode:
    """A key's end: the rest of its path (hex digits) and its value (Yellow Paper appendix D)."""

    rest_of_key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class ExtensionNode:
    """A path segment (hex digits, at least one) shared by every key below, then one branch."""

    key_segment: str
    subnode: Ref


@dataclass(frozen=True, slots=True)
class BranchNode:
    """Sixteen subtrees, one per next nibble, and the value of the key that ends here (b"" if none)."""

    subnodes: tuple[Ref, ...]
    value: bytes


Node: TypeAlias = LeafNode | ExtensionNode | BranchNode
Ref: TypeAlias = "bytes | list | Node"
"""A subtree as a parent holds it: b"" if empty, the 32-byte hash of a stored node, a node of
under 32 bytes inlined in its stored parent (its RLP item, as `decode_rlp` returns it, never
mutated), or a node made by this batch.  Stored forms are kept as they are until a change
reaches them, so an untouched subtree costs nothing to encode again."""


def keccak256(data: bytes) -> Hash32:
    """Keccak-256 (the original Keccak padding, not SHA3-256): the trie's node hash.

    safe-pysha3's C Keccak costs 0.6 µs a call here against pycryptodome's 3.9 µs (its
    cffi wrapper), and a 1,000-transaction block hashes about 6,000 times: a third of
    the commit.  The offline verifier (chain/state_proof.py) keeps pycryptodome's, and
    tests/chain/test_trie.py checks the two agree.
    """
    return Hash32(_keccak_256(data).digest())


# --- hex-prefix encoding (Yellow Paper appendix C) ---------------------------------------------
#
# The first nibble carries two flags, 0b00tp: t = 1 for a leaf (terminator), p = 1 for an
# odd number of nibbles.  An even path gets a zero pad nibble after the flags, so the
# whole encoding is whole bytes:  even extension 0x00 ‖ path, odd extension 0x1 ‖ path,
# even leaf 0x20 ‖ path, odd leaf 0x3 ‖ path.


def hex_prefix_encode(path: str, is_leaf: bool) -> bytes:
    """HP(path, t): a nibble path (hex digits) and the leaf flag as bytes (Yellow Paper appendix C)."""
    if len(path) % 2:
        return bytes.fromhex(("3" if is_leaf else "1") + path)
    return bytes.fromhex(("20" if is_leaf else "00") + path)


def hex_prefix_decode(encoded: bytes) -> tuple[str, bool]:
    """The nibble path (hex digits) and leaf flag of a hex-prefix encoding; EncodingError if it is none."""
    digits = encoded.hex()
    flag = digits[:1]
    if flag in ("1", "3"):
        return digits[1:], flag == "3"
    if flag in ("0", "2") and digits[1] == "0":
        return digits[2:], flag == "2"
    raise EncodingError(f"not a hex-prefix encoding: 0x{digits}")


# --- nodes to and from RLP ---------------------------------------------------------------------


def _node_from_rlp(item: object) -> Node:
    """The node an RLP item (a list of 2 or 17 items, as `decode_rlp` returns) stands for;
    its subnodes stay in their stored form (see `Ref`)."""
    if type(item) is list and len(item) == 17 and type(item[16]) is bytes:
        return BranchNode(tuple(item[:16]), item[16])
    if type(item) is list and len(item) == 2 and type(item[0]) is bytes:
        path, is_leaf = hex_prefix_decode(item[0])
        if is_leaf and type(item[1]) is bytes:
            return LeafNode(path, item[1])
        if not is_leaf and path:
            return ExtensionNode(path, item[1])
    raise EncodingError("a trie node is an RLP list of a path and a value or subnode, or of 16 subnodes and a value")


def _load(nodes: NodeSource, ref: Ref) -> Node:
    """The node a non-empty subtree reference stands for, read from the store when it is a hash."""
    if type(ref) is bytes:
        return _node_from_rlp(_decode(nodes, ref))
    if type(ref) is list:
        return _node_from_rlp(ref)
    return ref


# --- RLP for trie nodes (Yellow Paper appendix B) -------------------------------------------------
#
# A trie node is an RLP list whose items are byte strings or (inlined nodes) lists of the same.
# This is RLP restricted to that shape, written out because a commit of 1,000 transactions
# encodes some 3,000 nodes and decodes as many: the `rlp` package's general codec (type
# dispatch per item, sedes inference) took 60% of `trie_update`.  Decoding is the offline
# verifier's strict decoder (chain/state_proof.py, bounded depth, non-canonical forms refused).
# tests/chain/test_trie.py checks both against the `rlp` package on random nodes.

_STRING = [bytes((0x80 + n,)) for n in range(56)]
_LIST = [bytes((0xC0 + n,)) for n in range(56)]


def _long_prefix(base: int, n: int) -> bytes:
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((base + len(length),)) + length


def _rlp_string(item: bytes) -> bytes:
    n = len(item)
    if n == 1 and item[0] < 0x80:
        return item
    return (_STRING[n] if n < 56 else _long_prefix(0xB7, n)) + item


def rlp_encode(item: bytes | list) -> bytes:
    """RLP of a byte string, or of a list of byte strings and lists of the same (a trie node)."""
    if type(item) is bytes:
        return _rlp_string(item)
    if len(item) == 17:
        # A branch: sixteen subnodes, nearly all a 32-byte hash or empty, then the value.
        parts = [_HASH_PREFIX + sub if type(sub) is bytes and len(sub) == 32 else _EMPTY_STRING if sub == b"" else rlp_encode(sub) if type(sub) is list else _rlp_string(sub)
                 for sub in item[:16]]
        value = item[16]
        parts.append(_rlp_string(value) if type(value) is bytes else rlp_encode(value))
    else:
        parts = [_rlp_string(sub) if type(sub) is bytes else rlp_encode(sub) for sub in item]
    payload = b"".join(parts)
    n = len(payload)
    return (_LIST[n] if n < 56 else _long_prefix(0xF7, n)) + payload


_HASH_PREFIX, _EMPTY_STRING = _STRING[32], _STRING[0]


# Decoded nodes by hash.  A node is named by the hash of its encoding, so an entry can never
# go stale, whichever store it came from; RLP decoding is most of the cost of a read.  The
# nodes the last batch made wait in _CREATED until their store says they are written
# (`stored`): then the next block finds its path decoded (20 ms of a 1,000-transaction
# block), and a node that never reached a store is still reported missing when read.  When
# full, the oldest quarter goes (dicts keep insertion order): the nodes near the root,
# rewritten by every block, always stay.
_DECODED: dict[bytes, list] = {}
_DECODED_LIMIT = 50_000  # a decoded branch is about 1.3 KB: at most ~65 MiB
_CREATED: dict[bytes, list] = {}


def stored(node_hashes) -> None:
    """The store has written these nodes of the last `trie_update`: keep them decoded."""
    for node_hash in node_hashes:
        item = _CREATED.get(node_hash)
        if item is not None:
            _remember(node_hash, item)


def _remember(node_hash: bytes, item: list) -> None:
    if len(_DECODED) >= _DECODED_LIMIT:
        for old in list(islice(_DECODED, _DECODED_LIMIT // 4)):
            del _DECODED[old]
    _DECODED[node_hash] = item


def _decode(nodes: NodeSource, node_hash: Hash32, proof: list[bytes] | None = None) -> object:
    """The RLP item of a stored node; StorageError if the store does not hold it or it does not decode.

    With `proof`, the node's encoding is read from the store and appended to it."""
    item = _DECODED.get(node_hash) if proof is None else None
    if item is not None:
        return item
    encoded = nodes.get(node_hash)
    if encoded is None:
        raise StorageError(f"state trie node 0x{node_hash.hex()} is not in the store")
    if proof is not None:
        proof.append(encoded)
    try:
        item = decode_rlp(encoded)
    except InvalidProof as e:
        raise StorageError(f"state trie node 0x{node_hash.hex()} is not RLP: {e}") from e
    _remember(node_hash, item)
    return item


def _rlp_item(node: Node, new_nodes: dict[Hash32, bytes]) -> list:
    """The RLP item of a node (its subnodes encoded first; those of 32+ bytes go to new_nodes)."""
    if type(node) is LeafNode:
        return [hex_prefix_encode(node.rest_of_key, True), node.value]
    if type(node) is ExtensionNode:
        return [hex_prefix_encode(node.key_segment, False), _reference(node.subnode, new_nodes)]
    # Most subnodes are stored and untouched (a hash, b"" or an inlined item): kept as they are.
    return [child if type(child) is bytes or type(child) is list else _reference(child, new_nodes) for child in node.subnodes] + [node.value]


def _reference(ref: Ref, new_nodes: dict[Hash32, bytes]) -> bytes | list:
    """What a parent holds for a subtree: b"" if empty, the node itself if its encoding is under
    32 bytes, else the Keccak-256 of the encoding (and the encoding joins new_nodes)."""
    if type(ref) is bytes or type(ref) is list:  # empty, or stored and unchanged by this batch
        return ref
    if type(ref) is LeafNode:  # most new nodes: rlp_encode of the two strings written out
        item = [hex_prefix_encode(ref.rest_of_key, True), ref.value]
        payload = _rlp_string(item[0]) + _rlp_string(item[1])
        n = len(payload)
        encoded = (_LIST[n] if n < 56 else _long_prefix(0xF7, n)) + payload
    else:
        item = _rlp_item(ref, new_nodes)
        encoded = rlp_encode(item)
    if len(encoded) < 32:
        return item
    node_hash = _keccak_256(encoded).digest()  # keccak256(), without its wrapper: once per new node
    new_nodes[node_hash] = encoded
    _CREATED[node_hash] = item
    return node_hash


# --- reading: one key, and its proof ------------------------------------------------------------


def _walk(nodes: NodeSource, root: Root, key: bytes, proof: list[bytes] | None) -> bytes | None:
    """Follow key's path from root; the value or None.  Appends the encodings of the nodes
    referenced by hash along the way to proof when one is given."""
    if root == EMPTY_ROOT:
        return None
    path = key.hex()
    ref: object = root
    while True:
        if type(ref) is list:  # inlined in its parent
            item = ref
        else:
            item = _decode(nodes, ref, proof)
        if len(item) == 17:
            if not path:
                return item[16] or None
            ref = item[_NIBBLE[path[0]]]
            path = path[1:]
            if ref == b"":
                return None
        else:
            segment, is_leaf = hex_prefix_decode(item[0])
            if is_leaf:
                return item[1] if path == segment else None
            if not path.startswith(segment):
                return None
            path = path[len(segment):]
            ref = item[1]


def trie_get(nodes: NodeSource, root: Root, key: bytes) -> bytes | None:
    """The value of key in the trie of the given root, None if the key is absent."""
    return _walk(nodes, root, key, None)


def prove(nodes: NodeSource, root: Root, key: bytes) -> list[bytes]:
    """A proof for key, present or absent (SPEC §6): the RLP encodings of the nodes referenced by
    hash on key's path, root first, down to the leaf, or to where the path leaves the trie.
    Nodes inlined in their parent are inside its encoding; the empty trie's proof is []."""
    proof: list[bytes] = []
    _walk(nodes, root, key, proof)
    return proof


# --- writing: a batch of changes ------------------------------------------------------------------


def trie_update(
    nodes: NodeSource, root: Root, changes: Mapping[bytes, bytes | None]
) -> tuple[Root, dict[Hash32, bytes]]:
    """Apply a batch of changes (key -> new value; None or b"" deletes) to the trie of the given
    root, writing nothing: the new root and the nodes to insert, {Keccak-256: RLP}.

    The new nodes are those referenced by hash from the new root (encodings of 32+ bytes) and
    the root node itself, even if shorter, that this batch created; nodes it left untouched are
    not repeated.  A node can still equal one stored long ago (a key deleted, then set back), so
    the store inserts them as "insert or ignore": content addressing makes that a no-op.
    """
    items = sorted((key.hex(), value or None) for key, value in changes.items())
    _CREATED.clear()
    new_root = _apply(nodes, b"" if root == EMPTY_ROOT else bytes(root), items)
    if new_root == b"":
        return EMPTY_ROOT, {}
    if type(new_root) is bytes:  # nothing changed
        return Root(new_root), {}
    new_nodes: dict[Hash32, bytes] = {}
    item = _rlp_item(new_root, new_nodes)
    encoded = rlp_encode(item)
    root_hash = keccak256(encoded)
    new_nodes[root_hash] = encoded
    _CREATED[root_hash] = item
    return Root(root_hash), new_nodes


Change: TypeAlias = tuple[str, "bytes | None"]
"""A change below a node: the rest of its key's path (hex digits) and the new value, None deletes."""


def _apply(nodes: NodeSource, ref: Ref, changes: list[Change]) -> Ref:
    """The subtree ref after the changes (sorted by path, distinct paths); ref itself if they
    change nothing, so that untouched stored nodes keep their hash and are not written again."""
    if ref == b"":
        return _build([c for c in changes if c[1] is not None])
    node = _load(nodes, ref)
    if type(node) is BranchNode:
        return _apply_branch(nodes, ref, node, changes)
    if type(node) is ExtensionNode:
        return _apply_extension(nodes, ref, node, changes)
    if len(changes) == 1 and changes[0][0] == node.rest_of_key:
        # The common case (a key set again, a nonce, an entry rewritten): what the merge below gives, without it.
        value = changes[0][1]
        if value is None:
            return b""
        return ref if value == node.value else LeafNode(node.rest_of_key, value)
    # A leaf holds one key: merge it with the changes and build the subtree afresh.
    merged = {path: value for path, value in changes if value is not None}
    if not any(path == node.rest_of_key for path, _ in changes):
        merged[node.rest_of_key] = node.value
    if merged == {node.rest_of_key: node.value}:
        return ref
    return _build(sorted(merged.items()))


def _apply_branch(nodes: NodeSource, ref: Ref, node: BranchNode, changes: list[Change]) -> Ref:
    subnodes = list(node.subnodes)
    value = node.value
    start = 0
    if changes[0][0] == "":  # the key that ends at this branch (sorted first)
        value = changes[0][1] or b""
        start = 1
    changed = value != node.value
    for digit, group in _by_first_nibble(changes, start):
        index = _NIBBLE[digit]
        old = subnodes[index]
        subnodes[index] = new = _apply(nodes, old, group)
        changed = changed or new is not old
    if not changed:
        return ref
    filled = 16 - subnodes.count(b"")  # b"" equals no node and no inlined item
    if filled >= 2 or (filled and value):
        return BranchNode(tuple(subnodes), value)
    if not filled:
        return LeafNode("", value) if value else b""
    # One subtree and no value left: the branch is no longer needed (Yellow Paper: a branch
    # has at least two of its 17 slots filled), its nibble moves into the path below.
    only = next(i for i, sub in enumerate(subnodes) if sub != b"")
    return _prefixed(nodes, _HEX[only], subnodes[only])


def _apply_extension(nodes: NodeSource, ref: Ref, node: ExtensionNode, changes: list[Change]) -> Ref:
    segment = node.key_segment
    inside = [(path[len(segment):], value) for path, value in changes if path.startswith(segment)]
    outside = [c for c in changes if c[1] is not None and not c[0].startswith(segment)]
    if not outside:  # deleting keys off the segment changes nothing
        if not inside:
            return ref
        subnode = _apply(nodes, node.subnode, inside)
        return ref if subnode is node.subnode else _prefixed(nodes, segment, subnode)
    # New keys leave the segment after its first k nibbles: split it there into
    # segment[:k], a branch, and the rest below the branch's nibble segment[k].
    first, last = min(segment, outside[0][0]), max(segment, outside[-1][0])
    k = _common_prefix_length(first, last)
    rest = segment[k + 1:]
    subnodes: list[Ref] = [b""] * 16
    subnodes[_NIBBLE[segment[k]]] = ExtensionNode(rest, node.subnode) if rest else node.subnode
    branch = BranchNode(tuple(subnodes), b"")
    below = [(path[k:], value) for path, value in changes if path.startswith(segment[:k])]
    subtree = _apply(nodes, branch, below)
    return _prefixed(nodes, segment[:k], subtree) if k else subtree


def _prefixed(nodes: NodeSource, prefix: str, ref: Ref) -> Ref:
    """The subtree ref moved below a path segment: the segment joins the path of a leaf or an
    extension, and becomes an extension above a branch."""
    if ref == b"":
        return b""
    node = _load(nodes, ref)
    if type(node) is LeafNode:
        return LeafNode(prefix + node.rest_of_key, node.value)
    if type(node) is ExtensionNode:
        return ExtensionNode(prefix + node.key_segment, node.subnode)
    return ExtensionNode(prefix, ref)


def _build(entries: list[tuple[str, bytes]]) -> Ref:
    """The subtree of entries (sorted, distinct paths, non-empty values) built from nothing
    (the Yellow Paper's c(I, i) for a fresh subtree, `patricialize` in execution-specs)."""
    if not entries:
        return b""
    if len(entries) == 1:
        return LeafNode(*entries[0])
    k = _common_prefix_length(entries[0][0], entries[-1][0])  # sorted: shared by all
    if k:
        return ExtensionNode(entries[0][0][:k], _build_branch([(path[k:], value) for path, value in entries]))
    return _build_branch(entries)


def _build_branch(entries: list[tuple[str, bytes]]) -> BranchNode:
    subnodes: list[Ref] = [b""] * 16
    value = b""
    start = 0
    if entries[0][0] == "":
        value = entries[0][1]
        start = 1
    for digit, group in _by_first_nibble(entries, start):
        subnodes[_NIBBLE[digit]] = _build(group)
    return BranchNode(tuple(subnodes), value)


def _by_first_nibble(changes: list, start: int):
    """(nibble, the changes from start on that begin with it, that nibble removed), in order;
    changes are sorted and non-empty from start on."""
    end = len(changes)
    i = start
    while i < end:
        digit = changes[i][0][0]
        j = i + 1
        while j < end and changes[j][0][0] == digit:
            j += 1
        yield digit, [(path[1:], value) for path, value in changes[i:j]]
        i = j


def _common_prefix_length(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
