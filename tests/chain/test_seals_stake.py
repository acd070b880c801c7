"""The `pos` and `endorsement` seals (SPEC §3) on real SQLite chains: sealing, verify/replay, every refusal."""

import hashlib
import time
import re
from dataclasses import replace

import pytest
import rlp

import coopchain.chain.ledger as chain_ledger
from coopchain.chain import merkle
from coopchain.chain.block import Header, block_hash, sealing_bytes
from coopchain.chain.errors import InvalidBlock, InvalidTransaction
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger, seal_context
from coopchain.chain.seals import seal_for
from coopchain.chain.seals.endorsement import NotEnoughMembers, decode_policy, endorse, policy_payload
from coopchain.chain.namespaces import policy_key
from coopchain.chain.seals.pos import MICROS, NoEligibleStake, balance_key, kernel, stake_key
from coopchain.chain.state import StateView
from coopchain.chain.transaction import sign_transaction
from coopchain.chain.verify import replay_chain, verify_chain

CHAIN = "stake-chain"
EASY = "f" * 64  # any coin-age of at least one coin-second meets it
HARD = f"{2**256 // 10**11:064x}"  # 1,000 coins meet it with certainty only after 10^8 s; per second, p = age / 10^8


def record(key, nonce, name="k", value=1):
    return sign_transaction(key, CHAIN, nonce, "record.put", {"key": name, "value": value})


def keys(n, scheme="ed25519"):
    return [PrivateKey.generate(scheme) for _ in range(n)]


def text(key):
    return key.public_key.to_text()


def create(tmp_path, monkeypatch, seal, params, others, back=0):
    """A chain whose genesis lies `back` seconds in the past (coin-age needs time to grow)."""
    node = PrivateKey.generate("ed25519")
    genesis_time = chain_ledger.now_micros() - back * MICROS
    with monkeypatch.context() as m:
        m.setattr(chain_ledger, "now_micros", lambda: genesis_time)
        ledger = Ledger.create(f"sqlite:///{tmp_path}/ledger.db", node, CHAIN, seal=seal, seal_params=params, other_keys=others)
    return ledger, node


def context(ledger, height=None):
    """The seal context of the block after `height` (default: after the head)."""
    parent = ledger.head() if height is None else ledger.header(height)
    return seal_context(ledger.store, ledger.store, ledger.config, parent)


def forged(ledger, seal, timestamp, parent=None):
    """A header after `parent` (default: the head) carrying `seal`; only the seal is meant to be judged."""
    parent = parent or ledger.head()
    return Header(CHAIN, parent.height + 1, block_hash(parent), timestamp, merkle.empty_root(), 0, parent.state_root, merkle.empty_root(), seal)


def state_int(ledger, key, height=None):
    header = ledger.head() if height is None else ledger.header(height)
    return rlp.sedes.big_endian_int.deserialize(rlp.decode(StateView(ledger.store, header.state_root, {}).get(key)))


# -- proof of stake --------------------------------------------------------------------------


@pytest.fixture
def stakers():
    return keys(2) + keys(1, "p256")


@pytest.fixture
def easy(tmp_path, monkeypatch, stakers):
    params = {"stakes": {text(k): c for k, c in zip(stakers, (3, 5, 7))}, "target": EASY}
    ledger, _ = create(tmp_path, monkeypatch, "pos", params, stakers[:2], back=1000)
    yield ledger
    ledger.close()


@pytest.fixture
def hard(tmp_path, monkeypatch, stakers):
    """Staker 0 holds 1,000 coins at the hard target; the genesis lies 10^8 s (about 3 years) back."""
    params = {"stakes": {text(stakers[0]): 1000, text(stakers[1]): 1}, "target": HARD}
    ledger, _ = create(tmp_path, monkeypatch, "pos", params, stakers[:1], back=10**8)
    yield ledger
    ledger.close()


def test_pos_chain_commits_verifies_and_replays(easy, stakers):
    writer = keys(1)[0]
    genesis = easy.header(0)
    assert state_int(easy, balance_key(text(stakers[2])), 0) == 7 and state_int(easy, stake_key(text(stakers[2])), 0) == 0
    for i in range(6):
        block = easy.commit([record(writer, i, f"k{i}", i)])
        seal = block.header.seal
        assert seal["staker"] in {text(stakers[0]), text(stakers[1])}  # only keys the node holds
        assert block.header.timestamp == seal["second"] * MICROS
        assert state_int(easy, stake_key(seal["staker"])) == block.header.height  # its coin-age restarts here
    assert easy.header(1).seal["second"] == genesis.timestamp // MICROS + 1  # the first second after the parent
    assert verify_chain(easy.store).blocks == 7
    assert replay_chain(easy.store).state_root == easy.head().state_root


