"""Proofs served over HTTP check against independent data: the RFC 6962 verifier of chain.merkle
with roots read from the block headers, or recomputed from the block hashes; asked twice, since
the second answer comes from the read cache."""

from __future__ import annotations

import pytest

from coopchain.chain import merkle
from coopchain.chain.encoding import canonical
from coopchain.chain.errors import InvalidProof


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize("attempt", [1, 2])
def test_transaction_proofs_verify_against_the_block_header(server, attempt):
    with server.client("auditor") as c:
        for cooperative, tx_hash in server.records.items():
            proof = c.get(f"/proofs/transactions/{tx_hash}").json()
            tx = c.get(f"/transactions/{tx_hash}").json()
            header = c.get(f"/blocks/{proof['height']}").json()["header"]
            leaf = merkle.leaf_hash(canonical(tx["transaction"]))
            merkle.verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], [_h(p) for p in proof["path"]], _h(header["transactions_root"]))
            assert proof["block"] == c.get(f"/blocks/{proof['height']}").json()["hash"]


@pytest.mark.parametrize("attempt", [1, 2])
def test_block_and_consistency_proofs_verify_against_history_roots(server, attempt):
    with server.client("participant") as c:
        blocks = sorted(c.get("/blocks").json()["data"], key=lambda b: b["height"])
        leaves = [merkle.leaf_hash(_h(b["hash"])) for b in blocks]
        # The root of the first `size` blocks: a header's history root covers the blocks before it;
        # the whole tree's root is recomputed here from the block hashes.
        roots = {b["height"]: _h(b["header"]["history_root"]) for b in blocks if b["height"] > 0}
        roots[len(blocks)] = merkle.root(leaves)
        for size in range(1, len(blocks) + 1):
            for height in range(size):
                proof = c.get(f"/proofs/blocks/{height}", params={"tree_size": size}).json()
                merkle.verify_inclusion(leaves[height], height, size, [_h(p) for p in proof["path"]], roots[size])
        for first in range(1, len(blocks) + 1):
            for second in range(first, len(blocks) + 1):
                proof = c.get("/proofs/consistency", params={"first": first, "second": second}).json()
                merkle.verify_consistency(first, second, roots[first], roots[second], [_h(p) for p in proof["path"]])


def test_a_served_proof_with_a_flipped_bit_fails(server):
    with server.client("auditor") as c:
        with_path = c.get("/proofs/consistency", params={"first": 1, "second": 3}).json()
        blocks = sorted(c.get("/blocks").json()["data"], key=lambda b: b["height"])
    leaves = [merkle.leaf_hash(_h(b["hash"])) for b in blocks]
    path = [bytearray(_h(p)) for p in with_path["path"]]
    assert path
    path[0][0] ^= 1
    with pytest.raises(InvalidProof):
        merkle.verify_consistency(1, 3, merkle.root(leaves[:1]), merkle.root(leaves), [bytes(p) for p in path])
