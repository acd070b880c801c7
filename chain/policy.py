"""The auditor's trust policy, and the offline check of a bundle under it (SPEC §10).

A policy says what an auditor trusts without trusting the operator: which chain (its
genesis block hash), which node key signs its checkpoints, which witnesses' cosignatures
count, and how many of them a checkpoint needs.  The file is C2SP tlog-policy
(c2sp.org/tlog-policy) with one coopchain line added, ``genesis``:

    # lines: keyword and fields separated by spaces or tabs; '#' starts a comment line
    genesis 4f0c…e1                      # the genesis block hash, 64 hex digits (coopchain)
    log <vkey> [url]                     # the node's checkpoint key; its name is the origin
    witness <name> <vkey> [url]          # a cosignature/v1 key (type 0x04)
    group <name> all|any|<k> <name>...   # k of the members (witnesses or earlier groups)
    quorum <name>|none                   # which witness or group must have cosigned

One ``log`` line (the chain's node), one ``genesis`` line, exactly one ``quorum`` line;
names are defined before they are used and listed at most once per group; two witnesses
may not share a public key.

`verify_bundle_policy` checks a bundle in this order, each failure an InvalidBundle that
says which check: every proof of chain.bundle with the genesis pinned; the genesis's node
key is the policy's log key and the chain's origin its name; the bundle's checkpoint is
signed by that key; the bundle's head is in the checkpoint's tree with exactly the history
it claims (chain.checkpoint.verify_head_in_checkpoint); the witnesses whose cosignatures
verify meet the quorum.  It returns who signed what.

Standard library and pycryptodome only (the offline verifier's rule): no sqlite3, no
ledger, no solver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from coopchain.chain.block import block_hash, header_from_json
from coopchain.chain.bundle import InvalidBundle, VerifiedRecord, verify_bundle
from coopchain.chain.checkpoint import (
    SIGNATURE_COSIGNATURE_V1, SIGNATURE_ED25519, Checkpoint, MalformedNote, NoteKey, NoteSignatureError, chain_origin, parse_vkey,
    verify_checkpoint, verify_head_in_checkpoint,
)
from coopchain.chain.errors import ChainError, InvalidProof

NONE: Final = "none"  # tlog-policy's predefined empty quorum
MAX_POLICY_BYTES: Final = 256 * 1024
MAX_ENTRIES: Final = 256  # tlog-policy asks for at least 32 logs, witnesses and groups
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIELDS = re.compile(r"[ \t]+")


class PolicyError(ChainError):
    """A policy file that does not parse; the message names the line."""


class QuorumNotMet(InvalidBundle):
    """A checkpoint whose verified cosignatures do not satisfy the policy's quorum."""


@dataclass(frozen=True)
class Group:
    name: str
    k: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    genesis: bytes
    log: NoteKey
    witnesses: tuple[tuple[str, NoteKey], ...]  # (policy name, key), in file order
    groups: tuple[Group, ...]
    quorum: str  # a witness, a group, or "none"


@dataclass(frozen=True)
class Cosigner:
    name: str  # the policy's name for the witness
    key: NoteKey
    timestamp: int


@dataclass(frozen=True)
class AuditReport:
    """Who signed what, once everything verified."""

    record: VerifiedRecord
    node_key: NoteKey
    checkpoint: Checkpoint
    cosigners: tuple[Cosigner, ...]
    missing: tuple[str, ...]  # witnesses of the policy whose cosignature is absent
    quorum: str


# --- the file ---------------------------------------------------------------------------------


def parse_policy(text: str) -> Policy:
    """Read a policy file; PolicyError naming the line for anything out of place."""
    if not isinstance(text, str):
        raise PolicyError(f"a policy is text, got {type(text).__name__}")
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise PolicyError(f"the policy is larger than {MAX_POLICY_BYTES:,} bytes")
    bad = next((ch for ch in text if ch < " " and ch not in "\t\n" or ch == "\x7f"), None)
    if bad is not None:
        raise PolicyError(f"the policy holds control character {ord(bad):#04x} (only tab and newline are allowed)")
    genesis = log = quorum = None
    witnesses: dict[str, NoteKey] = {}
    groups: dict[str, Group] = {}
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue
        fields = _FIELDS.split(line)
        word, args = fields[0], fields[1:]
        where = f"line {n} ({word})"
        if len(witnesses) + len(groups) > MAX_ENTRIES:
            raise PolicyError(f"{where}: more than {MAX_ENTRIES} witnesses and groups")
        if word == "genesis":
            _ensure(genesis is None, f"{where}: a second genesis line")
            _ensure(len(args) == 1 and _HEX64.fullmatch(args[0]), f"{where}: want 'genesis <64 lower-case hex digits>'")
            genesis = bytes.fromhex(args[0])
        elif word == "log":
            _ensure(log is None, f"{where}: a second log line; a coopchain policy names one node")
            _ensure(len(args) in (1, 2), f"{where}: want 'log <vkey> [url]'")
            log = _vkey(args[0], SIGNATURE_ED25519, where)
        elif word == "witness":
            _ensure(len(args) in (2, 3), f"{where}: want 'witness <name> <vkey> [url]'")
            name, key = args[0], _vkey(args[1], SIGNATURE_COSIGNATURE_V1, where)
            _new_name(name, witnesses, groups, where)
            dup = next((other for other, k in witnesses.items() if k.public == key.public), None)
            _ensure(dup is None, f"{where}: witness {name!r} has the same public key as {dup!r}")
            witnesses[name] = key
        elif word == "group":
            _ensure(len(args) >= 3, f"{where}: want 'group <name> all|any|<k> <member>...'")
            name, threshold, members = args[0], args[1], tuple(args[2:])
            _new_name(name, witnesses, groups, where)
            for m in members:
                _ensure(m in witnesses or m in groups, f"{where}: member {m!r} is not a witness or group defined above")
            _ensure(len(set(members)) == len(members), f"{where}: a member is listed twice")
            if threshold == "all":
                k = len(members)
            elif threshold == "any":
                k = 1
            else:
                _ensure(threshold.isdigit() and threshold.isascii() and len(threshold) <= 6 and 1 <= int(threshold) <= len(members),
                        f"{where}: the threshold must be all, any or a decimal k with 1 <= k <= {len(members)}")
                k = int(threshold)
            groups[name] = Group(name, k, members)
        elif word == "quorum":
            _ensure(quorum is None, f"{where}: a second quorum line")
            _ensure(len(args) == 1, f"{where}: want 'quorum <name>|none'")
            _ensure(args[0] == NONE or args[0] in witnesses or args[0] in groups, f"{where}: {args[0]!r} is not a witness or group defined above")
            quorum = args[0]
        else:
            raise PolicyError(f"{where}: unknown keyword (genesis, log, witness, group, quorum)")
    _ensure(genesis is not None, "the policy has no genesis line: it must pin the chain")
    _ensure(log is not None, "the policy has no log line: it must pin the node's checkpoint key")
    _ensure(quorum is not None, "the policy has no quorum line (write 'quorum none' to need no witness)")
    return Policy(genesis, log, tuple(witnesses.items()), tuple(groups.values()), quorum)


