"""The `allocation` contract (versions 1 and 2): problems and certified allocations on chain (SPEC §4).

Contracts verify; they do not re-solve.  A commit carries the allocation and
its certificate (models/certificate.py, the numpy-only leaf), and the contract
checks them; replay needs no solver.

`register_problem` ``{"problem": canonical problem text}`` stores the document
under its content hash (SHA-256 of the text, as `models.certificate.problem_hash`)
so that auditors have the data.  Conditions, in order:

| code | the condition |
|---|---|
| `invalid_document` | the text is a JSON object naming a cooperative and a round |
| `unknown_cooperative`, `not_manager` | the sender manages the document's cooperative (contracts.cooperatives) |
| `already_registered` | the document is not registered yet |
| `invalid_document` | the document is valid (the problem model's rules, read by the certificate leaf; the first issue is the sentence) |
| `not_canonical` | the text is exactly the document's canonical form |

`commit_allocation` ``{"cooperative", "round", "problem" (hash), "allocation" {id:
decimal string}, "certificate" (its JSON text: v2 names the registered problem by hash; a v1
certificate embeds it, or leaves it out for the registered text), "chosen_by" {"objective", "method", "pick"},
"supersedes" (null, or the transaction it amends), "reason" (null, or why),
"endorsements" [{member, signature}]}``.  Conditions, in order:

| code | the condition |
|---|---|
| `unknown_cooperative`, `not_manager` | the sender manages the cooperative |
| `unknown_problem` | the problem is registered |
| `problem_mismatch` | it is this cooperative's problem for this round |
| `round_committed` | the round has no commit yet, unless this is an amendment |
| `bad_supersedes` | an amendment names the round's current commit |
| `wrong_enterprises` | the allocation names exactly the problem's enterprises |
| `infeasible` | the allocation meets every constraint of SPEC §1 |
| the verifier's code, else `certificate_invalid` | the certificate is valid (`verify_certificate`) |
| `certificate_mismatch` | the certificate proves exactly this allocation, for the claimed objective or scalarisation |
| `endorsement_missing` | k of the cooperative's member keys endorse the commit (its policy; none when k = 0) |

Version 2 (new ledgers' genesis; a ledger keeps the version its genesis names) runs the certificate
verifier as it is: its float filter computed with models.portable_float, and a refusal that shows a
recomputed number (``the certificate claims F1 = …, but it is …``, a gap, F2 under a floor) showing 12
significant digits of its double-double interval or exact value, the same on every machine.  Version 1
runs it with ``legacy=True``: the filter computed with the platform's BLAS and libm, and its estimate
shown; its ledgers' receipts hold what it wrote, so it still writes it (on another machine such a
receipt, or a verdict on the edge of the filter's band, may not replay: the reason for version 2).

Response: the commit, with the allocation per enterprise and its values, under
its own key (every commit of every round stays readable), and the round's
pointer to its current commit.  An amendment is a new commit; nothing is
overwritten.

State, in the contract's namespace (keys built by the functions below)::

    allocation:problem/<hash>                → {"cooperative", "round", "enterprises", "transaction", "height"}
    allocation:document/<hash>               → the canonical problem text (UTF-8)
    allocation:round/["<coop>","<round>"]    → {"commits": count, "current": transaction hash}
    allocation:commit/["<coop>","<round>",i] → the i-th commit of the round (`commit_entry`)

The endorsement message a member signs is the canonical JSON
``{"type": "coopchain/allocation-endorsement/v1", "chain_id", "cooperative",
"round", "problem", "allocation": SHA-256 hex of the canonical allocation,
"supersedes"}``.
"""

from __future__ import annotations

import hashlib
import re
from functools import partial

import numpy as np

from coopchain.chain.contract import Call, Method, Rejection, require
from coopchain.chain.encoding import canonical, decode
from coopchain.chain.errors import ChainError, InvalidBlock, InvalidTransaction, ensure
from coopchain.chain.seals.endorsement import Policy, check_endorsements
from coopchain.contracts.cooperatives import check_cooperative_id, require_manager
from coopchain.models.certificate import OBJECTIVES, SCHEMA, SCHEMA_V1, CertificateError, problem_hash, verify_certificate
from coopchain.models.certificate_verify import check_feasible, proven_problem, read_text
from coopchain.models.problem_text import problem_identity

