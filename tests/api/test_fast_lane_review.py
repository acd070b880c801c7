"""Review of the hot routes' lane (app.api.fast), the key cache and the admitted-row tag (branch h3-api-ingest).

Each test here states a property the API must hold (issue 12, SPEC §6, §8, docs/api.md) and checks it
against a real server on loopback (uvicorn in a subprocess, SQLite or a throwaway PostgreSQL), or the
application in process where the failure needs a database to go away under it.  A failing test is a
finding of the review (/work/notes/reports3/review-api-fast-lane.md); the passing ones record what held.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from coopchain.chain.errors import InvalidTransaction
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.transaction import sign_transaction, transaction_hash, transaction_json
from coopchain.service.api_store import ApiStore
from coopchain.service.wiring import open_ledger
from tests.api.conftest import CHAIN_ID, start_server, stop_server
from tests.postgres import postgres_db, postgres_url  # noqa: F401  (fixtures)

PROBLEM_JSON = "application/problem+json"


def _is_problem(response: httpx.Response) -> bool:
    if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return False
    body = response.json()
    return {"type", "title", "status", "detail"} <= set(body) and body["status"] == response.status_code


# -- a PostgreSQL connection dropped under a running worker (server restart, idle timeout, failover) -----------

def _drop_server_connections(url: str) -> int:
    """Terminate every other backend on the server's database, as a PostgreSQL restart does to a worker."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    return len(rows)


@pytest.fixture
def postgres_server(postgres_db, tmp_path):
    node = PrivateKey.generate("ed25519")
    Ledger.create(postgres_db, node, CHAIN_ID).close()
    node.save(str(tmp_path / "node.key"))
    store = ApiStore(postgres_db)
    tokens = {role: store.create_key(role, ("green-valley",) if role == "manager" else (), role).token for role in ("auditor", "participant")}
    store.close()
    process, url = start_server(postgres_db, extra_env={"COOPCHAIN_NODE_KEY": str(tmp_path / "node.key"), "COOPCHAIN_BATCH_WAIT_MS": "20"})
    yield postgres_db, url, tokens
    stop_server(process)


def test_lane_reads_answer_problem_json_when_the_database_connection_drops(postgres_server):
    """The lane asks the ledger for the history size (GET /proofs/blocks/{h} without tree_size) before the
    role check and outside its error handler: a database failure there escapes to uvicorn, whose answer is
    text/plain "Internal Server Error" with an "Exception in ASGI application" traceback, where FastAPI's own
    route answers problem+json.  Reproducer: kill the worker's backends (pg_terminate_backend), then
    `curl -i -H "X-API-Key: $AUDITOR" $URL/proofs/blocks/0`."""
    db, url, tokens = postgres_server
    headers = {"X-API-Key": tokens["auditor"]}
    assert httpx.get(url + "/proofs/blocks/0", headers=headers).status_code == 200
    assert _drop_server_connections(db) > 0
    answers = {path: httpx.get(url + path, headers=headers, timeout=30) for path in ("/proofs/blocks/0", "/proofs/blocks/0?tree_size=1", "/blocks/0", "/blocks/head")}
    wrong = {path: (r.status_code, r.headers.get("content-type"), r.text[:80]) for path, r in answers.items() if r.status_code >= 400 and not _is_problem(r)}
    assert not wrong, wrong


def test_reads_recover_after_the_database_connection_drops(postgres_server):
    """The side tables (service.api_store) and the pending queue open a dropped PostgreSQL connection again;
    the worker's read-only Ledger does not, so after a PostgreSQL restart every ledger read of that worker
    (the lane's and FastAPI's) is a 500 until the worker is restarted.  Never a 5xx on a request that is
    fine: reads must come back once the database is back.  Reproducer as above, then any GET /blocks/0."""
    db, url, tokens = postgres_server
    headers = {"X-API-Key": tokens["auditor"]}
    assert httpx.get(url + "/blocks/0", headers=headers).status_code == 200
    _drop_server_connections(db)
    statuses = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a bound, not a speed: ten seconds for one reconnection
        statuses = [httpx.get(url + p, headers=headers, timeout=30).status_code for p in ("/blocks/0", "/blocks/head", "/proofs/blocks/0?tree_size=1")]
        if all(s == 200 for s in statuses):
            break
        time.sleep(0.5)
    assert statuses == [200, 200, 200], statuses


