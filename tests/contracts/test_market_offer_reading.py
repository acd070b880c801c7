"""post_offer reads an offer's text with orjson first (`_fast_loads`), and lets json's reading decide
whenever orjson's does not pass every check: the same verdicts and sentences as json alone.

The reference is the json path, written out (json.loads, the offer's keys, `_check_offer`).  Sound
only if orjson never reads a text that json refuses, nor reads one otherwise in a way that could pass:
checked here on texts chosen where the two parsers are known to differ or might (duplicate keys, big
integers, overflowing and subnormal floats, numbers at the limits of a market, escapes, BOM, NaN,
deep nesting, whitespace) and on generated number literals.
"""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coopchain.chain.contract import Rejection
from coopchain.chain.encoding import canonical
from coopchain.contracts.market import SERIES, _check_offer, _fast_loads, _json_text, _offer_passes

DAY = {"market": "d", "periods": 2, "period_minutes": 60, "price_floor": "-0.5"}
CONSUMER = {"id": "c", "type": "consumer", "value_of_lost_load": 3}
ENTRY = canonical({"owner": "someone", "data": json.dumps(CONSUMER), "registered": 0})


def json_verdict(text: str):
    """The json path alone: None (accepted) or (code, sentence)."""
    try:
        offer = _json_text(text, "the offer", "invalid_offer")
        if set(offer) != SERIES["consumer"]:
            return ("invalid_offer", "keys")
        _check_offer(DAY, ENTRY, CONSUMER, offer)
    except Rejection as e:
        return (e.code, e.message)
    return None


def passes_fast(text: str) -> bool:
    return _offer_passes(_fast_loads(text), DAY, ENTRY, CONSUMER)


def offer_text(price: str = "0.5", quantity: str = "2", load: str = "1") -> str:
    block = f'{{"price": {price}, "quantity": {quantity}}}'
    return f'{{"bids": [[{block}], []], "inflexible_load": [{load}, 0]}}'


LIMITS = ["0", "-0", "-0.0", "0e5", "1e-9", "1E-9", "0.000000001", "1e9", "1000000000", "1000000000.0", "-1e9", "-1e-9",
          "9.999999999999999e-10", "0.0000000009999999999999999999", "1000000000.0000001", "1000000000.00000000000000001",
          "1e-10", "1e10", "5e-324", "2.2250738585072014e-308", "1.7976931348623157e308", "1e309", "1e400", "-1e400",
          "18446744073709551615", "18446744073709551616", "-9223372036854775809", "123456789012345678901234567890",
          "1" + "0" * 400, "NaN", "Infinity", "-Infinity", "true", "null", '"1"', "[]", "0.5", "2", "1.0e0", "1E+0"]

TEXTS = [
    offer_text(),
    *[offer_text(price=x) for x in LIMITS],
    *[offer_text(quantity=x) for x in LIMITS],
    *[offer_text(load=x) for x in LIMITS],
    # Duplicate keys: both parsers keep the last value, at the first one's place.
    '{"bids": [[{"price": 0.5, "price": 1e10, "quantity": 1}], []], "inflexible_load": [1, 0]}',
    '{"bids": [[{"price": 1e10, "price": 0.5, "quantity": 1}], []], "inflexible_load": [1, 0]}',
    '{"bids": [[], []], "inflexible_load": [1, 0], "inflexible_load": [1]}',
    '{"bids": [[], []], "inflexible_load": [1], "inflexible_load": [1, 0]}',
    '{"bids": [[], []], "bids": 1, "inflexible_load": [1, 0]}',
    # Escapes, whitespace, and what no JSON holds.
    '{"b\\u0069ds": [[], []], "inflexible_load": [1, 0]}',
    '{"bids\\ud800": [[], []], "inflexible_load": [1, 0]}',
    '{"bids\ud800": [[], []], "inflexible_load": [1, 0]}',
    ' \t\r\n{"bids" : [ [ ] , [ ] ] , "inflexible_load" : [ 1 , 0 ] } \n',
    '{"bids": [[], []], "inflexible_load": [1, 0]}\x0b',
    '{"bids": [[], []], "inflexible_load": [1, 0],}',
    '{"bids": [[], []], "inflexible_load": [01, 0]}',
    '{"bids": [[], []], "inflexible_load": [1., 0]}',
    '{"bids": [[], []], "inflexible_load": [+1, 0]}',
    '\ufeff{"bids": [[], []], "inflexible_load": [1, 0]}',
    '{"bids": [[], []], "inflexible_load": [1, 0]} {}',
    '{"bids": [[], []], "inflexible_load": [1, 0]}\x00',
    '{"bids": [' + "[" * 70 + "]" * 70 + ', []], "inflexible_load": [1, 0]}',
    "[" * 2000 + "]" * 2000,
    "{}", "[]", "1", '"text"', "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_orjson_passes_only_what_json_accepts(text):
    """Otherwise the contract runs json's path: json_verdict is its verdict, word for word."""
    assert not passes_fast(text) or json_verdict(text) is None


def test_valid_offers_take_the_fast_path():
    """The texts json accepts here orjson reads too, and passes: json's reading is not repeated."""
    accepted = [t for t in TEXTS if json_verdict(t) is None]
    assert len(accepted) > 40
    assert all(passes_fast(t) for t in accepted)


NUMBER = st.from_regex(r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,3})?", fullmatch=True)


@settings(max_examples=3000, deadline=None)
@given(NUMBER)
def test_orjson_reads_a_number_as_json_does(literal):
    """Every number literal orjson reads it reads as json does (the same type and float, correctly rounded),
    but integers beyond 64 bits, which it reads as floats and no valid offer holds."""
    expected = json.loads(literal)
    try:
        got = orjson.loads(literal)
    except orjson.JSONDecodeError:
        return
    if type(expected) is int and not -(2**63) <= expected < 2**64:
        assert type(got) is float and abs(got) > 1e9
        return
    assert type(got) is type(expected) and repr(got) == repr(expected)
    for text in (offer_text(price=literal), offer_text(quantity=literal), offer_text(load=literal)):
        assert not passes_fast(text) or json_verdict(text) is None
