"""chain.state.StateCache: the values a committer reads, carried from block to block, are the trie's own."""

import random

from coopchain.chain.state import StateCache, trie_key
from coopchain.chain.trie import EMPTY_ROOT, trie_get, trie_update


def _apply(store: dict, root: bytes, changes: dict) -> bytes:
    root, nodes = trie_update(store, root, {trie_key(k): v for k, v in changes.items()})
    store.update(nodes)
    return root


def test_reads_across_blocks_equal_the_trie_at_each_root():
    rng = random.Random(5)
    keys = [b"nonce:%d" % i for i in range(60)] + [b"absent:%d" % i for i in range(10)]
    store, root, cache = {}, EMPTY_ROOT, StateCache()
    for _ in range(40):
        read = cache.reader(store, root)
        for key in rng.sample(keys, 30):  # read before and after being cached: the trie's value both times
            assert read(key) == trie_get(store, root, trie_key(key))
            assert read(key) == trie_get(store, root, trie_key(key))
        changes = {}
        for key in rng.sample(keys[:60], 15):
            changes[key] = rng.choice([rng.randbytes(rng.choice([1, 5, 300])), b"", None])
        new_root = _apply(store, root, changes)
        cache.advance(root, new_root, changes)
        root = new_root


def test_a_reader_for_another_root_does_not_see_the_values_held():
    store = {}
    first = _apply(store, EMPTY_ROOT, {b"k": b"one"})
    second = _apply(store, first, {b"k": b"two"})
    cache = StateCache()
    assert cache.reader(store, first)(b"k") == b"one"
    assert cache.reader(store, second)(b"k") == b"two"  # not the value held for `first`
    assert cache.reader(store, first)(b"k") == b"one"
    cache.advance(second, EMPTY_ROOT, {b"k": b"x"})  # a block on another head than the one held: emptied
    assert cache.root is None and cache.values == {}


def test_values_beyond_the_limit_are_read_but_not_held():
    store = {}
    root = _apply(store, EMPTY_ROOT, {b"big": b"v" * 1000, b"small": b"s"})
    cache = StateCache(limit_bytes=100)
    read = cache.reader(store, root)
    assert read(b"big") == b"v" * 1000 and b"big" not in cache.values
    assert read(b"small") == b"s" and b"small" in cache.values


def test_a_late_read_through_the_old_roots_reader_is_not_held_for_the_new_root():
    store = {}
    r0 = _apply(store, EMPTY_ROOT, {b"k": b"old", b"other": b"x"})
    r1 = _apply(store, r0, {b"k": b"new"})
    cache = StateCache()
    read0 = cache.reader(store, r0)
    assert read0(b"other") == b"x"  # something held, so advance moves the dict on to r1
    cache.advance(r0, r1, {b"k": b"new"})
    assert read0(b"k") == b"old"  # still r0's value for its own reader
    assert cache.reader(store, r1)(b"k") == trie_get(store, r1, trie_key(b"k")) == b"new"