def test_transactions_acknowledged_after_a_dropped_connection_are_committed(postgres_server):
    """An acknowledged transaction must reach a block (docs/api.md: acknowledged = it will be committed).  The
    committer's Ledger (a connection of its own) does not reconnect either: after the drop, the queue takes
    and acknowledges transactions (it reconnects) while the commit thread fails on every attempt, so
    `wait=true` answers 202 after 30 s and nothing is committed until the worker restarts."""
    db, url, tokens = postgres_server
    _drop_server_connections(db)
    time.sleep(1.5)  # the committer's lock check (once a second) sees its lock connection gone and takes it again
    tx = sign_transaction(PrivateKey.generate("ed25519"), CHAIN_ID, 0, "record.put", {"key": "review/after-drop", "value": 1})
    answer = httpx.post(url + "/transactions", params={"wait": "true"}, json=transaction_json(tx), headers={"X-API-Key": tokens["participant"]}, timeout=60)
    assert answer.status_code in (200, 202), answer.text
    assert answer.json()["hash"] == transaction_hash(tx).hex()
    deadline = time.monotonic() + 20
    committed = False
    while time.monotonic() < deadline and not committed:
        with psycopg.connect(db, autocommit=True) as conn:
            committed = conn.execute("SELECT 1 FROM transactions WHERE hash = %s", (transaction_hash(tx),)).fetchone() is not None
        time.sleep(0.5)
    assert committed, "acknowledged, but not committed 20 s later"


# -- HTTP semantics the lane and FastAPI share ----------------------------------------------------------------

