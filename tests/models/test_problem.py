"""The problem document (SPEC §6): every rejection rule, the canonical form and identity, CSV."""

from __future__ import annotations

import copy
import json
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import rfc8785

from coopchain.models.certificate import instance_from_document
from coopchain.models.problem import (
    Issue,
    Problem,
    ProblemError,
    _canonical_document,
    canonical_json,
    load_problem_csv,
    load_problem_file,
    load_problem_json,
    parse_problem,
    problem_id,
    to_instance,
)

DATA = Path(__file__).resolve().parents[2] / "models" / "samples"


def small() -> dict:
    """Three enterprises, two resources; feasible, alpha left out."""
    return {
        "schema": "coopchain/problem/v1",
        "cooperative": "test-coop",
        "round": "2026-Q4",
        "indicators": {"profit": 0.5, "wages": 0.3, "tax": 0.2},
        "resources": {"water": {"cap": 5400, "weight": 0.5}, "energy": {"cap": 900, "weight": 0.5}},
        "demand": {"min": 100, "max": 300},
        "enterprises": [
            {
                "id": "e01", "name": "Li family farm", "min": 0, "max": 120,
                "benefit": {"profit": 41.0, "wages": 12.5, "tax": 3.0},
                "use": {"water": 9.5, "energy": 1.2}, "cap": {"water": 1000, "energy": 140},
                "u0": 0.12, "g": 0.004, "reservation": 0,
            },
            {
                "id": "e02", "min": 10, "max": 100,
                "benefit": {"profit": 20.0, "wages": 10.0, "tax": 5.0},
                "use": {"water": 2.0, "energy": 0.5},
                "u0": 0.3, "g": 0.005,
            },
            {
                "id": "e03", "name": "River mill", "min": 0, "max": 80,
                "benefit": {"profit": 30.0, "wages": 5.0, "tax": 1.0},
                "use": {"water": 1.0, "energy": 2.0}, "cap": {"energy": 150},
                "u0": 0.2, "g": 0.01,
            },
        ],
    }


def issues(doc) -> list[Issue]:
    with pytest.raises(ProblemError) as caught:
        parse_problem(doc)
    return list(caught.value.issues)


def assert_issue(found: list[Issue], path: str, *words: str) -> None:
    """Some issue has exactly this path and a message containing every word."""
    at_path = [i for i in found if i.path == path]
    assert at_path, f"no issue at {path!r}; got {found}"
    assert any(all(w in i.message for w in words) for i in at_path), f"{words} not in {at_path}"


def changed(**paths) -> dict:
    """small() with dotted-path assignments, e.g. changed(**{"enterprises.0.min": -3})."""
    doc = small()
    for dotted, value in paths.items():
        *head, last = dotted.split(".")
        node = doc
        for part in head:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


DELETE = object()


def reorder(obj):
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(obj, dict):
        return {k: reorder(obj[k]) for k in reversed(list(obj))}
    if isinstance(obj, list):
        return [reorder(x) for x in obj]
    return obj


