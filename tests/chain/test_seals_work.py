"""Proof-of-work seals `pow` and `rpca16` (SPEC §3, chain/seals/work.py) on real SQLite chains.

Chains are mined at easy targets (2^248: 256 tries a block on average) and their
block clocks are driven through `Ledger.commit(timestamp=...)`, so the
retargeting is exercised with known intervals.  The PoW predicate is re-derived
here with hashlib, the RPCA16 hash with chain.x16 and its worked example vector.
"""

import hashlib
import json
import random
import sqlite3
from dataclasses import replace

import pytest

from coopchain.chain import x16
from coopchain.chain.block import ChainConfig, Header, block_hash, encode_header, sealing_bytes, sign_header
from coopchain.chain.errors import InvalidBlock
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger, seal_context
from coopchain.chain.seals import SealContext, seal_for
from coopchain.chain.seals.work import MAX_NONCE, TWO_256, WorkParams, retarget, target_hex
from coopchain.chain.transaction import sign_transaction
from coopchain.chain.types import Hash32
from coopchain.chain.verify import BadBlock, replay_chain, verify_chain
from tests.conftest import ROOT

CHAIN = "work-chain"
KINDS = ["pow", "rpca16"]
EASY = 2**248
SECOND = 10**6  # header clocks are microseconds
PARAMS = {"target": target_hex(EASY), "interval_ms": 1000, "window": 4}
VECTOR = ROOT / "tests" / "data" / "vectors" / "rpca16_example.json"


def _key(scheme: str, n: int) -> PrivateKey:
    return PrivateKey.from_private_bytes(scheme, bytes([n]) * 32)


NODE, USER = _key("ed25519", 1), _key("ed25519", 2)


class Chain:
    """A ledger and its user's next nonce; `add(step)` commits one record `step` µs after the head."""

    def __init__(self, path, kind: str, params: dict = PARAMS) -> None:
        self.path = path / "ledger.db"
        self.ledger = Ledger.create(f"sqlite:///{self.path}", NODE, CHAIN, seal=kind, seal_params=params)
        self.nonce = 0

    def add(self, step: int = SECOND) -> Header:
        tx = sign_transaction(USER, CHAIN, self.nonce, "record.put", {"key": f"k{self.nonce}", "value": self.nonce})
        self.nonce += 1
        return self.ledger.commit([tx], timestamp=self.ledger.head().timestamp + step).header

    def context(self, height: int) -> SealContext:
        """The seal context of block `height` (its parent and ancestors)."""
        store = self.ledger.store
        return seal_context(store, store, self.ledger.config, self.ledger.header(height - 1))


@pytest.fixture(params=KINDS)
def chain(request, tmp_path):
    built = Chain(tmp_path, request.param)
    for _ in range(3):
        built.add()
    yield built
    built.ledger.close()


def sha256d_value(header: Header, nonce: int) -> int:
    """The pow predicate's left side, written out: SHA-256(SHA-256(sealing ‖ nonce_be64)) big-endian."""
    data = sealing_bytes(header) + nonce.to_bytes(8, "big")
    return int.from_bytes(hashlib.sha256(hashlib.sha256(data).digest()).digest(), "big")


def rpca16_value(header: Header, nonce: int) -> int:
    return int.from_bytes(x16.rpca16(sealing_bytes(header) + nonce.to_bytes(8, "big"), header.previous), "big")


REFERENCE = {"pow": sha256d_value, "rpca16": rpca16_value}


# -- sealed chains ------------------------------------------------------------------


def test_a_sealed_chain_verifies_and_replays(chain):
    verified, replayed = verify_chain(chain.ledger.store), replay_chain(chain.ledger.store)
    assert verified == replayed
    assert (verified.blocks, verified.transactions) == (4, 3)


def test_every_seal_has_kind_target_and_nonce(chain):
    kind = chain.ledger.config.seal
    for height in (1, 2, 3):
        seal = chain.ledger.header(height).seal
        assert set(seal) == {"kind", "target", "nonce"} and seal["kind"] == kind
        assert seal["target"] == target_hex(EASY)  # on schedule at one target: unchanged
        assert isinstance(seal["nonce"], int) and 0 <= seal["nonce"] <= MAX_NONCE


def test_the_nonce_meets_the_target_by_the_written_out_hash(chain):
    """Independent of chain.seals: the found nonce meets the target and every smaller one fails (search from 0)."""
    value = REFERENCE[chain.ledger.config.seal]
    for height in (1, 2, 3):
        header = chain.ledger.header(height)
        target, nonce = int(header.seal["target"], 16), header.seal["nonce"]
        assert value(header, nonce) < target
        assert all(value(header, n) >= target for n in range(nonce))


def test_the_rpca16_seal_hashes_with_x16_ordered_by_the_parent_hash(tmp_path):
    built = Chain(tmp_path, "rpca16")
    header = built.add()
    assert header.previous == block_hash(built.ledger.header(0))
    hasher = seal_for("rpca16").hasher(header)
    for nonce in (0, 1, header.seal["nonce"], MAX_NONCE):
        assert hasher(nonce) == x16.rpca16(sealing_bytes(header) + nonce.to_bytes(8, "big"), header.previous)