def _raw(url: str, request: bytes, timeout: float = 10.0) -> bytes:
    """One request written byte for byte on a socket (httpx would normalise what is under test); the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
    return out


def _head_of(answer: bytes) -> tuple[int, dict[str, str]]:
    lines = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers


@pytest.mark.parametrize("path", ["/blocks/1", "/blocks/head", "/proofs/blocks/1", "/health"])
def test_head_is_served_wherever_get_is(server, path):
    """RFC 9110 §9.1: a general-purpose server MUST support HEAD on what it serves with GET; every GET route
    answers HEAD with 405 (Allow: GET), through the lane and FastAPI alike (FastAPI's APIRoute does not add
    HEAD as Starlette's Route does).  Reproducer: `curl -I -H "X-API-Key: $AUDITOR" $URL/blocks/1`."""
    with server.client("auditor") as c:
        got, head = c.get(path), c.head(path)
    assert head.status_code == got.status_code == 200, (head.status_code, head.headers.get("allow"))
    assert head.headers["content-type"] == got.headers["content-type"] and head.content == b""


def test_a_trailing_slash_never_redirects_to_the_host_the_client_named(server):
    """GET /blocks/1/ is redirected (307, Starlette's redirect_slashes) to an absolute URL built from the
    request's Host header: `Location: http://evil.example/blocks/1`, an API key-bearing client that follows
    redirects sends its next request (and, with a client that keeps headers, its key) to that host.
    Reproducer: `curl -i -H 'Host: evil.example' $URL/blocks/1/`."""
    status, headers = _head_of(_raw(server.url, b"GET /blocks/1/ HTTP/1.1\r\nHost: evil.example\r\nX-API-Key: "
                                     + server.tokens["auditor"].encode() + b"\r\nConnection: close\r\n\r\n"))
    assert "evil.example" not in headers.get("location", ""), (status, headers.get("location"))


def test_a_401_names_the_failing_field(server):
    """Every error names the failing field (issue 12, docs/api.md: `errors` holds one {path, detail} per field
    at fault); a missing, unknown or revoked key answers 401 with `errors: []`, in the lane and in FastAPI's
    routes (one `authenticate`).  Reproducer: `curl -s $URL/blocks/1` -> "errors":[]."""
    for path in ("/blocks/1", "/blocks"):
        for headers in ({}, {"X-API-Key": "cck_0123456789abcdef_nothing"}):
            answer = httpx.get(server.url + path, headers=headers)
            assert answer.status_code == 401 and _is_problem(answer)
            paths = [e["path"].lower() for e in answer.json()["errors"]]
            assert any("x-api-key" in p for p in paths), (path, headers, answer.json())


MALFORMED = [
    ("two Content-Length", b"POST /transactions HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"a\":1}"),
    ("Content-Length and chunked", b"POST /transactions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n"),
    ("negative Content-Length", b"POST /transactions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n"),
    ("a control byte in the key", b"GET /blocks/1 HTTP/1.1\r\nHost: x\r\nX-API-Key: cck_0123456789abcdef_a\x01b\r\nConnection: close\r\n\r\n"),
]


@pytest.mark.parametrize("name,request_bytes", MALFORMED, ids=[n for n, _ in MALFORMED])
def test_malformed_http_is_refused_as_documented(server, name, request_bytes):
    """Refused (400) before the application sees it, by uvicorn's parser, as `text/plain` "Invalid HTTP request
    received." — the one refusal that is not problem+json.  Either served as problem+json or documented in
    docs/api.md as the exception.  Reproducer: `printf 'POST /transactions HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: -1\\r\\n\\r\\n' | nc 127.0.0.1 PORT`."""
    status, headers = _head_of(_raw(server.url, request_bytes))
    assert status == 400
    # Decided: documented in docs/api.md ("The one refusal that is not problem+json"), not fronted (uvicorn's
    # parser answers it from its protocol class, before any ASGI application runs).
    assert headers.get("content-type", "").startswith("text/plain"), (name, headers.get("content-type"))
    assert headers.get("connection") == "close"
    assert "The one refusal that is not problem+json" in (Path(__file__).parents[2] / "docs" / "api.md").read_text()


# -- the lane against FastAPI's routing, on generated requests ------------------------------------------------

def _asgi(app, method: str, path: str, query: bytes, headers: list, body: bytes):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http", "path": path,
             "raw_path": path.encode("utf-8", "surrogateescape"), "query_string": query, "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "headers": [(b"host", b"test")] + headers, "state": {}}
    sent, given = [], [False]

    async def receive():
        if given[0]:
            return {"type": "http.disconnect"}
        given[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    async def run():
        try:
            await app(scope, receive, send)
        except Exception as e:  # ServerErrorMiddleware re-raises after answering; the lane's escapes unanswered
            sent.append({"type": "raised", "error": repr(e)})

    return run, sent


def _outcome(sent: list) -> tuple:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    if not starts:
        return ("no answer", [m.get("error") for m in sent if m["type"] == "raised"])
    headers = dict(starts[0]["headers"])
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    allow = headers.get(b"allow")
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    return starts[0]["status"], headers.get(b"content-type"), allow, headers.get(b"www-authenticate"), parsed


def _generated_requests(tokens: dict, mine: str, theirs: str) -> list[tuple[str, str, bytes, list, bytes]]:
    heights = ["0", "1", "2", "3", "99", "01", "-1", "+1", "1.0", "1e3", "0x1", "\u0661", "4611686018427387904", "4611686018427387905",
               "9223372036854775808", "99999999999999999999"]
    hashes = [mine, mine.upper(), mine[:32] + mine[32:].upper(), theirs, "0" * 64, "g" * 64, mine[:-1], mine + "0", "\u0660" * 64]
    queries = [b"", b"tree_size=1", b"tree_size=2", b"tree_size=3", b"tree_size=4", b"tree_size=0", b"tree_size=01", b"tree_size=",
               b"tree_size=1&tree_size=2", b"wait=true", b"x=1"]
    keys = [[]] + [[(b"x-api-key", t.encode())] for t in tokens.values()] + [[(b"x-api-key", b"")], [(b"x-api-key", b"cck_0123456789abcdef_x")],
            [(b"x-api-key", b"nope"), (b"x-api-key", tokens["auditor"].encode())], [(b"x-api-key", tokens["auditor"].encode()), (b"x-api-key", b"nope")]]
    out = []
    for key in keys:
        for h in heights:
            out += [("GET", f"/blocks/{h}", b"", key, b""), ("GET", f"/proofs/blocks/{h}", b"", key, b"")]
        for q in queries:
            out += [("GET", "/proofs/blocks/1", q, key, b""), ("GET", "/blocks/2", q, key, b"")]
        for x in hashes:
            out += [("GET", f"/transactions/{x}", b"", key, b""), ("GET", f"/transactions/{x}/receipt", b"", key, b""),
                    ("GET", f"/proofs/transactions/{x}", b"", key, b"")]
        for method in ("HEAD", "PUT", "DELETE", "OPTIONS"):
            out += [(method, "/blocks/1", b"", key, b""), (method, f"/transactions/{mine}", b"", key, b"")]
        for query in (b"", b"wait=true", b"wait=1", b"wait=yes", b"wait=", b"wait=true&wait=false"):
            for body in (b"", b"{", b"[]", b"{}", b"[{}]", b'{"type": 1}', b"[" * 5000, b"1" * 5000, b'"\\ud800"', b"\xff"):
                out += [("POST", "/transactions", query, key, body), ("POST", "/transactions/batch", query, key, body)]
    return out


def test_the_lane_answers_generated_requests_exactly_as_fastapi(tmp_path):
    """Every generated request (lane routes x heights, hashes, query strings, keys, methods, malformed bodies) is
    answered alike with the lane on and off: status, content type, Allow, WWW-Authenticate and body, twice over
    (the second time from the lane's kept answers)."""
    from coopchain.app.api.config import Settings
    from coopchain.app.api.main import create_app
    from tests.api.conftest import make_ledger
    import asyncio

    db, records = make_ledger(tmp_path)
    store = ApiStore(db)
    tokens = {"admin": store.create_key("admin").token, "auditor": store.create_key("auditor").token,
              "manager": store.create_key("manager", ("green-valley",)).token, "other": store.create_key("manager", ("hill-top",)).token,
              "participant": store.create_key("participant").token}
    revoked = store.create_key("auditor")
    store.revoke_key(revoked.key.id)
    tokens["revoked"] = revoked.token
    store.close()
    requests = _generated_requests(tokens, records["green-valley"], records["hill-top"])

    def answers(lane: bool) -> list:
        app = create_app(Settings(db=db, fast_lane=lane, node_key=str(tmp_path / "node.key"), max_body_bytes=64 * 1024))
        out = []

        async def main():
            async with app.router.lifespan_context(app):
                for _ in range(2):
                    for method, path, query, headers, body in requests:
                        run, sent = _asgi(app, method, path, query, headers, body)
                        await run()
                        out.append(((method, path, query, headers[:1], body[:20]), _outcome(sent)))

        asyncio.run(main())
        return out

    fast, reference = answers(True), answers(False)
    differences = [(request, got, want) for (request, got), (_, want) in zip(fast, reference) if got != want]
    assert not differences, f"{len(differences)} of {len(fast)} differ; first: {differences[:3]}"
    assert {s[1][0] for s in reference} >= {200, 202, 401, 403, 404, 405, 422}


# -- durability of an acknowledgement on SQLite (the default deployment) ---------------------------------------

def _descendants(pid: int) -> list[int]:
    out = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in map(int, children):
        out += _descendants(child) + [child]
    return out


def test_kill_9_of_every_worker_between_ack_and_commit_loses_nothing_on_sqlite(tmp_path):
    """Acknowledged (202 with the hash) while no block can be cut yet (the longest batch wait, 60 s), then every API
    process killed with SIGKILL at once; the next server start commits every acknowledged transaction."""
    import os
    import signal

    from tests.api.conftest import make_ledger

    db, _ = make_ledger(tmp_path)
    store = ApiStore(db)
    token = store.create_key("participant").token
    store.close()
    env = {"COOPCHAIN_NODE_KEY": str(tmp_path / "node.key"), "COOPCHAIN_BATCH_TRANSACTIONS": "100000"}
    process, url = start_server(db, workers=2, extra_env={**env, "COOPCHAIN_BATCH_WAIT_MS": "60000"})
    acknowledged = []
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": token}, timeout=30) as c:
            for i in range(40):
                tx = sign_transaction(PrivateKey.generate("ed25519"), CHAIN_ID, 0, "record.put", {"key": f"review/kill/{i}", "value": i})
                answer = c.post("/transactions", json=transaction_json(tx))
                assert answer.status_code == 202, answer.text
                acknowledged.append(answer.json()["hash"])
        ledger = open_ledger(db)
        try:
            assert ledger.height() == 2  # nothing committed yet: the kill lands between ack and commit
        finally:
            ledger.close()
    finally:
        for pid in _descendants(process.pid) + [process.pid]:
            with __import__("contextlib").suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
    process, url = start_server(db, workers=1, extra_env={**env, "COOPCHAIN_BATCH_WAIT_MS": "20"})
    try:
        deadline = time.monotonic() + 60
        on_chain: set[str] = set()
        while time.monotonic() < deadline and not set(acknowledged) <= on_chain:
            ledger = open_ledger(db)
            try:
                on_chain = {row[1].hex() for h in range(1, ledger.height() + 1) for row in ledger.store.transaction_rows(h)}
            finally:
                ledger.close()
            time.sleep(0.5)
    finally:
        stop_server(process)
    assert set(acknowledged) <= on_chain, f"{len(set(acknowledged) - on_chain)} acknowledged transactions lost"


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_a_setting_out_of_range_exits_with_a_message(tmp_path, workers):
    """Bad input to the command line: a clear message and a non-zero exit, never a traceback, never a hang.
    COOPCHAIN_BATCH_WAIT_MS=600000 (the bound is 60,000) gives pydantic's ValidationError traceback; with
    --workers 2 the supervisor restarts the failing workers every 0.2 s for ever (tracebacks in a loop, the
    command never returns).  Reproducer: `COOPCHAIN_BATCH_WAIT_MS=600000 coopchain serve --workers 2`."""
    import os
    import subprocess
    import sys

    from tests.api.conftest import free_port, make_ledger

    db, _ = make_ledger(tmp_path)
    env = {**os.environ, "COOPCHAIN_BATCH_WAIT_MS": "600000", "COOPCHAIN_FRONT_PROCESSES": "1"}
    process = subprocess.Popen([sys.executable, "-m", "coopchain.app.cli", "serve", "--host", "127.0.0.1", "--port", str(free_port()),
                                "--workers", str(workers), "--db", db], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=60)  # a bound on "never a hang", not a speed
    except subprocess.TimeoutExpired:
        process.kill()
        for pid in _descendants(process.pid):
            with __import__("contextlib").suppress(ProcessLookupError):
                os.kill(pid, 9)
        out, err = process.communicate()
        pytest.fail(f"still running after 60 s; stderr: {err.decode()[-600:]}")
    assert process.returncode != 0
    assert b"Traceback" not in err, err.decode()[-800:]
    assert b"COOPCHAIN_BATCH_WAIT_MS" in err or b"batch_wait_ms" in err


def test_the_lane_checks_the_key_before_it_reads_the_ledger(tmp_path):
    """GET /proofs/blocks/{h} without tree_size: the lane asks the ledger for the history size in its route
    matching, before the role check and outside its error handler.  With the database unreachable (here: the
    worker's ledger connection closed; on a server, PostgreSQL down) a request without a key gets no ASGI
    answer at all from the lane (uvicorn then sends text/plain 500 and logs "Exception in ASGI application"),
    where FastAPI's route answers 401 problem+json without touching the ledger; with a key, FastAPI's answer is
    a 500 problem+json.  Every lane request should fail as its FastAPI route does."""
    import asyncio

    from coopchain.app.api.config import Settings
    from coopchain.app.api.main import create_app
    from tests.api.conftest import make_ledger

    db, _ = make_ledger(tmp_path)
    store = ApiStore(db)
    auditor = store.create_key("auditor").token
    store.close()

    def outcomes(lane: bool) -> list:
        app = create_app(Settings(db=db, fast_lane=lane))
        out = []

        async def main():
            async with app.router.lifespan_context(app):
                app.state.ledger.close()  # the database goes away under the worker
                for headers in ([], [(b"x-api-key", auditor.encode())]):
                    run, sent = _asgi(app, "GET", "/proofs/blocks/0", b"", headers, b"")
                    await run()
                    outcome = _outcome(sent)
                    out.append(outcome[:2])

        asyncio.run(main())
        return out

    fast, reference = outcomes(True), outcomes(False)
    assert reference[0] == (401, b"application/problem+json")
    assert fast == reference, (fast, reference)


def test_a_client_that_hangs_up_mid_body_leaves_no_traceback(tmp_path):
    """A client that declares 100 bytes, sends 7 and hangs up is bad input: the server's log gets the lane's
    "unexpected error" traceback (starlette.requests.ClientDisconnect from the endpoint's request.body()),
    and through FastAPI's routing (wait=TRUE, which the lane leaves to it) two: the handler's and uvicorn's
    "Exception in ASGI application".  Reproducer: `printf 'POST /transactions HTTP/1.1\\r\\nHost: x\\r\\n
    X-API-Key: K\\r\\nContent-Length: 100\\r\\n\\r\\n{"a":1}' | timeout 1 nc 127.0.0.1 PORT`, then read the log."""
    import os
    import subprocess
    import sys

    from tests.api.conftest import free_port, make_ledger

    db, _ = make_ledger(tmp_path)
    store = ApiStore(db)
    token = store.create_key("participant").token
    store.close()
    port, log = free_port(), tmp_path / "server.log"
    env = {**os.environ, "COOPCHAIN_DB": db, "COOPCHAIN_FRONT_PROCESSES": "1", "COOPCHAIN_NODE_KEY": str(tmp_path / "node.key")}
    with open(log, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "coopchain.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db],
                                   env=env, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        for query in (b"", b"?wait=TRUE"):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"POST /transactions" + query + b" HTTP/1.1\r\nHost: x\r\nX-API-Key: " + token.encode()
                          + b"\r\nContent-Length: 100\r\n\r\n{\"a\":1}")
                time.sleep(0.5)
        assert httpx.get(url + "/health", timeout=10).status_code == 200  # and the server still answers
        time.sleep(0.5)
    finally:
        stop_server(process)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-1500:]


# -- the committer's orjson read of a tagged row ------------------------------------------------------------------

def test_a_tagged_rows_orjson_read_is_the_canonical_decode():
    """Admission writes the body from the signing bytes (encode_signed) and the committer reads a tagged row
    with orjson alone (service.submission._admitted_transaction) instead of decode_transaction: for any
    payload canonical() accepts, the body is encode_transaction's and both reads give the same transaction."""
    import hashlib

    import orjson
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from coopchain.chain.encoding import MAX_SAFE_INTEGER
    from coopchain.chain.transaction import decode_transaction, encode_transaction, transaction_from_json
    from coopchain.service.committer import _admitted_transaction
    from coopchain.service.submission import admit

    text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
    name = st.text(st.characters(max_codepoint=127), max_size=8)  # canonical(): object keys are ASCII
    leaf = st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | text
    value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(name, inner, max_size=4), max_leaves=20)
    key = PrivateKey.generate("ed25519")

    @settings(max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(payload=st.dictionaries(name, value, max_size=5), nonce=st.integers(0, MAX_SAFE_INTEGER))
    def check(payload, nonce):
        body = encode_transaction(sign_transaction(key, CHAIN_ID, nonce, "record.put", payload))
        received = transaction_from_json(orjson.loads(body))  # what the route reads
        admitted = admit(received, CHAIN_ID)
        assert admitted.body == body and admitted.hash == hashlib.sha256(body).hexdigest()
        fast, full = _admitted_transaction(body), decode_transaction(body)
        assert fast == full and encode_transaction(fast) == body

    check()
    # Bytes that are not an admitted transaction's shape get the full decoding and its reason.
    with pytest.raises(InvalidTransaction, match="exactly the fields"):
        _admitted_transaction(b'{"chain_id":"x"}')


# -- revocation across workers ------------------------------------------------------------------------------------

def test_a_revoked_key_is_refused_by_every_worker_after_the_documented_delay(tmp_path):
    """docs/api.md: a key revoked through one worker is refused by the others within COOPCHAIN_KEY_CACHE_S (1 s).
    Two workers (one SO_REUSEPORT socket each, connections spread by address): the key is used on fresh
    connections until both hold it, revoked, and after the bound every fresh connection, lane or not, gets 401."""
    from tests.api.conftest import make_ledger

    db, _ = make_ledger(tmp_path)
    store = ApiStore(db)
    admin = store.create_key("admin").token
    store.close()
    process, url = start_server(db, workers=2)
    try:
        made = httpx.post(url + "/keys", json={"role": "auditor"}, headers={"X-API-Key": admin}).json()
        headers = {"X-API-Key": made["token"]}
        for _ in range(40):  # fresh connections: both workers look the key up and keep it
            assert httpx.get(url + "/blocks/1", headers=headers).status_code == 200
        assert httpx.post(url + f"/keys/{made['key']['id']}/revoke", headers={"X-API-Key": admin}).status_code == 200
        time.sleep(1.5)  # the documented bound (1 s) and a margin
        statuses = [httpx.get(url + path, headers=headers).status_code for _ in range(20) for path in ("/blocks/1", "/blocks")]
    finally:
        stop_server(process)
    assert set(statuses) == {401}, statuses


# -- the lane stays inside what FastAPI declares ------------------------------------------------------------------

def test_every_lane_route_is_a_declared_route_of_its_endpoint():
    """The role x route matrix and the OpenAPI document see FastAPI's routes; the lane has its own path
    patterns.  Each pattern must stay the declared path of the endpoint it calls (same method, a path the
    template produces), and the lane must skip no middleware FastAPI's routes get but the body limit it
    applies itself: a renamed route or a new middleware (CORS, headers) would otherwise bypass both."""
    from fastapi.routing import APIRoute, iter_route_contexts

    from coopchain.app.api.config import Settings
    from coopchain.app.api.limits import BodySizeLimit
    from coopchain.app.api.main import create_app

    app = create_app(Settings(db="sqlite:///unused.db"))
    contexts = [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]
    samples = {"{height}": "12", "{tx_hash}": "ab" * 32}
    for method, pattern, _, endpoint, rule in app.fast_lane.routes:
        declared = [c for c in contexts if c.original_route.endpoint is endpoint]
        assert len(declared) == 1, endpoint.__name__
        path = declared[0].path
        for name, value in samples.items():
            path = path.replace(name, value)
        assert method in declared[0].methods and pattern.fullmatch(path), (method, pattern.pattern, declared[0].path)
    assert [m.cls for m in app.user_middleware] == [BodySizeLimit]


# -- admission of a nonce past 2^53 - 1 ----------------------------------------------------------------------------

def _signed(key: PrivateKey, nonce: int, name: str) -> dict:
    return transaction_json(sign_transaction(key, CHAIN_ID, nonce, "record.put", {"key": f"review/{name}", "value": nonce}))


def test_a_nonce_past_the_safe_integers_is_a_422_naming_the_nonce(server):
    """transaction_from_json accepts any non-negative int as a nonce; admit()'s encode_transaction then raises
    the canonical encoder's EncodingError, which is no InvalidTransaction: the route answers 409
    urn:coopchain:error:ledger-refused with `errors: []` for what is the client's malformed body.
    Reproducer: POST /transactions with "nonce": 9007199254740992 (2^53) -> 409."""
    body = dict(_signed(PrivateKey.generate("ed25519"), 0, "nonce"), nonce=2**53)
    with server.client("participant") as c:
        answer = c.post("/transactions", json=body)
    assert answer.status_code == 422 and _is_problem(answer), (answer.status_code, answer.text[:200])
    assert any("nonce" in e["path"] or "nonce" in e["detail"] for e in answer.json()["errors"]), answer.json()


def test_a_batch_is_never_refused_whole_after_some_of_it_was_accepted(server):
    """POST /transactions/batch: "one refused does not refuse the others".  An item with a nonce of 2^53 raises
    out of the admission loop after the items before it were admitted and queued: the request answers 409
    (nothing accepted, to a client) while the first item is acknowledged and committed.
    Reproducer: POST /transactions/batch [good, good with "nonce": 2^53] -> 409; GET the good one's receipt -> 200."""
    key = PrivateKey.generate("ed25519")
    good = _signed(key, 0, "batch-partial")
    with server.client("participant") as c:
        answer = c.post("/transactions/batch", json=[good, dict(good, nonce=2**53)])
    if answer.status_code >= 400:  # then nothing of it may reach the ledger
        tx_hash = transaction_hash(sign_transaction(key, CHAIN_ID, 0, "record.put", {"key": "review/batch-partial", "value": 0})).hex()
        time.sleep(1.0)  # well past the test server's 20 ms batch wait
        with server.client("auditor") as a:
            receipt = a.get(f"/transactions/{tx_hash}/receipt")
        assert receipt.status_code == 404, f"batch answered {answer.status_code}, yet its item 0 was committed"
    else:
        items = answer.json()["data"]
        assert [i["status"] for i in items][1] == "refused" and items[0]["status"] in ("pending", "committed"), items


@pytest.mark.parametrize("field", ["kind", "sender"])
def test_a_lone_surrogate_in_a_field_is_a_422(server, field):
    """The same escape as the large nonce: transaction_from_json checks the payload's encodability, not that of
    `kind` or `sender`; a lone surrogate (JSON "\\ud800") there is answered 409 ledger-refused, not 422."""
    body = json.dumps(dict(_signed(PrivateKey.generate("ed25519"), 0, "surrogate"), **{field: "PLACEHOLDER"})).replace("PLACEHOLDER", "\\ud800")
    with server.client("participant") as c:
        answer = c.post("/transactions", content=body.encode())
    assert answer.status_code == 422 and _is_problem(answer), (answer.status_code, answer.text[:200])
