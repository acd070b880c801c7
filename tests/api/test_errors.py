"""Refusals over HTTP: problem+json naming the field, RFC 9162 error types on the proof routes,
the request size limit, pagination."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import MAX_BODY, SAMPLES

PROBLEM_JSON = "application/problem+json"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


@pytest.mark.parametrize("where,value,path", [(("enterprises", 1, "u0"), -0.5, "enterprises[1].u0"), (("resources", "water", "cap"), -1, "resources.water.cap"),
                                              (("enterprises", 0, "colour"), "red", "enterprises[0].colour")])
def test_an_invalid_document_names_the_field(server, where, value, path):
    document = json.loads((SAMPLES / "green-valley.json").read_text())
    node = document
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    with server.client("manager") as c:
        body = problem(c.post("/problems", content=json.dumps(document)), 422)
    assert body["type"] == "urn:coopchain:error:invalid-problem"
    assert path in {e["path"] for e in body["errors"]}


def test_a_bad_csv_cell_names_the_row(server):
    table = (SAMPLES / "green-valley.csv").read_text().splitlines()
    header = table[0].split(",")
    row = table[2].split(",")
    row[header.index("max")] = "lots"
    table[2] = ",".join(row)
    with server.client("manager") as c:
        body = problem(c.post("/problems/csv", files={"table": ("t.csv", "\n".join(table).encode(), "text/csv")},
                              data={"header": (SAMPLES / "green-valley.header.json").read_text()}), 422)
    assert any(e["path"].startswith("enterprises[1] (CSV row 3)") and e["path"].endswith(".max") for e in body["errors"]), body["errors"]


def test_not_json_is_422_not_500(server):
    with server.client("manager") as c:
        body = problem(c.post("/problems", content=b"{not json"), 422)
    assert "not valid JSON" in body["detail"] or "not valid JSON" in body["errors"][0]["detail"]


def test_a_solve_body_field_is_named(server):
    with server.client("manager") as c:
        digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        body = problem(c.post(f"/problems/{digest}/solutions", json={"objective": "F4"}), 422)
        assert body["errors"][0]["path"] == "body.objective"
        body = problem(c.post(f"/problems/{digest}/solutions", json={"method": "lexicographic"}), 422)
        assert body["errors"][0]["path"] == "body.order"


@pytest.mark.parametrize("first,second,error", [(0, 1, "firstUnknown"), (10**6, 10**6, "firstUnknown"), (1, 10**6, "secondUnknown"), (2, 1, "secondBeforeFirst")])
def test_consistency_errors_are_rfc9162_types(server, first, second, error):
    # The test ledger holds a dozen blocks or so (genesis, two records, the contracts' data): never a million.
    with server.client("auditor") as c:
        body = problem(c.get("/proofs/consistency", params={"first": first, "second": second}), 400)
    assert body["type"] == f"urn:ietf:params:trans:error:{error}"


def test_unknown_transaction_proof_is_hash_unknown(server):
    with server.client("auditor") as c:
        body = problem(c.get(f"/proofs/transactions/{'00' * 32}"), 404)
    assert body["type"] == "urn:ietf:params:trans:error:hashUnknown"


def test_block_proof_tree_size_unknown(server):
    with server.client("auditor") as c:
        body = problem(c.get("/proofs/blocks/0", params={"tree_size": 10**6}), 400)
        assert body["type"] == "urn:ietf:params:trans:error:treeSizeUnknown"
        body = problem(c.get("/proofs/blocks/2", params={"tree_size": 2}), 404)
        assert body["type"] == "urn:ietf:params:trans:error:hashUnknown"


def test_a_body_past_the_limit_is_413(server):
    with server.client("manager") as c:
        body = problem(c.post("/problems", content=b" " * (MAX_BODY + 1)), 413)
        assert body["errors"][0]["path"] == "body"

        def chunks():  # no Content-Length: counted as it arrives
            for _ in range(MAX_BODY // 65536 + 2):
                yield b" " * 65536

        problem(c.post("/problems", content=chunks()), 413)


def test_the_body_limit_counts_only_what_no_declared_length_bounds():
    """A declared Content-Length within the limit is the whole body (HTTP/1.1 framing): the route gets the server's
    own receive and send, unwrapped.  With Transfer-Encoding beside it, or no length, the bytes are counted."""
    import asyncio

    from coopchain.app.api.limits import BodySizeLimit

    def run(headers, chunks):
        seen = {}
        body = iter(chunks)

        async def receive():
            chunk = next(body, None)
            return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

        sent = []

        async def send(message):
            sent.append(message)

        async def app(scope, receive_, send_):
            seen["unwrapped"] = receive_ is receive and send_ is send
            while (await receive_())["more_body"]:
                pass
            await send_({"type": "http.response.start", "status": 200, "headers": []})
            await send_({"type": "http.response.body", "body": b""})

        scope = {"type": "http", "path": "/transactions", "headers": headers}
        asyncio.run(BodySizeLimit(app, 10)(scope, receive, send))
        return seen.get("unwrapped"), sent[0]["status"]

    assert run([(b"content-length", b"7")], [b"{\"a\":1}"]) == (True, 200)
    assert run([(b"content-length", b"11")], []) == (None, 413)
    assert run([], [b"123456", b"789012"]) == (False, 413)
    assert run([(b"content-length", b"3"), (b"transfer-encoding", b"chunked")], [b"123456", b"789012"]) == (False, 413)


def test_unknown_route_and_method_are_problem_json(server):
    with server.client("admin") as c:
        problem(c.get("/nothing-here"), 404)
        problem(c.delete("/blocks"), 405)


def test_pagination(server):
    with server.client("admin") as c:
        for i in range(3):
            c.post("/keys", json={"role": "auditor", "label": f"page {i}"})
        everything = c.get("/keys", params={"limit": 500}).json()
        first = c.get("/keys", params={"limit": 2}).json()
        second = c.get("/keys", params={"limit": 2, "offset": 2}).json()
        problem(c.get("/keys", params={"limit": 501}), 422)
    assert first["count"] == everything["count"] >= 8
    assert [k["id"] for k in first["data"] + second["data"]] == [k["id"] for k in everything["data"][:4]]
    assert first["limit"] == 2 and second["offset"] == 2


def test_blocks_page_newest_first(server):
    with server.client("participant") as c:
        page = c.get("/blocks", params={"limit": 2}).json()
        head = c.get("/blocks/head").json()["height"]
    assert head >= 2 and page["count"] == head + 1 and [b["height"] for b in page["data"]] == [head, head - 1]
    assert page["data"][1]["header"]["previous"] != page["data"][0]["header"]["previous"]


def test_a_revoked_key_is_401(server):
    with server.client("admin") as c:
        made = c.post("/keys", json={"role": "auditor"}).json()
        with server.client() as anonymous:
            assert anonymous.get("/blocks", headers={"X-API-Key": made["token"]}).status_code == 200
            c.post(f"/keys/{made['key']['id']}/revoke")
            problem(anonymous.get("/blocks", headers={"X-API-Key": made["token"]}), 401)


def test_a_manager_key_needs_cooperatives(server):
    with server.client("admin") as c:
        problem(c.post("/keys", json={"role": "manager"}), 422)