def test_the_kernel_is_sha256_of_an_ancestor_hash_the_staker_and_the_second(easy, stakers):
    writer = keys(1)[0]
    for i in range(3):
        easy.commit([record(writer, i)])
    seal = easy.header(3).seal
    modifier = block_hash(easy.header(1))  # depth 1: the parent's previous, fixed before the parent was made
    reference = hashlib.sha256(modifier + seal["staker"].encode() + seal["second"].to_bytes(8, "big")).hexdigest()
    assert seal["kernel"] == reference == kernel(modifier, seal["staker"], seal["second"]).hex()


def test_a_stake_meets_the_hard_target_only_with_enough_coin_age(hard, stakers):
    writer = keys(1)[0]
    block = hard.commit([record(writer, 0)])
    assert block.header.seal["staker"] == text(stakers[0])
    assert state_int(hard, stake_key(text(stakers[0]))) == 1
    # Staking again from the coin-age just spent: 1 .. 20 s of age, p <= 2e-7 per second.
    with pytest.raises(NoEligibleStake, match="meets the target"):
        hard.commit([record(writer, 1)], timestamp=block.header.timestamp + 5 * MICROS)
    later = hard.commit([record(writer, 1)])  # a day later the coin-age has grown back
    assert later.header.seal["staker"] == text(stakers[0])
    verify_chain(hard.store)
    replay_chain(hard.store)


def test_blocks_sealed_back_to_back_wait_for_a_second_they_may_use(tmp_path, monkeypatch, stakers):
    # Drift 0: a header may not run ahead of the clock at all, and each block needs a second after its
    # parent's, so every commit here outruns the clock; the node waits for that second instead of failing.
    params = {"stakes": {text(stakers[0]): 1}, "target": EASY, "drift": 0}
    ledger, _ = create(tmp_path, monkeypatch, "pos", params, stakers[:1])
    try:
        writer = keys(1)[0]
        for i in range(3):
            block = ledger.commit([record(writer, i)])
            assert block.header.seal["second"] == ledger.header(i).timestamp // MICROS + 1  # the first second it could take
            assert block.header.timestamp <= chain_ledger.now_micros()  # never ahead of the clock
        with pytest.raises(NoEligibleStake, match="second .* will"):  # an explicit time is never waited for
            ledger.commit([record(writer, 3)], timestamp=ledger.head().timestamp)
        verify_chain(ledger.store)
    finally:
        ledger.close()


def test_a_node_without_staker_keys_cannot_seal(tmp_path, monkeypatch, stakers):
    ledger, _ = create(tmp_path, monkeypatch, "pos", {"stakes": {text(stakers[0]): 1}, "target": EASY}, [], back=10)
    with pytest.raises(NoEligibleStake, match="holds no staker key"):
        ledger.commit([record(keys(1)[0], 0)])


def pos_seal(ledger, staker_key, second, parent=None, staker=None):
    """A pos seal whose kernel is computed honestly for (staker, second), signed by `staker_key`."""
    parent = parent or ledger.head()
    staker = staker or text(staker_key)
    modifier = parent.previous if parent.height > 0 else block_hash(parent)
    header = forged(ledger, {"kind": "pos", "staker": staker, "second": second, "kernel": kernel(modifier, staker, second).hex()}, second * MICROS, parent)
    return replace(header, seal={**header.seal, "signature": staker_key.sign(sealing_bytes(header)).hex()})


def test_a_valid_forged_pos_header_verifies(hard, stakers):
    block = hard.commit([record(keys(1)[0], 0)])
    seal_for("pos").verify(block.header, context(hard, 0))


