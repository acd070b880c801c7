"""Offline verification of a state proof: one key's value, or its absence, under a state root (SPEC §2, §6).

A proof is the list of RLP node encodings on the key's path in the Merkle
Patricia Trie, root first (chain/trie.py `prove`): each node referenced by the
Keccak-256 of its encoding, nodes under 32 bytes inlined in their parent (Yellow
Paper appendix D), the empty trie's proof is [].  The verifier walks the key's
path from the root, checking that every node hashes to the reference its parent
holds, and ends where the path ends: at the key's value, or where the path
leaves the trie (an empty branch slot, or a leaf or extension whose path
differs), which proves the key absent.  Nothing may follow that node.

An auditor's machine runs this with the standard library and pycryptodome only,
so the module carries its own RLP decoder (Yellow Paper appendix B), strict:
only the canonical encoding decodes (no long form for a short length, no length
with leading zeros, no single byte below 0x80 wrapped as a string, no trailing
bytes), so one proof has exactly one byte form.
"""

from __future__ import annotations

from Crypto.Hash import keccak

from coopchain.chain.errors import InvalidProof, ensure
from coopchain.chain.types import Root

EMPTY_ROOT = Root(bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"))
"""Keccak-256(RLP(b"")): the root of the trie with no keys."""

MAX_RLP_DEPTH = 32
"""Lists nest at most this deep (a trie node nests inlined nodes a few levels at most)."""

HASH_REFERENCE_LENGTH = 32
"""A subnode whose encoding has 32 bytes or more is referenced by its Keccak-256, a shorter one is inlined."""

_NIBBLE = {c: i for i, c in enumerate("0123456789abcdef")}


# --- strict RLP (Yellow Paper appendix B) -------------------------------------------------------


def decode_rlp(data: bytes) -> bytes | list:
    """The item (bytes, or a list of items) that data is the canonical RLP encoding of;
    InvalidProof saying why if it is not one."""
    ensure(isinstance(data, bytes), InvalidProof, f"RLP input must be bytes, not {type(data).__name__}")
    item, end = _decode_item(data, 0, 0)
    ensure(end == len(data), InvalidProof, f"RLP: {len(data) - end} bytes after the item")
    return item


def _decode_item(data: bytes, start: int, depth: int) -> tuple[bytes | list, int]:
    """The item encoded at data[start:] and where it ends."""
    # Plain `if`s rather than `ensure`: this runs once per item, and a message is built only on failure.
    if start >= len(data):
        raise InvalidProof("RLP: input ends where an item should start")
    prefix = data[start]
    if prefix < 0x80:  # a single byte below 0x80 is its own encoding
        return data[start : start + 1], start + 1
    if prefix < 0xB8:  # a string of 0-55 bytes
        begin, length = start + 1, prefix - 0x80
        if length == 1 and begin < len(data) and data[begin] < 0x80:
            raise InvalidProof("RLP: a single byte below 0x80 must not be wrapped as a string")
    elif prefix < 0xC0:  # a longer string, its length in (prefix - 0xb7) bytes
        begin, length = _long_length(data, start, prefix - 0xB7)
    elif prefix < 0xF8:  # a list of 0-55 payload bytes
        return _decode_list(data, start + 1, prefix - 0xC0, depth)
    else:  # a longer list, its length in (prefix - 0xf7) bytes
        begin, length = _long_length(data, start, prefix - 0xF7)
        return _decode_list(data, begin, length, depth)
    end = begin + length
    if end > len(data):
        raise InvalidProof(f"RLP: a string of {length} bytes runs past the input")
    return data[begin:end], end


def _long_length(data: bytes, start: int, size: int) -> tuple[int, int]:
    """Where the payload of a long-form item begins and its length, read from size bytes after the prefix."""
    begin = start + 1 + size
    ensure(begin <= len(data), InvalidProof, "RLP: input ends inside a length")
    ensure(data[start + 1] != 0, InvalidProof, "RLP: a length must not start with a zero byte")
    length = int.from_bytes(data[start + 1 : begin], "big")
    if length < 56:
        raise InvalidProof(f"RLP: long form used for a length of {length} (under 56)")
    return begin, length


def _decode_list(data: bytes, begin: int, length: int, depth: int) -> tuple[list, int]:
    if depth >= MAX_RLP_DEPTH:
        raise InvalidProof(f"RLP: lists nested deeper than {MAX_RLP_DEPTH}")
    end = begin + length
    if end > len(data):
        raise InvalidProof(f"RLP: a list of {length} bytes runs past the input")
    items = []
    position = begin
    while position < end:
        item, position = _decode_item(data, position, depth + 1)
        items.append(item)
    if position != end:
        raise InvalidProof("RLP: a list's last item runs past the list's length")
    return items, end


def _encoded_length(item: bytes | list) -> int:
    """The length of item's canonical RLP encoding (to tell inlined nodes from hashed ones)."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return 1
        payload = len(item)
    else:
        payload = sum(_encoded_length(sub) for sub in item)
    return 1 + payload if payload < 56 else 1 + (payload.bit_length() + 7) // 8 + payload


# --- the trie walk ----------------------------------------------------------------------------------


def _keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def _hex_prefix_decode(encoded: object, where: str) -> tuple[str, bool]:
    """The nibble path (hex digits) and leaf flag of a hex-prefix encoded path (Yellow Paper appendix C)."""
    if not isinstance(encoded, bytes) or not encoded:
        raise InvalidProof(f"{where}: a path must be non-empty bytes")
    digits = encoded.hex()
    if digits[0] not in "0123" or (digits[0] in "02" and digits[1] != "0"):
        raise InvalidProof(f"{where}: 0x{digits} is not a hex-prefix encoded path")
    return digits[1 if digits[0] in "13" else 2 :], digits[0] in "23"


def _subnode(reference: object, where: str) -> bytes | list:
    """A branch or extension's subnode reference, checked: b"", a 32-byte hash or an inlined node under 32 bytes."""
    if isinstance(reference, list):
        if _encoded_length(reference) >= HASH_REFERENCE_LENGTH:
            raise InvalidProof(f"{where}: an inlined subnode of 32 bytes or more must be referenced by hash")
    elif len(reference) not in (0, HASH_REFERENCE_LENGTH):
        raise InvalidProof(f"{where}: a subnode reference of {len(reference)} bytes (want 0, 32 or an inlined node)")
    return reference


def verify_state_proof(root: Root, key: bytes, proof: list[bytes]) -> bytes | None:
    """key's value under root, or None if the proof shows the key absent; InvalidProof saying
    why if the proof does not check (a node that does not hash to its reference, a node missing,
    a node after the end of the key's path, a malformed or non-canonical node)."""
    ensure(isinstance(root, bytes) and len(root) == 32, InvalidProof, "the root must be 32 bytes")
    ensure(isinstance(key, bytes), InvalidProof, "the key must be bytes")
    ensure(isinstance(proof, list) and all(isinstance(node, bytes) for node in proof), InvalidProof,
           "a proof is a list of byte strings")
    if root == EMPTY_ROOT:
        ensure(not proof, InvalidProof, f"the empty trie's proof has no nodes, this one has {len(proof)}")
        return None
    ensure(proof, InvalidProof, "an empty proof proves only the empty trie")
    path = key.hex()
    reference: bytes | list = root
    used = 0
    after_extension = False
    # Plain `if`s in the walk: a reason is formatted only when there is one to give.
    while True:
        if isinstance(reference, list):  # inlined in the node before
            item, where = reference, f"node {used - 1} (an inlined subnode)"
        else:
            if used == len(proof):
                raise InvalidProof(f"the proof ends after {used} nodes; the key's path goes on to 0x{reference.hex()}")
            encoded, where = proof[used], f"node {used}"
            digest = _keccak256(encoded)
            if digest != reference:
                raise InvalidProof(f"{where} hashes to 0x{digest.hex()}, its "
                                   f"{'root' if used == 0 else 'parent'} references 0x{reference.hex()}")
            if used and len(encoded) < HASH_REFERENCE_LENGTH:
                raise InvalidProof(f"{where} has {len(encoded)} bytes: under 32 it must be inlined, not referenced by hash")
            try:
                item = decode_rlp(encoded)
            except InvalidProof as e:
                raise InvalidProof(f"{where} is not canonical RLP: {e}") from e
            used += 1
        if not isinstance(item, list) or len(item) not in (2, 17):
            raise InvalidProof(f"{where} is not a trie node (a list of 2 or 17 items)")
        if len(item) == 17:
            subnodes = [_subnode(sub, where) for sub in item[:16]]
            value = item[16]
            if not isinstance(value, bytes):
                raise InvalidProof(f"{where}: a branch's value must be bytes")
            filled = 16 - subnodes.count(b"") + (value != b"")
            if filled < 2:
                raise InvalidProof(f"{where}: a branch with {filled} of 17 slots filled is not canonical")
            if not path:
                return _end(used, proof, value or None)
            reference, path = subnodes[_NIBBLE[path[0]]], path[1:]
            if reference == b"":
                return _end(used, proof, None)
            after_extension = False
            continue
        if after_extension:
            raise InvalidProof(f"{where}: an extension must be followed by a branch")
        segment, is_leaf = _hex_prefix_decode(item[0], where)
        if is_leaf:
            if not isinstance(item[1], bytes) or not item[1]:
                raise InvalidProof(f"{where}: a leaf's value must be non-empty bytes")
            return _end(used, proof, item[1] if path == segment else None)
        if not segment:
            raise InvalidProof(f"{where}: an extension with an empty path is not canonical")
        if not path.startswith(segment):
            return _end(used, proof, None)
        if item[1] == b"":
            raise InvalidProof(f"{where}: an extension must have a subnode")
        reference, path = _subnode(item[1], where), path[len(segment):]
        after_extension = True


def _end(used: int, proof: list[bytes], value: bytes | None) -> bytes | None:
    """The walk's result, once the key's path has ended at the last node of the proof."""
    if used != len(proof):
        raise InvalidProof(f"the key's path ends at node {used - 1}; {len(proof) - used} more nodes follow")
    return value