def floats(obj):
    """The same JSON value with every integer written as a float (120 -> 120.0)."""
    if isinstance(obj, dict):
        return {k: floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [floats(x) for x in obj]
    return float(obj) if isinstance(obj, int) and not isinstance(obj, bool) else obj


# --- valid documents ------------------------------------------------------------------------


def test_small_document_parses():
    p = parse_problem(small())
    assert isinstance(p, Problem)
    assert [e.id for e in p.enterprises] == ["e01", "e02", "e03"]
    assert p.enterprises[1].cap == {} and p.enterprises[1].reservation == 0.0
    assert p.notices == ()


def test_green_valley_parses_without_notices():
    p = load_problem_file(DATA / "green-valley.json")
    assert len(p.enterprises) == 12
    assert p.notices == ()
    assert len({e.alpha for e in p.enterprises}) > 1  # the sample uses general alpha


def test_problem_validate_also_runs_meaning_checks():
    with pytest.raises(ValueError, match="must be at least min"):
        Problem.model_validate(changed(**{"enterprises.0.min": 200}))


# --- structure: pydantic's errors in words ------------------------------------------------------


def test_schema_missing():
    assert_issue(issues(changed(schema=DELETE)), "schema", "is required but missing")


def test_schema_other_version():
    assert_issue(issues(changed(schema="coopchain/problem/v2")), "schema", '"coopchain/problem/v1"', '"coopchain/problem/v2"')


def test_unknown_top_level_field_names_the_known_ones():
    found = issues(changed(enterprise=[]))
    assert_issue(found, "enterprise", "is not a field of a problem document", "known fields: schema, cooperative", "did you mean 'enterprises'")


def test_unknown_enterprise_field():
    assert_issue(issues(changed(**{"enterprises.1.colour": "red"})), "enterprises[1].colour", "is not a field of an enterprise", "reservation")


def test_unknown_resource_field():
    assert_issue(issues(changed(**{"resources.water.wieght": 1})), "resources.water.wieght", "is not a field of a resource", "did you mean 'weight'")


def test_missing_number():
    assert_issue(issues(changed(**{"enterprises.1.max": DELETE})), "enterprises[1].max", "is required but missing")


def test_negative_number_gives_the_value():
    assert_issue(issues(changed(**{"enterprises.2.min": -3.0})), "enterprises[2].min", "must not be negative", "-3.0")


def test_negative_enterprise_cap():
    assert_issue(issues(changed(**{"enterprises.0.cap.water": -1})), "enterprises[0].cap.water", "must not be negative")


def test_zero_cooperative_cap():
    assert_issue(issues(changed(**{"resources.energy.cap": 0})), "resources.energy.cap", "must be positive")


def test_negative_indicator_weight():
    assert_issue(issues(changed(**{"indicators.tax": -0.2})), "indicators.tax", "must not be negative")


@pytest.mark.parametrize("value", ["120", True, None, [1]])
def test_number_of_another_type(value):
    assert_issue(issues(changed(**{"enterprises.0.max": value})), "enterprises[0].max", "must be a number")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_refused(value):
    assert_issue(issues(changed(**{"enterprises.1.benefit.wages": value})), "enterprises[1].benefit.wages", "must be a finite number, not NaN or infinity")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_literals_refused_in_json(literal):
    text = json.dumps(small()).replace('"u0": 0.3', f'"u0": {literal}', 1)
    with pytest.raises(ProblemError) as caught:
        load_problem_json(text)
    assert_issue(list(caught.value.issues), "enterprises[1].u0", "finite number")


def test_empty_text_fields():
    found = issues(changed(cooperative="", **{"enterprises.0.id": ""}))
    assert_issue(found, "cooperative", "must not be empty")
    assert_issue(found, "enterprises[0].id", "must not be empty")


def test_id_must_be_text():
    assert_issue(issues(changed(**{"enterprises.0.id": 7})), "enterprises[0].id", "must be text")


def test_no_enterprises():
    assert_issue(issues(changed(enterprises=[])), "enterprises", "at least one enterprise")


def test_no_indicators():
    assert_issue(issues(changed(indicators={})), "indicators", "must not be empty")


def test_empty_indicator_name():
    assert_issue(issues(changed(indicators={"": 1.0})), "indicators", "names must not be empty")


def test_enterprise_not_an_object():
    assert_issue(issues(changed(**{"enterprises.1": 5})), "enterprises[1]", "must be an object")


def test_document_not_an_object():
    with pytest.raises(ProblemError) as caught:
        parse_problem([small()])
    assert caught.value.issues[0].path == ""
    assert "JSON object" in caught.value.issues[0].message


def test_every_structural_issue_is_reported():
    found = issues(changed(schema=DELETE, **{"enterprises.0.min": -1, "enterprises.2.g": "x", "demand.min": math.nan}))
    assert {i.path for i in found} == {"schema", "enterprises[0].min", "enterprises[2].g", "demand.min"}


def test_meaning_issues_are_reported_beside_structural_ones():
    # min > max is a meaning issue, u0 = "low" a structural one: a manager gets both at once.
    found = issues(changed(**{"enterprises.0.min": 500, "enterprises.1.u0": "low"}))
    assert [i.path for i in found] == ["enterprises[1].u0", "enterprises[0].max"]


def test_every_issue_of_a_document_is_reported_at_once():
    found = issues(changed(**{
        "cooperative": "",  # structural, top level
        "enterprises.0.g": "fast",  # structural, in an enterprise
        "enterprises.1.min": 150,  # meaning: min above max = 100
        "enterprises.2.u0": 0.95,  # meaning: U = 0.95 + 0.01 * 80 = 1.75 at max
        "enterprises.2.id": "e02",  # meaning: the id of enterprises[1] again
        "colour": "red",  # structural, unknown field
    }))
    assert {i.path for i in found} == {"cooperative", "enterprises[0].g", "colour", "enterprises[1].max", "enterprises[2].g", "enterprises[2].id"}
    assert_issue(found, "enterprises[2].g", "reaches 1.75")


def test_an_enterprise_with_a_structural_issue_gets_no_meaning_issue():
    # enterprises[0] has u0 = "low" and min above max: only the first is said (its numbers are not read).
    found = issues(changed(**{"enterprises.0.u0": "low", "enterprises.0.min": 500}))
    assert [i.path for i in found] == ["enterprises[0].u0"]


def test_the_demand_window_is_not_judged_while_an_enterprise_is_unreadable():
    # Maximums sum to 300 < demand.min 400, but enterprises[2]'s maximum cannot be read: no sum is claimed.
    found = issues(changed(**{"enterprises.2.max": "eighty", "demand.min": 400, "demand.max": 500}))
    assert [i.path for i in found] == ["enterprises[2].max"]


def test_a_broken_indicator_table_stops_the_meaning_checks():
    found = issues(changed(indicators={"profit": "half"}, **{"enterprises.1.min": 150}))
    assert [i.path for i in found] == ["indicators.profit"]


# --- meaning ------------------------------------------------------------------------------


def test_unknown_indicator_in_benefit_names_the_known_ones():
    found = issues(changed(**{"enterprises.1.benefit.profits": 3.0}))
    assert_issue(found, "enterprises[1].benefit.profits", "is not an indicator", "profit, wages, tax")


def test_missing_indicator_in_benefit():
    assert_issue(issues(changed(**{"enterprises.2.benefit.tax": DELETE})), "enterprises[2].benefit.tax", "is missing", "every indicator")


def test_unknown_resource_in_use():
    assert_issue(issues(changed(**{"enterprises.0.use.land": 1.0})), "enterprises[0].use.land", "is not a resource", "water, energy")


def test_missing_resource_in_use():
    assert_issue(issues(changed(**{"enterprises.1.use.energy": DELETE})), "enterprises[1].use.energy", "is missing", "every resource")


def test_unknown_resource_in_cap():
    assert_issue(issues(changed(**{"enterprises.2.cap.carbon": 5.0})), "enterprises[2].cap.carbon", "is not a resource", "water, energy")


def test_use_may_be_left_out_without_resources():
    doc = changed(resources={})
    for e in doc["enterprises"]:
        del e["use"]
        e.pop("cap", None)
    assert len(parse_problem(doc).enterprises) == 3


def test_enterprise_min_above_max():
    assert_issue(issues(changed(**{"enterprises.1.min": 150})), "enterprises[1].max", "must be at least min", "max = 100", "min = 150")


def test_demand_min_above_max():
    assert_issue(issues(changed(**{"demand.min": 400, "demand.max": 350})), "demand.max", "must be at least demand.min")


def test_development_level_above_one_at_max():
    found = issues(changed(**{"enterprises.0.u0": 0.64}))  # 0.64 + 0.004 * 120 = 1.12
    assert_issue(found, "enterprises[0].g", "U = u0 + g·W reaches 1.12 at W = max = 120", "(0, 1]")


def test_development_level_not_positive_at_min():
    found = issues(changed(**{"enterprises.1.u0": -0.05}))  # -0.05 + 0.005 * 10 = 0
    assert_issue(found, "enterprises[1].u0", "U = u0 + g·W is 0 at W = min = 10", "(0, 1]")


def test_development_level_above_one_in_a_managers_words():
    found = issues(changed(**{"enterprises.0.u0": 0.64}))  # reaches 1 at W = (1 - 0.64) / 0.004 = 90
    assert_issue(found, "enterprises[0].g", 'enterprise "e01" would reach a development level of 1.12 at its maximum volume of 120',
                 "lower its maximum to 90, or lower u0 or g")


def test_development_level_above_one_from_the_start():
    found = issues(changed(**{"enterprises.2.u0": 1.25}))  # 1.25 + 0.01 * 80 = 2.05
    assert_issue(found, "enterprises[2].u0", 'enterprise "e03" would reach a development level of 2.05', "u0 = 1.25 is already above 1")


def test_development_level_not_positive_in_a_managers_words():
    found = issues(changed(**{"enterprises.1.u0": -0.08}))  # -0.08 + 0.005 * 10 = -0.03; U > 0 needs u0 > -0.05
    assert_issue(found, "enterprises[1].u0", 'enterprise "e02" would have a development level of -0.03 at its minimum volume of 10',
                 "raise u0 above -0.05", "U = u0 + g·W is -0.03 at W = min = 10")


def test_development_level_exactly_one_is_allowed():
    doc = changed(**{"enterprises.0.u0": 0.52})  # 0.52 + 0.004 * 120 = 1 (to rounding)
    assert parse_problem(doc).enterprises[0].u0 == 0.52


def test_reservation_without_benefit_can_never_be_met():
    doc = changed(**{"enterprises.2.benefit": {"profit": 0, "wages": 0, "tax": 0}, "enterprises.2.reservation": 50})
    assert_issue(issues(doc), "enterprises[2].reservation", "can never be met")


def test_reservation_above_what_the_cap_allows():
    # e01 earns 24.85 per unit: 3000 needs 120.7 units; its water cap 1000 / 9.5 allows 105.3.
    found = issues(changed(**{"enterprises.0.reservation": 3000}))
    assert_issue(found, "enterprises[0].reservation", '"e01"', "reservation of 3000", "120.724", "water cap of 1000", "105.263")


def test_minimum_above_what_the_cap_allows():
    found = issues(changed(**{"enterprises.2.min": 76}))  # energy cap 150 / 2 allows 75
    assert_issue(found, "enterprises[2].cap.energy", '"e03"', "minimum is 76", "energy cap of 150", "at most 75")


def test_demand_minimum_the_bounds_cannot_meet():
    # Upper limits: e01 min(120, 1000/9.5, 140/1.2) = 105.263..., e02 100, e03 min(80, 75) = 75.
    found = issues(changed(**{"demand.min": 300, "demand.max": 400}))
    assert_issue(found, "demand.min", "The demand minimum of 300 cannot be met", "upper limits", "sum to 280.263")


def test_demand_maximum_below_the_lower_limits():
    found = issues(changed(**{"enterprises.0.min": 50, "enterprises.2.min": 40, "demand.min": 0, "demand.max": 90}))
    assert_issue(found, "demand.max", "The demand maximum of 90 cannot be kept", "lower limits", "sum to 100")


def test_reservation_raises_the_lower_limit_in_the_demand_check():
    # e02 earns 10 + 3 + 1 = 14 per unit: a reservation of 1400 needs 100 units; 0 + 100 + 0 > 90.
    found = issues(changed(**{"enterprises.1.reservation": 1400, "demand.min": 0, "demand.max": 90}))
    assert_issue(found, "demand.max", "sum to 100")


def test_duplicate_ids_name_both_positions():
    found = issues(changed(**{"enterprises.2.id": "e01"}))
    assert_issue(found, "enterprises[2].id", '"e01"', "enterprises[0]", "enterprises[2]", "unique")


def test_alpha_for_some_enterprises_only():
    found = issues(changed(**{"enterprises.0.alpha": 0.5, "enterprises.2.alpha": 0.5}))
    assert [i.path for i in found] == ["enterprises[1].alpha"]
    assert_issue(found, "enterprises[1].alpha", "given for 2 of 3", "every enterprise or for none")


def test_alpha_all_zero():
    doc = changed(**{f"enterprises.{j}.alpha": 0 for j in range(3)})
    assert_issue(issues(doc), "enterprises", "every alpha is 0")


def test_alpha_not_summing_to_one_is_scaled_with_a_notice():
    p = parse_problem(changed(**{"enterprises.0.alpha": 1, "enterprises.1.alpha": 2, "enterprises.2.alpha": 1}))
    assert p.notices == ("alpha summed to 4; scaled to sum to 1",)
    assert [e.alpha for e in p.enterprises] == [0.25, 0.5, 0.25]


def test_alpha_summing_to_one_is_kept():
    p = parse_problem(changed(**{"enterprises.0.alpha": 0.1, "enterprises.1.alpha": 0.2, "enterprises.2.alpha": 0.7}))
    assert p.notices == ()
    assert [e.alpha for e in p.enterprises] == [0.1, 0.2, 0.7]


def test_lone_surrogate_refused():
    text = json.dumps(small()).replace('"River mill"', '"River \\ud800 mill"')
    with pytest.raises(ProblemError) as caught:
        load_problem_json(text)
    assert_issue(list(caught.value.issues), "enterprises[2].name", "invalid character")


def test_every_meaning_issue_is_reported():
    found = issues(changed(**{"enterprises.0.u0": 0.9, "enterprises.1.min": 101, "enterprises.2.id": "e01", "enterprises.2.benefit.fun": 1}))
    assert {i.path for i in found} >= {"enterprises[0].g", "enterprises[1].max", "enterprises[2].id", "enterprises[2].benefit.fun"}


# --- errors ---------------------------------------------------------------------------------------


def test_invalid_json_is_one_sentence_at_the_root():
    with pytest.raises(ProblemError) as caught:
        load_problem_json('{"schema": "coopchain/problem/v1",')
    (issue,) = caught.value.issues
    assert issue.path == "" and "not valid JSON" in issue.message and "line 1" in issue.message


def test_invalid_utf8_is_one_sentence():
    with pytest.raises(ProblemError) as caught:
        load_problem_json(b'{"cooperative": "\xff"}')
    assert "UTF-8" in str(caught.value)


def test_error_text_is_one_line_per_issue():
    error = ProblemError([Issue("demand.min", "is required but missing"), Issue("", "top")])
    assert str(error) == "demand.min: is required but missing\ntop"
    assert isinstance(error, ValueError)


def test_error_survives_pickling():
    error = ProblemError([Issue("a.b", "c")])
    assert pickle.loads(pickle.dumps(error)).issues == error.issues


# --- canonical form and identity ---------------------------------------------------------------


def test_canonical_form_is_rfc8785():
    text = canonical_json(parse_problem(small()))
    assert text == rfc8785.dumps(json.loads(text)).decode()


def test_canonical_form_writes_every_default():
    doc = json.loads(canonical_json(parse_problem(small())))
    for e in doc["enterprises"]:
        assert e["alpha"] == pytest.approx(1 / 3) and "reservation" in e and "cap" in e
    assert doc["enterprises"][1]["cap"] == {} and "name" not in doc["enterprises"][1]
    assert doc["enterprises"][2]["cap"] == {"energy": 150}


def test_key_order_does_not_change_the_id():
    assert problem_id(parse_problem(reorder(small()))) == problem_id(parse_problem(small()))


def test_integers_and_floats_give_the_same_id():
    assert canonical_json(parse_problem(floats(small()))) == canonical_json(parse_problem(small()))


def test_alpha_absent_or_uniform_gives_the_same_id():
    third = changed(**{f"enterprises.{j}.alpha": 1 / 3 for j in range(3)})
    ones = changed(**{f"enterprises.{j}.alpha": 1 for j in range(3)})
    ids = {problem_id(parse_problem(d)) for d in (small(), third, ones)}
    assert len(ids) == 1


def test_defaults_absent_or_explicit_give_the_same_id():
    explicit = changed(**{"enterprises.1.cap": {}, "enterprises.1.reservation": 0.0, "enterprises.2.reservation": 0})
    assert problem_id(parse_problem(explicit)) == problem_id(parse_problem(small()))


@pytest.mark.parametrize(
    "change",
    [
        {"enterprises.0.max": 121},
        {"enterprises.1.benefit.tax": 5.000000000000001},
        {"enterprises.1.name": "Hill dairy"},
        {"enterprises.2.cap.water": 1e6},
        {"round": "2027-Q1"},
        {"resources.water.weight": 0.4},
    ],
)
def test_a_real_change_gives_another_id(change):
    assert problem_id(parse_problem(changed(**change))) != problem_id(parse_problem(small()))


def test_enterprise_order_is_part_of_the_identity():
    doc = small()
    doc["enterprises"].reverse()
    assert problem_id(parse_problem(doc)) != problem_id(parse_problem(small()))


def test_canonical_form_reads_back_to_itself():
    text = canonical_json(parse_problem(small()))
    assert canonical_json(load_problem_json(text)) == text


AWKWARD_FLOATS = [1e-7, 1.5e-5, 0.0001, 9.999999999999999e-05, 123.456, 1e15, 1e16, 1.2345e17, 1e21, 1.7976931348623157e308, 5e-324, 2.0**53 + 2]


def test_fast_canonical_writer_matches_rfc8785_on_awkward_input():
    doc = small()
    # Keys that sort differently by UTF-16 than by code point, and text that needs escaping.
    doc["indicators"] = {"\U0001F600": 0.1, "\uFB01": 0.2, "é": 0.3, "z{0}": 0.4}
    doc["resources"]["{x}"] = {"cap": 10.0, "weight": 0.0}
    for j, e in enumerate(doc["enterprises"]):
        e["benefit"] = {k: AWKWARD_FLOATS[(j + i) % len(AWKWARD_FLOATS)] for i, k in enumerate(doc["indicators"])}
        e["use"]["{x}"] = 0.0
        e["g"] = 0.0
        e["u0"] = 0.5
    doc["enterprises"][0]["name"] = 'quote " backslash \\ newline \n tab \t bell \x07 {1} ü'
    doc["enterprises"][1]["id"] = "e02 \u2028 {}"
    doc["enterprises"][2]["cap"] = {"{x}": 1e-7, "water": 1e21}
    doc["demand"]["min"] = 0.0
    p = parse_problem(doc)
    text = canonical_json(p)
    assert text == rfc8785.dumps(_canonical_document(p)).decode()
    assert text == rfc8785.dumps(json.loads(text)).decode()


def test_negative_zero_is_written_as_zero():
    p = parse_problem(changed(**{"enterprises.0.min": -0.0}))
    assert '"min":0,' in canonical_json(p)
    assert not np.signbit(to_instance(p).volume_min[0])


def test_to_instance_is_what_an_auditor_reads():
    for p in (parse_problem(small()), load_problem_file(DATA / "green-valley.json")):
        mine = to_instance(p)
        theirs = instance_from_document(json.loads(canonical_json(p)))
        assert (mine.ids, mine.indicators, mine.resources) == (theirs.ids, theirs.indicators, theirs.resources)
        for field, value in vars(theirs).items():
            if isinstance(value, np.ndarray):
                assert np.array_equal(getattr(mine, field), value), field


def test_to_instance_fills_uniform_alpha_and_caps():
    inst = to_instance(parse_problem(small()))
    assert np.allclose(inst.alpha, 1 / 3) and inst.uniform_alpha
    assert inst.enterprise_cap[1].tolist() == [math.inf, math.inf]


def test_to_instance_columns_are_in_canonical_order():
    inst = to_instance(parse_problem(small()))
    assert inst.indicators == ("profit", "tax", "wages") and inst.resources == ("energy", "water")
    assert inst.benefit[0].tolist() == [41.0, 3.0, 12.5]
    assert inst.enterprise_cap[2].tolist() == [150.0, math.inf]


# --- CSV ---------------------------------------------------------------------------------------

CSV_HEADER = {k: v for k, v in small().items() if k != "enterprises"}
CSV_TEXT = """id,name,min,max,u0,g,alpha,reservation,benefit.profit,benefit.wages,benefit.tax,use.water,use.energy,cap.water,cap.energy
e01,Li family farm,0,120,0.12,0.004,,0,41,12.5,3,9.5,1.2,1000,140
e02,,10,100,0.3,0.005,,,20,10,5,2,0.5,,
e03,River mill,0,80,0.2,0.01,,,30,5,1,1,2,,150
"""


def csv_issues(text: str, header: dict = CSV_HEADER) -> list[Issue]:
    with pytest.raises(ProblemError) as caught:
        load_problem_csv(text, header)
    return list(caught.value.issues)


def test_csv_and_json_give_the_same_canonical_form():
    assert canonical_json(load_problem_csv(CSV_TEXT, CSV_HEADER)) == canonical_json(parse_problem(small()))


def test_green_valley_csv_and_json_agree():
    from_json = load_problem_file(DATA / "green-valley.json")
    from_csv = load_problem_file(DATA / "green-valley.csv")  # header: green-valley.header.json beside it
    assert canonical_json(from_csv) == canonical_json(from_json)
    explicit = load_problem_file(DATA / "green-valley.csv", DATA / "green-valley.header.json")
    assert problem_id(explicit) == problem_id(from_json)


def test_semicolon_separated_csv_is_read_and_named():
    problem = load_problem_csv(CSV_TEXT.replace(",", ";"), CSV_HEADER)
    assert problem_id(problem) == problem_id(parse_problem(small()))
    assert problem.notices == ("read as a semicolon-separated table",)


def test_semicolon_csv_with_decimal_commas_reads_them_as_decimal_points():
    # As a spreadsheet saves it where the decimal mark is a comma: 0,12 is 0.12.
    text = re.sub(r"(?<=\d)\.(?=\d)", ",", CSV_TEXT.replace(",", ";"))
    assert "0,004" in text and "12,5" in text
    problem = load_problem_csv(text, CSV_HEADER)
    assert problem_id(problem) == problem_id(parse_problem(small()))
    assert problem.notices == ("read as a semicolon-separated table, decimal commas as decimal points (0,5 = 0.5)",)


def test_tab_separated_csv_is_read_and_named():
    problem = load_problem_csv(CSV_TEXT.replace(",", "\t"), CSV_HEADER)
    assert problem_id(problem) == problem_id(parse_problem(small())) and problem.notices == ("read as a tab-separated table",)


def test_semicolon_csv_issue_names_path_and_row():
    found = csv_issues(CSV_TEXT.replace(",", ";").replace("e02;;10;100", "e02;;10;lots"))
    assert_issue(found, "enterprises[1] (CSV row 3).max", "must be a number", '"lots"')


def test_comma_csv_keeps_commas_out_of_numbers():
    # In a comma-separated table "0,3" is two cells, never a decimal: the row has one cell too many.
    found = csv_issues(CSV_TEXT.replace("e02,,10,100,0.3", 'e02,,10,100,"0,3"'))
    assert_issue(found, "enterprises[1] (CSV row 3).u0", "must be a number", '"0,3"')


def test_csv_column_and_header_issues_come_together():
    found = csv_issues(CSV_TEXT.replace("benefit.tax", "benefit.taxes", 1), {**CSV_HEADER, "round": "", "demand": {"min": 100}})
    assert {i.path for i in found} == {"round", "demand.max", "CSV column 'benefit.taxes'", "CSV column 'benefit.tax'"}


def test_csv_without_header_file(tmp_path):
    table = tmp_path / "coop.csv"
    table.write_text(CSV_TEXT)
    with pytest.raises(ProblemError, match="needs a header file") as caught:
        load_problem_file(table)
    assert "coop.header.json" in str(caught.value)


def test_csv_from_a_spreadsheet_with_bom_and_crlf(tmp_path):
    table = tmp_path / "coop.csv"
    table.write_bytes(b"\xef\xbb\xbf" + CSV_TEXT.replace("\n", "\r\n").encode() + b"\r\n,,,\r\n")
    (tmp_path / "coop.header.json").write_text(json.dumps(CSV_HEADER))
    assert problem_id(load_problem_file(table)) == problem_id(parse_problem(small()))


def test_csv_cell_issue_names_path_and_row():
    found = csv_issues(CSV_TEXT.replace("e02,,10,100", "e02,,10,lots"))
    assert_issue(found, "enterprises[1] (CSV row 3).max", "must be a number", '"lots"')


def test_csv_meaning_issue_names_the_row():
    found = csv_issues(CSV_TEXT.replace("e03,River mill,0,80,0.2", "e03,River mill,0,80,0.95"))
    assert_issue(found, "enterprises[2] (CSV row 4).g", "reaches 1.75")


def test_csv_duplicate_id_names_both_rows():
    found = csv_issues(CSV_TEXT.replace("e03,", "e01,"))
    assert_issue(found, "enterprises[2] (CSV row 4).id", "enterprises[0] (CSV row 2)")


def test_csv_empty_required_cell_is_missing():
    found = csv_issues(CSV_TEXT.replace("e02,,10,100,0.3", "e02,,10,100,"))
    assert_issue(found, "enterprises[1] (CSV row 3).u0", "is required but missing")


def test_csv_nan_cell_refused():
    found = csv_issues(CSV_TEXT.replace("20,10,5", "nan,10,5"))
    assert_issue(found, "enterprises[1] (CSV row 3).benefit.profit", "finite number")


def test_csv_unknown_column():
    text = CSV_TEXT.replace("cap.energy\n", "cap.energy,colour\n", 1)
    assert_issue(csv_issues(text), "CSV column 'colour'", "is not a column", "benefit.<indicator>")


def test_csv_unknown_indicator_column():
    text = CSV_TEXT.replace("benefit.tax", "benefit.taxes", 1)
    found = csv_issues(text)
    assert_issue(found, "CSV column 'benefit.taxes'", "'taxes' is not an indicator", "profit, wages, tax")
    assert_issue(found, "CSV column 'benefit.tax'", "is missing")


def test_csv_missing_required_column():
    text = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != 3) for line in CSV_TEXT.splitlines())
    assert_issue(csv_issues(text), "CSV column 'max'", "is required but missing")