def test_the_pow_seal_hashes_with_sha256d():
    header = Header(CHAIN, 5, Hash32(bytes(range(32))), 123, bytes(32), 1, bytes(32), bytes(32), {"kind": "pow"})
    hasher = seal_for("pow").hasher(header)
    for nonce in (0, 1, 2**32, MAX_NONCE):
        assert int.from_bytes(hasher(nonce), "big") == sha256d_value(header, nonce)


def test_the_rpca16_example_vector_still_holds():
    vector = json.loads(VECTOR.read_text())
    got = x16.rpca16(vector["header_utf8"].encode(), bytes.fromhex(vector["prev_hash_hex"]))
    assert got.hex() == vector["L_hex"]


# -- tampering found by verify_chain ------------------------------------------------


def rewrite_head(built: Chain, seal: dict) -> int:
    """Give the head block another seal, re-signed by the node (so only the seal is wrong), as an attacker with the file could."""
    head = built.ledger.head()
    forged = sign_header(replace(head, seal=seal), NODE)
    conn = sqlite3.connect(built.path)
    conn.execute("DROP TRIGGER blocks_no_update")
    conn.execute("UPDATE blocks SET header = ?, hash = ? WHERE height = ?", (encode_header(forged), block_hash(forged), head.height))
    conn.commit()
    conn.close()
    return head.height


def test_a_tampered_nonce_is_refused_naming_the_block(chain):
    head = chain.ledger.head()
    value, target = REFERENCE[chain.ledger.config.seal], int(head.seal["target"], 16)
    wrong = next(n for n in range(head.seal["nonce"] + 1, MAX_NONCE) if value(head, n) >= target)
    height = rewrite_head(chain, {**head.seal, "nonce": wrong})
    with pytest.raises(BadBlock, match="target not met") as caught:
        verify_chain(chain.ledger.store)
    assert caught.value.height == height == 3


def test_a_tampered_target_is_refused_naming_the_block(chain):
    head = chain.ledger.head()
    height = rewrite_head(chain, {**head.seal, "target": "f" * 64})  # easier: the hash still meets it
    with pytest.raises(BadBlock, match=f"target not the retargeted one: got f{{64}}, want {target_hex(EASY)}") as caught:
        verify_chain(chain.ledger.store)
    assert caught.value.height == height == 3


# -- refusals by the seal's verify ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": "signed"}, "seal kind 'signed' is not"),
        ({"kind": None}, "seal kind None is not"),
        ({"nonce": None}, "exactly the fields"),  # removed (None marks removal)
        ({"target": None}, "exactly the fields"),
        ({"extra": 1}, "exactly the fields"),
        ({"nonce": -1}, "nonce -1 is not an integer in 0..9007199254740991"),
        ({"nonce": MAX_NONCE + 1}, "nonce 9007199254740992 is not an integer"),
        ({"nonce": True}, "nonce True is not an integer"),
        ({"nonce": "7"}, "nonce '7' is not an integer"),
        ({"target": "F" * 64}, "64 lowercase hex digits"),
        ({"target": "0" * 63}, "64 lowercase hex digits"),
        ({"target": "0x" + "0" * 62}, "64 lowercase hex digits"),
        ({"target": 5}, "64 lowercase hex digits"),
        ({"target": "0" * 64}, "is zero"),
        ({"target": target_hex(EASY - 1)}, "target not the retargeted one"),
    ],
)
def test_malformed_seals_are_refused_with_the_reason(chain, change, reason):
    head = chain.ledger.head()
    seal = dict(head.seal)
    for field, value in change.items():
        if value is None and field != "kind":
            del seal[field]
        else:
            seal[field] = value
    with pytest.raises(InvalidBlock, match=reason):
        seal_for(chain.ledger.config.seal).verify(replace(head, seal=seal), chain.context(head.height))


def test_the_clean_head_passes_the_seals_verify(chain):
    head = chain.ledger.head()
    seal_for(chain.ledger.config.seal).verify(head, chain.context(head.height))


def test_a_changed_header_field_breaks_the_work(chain):
    """The work covers the sealing bytes: moving the clock by 1 µs needs a new nonce (or, by luck, not)."""
    head = chain.ledger.head()
    seal, ctx = seal_for(chain.ledger.config.seal), chain.context(head.height)
    value, target = REFERENCE[chain.ledger.config.seal], int(head.seal["target"], 16)
    moved = next(replace(head, timestamp=head.timestamp + d) for d in range(1, 1000) if value(replace(head, timestamp=head.timestamp + d), head.seal["nonce"]) >= target)
    with pytest.raises(InvalidBlock, match="target not met"):
        seal.verify(moved, ctx)


