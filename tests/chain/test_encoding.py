"""The canonical encoding equals the rfc8785 package on its value set and refuses the rest."""

import random

import pytest
import rfc8785

from coopchain.chain import encoding
from coopchain.chain.encoding import canonical, decode, hex_bytes
from coopchain.chain.errors import EncodingError

ALPHABET = ["a", "Z", "é", "€", "𝄞", '"', "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "/", " "]


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 1, 2**53 - 1, -(2**53 - 1), rng.randrange(-(10**12), 10**12)])
    if kind in (2, 3):
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(6)))
    if kind == 4:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["a", "b", "B", "_", "aa", "a_b", "10", "9", ""]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


@pytest.fixture(params=["standard library", "orjson"])
def encoder(request, monkeypatch):
    """Each test that takes it runs with the standard library's encoder and with the one a node
    switches to (`encoding.accelerate`): both must give the same bytes and the same refusals."""
    monkeypatch.setattr(encoding, "_fast_dumps", None)
    if request.param == "orjson":
        encoding.accelerate()
        assert encoding._fast_dumps is not None
    return request.param


@pytest.mark.parametrize("seed", range(300))
def test_matches_rfc8785_package(seed, encoder):
    value = random_value(random.Random(seed))
    assert canonical(value) == rfc8785.dumps(value)


def test_every_code_point_is_escaped_as_rfc8785_does(encoder):
    """Alone (each control character and the ones around it) and all together in one large string:
    the accelerated encoder escapes exactly as JSON.stringify does."""
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for text in [chr(c) for c in range(0x0, 0x100)] + [every, every * 3, {"k": every}]:
        assert canonical(text) == rfc8785.dumps(text)


def test_accelerated_bytes_hold_no_spare_buffer(encoder):
    """orjson's own bytes keep a buffer of at least 4 KiB whatever their length: 100,000 small state
    entries held in a cache would cost 400 MiB.  canonical returns bytes of their own size."""
    import tracemalloc

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [canonical({"nonce": i}) for i in range(10_000)]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(held) == 10_000 and grown < 10_000 * 200