def test_csv_row_with_too_many_cells():
    found = csv_issues(CSV_TEXT.replace(",,150\n", ",,150,7\n"))
    assert_issue(found, "enterprises[2] (CSV row 4)", "16 cells", "15 columns")


def test_csv_header_must_not_carry_enterprises():
    found = csv_issues(CSV_TEXT, {**CSV_HEADER, "enterprises": []})
    assert_issue(found, "enterprises", "must not be in the header")


def test_csv_header_issue_keeps_its_document_path():
    found = csv_issues(CSV_TEXT, {**CSV_HEADER, "demand": {"min": 100}})
    assert_issue(found, "demand.max", "is required but missing")


def test_empty_csv():
    assert "CSV is empty" in str(csv_issues(""))


# --- generated problems (shared/tools/gen_problem.py, loaded by tests/conftest.py) ----------------------


@pytest.mark.parametrize("alpha", ["uniform", "general"])
def test_generated_problems_parse(gen_problem, alpha):
    doc = gen_problem.generate(n=300, seed=3, alpha=alpha)
    p = parse_problem(doc)
    assert len(p.enterprises) == 300 and p.notices == ()
    text = canonical_json(p)
    assert text == rfc8785.dumps(_canonical_document(p)).decode()
    assert text == rfc8785.dumps(json.loads(text)).decode()
    # The generator writes every field but reservation: its canonical form is the document plus that.
    for e in doc["enterprises"]:
        e["reservation"] = 0.0
    assert text == rfc8785.dumps(doc).decode()


def test_generated_uniform_alpha_has_the_id_of_absent_alpha(gen_problem):
    doc = gen_problem.generate(n=50, seed=1, alpha="uniform")
    absent = copy.deepcopy(doc)
    for e in absent["enterprises"]:
        del e["alpha"]
    assert problem_id(parse_problem(absent)) == problem_id(parse_problem(doc))