NAME, VERSION = "allocation", 2  # VERSION: the one new ledgers run; 1 stays for the ledgers created with it
VERSIONS = (1, 2)
ENDORSEMENT_TYPE = "coopchain/allocation-endorsement/v1"
HASH = re.compile(r"^[0-9a-f]{64}$")
DECIMAL = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
COMMIT_FIELDS = {"cooperative", "round", "problem", "allocation", "certificate", "chosen_by", "supersedes", "reason", "endorsements"}


# -- state keys --------------------------------------------------------------------


def problem_key(digest: str) -> str:
    return "problem/" + digest


def document_key(digest: str) -> str:
    return "document/" + digest


def round_key(cooperative: str, round_: str) -> str:
    return "round/" + canonical([cooperative, round_]).decode()


def commit_key(cooperative: str, round_: str, sequence: int) -> str:
    return "commit/" + canonical([cooperative, round_, sequence]).decode()


def endorsement_message(chain_id: str, args: dict) -> bytes:
    """What a member signs to endorse a commit (the module docstring)."""
    digest = hashlib.sha256(canonical(args["allocation"])).hexdigest()
    return canonical({"type": ENDORSEMENT_TYPE, "chain_id": chain_id, "cooperative": args["cooperative"], "round": args["round"],
                      "problem": args["problem"], "allocation": digest, "supersedes": args["supersedes"]})


# -- register_problem ----------------------------------------------------------------


def _register_shape(args: dict) -> None:
    ensure(set(args) == {"problem"}, InvalidTransaction, "allocation.register_problem takes exactly the argument problem (the canonical document's text)")
    ensure(isinstance(args["problem"], str) and args["problem"], InvalidTransaction, "problem must be the canonical problem document as text")


def _reading(digest: str, text) -> tuple:
    """(instance, cooperative, round) of the problem text whose SHA-256 is `digest` (`text`: the text, or a
    function giving it), proven valid and canonical by the certificate leaf, which keeps a few by hash:
    content-addressed, so a kept reading is the reading, and register_problem and every commit of one
    problem read its text once.  CertificateError otherwise."""
    known = proven_problem(digest, text)
    return known.instance, known.cooperative, known.round


def _register(call: Call, args: dict) -> str:
    text = args["problem"]
    try:
        digest = problem_hash(text)
    except UnicodeEncodeError:
        raise Rejection("not_canonical", "the problem holds a lone UTF-16 surrogate, which has no UTF-8 form") from None
    # SPEC §4's order: the sender first, from the problem's head alone (cheap), so that only a manager can make
    # the chain prove (or refuse) a large text (review R-12); nesting bounded by a count, not the stack.
    try:
        cooperative, round_ = problem_identity(text)
    except ValueError as e:
        raise Rejection("invalid_document", f"the problem is not JSON: {e}") from None
    require(isinstance(cooperative, str) and isinstance(round_, str),
            "invalid_document", "the problem is not a JSON object naming its cooperative and round")
    require_manager(call, cooperative)
    require(call.get(problem_key(digest)) is None, "already_registered", f"problem {digest} is already registered")
    try:  # the leaf reads it strictly, once
        reading = _reading(digest, text)
    except CertificateError as refusal:
        code = "not_canonical" if refusal.code == "not_canonical" else "invalid_document"
        hint = "; register the text `coopchain solve` writes beside its certificate" if code == "not_canonical" else ""
        raise Rejection(code, str(refusal).replace("the embedded problem", "the problem") + hint) from None
    # A canonical text's head is read exactly (a raw quote cannot occur inside a string), so this holds; checked
    # all the same, since the sender was checked against the head.
    require((reading[1], reading[2]) == (cooperative, round_), "invalid_document",
            "the problem's head names another cooperative or round than its proven reading")
    n = reading[0].n
    call.put(problem_key(digest), canonical({"cooperative": cooperative, "round": round_, "enterprises": n,
                                             "transaction": call.tx_hash.hex(), "height": call.block.height}))
    call.put(document_key(digest), text.encode("utf-8"))
    call.emit("problem_registered", problem=digest, cooperative=cooperative, round=round_, enterprises=n)
    return f"problem {digest} of {cooperative!r}, round {round_!r} ({n} enterprises) registered"