def satisfied(policy: Policy, cosigned: set[str]) -> bool:
    """Whether the witnesses named in `cosigned` meet the policy's quorum (tlog-policy's k-of-n groups)."""
    groups = {g.name: g for g in policy.groups}

    def holds(name: str) -> bool:
        group = groups.get(name)
        if group is None:
            return name in cosigned
        return sum(holds(m) for m in group.members) >= group.k

    return policy.quorum == NONE or holds(policy.quorum)


# --- checking a bundle ------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointReport:
    checkpoint: Checkpoint
    cosigners: tuple[Cosigner, ...]
    missing: tuple[str, ...]


def verify_checkpoint_policy(data: bytes, policy: Policy) -> CheckpointReport:
    """A cosigned checkpoint under the policy: signed by its log key, with the quorum's cosignatures.

    Raises MalformedNote / NoteSignatureError (the note) or QuorumNotMet.
    """
    verified = verify_checkpoint(data, policy.log, [key for _, key in policy.witnesses])
    names = {key: name for name, key in policy.witnesses}
    cosigners = tuple(Cosigner(names[v.key], v.key, v.timestamp) for v in verified.cosignatures)
    signed = {c.name for c in cosigners}
    missing = tuple(name for name, _ in policy.witnesses if name not in signed)
    if not satisfied(policy, signed):
        who = ", ".join(sorted(signed)) or "no witness of the policy"
        raise QuorumNotMet(f"checkpoint: cosigned by {who}; the policy's quorum {policy.quorum!r} is not met (missing: {', '.join(missing)})")
    return CheckpointReport(verified.checkpoint, cosigners, missing)


def verify_bundle_policy(doc: dict, policy: Policy) -> AuditReport:
    """Check a bundle under a policy (module docstring); InvalidBundle with the first failed check."""
    record = verify_bundle(doc, trusted_genesis=policy.genesis)
    try:
        genesis = header_from_json(doc["genesis"])
        head = header_from_json(doc["head"])
        node = genesis.config.node
        if node != f"ed25519:{policy.log.public.raw.hex()}":
            raise InvalidBundle(f"the chain's node key {node} is not the policy's log key {policy.log}")
        origin = chain_origin(record.chain_id, record.genesis_hash)
        if origin != policy.log.name:
            raise InvalidBundle(f"the chain's origin {origin!r} is not the policy's log name {policy.log.name!r}")
        section = doc.get("checkpoint")
        if not isinstance(section, dict) or set(section) != {"note", "proofs"} or not isinstance(section["note"], str):
            raise InvalidBundle("the bundle carries no checkpoint ({'note': text, 'proofs': {...}}), and the policy needs one")
        report = verify_checkpoint_policy(section["note"].encode(), policy)
        verify_head_in_checkpoint(block_hash(head), head.height, head.history_root, report.checkpoint, section["proofs"])
    except (MalformedNote, NoteSignatureError) as e:
        raise InvalidBundle(f"checkpoint: {e}") from e
    except InvalidProof as e:
        raise InvalidBundle(f"checkpoint: the head is not in the checkpoint's tree ({e})") from e
    except (ChainError, KeyError, TypeError, ValueError) as e:
        if isinstance(e, InvalidBundle):
            raise
        raise InvalidBundle(f"checkpoint: {type(e).__name__}: {e}") from e
    return AuditReport(record, policy.log, report.checkpoint, report.cosigners, report.missing, policy.quorum)


def _vkey(text: str, kind: int, where: str) -> NoteKey:
    try:
        key = parse_vkey(text)
    except MalformedNote as e:
        raise PolicyError(f"{where}: {e}") from e
    want = "an Ed25519 note key (type 0x01)" if kind == SIGNATURE_ED25519 else "a cosignature/v1 key (type 0x04)"
    _ensure(key.kind == kind, f"{where}: {key} is not {want}")
    return key


def _new_name(name: str, witnesses: dict, groups: dict, where: str) -> None:
    _ensure(name != NONE, f"{where}: 'none' is predefined")
    _ensure(name not in witnesses and name not in groups, f"{where}: the name {name!r} is already defined")


def _ensure(condition: object, message: str) -> None:
    if not condition:
        raise PolicyError(message)