def test_a_staker_with_no_stake_is_refused(hard):
    outsider = keys(1)[0]
    header = pos_seal(hard, outsider, hard.head().timestamp // MICROS + 10)
    with pytest.raises(InvalidBlock, match=f"staker {text(outsider)} has no stake"):
        seal_for("pos").verify(header, context(hard))


def test_reused_coin_age_is_refused(hard, stakers):
    block = hard.commit([record(keys(1)[0], 0)])
    second = block.header.seal["second"] + 1  # one second after staking: coin-age 1,000 coin-seconds
    header = pos_seal(hard, stakers[0], second)
    with pytest.raises(InvalidBlock, match="does not meet target × coin-age: coin-age 1000 = 1000 coins × 1 s since its last stake at block 1"):
        seal_for("pos").verify(header, context(hard))


def test_a_kernel_not_meeting_the_target_is_refused(hard, stakers):
    second = hard.header(0).timestamp // MICROS + 2  # two seconds after genesis: p = 2e-8
    header = pos_seal(hard, stakers[1], second)  # and staker 1 holds a single coin
    with pytest.raises(InvalidBlock, match="does not meet target × coin-age: coin-age 2 = 1 coins × 2 s since its last stake at block 0"):
        seal_for("pos").verify(header, context(hard))


def test_a_wrong_staker_signature_is_refused(hard, stakers):
    header = hard.commit([record(keys(1)[0], 0)]).header
    wrong = replace(header, seal={**header.seal, "signature": stakers[1].sign(sealing_bytes(header)).hex()})
    with pytest.raises(InvalidBlock, match=f"staker signature by {text(stakers[0])} does not verify"):
        seal_for("pos").verify(wrong, context(hard, 0))
    other_block = replace(header, transaction_count=2)  # the staker's signature covers the header's contents
    with pytest.raises(InvalidBlock, match="staker signature"):
        seal_for("pos").verify(other_block, context(hard, 0))


def test_a_timestamp_outside_the_kernels_second_is_refused(hard):
    header = hard.commit([record(keys(1)[0], 0)]).header
    moved = replace(header, timestamp=header.timestamp + MICROS)
    second = header.seal["second"]
    with pytest.raises(InvalidBlock, match=f"lies in second {second + 1}, the kernel's second is {second}"):
        seal_for("pos").verify(moved, context(hard, 0))


def test_a_kernel_other_than_the_recomputed_one_is_refused(hard):
    header = hard.commit([record(keys(1)[0], 0)]).header
    altered = replace(header, seal={**header.seal, "kernel": "00" * 32})
    with pytest.raises(InvalidBlock, match="the modifier, staker and second give"):
        seal_for("pos").verify(altered, context(hard, 0))


def test_a_timestamp_beyond_the_drift_is_refused(hard, stakers):
    second = time.time_ns() // 10**9 + 60
    with pytest.raises(InvalidBlock, match="more than 15 s ahead"):
        seal_for("pos").verify(pos_seal(hard, stakers[0], second), context(hard))


def test_a_malformed_pos_seal_is_refused(hard):
    header = hard.commit([record(keys(1)[0], 0)]).header
    with pytest.raises(InvalidBlock, match="a pos seal has the fields"):
        seal_for("pos").verify(replace(header, seal={**header.seal, "nonce": 1}), context(hard, 0))


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"stakes": {}, "target": EASY}, "non-empty object"),
        ({"stakes": {"ed25519:00": 1}, "target": EASY}, "stake key"),
        ({"stakes": {"KEY": 0}, "target": EASY}, "stake key"),
        ({"target": EASY}, "pos parameters"),
        ({"stakes": {"K": 1}, "target": "ff"}, "expected 32 bytes"),
        ({"stakes": {"K": 1}, "target": EASY, "modifier_depth": 0}, "modifier_depth"),
    ],
)
def test_bad_pos_parameters_are_refused_at_genesis(tmp_path, stakers, params, reason):
    params = {**params, "stakes": {text(stakers[0]) if k == "K" else k: v for k, v in params.get("stakes", {}).items()}} if "stakes" in params else params
    with pytest.raises(InvalidBlock, match=reason):
        Ledger.create(f"sqlite:///{tmp_path}/ledger.db", PrivateKey.generate("ed25519"), CHAIN, seal="pos", seal_params=params)


def test_zero_coins_are_refused_at_genesis(tmp_path, stakers):
    with pytest.raises(InvalidBlock, match="coins must be an integer"):
        Ledger.create(f"sqlite:///{tmp_path}/ledger.db", PrivateKey.generate("ed25519"), CHAIN, seal="pos", seal_params={"stakes": {text(stakers[0]): 0}, "target": EASY})


# -- alliance endorsement --------------------------------------------------------------------


@pytest.fixture
def members():
    return keys(3) + keys(1, "p256")  # members 0..2 form the genesis policy; 2 and 3 a later one