# -- commit_allocation ---------------------------------------------------------------


def _commit_shape(args: dict) -> None:
    ensure(set(args) == COMMIT_FIELDS, InvalidTransaction, f"allocation.commit_allocation takes exactly the arguments {', '.join(sorted(COMMIT_FIELDS))}")
    check_cooperative_id(args["cooperative"])
    ensure(isinstance(args["round"], str) and 0 < len(args["round"]) <= 200, InvalidTransaction, "round must be a name of 1 to 200 characters")
    ensure(isinstance(args["problem"], str) and HASH.match(args["problem"]), InvalidTransaction, "problem must be the problem's hash (64 lower-case hex digits)")
    allocation = args["allocation"]
    ensure(isinstance(allocation, dict) and allocation, InvalidTransaction, "allocation must map each enterprise id to its volume as a decimal string")
    for eid, volume in allocation.items():
        ensure(isinstance(volume, str) and DECIMAL.match(volume), InvalidTransaction, f"allocation.{eid}: {volume!r} is not a decimal string such as \"41.5\"")
    ensure(isinstance(args["certificate"], str) and args["certificate"], InvalidTransaction, "certificate must be the certificate's JSON text")
    chosen = args["chosen_by"]
    ensure(isinstance(chosen, dict) and set(chosen) == {"objective", "method", "pick"}, InvalidTransaction, "chosen_by has exactly the fields objective, method and pick")
    ensure(chosen["objective"] in (*OBJECTIVES, "scalarised"), InvalidTransaction, f"chosen_by.objective is one of {', '.join(OBJECTIVES)} or scalarised")
    for field in ("method", "pick"):
        ensure(chosen[field] is None or (isinstance(chosen[field], str) and 0 < len(chosen[field]) <= 100), InvalidTransaction, f"chosen_by.{field} is null or a short text")
    ensure((chosen["method"] is None) == (chosen["objective"] != "scalarised"), InvalidTransaction, "chosen_by.method names the scalarisation exactly when the objective is scalarised")
    supersedes, reason = args["supersedes"], args["reason"]
    ensure(supersedes is None or (isinstance(supersedes, str) and HASH.match(supersedes)), InvalidTransaction, "supersedes is null or a transaction hash (64 lower-case hex digits)")
    ensure((reason is None) == (supersedes is None), InvalidTransaction, "an amendment (supersedes) says why (reason), and only an amendment has a reason")
    ensure(reason is None or (isinstance(reason, str) and 0 < len(reason) <= 2000), InvalidTransaction, "reason is a sentence of at most 2,000 characters")
    ensure(isinstance(args["endorsements"], list), InvalidTransaction, "endorsements: a list of {member, signature} (empty when the policy asks for none)")


class _Refused(ChainError):
    pass


