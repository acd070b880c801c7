"""How the frozen certificates here were made.  Re-running it adds what is missing and changes nothing
that exists: a frozen file is never rewritten, and index.json keeps every entry it has (the review's
regression certificates were added by hand, with their own notes in tests/models/test_certificate_review.py).

    .venv/bin/python tests/data/certificates/make_certificates.py

valid/*.json: certificates every future version must keep accepting.  The first ones are
coopchain/certificate/v1 (the problem embedded); valid/v2_*.json are v2, which name their problem by
hash: the canonical problem text is beside each, in valid/v2_*.problem.json.
invalid/*.json: attacks from issue 10, each refused with the code index.json names (invalid/v2_*: v2 ones,
their problem beside them likewise when they have one).
"""

import copy
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from coopchain.models.certificate import certificate_document
from coopchain.models.problem import canonical_json, parse_problem, to_instance
from coopchain.models.scalarise import chebyshev, epsilon_constraint, lexicographic, weighted_sum
from coopchain.models.solve import prepare, solve
from tests.conftest import load_generator

HERE = Path(__file__).resolve().parent


def write_new(path: Path, text: str) -> None:
    """Write a frozen file only when it does not exist yet: frozen files are never rewritten."""
    if not path.exists():
        path.write_text(text, encoding="utf-8")


def as_v1(cert: dict) -> dict:
    """A v2 certificate in the v1 form the frozen attacks were made on: the problem embedded, the allocation by id."""
    text = cert.problem_text
    ids = [e["id"] for e in json.loads(text)["enterprises"]]
    out = {k: v for k, v in cert.items()}
    out.update(schema="coopchain/certificate/v1", problem=text, allocation=dict(zip(ids, cert["allocation"])))
    return out


def rehash(cert: dict, text: str) -> dict:
    out = copy.deepcopy(cert)
    out["problem"] = text
    out["problem_hash"] = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return out


