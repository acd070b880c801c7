"""How tests/data/ledgers/allocation_v1_verdicts.db was made: allocation v1 transactions, most of them refused
through the certificate verifier for one reason each, written by the code of commit c635252 (2026-12-03).

Usage (the old code first on the import path): PYTHONPATH=OLDPKG python make_allocation_v1_verdicts.py DBPATH OUT.json
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import sys

import coopchain.models.certificate_verify as CV

print("certificate_verify from", os.path.realpath(CV.__file__), file=sys.stderr)

from coopchain.chain.keys import PrivateKey
from coopchain.chain.transaction import sign_transaction
from coopchain.models.certificate import problem_hash
from coopchain.models.problem import parse_problem, canonical_json
from coopchain.models.solve import prepare, solve
from coopchain.service import wiring

CHAIN = "replay4"
DB, OUT = sys.argv[1], sys.argv[2]
if os.path.exists(DB):
    os.remove(DB)


def key(n):
    return PrivateKey.from_private_bytes("ed25519", bytes([n]) * 32)


def txt(k):
    return k.public_key.to_text()


admin, manager, stranger = key(1), key(2), key(9)
ledger = wiring.create_ledger(f"sqlite:///{DB}", admin, CHAIN)
records = []


def send(label, signer, kind, args):
    try:
        tx = sign_transaction(signer, CHAIN, ledger.next_nonce(txt(signer)), kind, args)
        block = ledger.commit([tx])
    except Exception as e:  # not admitted: no block
        print(f"     {label:45s} NOT ADMITTED {type(e).__name__}: {str(e)[:150]}")
        records.append({"label": label, "height": None, "kind": kind, "status": "not admitted", "code": type(e).__name__, "message": str(e)})
        return None
    r = block.receipts[0]
    rec = {"label": label, "height": block.header.height, "kind": kind, "status": r.status, "code": r.code, "message": r.message}
    records.append(rec)
    print(f"{block.header.height:4d} {label:45s} {r.status:8s} {r.code} | {(r.message or '')[:150]}")
    return r


sample = json.load(open("/tmp/replay4/old/models/samples/green-valley.json"))
sols = {}
for obj in ("F1", "F2", "F3"):
    sols[obj] = json.loads(json.dumps(solve(prepare(parse_problem(copy.deepcopy(sample))), obj).as_json()))
other = {**copy.deepcopy(sample), "round": "2027-Q1"}
sols["other"] = json.loads(json.dumps(solve(prepare(parse_problem(other)), "F1").as_json()))
TEXT = sols["F1"]["problem_text"]
assert all(sols[o]["problem_text"] == TEXT for o in ("F2", "F3"))
DIGEST = problem_hash(TEXT)
DOC = json.loads(TEXT)


def jtext(doc):  # sorted, compact (RFC 8785-like for these numbers)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def commit_args(solution, **changes):
    cert = solution["certificate"]
    doc = json.loads(solution["problem_text"])
    args = {
        "cooperative": doc["cooperative"], "round": doc["round"], "problem": problem_hash(solution["problem_text"]),
        "allocation": {eid: repr(float(w)) for eid, w in zip([e["id"] for e in doc["enterprises"]], cert["allocation"])},
        "certificate": json.dumps({k: v for k, v in cert.items() if k != "problem"}),
        "chosen_by": {"objective": cert["objective"], "method": None, "pick": None},
        "supersedes": None, "reason": None, "endorsements": [],
    }
    args.update(changes)
    return args


def cert_of(obj="F1"):
    return copy.deepcopy({k: v for k, v in sols[obj]["certificate"].items() if k != "problem"})


# -- setup ----------------------------------------------------------------------------------
send("coop register", admin, "cooperatives.register", {"cooperative": "green-valley", "managers": [txt(manager)]})

# -- register_problem: invalid / non-canonical ------------------------------------------------
def reg(label, text, signer=manager):
    return send("reg:" + label, signer, "allocation.register_problem", {"problem": text})


reg("not json", "{not json")
reg("json array", "[1,2,3]")
reg("pretty (not canonical)", json.dumps(DOC, indent=2))
reg("sorted but spaced", json.dumps(DOC, sort_keys=True))
reg("lone surrogate", TEXT[:-2] + '\ud800"}')
d = copy.deepcopy(DOC); d["demand"]["min"] = -5.0; reg("negative demand", jtext(d))
d = copy.deepcopy(DOC); d["demand"]["min"] = 1000; reg("demand min > max", jtext(d))
d = copy.deepcopy(DOC); d["cooperative"] = "nowhere"; reg("unknown cooperative", jtext(d))
reg("non-manager", TEXT, stranger)
for name, alphas in [
    ("alpha all equal 0.5", [0.5] * 12),
    ("alpha all equal 1/12", [1 / 12] * 12),
    ("alpha all zero", [0] * 12),
    ("alpha sum 2", [2 * e["alpha"] for e in DOC["enterprises"]]),
    ("alpha with -0.0", [-0.0] + [e["alpha"] for e in DOC["enterprises"][1:]]),
    ("alpha negative", [-0.1] + [e["alpha"] for e in DOC["enterprises"][1:]]),
    ("alpha huge equal", [1e308] * 12),
    ("alpha huge mixed", [1e308] * 11 + [1.0]),
]:
    d = copy.deepcopy(DOC)
    for e, a in zip(d["enterprises"], alphas):
        e["alpha"] = a
    reg(name, jtext(d))
d = copy.deepcopy(DOC); del d["enterprises"][0]["alpha"]; reg("alpha missing on one", jtext(d))
d = copy.deepcopy(DOC); d["enterprises"][1]["id"] = "e01"; reg("duplicate id", jtext(d))
d = copy.deepcopy(DOC); d["enterprises"][0]["max"] = 1e61; reg("max 1e61", jtext(d))
d = copy.deepcopy(DOC); d["enterprises"][0]["u0"] = 10**400; reg("huge int u0", jtext(d))
d = copy.deepcopy(DOC); d["extra"] = 1; reg("unknown top field", jtext(d))
d = copy.deepcopy(DOC); d["schema"] = "coopchain/problem/v9"; reg("problem schema v9", jtext(d))
d = copy.deepcopy(DOC); d["enterprises"][0]["min"] = 130; reg("empty box", jtext(d))
reg("NaN literal", TEXT.replace('"alpha":0.12', '"alpha":NaN'))
reg("dup key", TEXT.replace('"alpha":0.12', '"alpha":0.12,"alpha":0.12'))

# -- commits before any problem is registered -----------------------------------------------
send("commit: unknown problem", manager, "allocation.commit_allocation", commit_args(sols["F1"]))
reg("the problem (applied)", TEXT)
reg("the problem again", TEXT)
reg("other round (applied)", sols["other"]["problem_text"])
# valid canonical alt problem: equal alphas (canonical writer)
d = copy.deepcopy(sample); d["round"] = "2028-Q1"
for e in d["enterprises"]:
    e.pop("alpha", None)
ALT = canonical_json(parse_problem(d))
reg("uniform-alpha round (applied)", ALT)

# -- commit rejections (no commit yet: supersedes None) ---------------------------------------
variants = []


def v(label, cert=None, text=None, **changes):
    variants.append((label, cert, text, changes))


c = cert_of(); c["schema"] = "coopchain/certificate/v3"; v("v3 schema, text hash", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v3"; c["problem_hash"] = hashlib.sha256(b"form").hexdigest(); v("v3 schema, other hash", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v3"; c["extra"] = 1; del c["gap"]; v("v3 schema, bad fields", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v3"; c["problem_hash"] = 5; v("v3 schema, int hash", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v9"; v("v9 schema", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v0"; v("v0 schema", c)
c = cert_of(); del c["schema"]; v("no schema", c)
c = cert_of(); c["schema"] = 2; v("int schema", c)
c = cert_of(); c["schema"] = ["coopchain/certificate/v2"]; v("list schema", c)
c = cert_of(); c["schema"] = None; v("null schema", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["problem_hash"] = 12345; v("v1 int problem_hash", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["problem_hash"] = [DIGEST]; v("v1 list problem_hash", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["problem_hash"] = None; v("v1 null problem_hash", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["problem"] = TEXT; v("v1 embedding registered text", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; v("v1 problem omitted", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["problem_hash"] = "ab" * 32; v("v1 wrong hash hex", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["problem"] = json.dumps(DOC, indent=2); v("v1 embedding pretty text", c)
d = copy.deepcopy(DOC); d["demand"]["min"] = -5.0
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["problem"] = jtext(d); c["problem_hash"] = problem_hash(jtext(d)); v("v1 embedding invalid problem", c)
d = copy.deepcopy(DOC)
for e in d["enterprises"]:
    e["alpha"] = 0.5
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["problem"] = jtext(d); c["problem_hash"] = problem_hash(jtext(d)); v("v1 embedding non-canonical alpha", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["problem"] = 17; v("v1 embedding int problem", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["extra"] = 1; v("v1 unknown field", c)
c = cert_of(); c["schema"] = "coopchain/certificate/v1"; c["bound"] = c["bound"] * 1.5; v("v1 wrong bound", c)
c = cert_of("F3"); c["schema"] = "coopchain/certificate/v1"; v("v1 F3", c, chosen_by={"objective": "F3", "method": None, "pick": None},
                                                             allocation=commit_args(sols["F3"])["allocation"])
c = cert_of("F2"); c["schema"] = "coopchain/certificate/v1"; v("v1 F2", c, chosen_by={"objective": "F2", "method": None, "pick": None},
                                                             allocation=commit_args(sols["F2"])["allocation"])
c = cert_of(); c["problem_hash"] = 7; v("v2 int problem_hash", c)
c = cert_of(); c["problem_hash"] = "ab" * 32; v("v2 other hash", c)
c = cert_of(); c["problem_hash"] = sols["other"]["certificate"]["problem_hash"]; v("v2 other round hash", c)
c = cert_of(); c["values"]["F1"] *= 1.01; v("wrong F1 value", c)
c = cert_of(); c["values"]["F2"] = 0.5; v("wrong F2 value", c)
c = cert_of(); c["values"] = {}; v("empty values", c)
c = cert_of(); c["values"]["F1"] = "NaN"; v("value string NaN", c)
c = cert_of(); c["bound"] = c["bound"] * 1.5; v("wrong bound x1.5", c)
c = cert_of(); c["bound"] = c["bound"] * 0.5; v("wrong bound x0.5", c)
c = cert_of(); c["bound"] = -1.0; v("negative bound", c)
c = cert_of(); c["bound"] = "NaN"; v("bound 'NaN' string", c)
c = cert_of(); c["bound"] = "Infinity"; v("bound 'Infinity' string", c)
c = cert_of(); c["bound"] = 1e61; v("bound 1e61", c)
c = cert_of(); c["bound"] = 10**400; v("bound huge int", c)
c = cert_of(); c["bound"] = True; v("bound true", c)
c = cert_of(); c["gap"] = 0.5; v("gap 0.5", c)
c = cert_of(); c["gap"] = -0.1; v("gap negative", c)
c = cert_of(); c["gap"] = "0"; v("gap string", c)
c = cert_of(); c["extra"] = 1; v("unknown field", c)
c = cert_of(); c["extra"] = 1; c["other"] = 2; del c["rows"]; v("unknown and missing", c)
c = cert_of(); del c["gap"]; v("missing gap", c)
c = cert_of(); del c["values"]; v("missing values", c)
c = cert_of(); c["objective"] = "F4"; v("objective F4", c)
c = cert_of(); c["objective"] = "F3"; v("objective F3 on F1 cert", c)
c = cert_of(); c["pieces"] = [[0, 1]] * 2001; v("pieces 2001", c)
c = cert_of(); c["pieces"] = [[0, 1]] * 2000; v("pieces 2000 junk", c)
c = cert_of(); c["pieces"] = "many"; v("pieces string", c)
c = cert_of(); c["pieces"] = []; v("pieces empty", c)
c = cert_of(); c["multipliers"] = c["multipliers"][:-1]; v("multipliers short", c)
c = cert_of(); c["multipliers"] = [-1.0] * len(c["rows"]); v("multipliers negative", c)
c = cert_of(); c["multipliers"] = ["NaN"] * len(c["rows"]); v("multipliers NaN strings", c)
c = cert_of(); c["rows"] = ["nonsense"] + c["rows"][1:]; v("rows unknown name", c)
c = cert_of(); c["rows"] = c["rows"][::-1]; v("rows reversed", c)
c = cert_of(); c["mu"] = "x"; v("mu junk", c)
c = cert_of(); c["scalarisation"] = {"method": "weighted"}; v("scalarisation junk", c)
c = cert_of(); c["scalarised_value"] = 1.0; v("scalarised_value stray", c)
c = cert_of(); c["allocation"][0] += 0.001; v("v2 tampered cert allocation", c)
c = cert_of(); c["allocation"] = c["allocation"][:-1]; v("v2 short cert allocation", c)
c = cert_of(); c["allocation"] = {"e01": 1.0}; v("v2 dict cert allocation", c)
c = cert_of(); c["allocation"][0] = "NaN"; v("v2 NaN-string allocation", c)
c = cert_of(); c["allocation"][0] += 0.001
alloc = dict(commit_args(sols["F1"])["allocation"]); alloc["e01"] = repr(c["allocation"][0])
v("v2 tampered both allocations", c, allocation=alloc)
v("F3 cert claimed as F1", cert_of("F3"), allocation=commit_args(sols["F3"])["allocation"])
c = cert_of("F2"); c["pieces"] = c.get("pieces", [])[:1]; v("F2 pieces truncated", c, allocation=commit_args(sols["F2"])["allocation"],
                                                         chosen_by={"objective": "F2", "method": None, "pick": None})
c = cert_of("F2")
if c.get("pieces"):
    p = c["pieces"][0]
    c["pieces"][0] = json.loads(json.dumps(p).replace("1", "2", 1))
v("F2 piece tampered", c, allocation=commit_args(sols["F2"])["allocation"], chosen_by={"objective": "F2", "method": None, "pick": None})
c = cert_of("F2"); c["bound"] *= 0.9; v("F2 bound low", c, allocation=commit_args(sols["F2"])["allocation"], chosen_by={"objective": "F2", "method": None, "pick": None})
v("cert text NaN literal", text=json.dumps(cert_of()).replace(str(sols["F1"]["certificate"]["bound"]), "NaN", 1))
v("cert text Infinity literal", text=json.dumps(cert_of()).replace(str(sols["F1"]["certificate"]["bound"]), "Infinity", 1))
v("cert text 1e400", text=json.dumps(cert_of()).replace(str(sols["F1"]["certificate"]["bound"]), "1e400", 1))
v("cert text dup key", text=json.dumps(cert_of())[:-1] + ', "gap": 0.0}')
v("cert text not json", text="{nope")
v("cert text array", text="[]")
v("cert text deep", text="[" * 5000 + "]" * 5000)
v("cert text string", text='"coopchain/certificate/v2"')
v("infeasible allocation", cert_of(), allocation={**commit_args(sols["F1"])["allocation"], "e01": "121.0"})
v("wrong enterprises", cert_of(), allocation={k: x for k, x in commit_args(sols["F1"])["allocation"].items() if k != "e01"})
v("problem_mismatch (other round)", cert_of(), problem=problem_hash(sols["other"]["problem_text"]))
v("v2 on uniform-alpha problem", cert_of(), problem=problem_hash(ALT), round="2028-Q1")
c = cert_of(); c["schema"] = "coopchain/certificate/v1"
v("v1 on uniform-alpha problem", c, problem=problem_hash(ALT), round="2028-Q1")


def run_variants(prefix, base_changes):
    for label, cert, text, changes in variants:
        args = commit_args(sols["F1"], **base_changes)
        if cert is not None:
            args["certificate"] = json.dumps(cert)
        if text is not None:
            args["certificate"] = text
        args.update(changes)
        send(prefix + label, manager, "allocation.commit_allocation", args)


run_variants("c0:", {})
send("c0: non-manager", stranger, "allocation.commit_allocation", commit_args(sols["F1"]))

# -- an applied commit, then the same rejections as amendments ---------------------------------
r = send("APPLY F1", manager, "allocation.commit_allocation", commit_args(sols["F1"]))
assert r.status == "applied", r
send("round_committed", manager, "allocation.commit_allocation", commit_args(sols["F1"]))
run_variants("c1:", {"supersedes": r.transaction.hex(), "reason": "amend"})
r2 = send("APPLY F3 amendment", manager, "allocation.commit_allocation",
          commit_args(sols["F3"], supersedes=r.transaction.hex(), reason="footprint"))
r3 = send("APPLY F2 amendment", manager, "allocation.commit_allocation",
          commit_args(sols["F2"], supersedes=r2.transaction.hex(), reason="utility"))
c = cert_of(); c["schema"] = "coopchain/certificate/v1"
r4 = send("APPLY v1 F1 amendment", manager, "allocation.commit_allocation",
          commit_args(sols["F1"], supersedes=(r3.transaction.hex()), reason="v1", certificate=json.dumps(c)))

def v1(obj, **mut):
    c = cert_of(obj); c["schema"] = "coopchain/certificate/v1"
    c["allocation"] = {e["id"]: w for e, w in zip(DOC["enterprises"], c["allocation"])}
    for k, val in mut.items():
        c[k] = val
    return c


cur = r3.transaction.hex()
for label, obj, cert in [
    ("v1 dict F1 wrong bound", "F1", v1("F1", bound=sols["F1"]["certificate"]["bound"] * 1.5)),
    ("v1 dict F1 wrong gap", "F1", v1("F1", gap=0.5)),
    ("v1 dict F1 problem_hash int", "F1", v1("F1", problem_hash=3)),
    ("v1 dict F1 embedded text", "F1", v1("F1", problem=TEXT)),
    ("v1 dict F2 pieces truncated", "F2", v1("F2", pieces=sols["F2"]["certificate"].get("pieces", [])[:1])),
    ("v1 dict F2 bound low", "F2", v1("F2", bound=sols["F2"]["certificate"]["bound"] * 0.9)),
    ("v1 dict F1 unknown field", "F1", v1("F1", extra=1)),
]:
    rr = send(label, manager, "allocation.commit_allocation",
              commit_args(sols[obj], supersedes=cur, reason="v1", certificate=json.dumps(cert)))
    if rr is not None and rr.status == "applied":
        cur = rr.transaction.hex()
for label, obj in [("APPLY v1 dict F1", "F1"), ("APPLY v1 dict F2", "F2"), ("APPLY v1 dict F3", "F3")]:
    rr = send(label, manager, "allocation.commit_allocation",
              commit_args(sols[obj], supersedes=cur, reason="v1", certificate=json.dumps(v1(obj))))
    if rr is not None and rr.status == "applied":
        cur = rr.transaction.hex()
# the uniform-alpha problem (its alpha read by the changed equal-alpha line): its own certificates
d = json.loads(ALT)
keep = None
for obj in ("F1", "F2"):
    s_ = json.loads(json.dumps(solve(prepare(parse_problem(copy.deepcopy(d))), obj).as_json()))
    assert s_["problem_text"] == ALT
    c = {k: x for k, x in s_["certificate"].items() if k != "problem"}
    bad = copy.deepcopy(c); bad["bound"] *= 1.5
    send(f"ALT {obj} wrong bound", manager, "allocation.commit_allocation", commit_args(s_, certificate=json.dumps(bad)))
    c1 = copy.deepcopy(c); c1["schema"] = "coopchain/certificate/v1"; c1["problem"] = ALT
    c1["allocation"] = {e["id"]: w for e, w in zip(d["enterprises"], c["allocation"])}
    c1["bound"] *= 1.5
    send(f"ALT {obj} v1 wrong bound", manager, "allocation.commit_allocation", commit_args(s_, certificate=json.dumps(c1)))
    keep = s_ if obj == "F1" else keep
send("APPLY ALT F1", manager, "allocation.commit_allocation", commit_args(keep))
send("APPLY other round F1", manager, "allocation.commit_allocation", commit_args(sols["other"]))

ledger.close()
json.dump(records, open(OUT, "w"), indent=1)
from collections import Counter
print(Counter((x["status"], x["code"]) for x in records), file=sys.stderr)
print(len(records), "transactions", file=sys.stderr)