def _commit(call: Call, args: dict, version: int = 1) -> str:
    cooperative, round_, digest = args["cooperative"], args["round"], args["problem"]
    coop = require_manager(call, cooperative)
    meta = call.get(problem_key(digest))
    require(meta is not None, "unknown_problem", f"problem {digest} is not registered (allocation.register_problem first)")
    meta = decode(meta)
    require((meta["cooperative"], meta["round"]) == (cooperative, round_), "problem_mismatch",
            f"problem {digest} is {meta['cooperative']!r}'s for round {meta['round']!r}, not {cooperative!r}'s for {round_!r}")
    current = call.get(round_key(cooperative, round_))
    current = decode(current) if current is not None else None
    if args["supersedes"] is None:
        require(current is None, "round_committed", f"round {round_!r} of {cooperative!r} is already committed (transaction {current and current['current']}); "
                                                    "an amendment names that transaction in supersedes, with a reason")
    else:
        require(current is not None and current["current"] == args["supersedes"], "bad_supersedes",
                f"an amendment supersedes the round's current commit ({current['current'] if current else 'none yet'}), not {args['supersedes']}")

    text = None

    def registered_text() -> str:
        nonlocal text
        if text is None:
            text = call.get(document_key(digest)).decode("utf-8")
        return text

    inst = _reading(digest, registered_text)[0]  # registered, so valid and canonical
    allocation = args["allocation"]
    require(set(allocation) == set(inst.ids), "wrong_enterprises",
            f"the allocation names {len(allocation)} enterprises; the problem has {inst.n}" if len(allocation) != inst.n
            else f"the allocation names {sorted(set(allocation) - set(inst.ids))[:3]}, which the problem does not have")
    W = np.array([float(allocation[eid]) for eid in inst.ids])
    try:
        check_feasible(inst, W)  # exact where the floating-point filter cannot decide: the same verdict on every machine
    except CertificateError as e:
        raise Rejection("infeasible", str(e)) from None

    try:
        cert = read_text(args["certificate"])
    except CertificateError as e:
        raise Rejection(getattr(e, "code", None) or "certificate_invalid", str(e)) from None
    require(isinstance(cert, dict), "certificate_invalid", "the certificate is not a JSON object")
    if cert.get("schema") == SCHEMA_V1:  # v1 embeds its problem (or leaves it out, for the registered one)
        require(cert.setdefault("problem", registered_text()) == registered_text(), "certificate_mismatch",
                "the certificate embeds another problem than the registered one")
    else:  # v2 names it by hash: the registered problem's
        require(cert.get("problem_hash") == digest, "certificate_mismatch", f"the certificate is for problem {cert.get('problem_hash')!r}, not {digest}")
    # Version 1 takes the certificates it took when ledgers were made with it, with the same receipts on replay (their
    # sentences are in the receipts root): any other schema, v3 included (a later format, naming its problem by its
    # columns form), is refused with the sentence the verifier then gave.
    require(cert.get("schema") in (SCHEMA, SCHEMA_V1), "malformed", f"not a certificate: 'schema' must be {SCHEMA!r} (or the older {SCHEMA_V1!r})")
    try:
        verified = verify_certificate(cert, None if cert.get("schema") == SCHEMA_V1 else registered_text(), legacy=version == 1)
    except CertificateError as e:
        raise Rejection(getattr(e, "code", None) or "certificate_invalid", str(e)) from None
    require(verified.problem_hash == digest, "certificate_mismatch", f"the certificate is for problem {verified.problem_hash}, not {digest}")
    require(all(verified.allocation[eid] == w for eid, w in zip(inst.ids, W.tolist())), "certificate_mismatch",
            "the certificate proves another allocation than the one committed")
    chosen = args["chosen_by"]
    require(verified.objective == chosen["objective"], "certificate_mismatch",
            f"the certificate proves {verified.objective}, the commit claims {chosen['objective']}")
    if chosen["objective"] == "scalarised":
        method = (cert.get("scalarisation") or {}).get("method")
        require(method == chosen["method"], "certificate_mismatch", f"the certificate proves a {method} scalarisation, the commit claims {chosen['method']}")

    if coop.k > 0:
        try:
            check_endorsements(args["endorsements"], Policy(coop.members, coop.k, 0), endorsement_message(call.block.chain_id, args), _Refused)
        except _Refused as e:
            raise Rejection("endorsement_missing", f"{cooperative!r}'s policy: {e}") from None

    sequence = 0 if current is None else current["commits"]
    values = {key: repr(float(v)) if isinstance(v, (int, float)) else v for key, v in cert["values"].items()}
    call.put(commit_key(cooperative, round_, sequence), canonical(commit_entry(call, args, sequence, values)))
    call.put(round_key(cooperative, round_), canonical({"commits": sequence + 1, "current": call.tx_hash.hex()}))
    call.emit("allocation_committed", cooperative=cooperative, round=round_, problem=digest, sequence=sequence,
              supersedes=args["supersedes"], objective=verified.objective)
    what = f"amendment {sequence} of" if sequence else "allocation for"
    return f"{what} {cooperative!r}, round {round_!r} committed: {verified.objective} certified, relative gap {verified.gap:.1e}"


def commit_entry(call: Call, args: dict, sequence: int, values: dict) -> dict:
    """What the state keeps of a commit: who, when, which problem, how chosen, the allocation and its values."""
    return {
        "transaction": call.tx_hash.hex(),
        "height": call.block.height,
        "sender": call.sender,
        "sequence": sequence,
        "problem": args["problem"],
        "chosen_by": args["chosen_by"],
        "supersedes": args["supersedes"],
        "reason": args["reason"],
        "allocation": args["allocation"],
        "values": values,
    }