def test_a_node_accelerates_and_the_offline_verifier_does_not(tmp_path):
    """`accelerate` is asked for by the Ledger only: the bundle and certificate verifiers keep the
    standard library (SPEC: offline with numpy, the standard library and pycryptodome)."""
    import subprocess
    import sys

    script = ("import sys; from coopchain.chain import encoding; from coopchain.app import cli; "
              "assert encoding._fast_dumps is None; from coopchain.chain.ledger import Ledger; from coopchain.chain.keys import PrivateKey; "
              f"Ledger.create('sqlite:///{tmp_path}/l.db', PrivateKey.generate('ed25519'), 'c').close(); print(encoding._fast_dumps is not None)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_round_trip():
    value = {"z": [1, "x", None], "a": {"b": True}}
    assert decode(canonical(value)) == value


@pytest.mark.parametrize(
    "value, reason",
    [
        (1.5, "floats"),
        (2**53, "outside"),
        ({"é": 1}, "ASCII"),
        ({1: 1}, "ASCII"),
        (b"\x00", "bytes"),
        ("\ud800", "surrogate"),
        ({"a": [0.0]}, r"\$\.a\[0\]"),
        ({"a": {"b": ["x", "\udfff"]}}, r"\$\.a\.b\[1\]: the string holds a lone surrogate"),  # found by the UTF-8 encoding
        ({"k\ud800": 1}, "ASCII"),
        ([-(2**53)], r"\$\[0\]: integer -9007199254740992 is outside"),
    ],
)
def test_refuses_values_without_a_canonical_form(value, reason, encoder):
    with pytest.raises(EncodingError, match=reason):
        canonical(value)


def test_subclasses_of_plain_types_encode_as_their_base(encoder):
    """The fast check takes exact types only; subclasses go through the full check, as before."""
    import enum

    class Colour(str, enum.Enum):
        RED = "red"

    class Count(int):
        pass

    assert canonical({"c": Colour.RED, "n": Count(3), "t": (1, True, None)}) == b'{"c":"red","n":3,"t":[1,true,null]}'


@pytest.mark.parametrize("data", [b'{"b":1,"a":2}', b'{"a": 1}', b'{"a":1.0}', b"\xff", b'{"a":NaN}'])
def test_decode_refuses_non_canonical_bytes(data):
    with pytest.raises(EncodingError):
        decode(data)


# -- bounded decoding: hostile bytes give EncodingError, never RecursionError or ValueError --------


def nested(depth: int) -> bytes:
    """`depth` arrays inside one another, written out: [[[…]]]."""
    return b"[" * depth + b"]" * depth


def test_sixty_four_nested_arrays_decode():
    value = decode(nested(64))
    for _ in range(63):
        assert value and isinstance(value, list)
        value = value[0]
    assert value == []


@pytest.mark.parametrize("depth", [65, 500, 100_000])
def test_deeper_nesting_is_refused(depth):
    # 65 is parsed, then refused by the canonical check; 100,000 trips the parser's own guard first.
    with pytest.raises(EncodingError, match="nest deeper than 64"):
        decode(nested(depth))


def test_deep_nesting_inside_an_object_is_refused():
    with pytest.raises(EncodingError, match="nest deeper"):
        decode(b'{"a":' + b'{"a":' * 80 + b"0" + b"}" * 81)


def test_encoding_deep_nesting_is_refused():
    value: list = []
    for _ in range(70):
        value = [value]
    with pytest.raises(EncodingError, match="nest deeper"):
        canonical(value)


@pytest.mark.parametrize("digits", [17, 400, 5_000, 100_000])
def test_long_integers_are_refused_before_conversion(digits):
    # 5,000 digits is past Python's 4,300-digit int() limit: a ValueError before this check.
    for sign in (b"", b"-"):
        with pytest.raises(EncodingError, match=f"{digits} digits"):
            decode(b'{"height":' + sign + b"9" * digits + b"}")


def test_the_largest_safe_integer_decodes_and_the_next_is_refused():
    assert decode(b"[9007199254740991,-9007199254740991]") == [2**53 - 1, -(2**53 - 1)]
    with pytest.raises(EncodingError, match="outside"):
        decode(b"[9007199254740992]")  # 16 digits, but 2^53


def test_a_huge_integer_is_refused_by_canonical_with_a_reason():
    with pytest.raises(EncodingError, match="outside"):
        canonical({"a": 10**5000})


@pytest.mark.parametrize(
    "data, reason",
    [
        (b'"\xff"', "UTF-8"),
        (b'"\xed\xa0\x80"', "UTF-8"),  # a surrogate encoded as UTF-8 (CESU): not UTF-8
        (b'"\xc0\xa2"', "UTF-8"),  # an overlong '"'
        (b'"\\ud800"', "surrogate"),  # a lone surrogate as a JSON escape
        (b'"\\udc00x"', "surrogate"),
    ],
)
def test_invalid_text_is_refused(data, reason):
    with pytest.raises(EncodingError, match=reason):
        decode(data)


@pytest.mark.parametrize("data", ["[]", None, 5, memoryview(b"[]")])
def test_decode_wants_bytes(data):
    with pytest.raises(EncodingError, match="expected bytes"):
        decode(data)


def test_hex_bytes_names_the_field():
    assert hex_bytes("00ff", "x") == b"\x00\xff"
    for bad in ["00FF", "0", "zz", 5]:
        with pytest.raises(EncodingError, match="^f:"):
            hex_bytes(bad, "f")
    with pytest.raises(EncodingError, match="expected 32 bytes"):
        hex_bytes("00", "f", 32)


# A transaction's canonical bytes, written out by hand from docs/ledger.md; the key is
# RFC 8032 §7.1 TEST 1's (secret 9d61b1…7f60, public d75a98…511a), so the signature is
# deterministic and checked against the published public key.
RFC8032_TEST1_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_TEST1_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
TRANSACTION_TEXT = (
    '{"chain_id":"coopchain-demo","kind":"record.put","nonce":7,'
    '"payload":{"key":"allocation/green-valley/2026-Q4","value":{"e01":"41.5","note":"Li family farm, été"}},'
    f'"sender":"ed25519:{RFC8032_TEST1_PUBLIC}","type":"coopchain/transaction/v1"}}'
)


def test_transaction_signing_bytes_known_answer():
    import hashlib

    from coopchain.chain.keys import PrivateKey, PublicKey
    from coopchain.chain.transaction import encode_transaction, sign_transaction, signing_bytes, transaction_hash

    key = PrivateKey.from_private_bytes("ed25519", bytes.fromhex(RFC8032_TEST1_SECRET))
    assert key.public_key.to_text() == f"ed25519:{RFC8032_TEST1_PUBLIC}"
    payload = {"key": "allocation/green-valley/2026-Q4", "value": {"note": "Li family farm, été", "e01": "41.5"}}
    tx = sign_transaction(key, "coopchain-demo", 7, "record.put", payload)
    assert signing_bytes(tx) == TRANSACTION_TEXT.encode("utf-8")
    PublicKey.from_text(f"ed25519:{RFC8032_TEST1_PUBLIC}").verify(tx.signature, TRANSACTION_TEXT.encode("utf-8"))
    full = TRANSACTION_TEXT[:-1].replace(',"type"', f',"signature":"{tx.signature.hex()}","type"') + "}"
    assert encode_transaction(tx) == full.encode("utf-8")
    assert transaction_hash(tx) == hashlib.sha256(full.encode("utf-8")).digest()


@pytest.mark.parametrize("seed", range(100))
def test_a_transaction_encoded_from_its_signing_bytes_matches_rfc8785(seed):
    """What Ledger.commit stores (encode_signed) is the rfc8785 package's encoding of the whole transaction."""
    from coopchain.chain.transaction import Transaction, encode_signed, signing_bytes, transaction_json

    rng = random.Random(seed)
    payload = {key: random_value(rng, 1) for key in rng.sample(["a", "key", "value", "type", "signature", "z", "payload"], 3)}
    tx = Transaction(rng.choice(["c", "coopchain-demo", "é-chain"]), "ed25519:" + "ab" * 32, rng.randrange(2**53), rng.choice(["record.put", "x.y"]),
                     payload, bytes(rng.randrange(256) for _ in range(64)))
    assert encode_signed(signing_bytes(tx), tx.signature) == rfc8785.dumps(transaction_json(tx))


@pytest.mark.parametrize("seed", range(100))
def test_a_receipt_written_field_by_field_matches_rfc8785(seed):
    from coopchain.chain.contract import Event
    from coopchain.chain.receipt import Receipt, encode_receipt, receipt_json

    rng = random.Random(seed)
    events = tuple(Event(random_value(rng, 3) if rng.random() < 0.1 else rng.choice(["recorded", "é", "a\"b"]),
                         {"k": random_value(rng, 1), "a": random_value(rng, 1)}) for _ in range(rng.randrange(3)))
    code = rng.choice([None, "round_committed", "x\u00e9\n"])
    receipt = Receipt(bytes(rng.randrange(256) for _ in range(32)), rng.choice(["applied", "rejected"]), code,
                      "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(20))), events)
    assert encode_receipt(receipt) == rfc8785.dumps(receipt_json(receipt))


def test_a_receipt_with_a_lone_surrogate_is_refused_with_its_path():
    from coopchain.chain.contract import Event
    from coopchain.chain.receipt import Receipt, encode_receipt

    with pytest.raises(EncodingError, match=r"\$\.message: the string holds a lone surrogate"):
        encode_receipt(Receipt(b"\x00" * 32, "applied", None, "bad \ud800", ()))
    with pytest.raises(EncodingError, match=r"\$\.events\[0\]\.data\.x: floats"):
        encode_receipt(Receipt(b"\x00" * 32, "applied", None, "ok", (Event("e", {"x": 1.5}),)))


def test_header_bytes_known_answer():
    import hashlib

    from coopchain.chain.block import Header, block_hash, encode_header, sealing_bytes

    h = lambda c: bytes([c]) * 32  # noqa: E731
    header = Header("co-op", 3, h(1), 1764629155123456, h(2), 2, h(3), h(4), {"kind": "signed"}, b"\x05" * 64, receipts_root=h(6))
    body = (
        '{"chain_id":"co-op","height":3,"history_root":"' + "04" * 32 + '","previous":"' + "01" * 32 + '",'
        '"receipts_root":"' + "06" * 32 + '",'
        '"state_root":"' + "03" * 32 + '","timestamp":1764629155123456,"transaction_count":2,'
        '"transactions_root":"' + "02" * 32 + '","type":"coopchain/header/v2"}'
    )
    assert sealing_bytes(header) == body.encode()
    full = body[:-1].replace(',"state_root"', ',"seal":{"kind":"signed"},"signature":"' + "05" * 64 + '","state_root"') + "}"
    assert encode_header(header) == full.encode()
    assert block_hash(header) == hashlib.sha256(full.encode()).digest()