@pytest.fixture
def alliance(tmp_path, monkeypatch, members):
    """2 of members 0, 1, 2; the node holds members 0 and 1."""
    ledger, node = create(tmp_path, monkeypatch, "endorsement", {"members": [text(m) for m in members[:3]], "k": 2}, members[:2])
    yield ledger
    ledger.close()


def test_endorsed_chain_commits_verifies_and_replays(alliance, members):
    writer = keys(1)[0]
    assert decode_policy(StateView(alliance.store, alliance.header(0).state_root, {}).get(policy_key())).k == 2
    for i in range(4):
        seal = alliance.commit([record(writer, i, f"k{i}", i)]).header.seal
        assert [e["member"] for e in seal["endorsements"]] == [text(m) for m in members[:2]]
    assert verify_chain(alliance.store).blocks == 5
    replay_chain(alliance.store)


def test_a_node_holding_fewer_than_k_members_cannot_seal(tmp_path, alliance, members):
    ledger = Ledger.open(f"sqlite:///{tmp_path}/ledger.db", alliance.node_key, members[:1])
    with pytest.raises(NotEnoughMembers, match="holds 1 member keys; the policy needs 2 of 3"):
        ledger.commit([record(keys(1)[0], 0)])


def endorsed(ledger, signers, parent=None):
    header = forged(ledger, {"kind": "endorsement"}, (parent or ledger.head()).timestamp + 1, parent)
    return replace(header, seal={"kind": "endorsement", "endorsements": endorse(signers, sealing_bytes(header))})


def test_k_valid_endorsements_verify(alliance, members):
    seal_for("endorsement").verify(endorsed(alliance, [members[2], members[0]]), context(alliance))


def test_fewer_than_k_endorsements_are_refused(alliance, members):
    with pytest.raises(InvalidBlock, match="1 endorsements; the policy needs 2 of 3"):
        seal_for("endorsement").verify(endorsed(alliance, members[:1]), context(alliance))


def test_a_non_member_endorsement_is_refused(alliance, members):
    with pytest.raises(InvalidBlock, match=f"endorsement 1: '{text(members[3])}' is not a current member"):
        seal_for("endorsement").verify(endorsed(alliance, [members[0], members[3]]), context(alliance))


def test_one_member_counts_once(alliance, members):
    with pytest.raises(InvalidBlock, match=f"member {text(members[0])} endorses twice"):
        seal_for("endorsement").verify(endorsed(alliance, [members[0], members[0]]), context(alliance))


def test_a_bad_endorsement_signature_is_refused(alliance, members):
    header = endorsed(alliance, members[:2])
    bad = [header.seal["endorsements"][0], {**header.seal["endorsements"][1], "signature": members[1].sign(b"another header").hex()}]
    with pytest.raises(InvalidBlock, match=f"endorsement 1 by {text(members[1])} does not verify"):
        seal_for("endorsement").verify(replace(header, seal={"kind": "endorsement", "endorsements": bad}), context(alliance))
    other_block = replace(header, transaction_count=3)  # endorsements cover the header's contents
    with pytest.raises(InvalidBlock, match="endorsement 0 by .* does not verify"):
        seal_for("endorsement").verify(other_block, context(alliance))


def test_a_malformed_endorsement_seal_is_refused(alliance, members):
    header = endorsed(alliance, members[:2])
    with pytest.raises(InvalidBlock, match="exactly the fields member and signature"):
        seal_for("endorsement").verify(replace(header, seal={"kind": "endorsement", "endorsements": [{"member": text(members[0])}]}), context(alliance))
    with pytest.raises(InvalidBlock, match="an endorsement seal has the fields"):
        seal_for("endorsement").verify(replace(header, seal={"kind": "endorsement"}), context(alliance))


