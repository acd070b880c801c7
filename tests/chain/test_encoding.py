"""The canonical encoding equals the rfc8785 package on its value set and refuses the rest."""

import random

import pytest
import rfc8785

from chain.encoding import canonical, decode, hex_bytes
from chain.errors import EncodingError

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


@pytest.mark.parametrize("seed", range(300))
def test_matches_rfc8785_package(seed):
    value = random_value(random.Random(seed))
    assert canonical(value) == rfc8785.dumps(value)


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
    ],
)
def test_refuses_values_without_a_canonical_form(value, reason):
    with pytest.raises(EncodingError, match=reason):
        canonical(value)


@pytest.mark.parametrize("data", [b'{"b":1,"a":2}', b'{"a": 1}', b'{"a":1.0}', b"\xff", b'{"a":NaN}'])
def test_decode_refuses_non_canonical_bytes(data):
    with pytest.raises(EncodingError):
        decode(data)


def test_hex_bytes_names_the_field():
    assert hex_bytes("00ff", "x") == b"\x00\xff"
    for bad in ["00FF", "0", "zz", 5]:
        with pytest.raises(EncodingError, match="^f:"):
            hex_bytes(bad, "f")
    with pytest.raises(EncodingError, match="expected 32 bytes"):
        hex_bytes("00", "f", 32)