# -- genesis parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "exactly"),
        ({"target": target_hex(EASY), "interval_ms": 1000}, "exactly"),
        ({**PARAMS, "max_target": target_hex(EASY)}, "exactly"),
        ({**PARAMS, "target": "ab"}, "seal_params.target must be 64 lowercase hex digits"),
        ({**PARAMS, "target": "0" * 64}, "seal_params.target is zero"),
        ({**PARAMS, "interval_ms": 0}, "interval_ms must be an integer in 1.."),
        ({**PARAMS, "interval_ms": 1.5}, "interval_ms must be an integer"),
        ({**PARAMS, "interval_ms": True}, "interval_ms must be an integer"),
        ({**PARAMS, "interval_ms": "1000"}, "interval_ms must be an integer"),
        ({**PARAMS, "window": 0}, "window must be an integer in 1..1024"),
        ({**PARAMS, "window": 1025}, "window must be an integer in 1..1024"),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_bad_genesis_parameters_are_refused(kind, params, reason):
    with pytest.raises(InvalidBlock, match=reason):
        seal_for(kind).check_params(params)


def test_ledger_create_refuses_bad_parameters(tmp_path):
    with pytest.raises(InvalidBlock, match="window"):
        Ledger.create(f"sqlite:///{tmp_path}/ledger.db", NODE, CHAIN, seal="pow", seal_params={**PARAMS, "window": 0})


# -- retargeting ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_target_follows_the_block_interval(tmp_path, kind):
    """window 2, interval 1 s: two fast blocks (100 ms) make it harder, slow ones (10 s) easier, up to the genesis target."""
    built = Chain(tmp_path, kind, {**PARAMS, "window": 2})
    steps = [SECOND, SECOND // 10, SECOND // 10, 10 * SECOND, 10 * SECOND, 10 * SECOND, 10 * SECOND]
    targets = [int(built.add(step).seal["target"], 16) for step in steps]
    t1, t2, t3, t4, t5, t6, t7 = targets
    assert t1 == t2 == EASY  # block 1 takes the initial target; block 2 follows a 1 s interval at it
    assert t3 < t2 and t4 < t3  # faster than 1 s: harder
    assert t4 == t3 // 4  # at most fourfold per block
    assert t5 > t4 and t6 > t5  # slower: easier
    assert t6 == t7 == EASY  # never easier than the genesis target
    verify_chain(built.ledger.store)
    built.ledger.close()


def fake_chain(timestamps: list[int], targets: list[int], params: WorkParams) -> SealContext:
    """A context over headers with these clocks and targets (genesis first): retarget reads nothing else."""
    headers = [
        Header(CHAIN, h, Hash32(bytes(32)), t, bytes(32), 1, bytes(32), bytes(32), {"kind": "pow"} if h == 0 else {"kind": "pow", "target": target_hex(target), "nonce": 0})
        for h, (t, target) in enumerate(zip(timestamps, targets))
    ]
    config = ChainConfig(CHAIN, "node", "pow", {"target": target_hex(params.target), "interval_ms": params.interval_us // 1000, "window": params.window})
    return SealContext(config, headers[-1], lambda h: headers[h], lambda key: None)


def naive_retarget(timestamps: list[int], targets: list[int], params: WorkParams) -> int:
    """The rule as written in chain/seals/work.py's docstring, by rationals."""
    from fractions import Fraction

    h = len(timestamps)  # the block being sealed
    n = min(params.window, h - 1)
    if n == 0:
        return params.target
    window_targets = [params.target if i == 0 else targets[i] for i in range(h - n, h)]
    rate = Fraction(sum(TWO_256 // t for t in window_targets), timestamps[h - 1] - timestamps[h - 1 - n])  # hashes per µs
    wanted = int(Fraction(TWO_256) / (rate * params.interval_us))  # the target that takes one interval at this rate
    previous = params.target if h == 1 else targets[h - 1]
    return min(max(wanted, max(1, previous // 4)), min(params.target, previous * 4))


@pytest.mark.parametrize(
    ("gap", "expected"),
    [(SECOND, EASY >> 4), (SECOND // 2, EASY >> 5), (2 * SECOND, EASY >> 3), (SECOND // 100, EASY >> 6), (100 * SECOND, EASY >> 2)],
)
def test_retarget_scales_by_time_over_work_and_clamps_fourfold(gap, expected):
    params = WorkParams(EASY, SECOND, 3)
    at = EASY >> 4
    ctx = fake_chain([gap * i for i in range(6)], [EASY] + [at] * 5, params)
    assert retarget(ctx, params) == expected


def test_retarget_matches_a_naive_reference_on_random_histories():
    rng = random.Random(2024)
    for _ in range(300):
        params = WorkParams(rng.choice([2**255, EASY, 2**200, TWO_256 - 1]), rng.randint(1, 5000) * 1000, rng.randint(1, 6))
        length = rng.randint(1, 10)
        timestamps = [0]
        for _ in range(length - 1):
            timestamps.append(timestamps[-1] + rng.randint(1, 3 * params.interval_us))
        targets = [params.target] + [rng.randint(max(1, params.target >> 8), params.target) for _ in range(length - 1)]
        ctx = fake_chain(timestamps, targets, params)
        assert retarget(ctx, params) == naive_retarget(timestamps, targets, params)