class AllocationContract:
    """The allocation contract at `version` (1 or 2; the module's docstring says what 2 changes)."""

    name = NAME

    def __init__(self, version: int = VERSION) -> None:
        if version not in VERSIONS:
            raise ValueError(f"the allocation contract has versions {', '.join(map(str, VERSIONS))}, not {version}")
        self.version = version
        self.methods = {
            "register_problem": Method("register_problem", _register_shape, _register,
                                       ("invalid_document", "unknown_cooperative", "not_manager", "already_registered", "not_canonical")),
            "commit_allocation": Method("commit_allocation", _commit_shape, partial(_commit, version=version),
                                        ("unknown_cooperative", "not_manager", "unknown_problem", "problem_mismatch", "round_committed", "bad_supersedes",
                                         "wrong_enterprises", "infeasible", "certificate_invalid", "certificate_mismatch", "endorsement_missing")),
        }

    def check_params(self, params: dict) -> None:
        ensure(params == {}, InvalidBlock, "the allocation contract takes no parameters")

    def genesis_state(self, params: dict) -> dict[str, bytes]:
        return {}


# -- offline: what an audit bundle of a commit proves ---------------------------------------


def check_bundled_commit(tx, receipt, state_value: bytes | None, extra: dict | None) -> str:
    """Check, offline, a bundle's commit_allocation transaction: its receipt says applied, the head's state
    holds its commit entry, and the certificate (with the bundled problem text) proves exactly the committed
    allocation for the claimed objective.  Returns a sentence; raises ValueError saying what does not hold."""
    args = tx.payload
    if receipt.status != "applied":
        raise ValueError(f"its receipt says {receipt.status}: {receipt.code}: {receipt.message}")
    if state_value is None:
        raise ValueError("the head's state holds no commit entry under the bundle's state key")
    entry = decode(state_value)
    tx_hash = receipt.transaction.hex()
    if entry.get("transaction") != tx_hash or entry.get("allocation") != args["allocation"] or entry.get("problem") != args["problem"]:
        raise ValueError("the state entry the bundle proves is not this transaction's commit")
    # `extra` is outside every proof of the bundle: check its shape before reading it (review R-10).
    if extra is not None and not isinstance(extra, dict):
        raise ValueError(f"the bundle's 'extra' must be an object holding the problem document, not {type(extra).__name__}")
    text = (extra or {}).get("problem")
    try:
        same = isinstance(text, str) and problem_hash(text) == args["problem"]
    except UnicodeEncodeError:
        raise ValueError("the bundle's problem document holds a lone UTF-16 surrogate, which has no UTF-8 form: it is not the committed problem") from None
    if not same:
        raise ValueError("the bundle carries no problem document whose hash is the committed problem's")
    try:
        cert = read_text(args["certificate"])
    except CertificateError as e:
        raise ValueError(f"its certificate: {e}") from None
    if not isinstance(cert, dict):
        raise ValueError("its certificate is not a JSON object")
    if cert.get("schema") == SCHEMA_V1 and cert.setdefault("problem", text) != text:
        raise ValueError("its certificate embeds another problem")
    try:
        verified = verify_certificate(cert, None if cert.get("schema") == SCHEMA_V1 else text)
    except CertificateError as e:
        raise ValueError(f"its certificate: {e}") from e
    _, cooperative, round_ = _reading(args["problem"], text)  # proven by verify_certificate just above
    if (cooperative, round_) != (args["cooperative"], args["round"]):
        raise ValueError(f"it commits for {args['cooperative']!r} {args['round']!r}, the problem is {cooperative!r} {round_!r}")
    if {eid: float(w) for eid, w in args["allocation"].items()} != verified.allocation:
        raise ValueError("the committed allocation differs from the one its certificate proves")
    if verified.objective != args["chosen_by"]["objective"]:
        raise ValueError(f"it claims {args['chosen_by']['objective']}, its certificate proves {verified.objective}")
    how = args["chosen_by"]
    chosen = f"{how['pick']} pick, " if how.get("pick") else ""
    return (f"allocation for {args['cooperative']!r}, round {args['round']!r} (commit {entry['sequence']}): {chosen}certificate valid, "
            f"{verified.objective}{' (' + how['method'] + ')' if how.get('method') else ''}, relative gap {verified.gap:.1e}")