def test_a_policy_change_endorsed_by_the_old_policy_takes_effect(tmp_path, alliance, members):
    writer = keys(1)[0]
    alliance.commit([record(writer, 0)])
    new = [text(members[2]), text(members[3])]
    change = sign_transaction(writer, CHAIN, 1, "alliance.set_policy", policy_payload([members[1], members[2]], CHAIN, new, 2, 1))
    alliance.commit([change])  # sealed under the old policy by members 0 and 1
    assert decode_policy(StateView(alliance.store, alliance.head().state_root, {}).get(policy_key())).members == tuple(new)
    # The next block needs the new members: the old pair is no longer enough.
    with pytest.raises(NotEnoughMembers, match="holds 0 member keys"):
        alliance.commit([record(writer, 2)])
    with pytest.raises(InvalidBlock, match="is not a current member \\(policy 1\\)"):
        seal_for("endorsement").verify(endorsed(alliance, members[:2]), context(alliance))
    renewed = Ledger.open(f"sqlite:///{tmp_path}/ledger.db", alliance.node_key, members[2:])
    seal = renewed.commit([record(writer, 2)]).header.seal
    assert [e["member"] for e in seal["endorsements"]] == new
    # The applied change cannot be applied again (its sequence is spent): included, rejected.
    again = renewed.commit([sign_transaction(writer, CHAIN, 3, "alliance.set_policy", change.payload)]).receipts[0]
    assert (again.status, again.code) == ("rejected", "wrong_sequence") and "policy sequence 1, expected 2" in again.message
    assert decode_policy(StateView(renewed.store, renewed.head().state_root, {}).get(policy_key())).sequence == 1
    assert verify_chain(renewed.store).blocks == 5
    replay_chain(renewed.store)


def test_a_policy_change_without_k_current_endorsements_is_refused(alliance, members):
    writer = keys(1)[0]
    new = [text(members[3])]
    # A malformed policy is refused at admission: not included.
    malformed = [
        ({**policy_payload(members[:2], CHAIN, new, 1, 1), "k": 2}, "policy k must be an integer in 1 .. 1"),
        ({**policy_payload(members[:2], CHAIN, new, 1, 1), "members": [text(members[3])] * 2, "k": 1}, "distinct"),
    ]
    for payload, reason in malformed:
        with pytest.raises(InvalidTransaction, match=reason):
            alliance.commit([sign_transaction(writer, CHAIN, 0, "alliance.set_policy", payload)])
    assert alliance.height() == 0
    # A well-formed change that the current members did not endorse is included with a rejected receipt.
    rejected = [
        (policy_payload(members[:1], CHAIN, new, 1, 1), "endorsement_missing", "1 endorsements; the policy needs 2 of 3"),
        (policy_payload([members[0], members[3]], CHAIN, new, 1, 1), "endorsement_missing", "is not a current member"),
        (policy_payload([members[0], members[0]], CHAIN, new, 1, 1), "endorsement_missing", "endorses twice"),
        (policy_payload(members[:2], "another-chain", new, 1, 1), "endorsement_missing", "endorsement 0 by .* does not verify"),
        ({**policy_payload(members[:2], CHAIN, [text(members[0])], 1, 1), "members": [text(members[3])]}, "endorsement_missing", "endorsement 0 by .* does not verify"),
        (policy_payload(members[:2], CHAIN, new, 1, 5), "wrong_sequence", "policy sequence 5, expected 1"),
    ]
    for nonce, (payload, code, reason) in enumerate(rejected):
        receipt = alliance.commit([sign_transaction(writer, CHAIN, nonce, "alliance.set_policy", payload)]).receipts[0]
        assert (receipt.status, receipt.code) == ("rejected", code) and re.search(reason, receipt.message)
    assert decode_policy(StateView(alliance.store, alliance.head().state_root, {}).get(policy_key())).sequence == 0


def test_a_policy_change_on_a_chain_without_a_policy_is_refused(tmp_path, members):
    ledger = Ledger.create(f"sqlite:///{tmp_path}/ledger.db", PrivateKey.generate("ed25519"), CHAIN)
    with pytest.raises(InvalidTransaction, match="this chain runs the contracts record"):
        ledger.commit([sign_transaction(members[0], CHAIN, 0, "alliance.set_policy", policy_payload(members[:1], CHAIN, [text(members[0])], 1, 1))])


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"members": [], "k": 1}, "non-empty list"),
        ({"members": ["M0"], "k": 0}, "k must be an integer in 1 .. 1"),
        ({"members": ["M0", "M1"], "k": 3}, "k must be an integer in 1 .. 2"),
        ({"members": ["M0", "M0"], "k": 1}, "distinct"),
        ({"members": ["ed25519:zz"], "k": 1}, "member 'ed25519:zz'"),
        ({"members": ["M0"]}, "members and k"),
    ],
)
def test_bad_endorsement_parameters_are_refused_at_genesis(tmp_path, members, params, reason):
    params = {**params, "members": [text(members[int(m[1])]) if m in ("M0", "M1") else m for m in params["members"]]}
    with pytest.raises(InvalidBlock, match=reason):
        Ledger.create(f"sqlite:///{tmp_path}/ledger.db", PrivateKey.generate("ed25519"), CHAIN, seal="endorsement", seal_params=params)
