"""How the frozen certificates here were made (run once; the files are committed and never regenerated).

    .venv/bin/python tests/data/certificates/make_certificates.py

valid/*.json: certificates every future version must keep accepting.
invalid/*.json: attacks from issue 10, each refused with the code index.json names.
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
    for name, cert in valid.items():
        (HERE / "valid" / f"{name}.json").write_text(json.dumps(cert, indent=1, ensure_ascii=False) + "\n")

    f1, f2g, w = valid["f1_uniform"], valid["f2_general"], valid["weighted_uniform"]
    doc = json.loads(f1["problem"])
    invalid: dict[str, tuple[str, str]] = {}

    def add(name: str, code: str, cert=None, text: str | None = None) -> None:
        invalid[name] = (code, text if text is not None else json.dumps(cert))

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
    add("rescaled_units_half_optimum", "gap_exceeded", certificate_document(scaled.canonical, scaled.instance, "F1", worse, multipliers=lam))

    (HERE / "invalid").mkdir(exist_ok=True)
    index = {}
    for name, (code, body) in invalid.items():
        (HERE / "invalid" / f"{name}.json").write_text(body + "\n")
        index[name] = code
    (HERE / "index.json").write_text(json.dumps({"valid": sorted(valid), "invalid": index}, indent=1) + "\n")


if __name__ == "__main__":
    main()
