"""A head seen before, which the ledger must still hold (SPEC §8: "truncation at the head:
a pinned checkpoint exposes it").

A ledger whose head block was removed together with every row it added is a valid,
shorter chain: nothing stored contradicts it, so `chain verify` alone cannot see it.
An auditor who saw the head before passes it (`coopchain chain verify --since HEAD`),
and the ledger must hold that very block, at its height, with its hash; else
verification fails naming the first block that is missing or differs.

What a user can paste (`parse_pinned_head`):

- the head's block hash, 64 hex digits, as `coopchain chain verify` prints it;
- ``HEIGHT:HASH``, e.g. ``8:3f1c…``, which also says where the block must be, so a
  truncation is named at the first missing height;
- the head's JSON, as an audit bundle carries it under ``"head"`` (or the whole
  bundle), inline or in a file.  Its node signature is then checked against the
  ledger's genesis, so a truncation is reported with the operator's own signed head
  as the evidence, and a head of another chain is not mistaken for one of this.

The trust issue pins heads with witnesses' cosigned checkpoints (SPEC §10) instead
of the auditor's own memory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from coopchain.chain.block import ChainConfig, Header, block_hash, header_from_json, signing_bytes
from coopchain.chain.encoding import MAX_INTEGER_DIGITS
from coopchain.chain.errors import ChainError, InvalidBlock
from coopchain.chain.keys import PublicKey
from coopchain.chain.types import Hash32

BUNDLE_TYPE = "coopchain/bundle/v2"  # chain.bundle's; not imported, to keep this module's imports small
FORMS = "the head's block hash (64 hex digits), HEIGHT:HASH, or the head's JSON (a header, or an audit bundle, whose head is taken), inline or in a file"
_HASH = re.compile(r"[0-9a-fA-F]{64}")
_HEIGHT_HASH = re.compile(r"(\d{1,%d}):([0-9a-fA-F]{64})" % MAX_INTEGER_DIGITS)


class BadPin(ChainError):
    """What was passed as an earlier head is none of the accepted forms."""


@dataclass(frozen=True)
class PinnedHead:
    hash: Hash32
    height: int | None = None  # None: only the hash was given
    header: Header | None = None  # given as JSON: its signature can be checked


def parse_pinned_head(text: str) -> PinnedHead:
    """A head from what a user pasted (module docstring); BadPin says what is accepted."""
    if not isinstance(text, str):
        raise BadPin(f"expected text, got {type(text).__name__}")
    pin = _parse(text.strip())
    if pin is not None:
        return pin
    path = Path(text)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long, or holding NUL
        is_file = False
    if not is_file:
        raise BadPin(f"{_shown(text)} is not a head: give {FORMS}")
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadPin(f"{text}: cannot read it ({e})") from e
    pin = _parse(content.strip())
    if pin is None:
        raise BadPin(f"{text} holds no head: give {FORMS}")
    return pin


def _parse(text: str) -> PinnedHead | None:
    if _HASH.fullmatch(text):
        return PinnedHead(Hash32(bytes.fromhex(text)))
    match = _HEIGHT_HASH.fullmatch(text)
    if match:
        return PinnedHead(Hash32(bytes.fromhex(match[2])), int(match[1]))
    if not text.startswith("{"):
        return None
    try:
        doc = json.loads(text, parse_int=_small_integer, parse_float=_no_float, parse_constant=_no_float)
    except (ValueError, RecursionError) as e:
        raise BadPin(f"the head's JSON does not parse ({type(e).__name__}: {e})") from None
    if isinstance(doc, dict) and doc.get("type") == BUNDLE_TYPE:
        doc = doc.get("head")
    try:
        header = header_from_json(doc)
        digest = block_hash(header)
    except ChainError as e:
        raise BadPin(f"the JSON is not a block header: {e}") from e
    return PinnedHead(digest, header.height, header)


def _small_integer(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _no_float(text: str):
    raise ValueError(f"a header holds no fractional number ({text[:20]})")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def pinned_reached(pin: PinnedHead, height: int, digest: bytes, config: ChainConfig | None) -> bool:
    """True at the pinned block; InvalidBlock when the block at the pinned height is another
    (`config`: the ledger's genesis config, to tell a head of another chain, None if unread)."""
    if pin.height == height and digest != pin.hash:
        foreign = _foreign(pin, config)
        if foreign:
            raise InvalidBlock(foreign)
        raise InvalidBlock(
            f"it hashes to {digest.hex()}, but the head passed with --since was {pin.hash.hex()} at this height: "
            "the ledger was rewritten from this block or an earlier one"
        )
    return digest == pin.hash


def pin_verdict(pin: PinnedHead, found_at: int | None, head: int, config: ChainConfig) -> tuple[int, str] | None:
    """None when the verified ledger (blocks 0..`head`) holds the pinned head, found at height
    `found_at`; else (first bad block, why).  BadPin when the pin contradicts itself."""
    if found_at is not None:
        if pin.height is not None and pin.height != found_at:
            raise BadPin(f"{pin.hash.hex()} is the hash of block {found_at}, not of block {pin.height}")
        return None
    foreign = _foreign(pin, config)
    if foreign:
        return head + 1, foreign
    if pin.height is None:
        return head + 1, (f"no block 0..{head} has the hash passed with --since ({pin.hash.hex()}): the ledger was "
                          "truncated or rewritten since that head (pass HEIGHT:HASH or the head's JSON to say where)")
    signed = "; that head is signed by this ledger's node key" if pin.header is not None else ""
    return head + 1, (f"missing: the ledger ends at block {head}, but the head passed with --since is block "
                      f"{pin.height} ({pin.hash.hex()}){signed}: blocks {head + 1}..{pin.height} were removed")


def _foreign(pin: PinnedHead, config: ChainConfig | None) -> str | None:
    """Why a pinned header is not one this ledger's node signed, or None (also when there is
    no header to check, or no config to check it with)."""
    if pin.header is None or config is None:
        return None
    try:
        if pin.header.chain_id != config.chain_id:
            raise ChainError(f"its chain id is {pin.header.chain_id!r}, this ledger's {config.chain_id!r}")
        PublicKey.from_text(config.node).verify(pin.header.signature, signing_bytes(pin.header))
    except ChainError as e:
        return (f"the head passed with --since (block {pin.header.height}, {pin.hash.hex()}) is not this ledger's "
                f"({e}): the ledger was replaced from genesis, or that head is of another chain")
    return None