def main() -> None:
    gen = load_generator()
    uniform = prepare(parse_problem(gen.generate(n=6, seed=3, alpha="uniform")))
    general = prepare(parse_problem(gen.generate(n=6, seed=4, alpha="general")))
    valid = {
        "f1_uniform": solve(uniform, "F1").certificate,
        "f3_general": solve(general, "F3").certificate,
        "f2_uniform": solve(uniform, "F2").certificate,
        "f2_general": solve(general, "F2").certificate,
        "weighted_general": weighted_sum(general.instance, general.canonical).certificate,
        "weighted_uniform": weighted_sum(uniform.instance, uniform.canonical).certificate,
        "chebyshev_uniform": chebyshev(uniform.instance, uniform.canonical, {"F1": 1.0, "F3": 2.0}).certificate,
        "lexicographic_uniform": lexicographic(uniform.instance, uniform.canonical, ["F1", "F3"]).certificate,
    }
    low, high = solve(general, "F1").values.F2, solve(general, "F2").values.F2
    valid["epsilon_floor_general"] = epsilon_constraint(general.instance, general.canonical, "F1", {"F2": 0.5 * (low + high)}).certificate
    (HERE / "valid").mkdir(exist_ok=True)
    index = json.loads((HERE / "index.json").read_text()) if (HERE / "index.json").exists() else {"valid": [], "invalid": {}}
    for name, cert in valid.items():
        # The v1 files are frozen: what this version writes (v2) goes beside them, under v2_ names.
        if cert["schema"] != "coopchain/certificate/v1":
            name = f"v2_{name}"
            write_new(HERE / "valid" / f"{name}.problem.json", cert.problem_text)
        write_new(HERE / "valid" / f"{name}.json", json.dumps(cert, indent=1, ensure_ascii=False) + "\n")
        if name not in index["valid"]:
            index["valid"].append(name)

    # The attacks below were made on v1 certificates (frozen); a v1 form of this version's certificate keeps
    # them reproducible.
    f1, f2g, w = (as_v1(valid[k]) for k in ("f1_uniform", "f2_general", "weighted_uniform"))
    doc = json.loads(f1["problem"])
    invalid: dict[str, tuple[str, str, str | None]] = {}

    def add(name: str, code: str, cert=None, text: str | None = None, problem: str | None = None) -> None:
        invalid[name] = (code, text if text is not None else json.dumps(cert), problem)

    def changed(cert, fn):
        out = copy.deepcopy(cert)
        fn(out)
        return out

    def problem_changed(fn) -> str:
        d = copy.deepcopy(doc)
        fn(d)
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    text = json.dumps(f1)
    add("nan_multiplier", "non_finite", text=text.replace('"multipliers": [', '"multipliers": [NaN, ', 1).replace(", ", ", ", 1))
    add("infinite_value", "non_finite", text=text.replace('"bound": ', '"bound": Infinity, "x": ', 1))
    add("huge_multiplier", "out_of_range", changed(f1, lambda c: c["multipliers"].__setitem__(0, 1e308)))
    add("negative_multiplier", "negative_multiplier", changed(f1, lambda c: c["multipliers"].__setitem__(0, -1.0)))
    add("multiplier_1e59", "bound_mismatch", changed(f1, lambda c: c.__setitem__("multipliers", [1e59] * len(c["multipliers"]))))
    add("changed_value", "value_mismatch", changed(f1, lambda c: c["values"].__setitem__("F1", c["values"]["F1"] * 1.001)))
    add("changed_bound", "bound_mismatch", changed(f1, lambda c: c.__setitem__("bound", c["bound"] * 1.001)))
    add("changed_gap", "gap_mismatch", changed(f1, lambda c: c.__setitem__("gap", 1e-8)))
    add("altered_problem", "hash_mismatch", changed(f1, lambda c: c.__setitem__("problem", c["problem"].replace('"round":"', '"round":"x'))))
    add("infeasible_allocation", "infeasible", changed(f1, lambda c: c["allocation"].__setitem__(next(iter(c["allocation"])), 1e6)))
    add("duplicate_key_top", "duplicate_key", text=text[:-1] + ', "gap": 0}')
    add("duplicate_key_problem", "not_canonical", rehash(f1, f1["problem"].replace('{"cooperative":', '{"cooperative":"x","cooperative":', 1)))
    add("whitespace_problem", "not_canonical", rehash(f1, f1["problem"].replace(',"demand"', ', "demand"', 1)))
    add("escaped_problem", "not_canonical", rehash(f1, f1["problem"].replace('"schema"', '"sch\\u0065ma"', 1)))
    add("lone_surrogate_problem", "not_canonical", changed(f1, lambda c: c.__setitem__("problem", c["problem"].replace('"round":"', '"round":"\ud800', 1))))
    add("negative_g_problem", "invalid_problem", rehash(f1, problem_changed(lambda d: d["enterprises"][0].__setitem__("g", -0.001))))
    add("negative_alpha_problem", "invalid_problem", rehash(f1, problem_changed(lambda d: d["enterprises"][0].__setitem__("alpha", -0.5))))
    add("no_enterprises_problem", "invalid_problem", rehash(f1, problem_changed(lambda d: d.__setitem__("enterprises", []))))
    add("benefits_1e306_problem", "invalid_problem", rehash(f1, problem_changed(
        lambda d: [e["benefit"].__setitem__(k, v * 1e306) for e in d["enterprises"] for k, v in list(e["benefit"].items())])))
    add("no_weights_kappa_0", "degenerate_scalarisation", changed(w, lambda c: c["scalarisation"].update(weights={}, kappa=0.0)))
    add("negative_weight", "degenerate_scalarisation", changed(w, lambda c: c["scalarisation"]["weights"].__setitem__("F1", -1.0)))
    add("deep_nesting", "too_large", text='{"a":' * 100_000 + "1" + "}" * 100_000)
    add("integer_400_digits", "too_large", text=text.replace('"gap": ', '"gap": ' + "9" * 400 + ", \"g2\": ", 1))
    add("many_pieces", "too_large", changed(f2g, lambda c: c.__setitem__("pieces", (c["pieces"] * 2001)[:2001])))

    # Units rescaled to abuse a tolerance: indicator weights × 1e-12 and an allocation at about half the
    # optimum (the min-F3 allocation), with the optimum's multipliers rescaled: honest numbers, false claim.
    scaled_doc = json.loads(uniform.canonical)
    for k in scaled_doc["indicators"]:
        scaled_doc["indicators"][k] *= 1e-12
    scaled = prepare(parse_problem(scaled_doc))
    worse = solve(scaled, "F3").allocation
    lam = [x * 1e-12 for x in f1["multipliers"]]
    add("rescaled_units_half_optimum", "gap_exceeded", as_v1(certificate_document(scaled.canonical, scaled.instance, "F1", worse, multipliers=lam)))

    # Format v2: the problem is given beside the certificate (invalid/<name>.problem.json when there is one).
    v2 = valid["f1_uniform"]
    add("v2_problem_missing", "problem_missing", v2)
    add("v2_another_problem_beside", "hash_mismatch", v2, problem=valid["f3_general"].problem_text)
    ids = [e["id"] for e in json.loads(v2.problem_text)["enterprises"]]
    add("v2_allocation_as_a_map", "malformed", {**v2, "allocation": dict(zip(ids, v2["allocation"]))}, problem=v2.problem_text)
    add("v2_embedded_problem", "malformed", {**v2, "problem": v2.problem_text}, problem=v2.problem_text)
    add("v2_short_allocation", "malformed", {**v2, "allocation": v2["allocation"][:-1]}, problem=v2.problem_text)

    (HERE / "invalid").mkdir(exist_ok=True)
    for name, (code, body, problem) in invalid.items():
        write_new(HERE / "invalid" / f"{name}.json", body + "\n")
        if problem is not None:
            write_new(HERE / "invalid" / f"{name}.problem.json", problem)
        index["invalid"].setdefault(name, code)
    (HERE / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
