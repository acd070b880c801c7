"""Schemathesis against the served OpenAPI (SPEC §8): generated requests, positive and negative,
on every operation; no 5xx, responses conform to their documented schema and content type, and
every error is application/problem+json with type, title, status and detail."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

# role: (valid requests, requests that break the schema) per operation.  The admin's pass alone
# sends over 1,000 (every operation; fewer where the space is small: 30/12 sent 1,682 on 2 Dec 2026,
# 50/20 sent 2,802; the three passes ~2,600 in all); the manager's goes through
# the cooperative scoping, the auditor's through the 403s of every write.
PASSES = {"admin": (30, 12), "manager": (10, 5), "auditor": (6, 2)}


@pytest.mark.parametrize("role", list(PASSES))
def test_generated_requests(server, role):
    positive, negative = PASSES[role]
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    schema.config.base_url = server.url
    headers = {"X-API-Key": server.tokens[role]}
    sent: list[tuple[str, int]] = []
    failures: list[str] = []

    for result, mode, examples in [(r, m, n) for r in schema.get_all_operations()
                                   for m, n in ((GenerationMode.POSITIVE, positive), (GenerationMode.NEGATIVE, negative))]:
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
        def run(case):
            response = case.call(headers=headers, timeout=60)
            sent.append((operation.label, response.status_code))
            try:
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance, content_type_conformance], headers=headers)
            except Exception as e:  # collected, so one run reports every operation that fails
                failures.append(f"{operation.label} -> {response.status_code}: {str(e)[:400]}")
                return
            if response.status_code >= 400:
                kind = ";".join(response.headers.get("content-type", []))
                body = response.json() if kind.startswith("application/problem+json") else None
                if body is None or not {"type", "title", "status", "detail"} <= set(body) or body["status"] != response.status_code:
                    failures.append(f"{operation.label} -> {response.status_code}: not problem+json ({kind}): {response.text[:200]}")

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation with no input to break (GET /health)

    assert not failures, "\n".join(failures[:20])
    if role == "admin":
        assert len(sent) >= 1000, len(sent)
    assert not [s for s in sent if s[1] >= 500]
