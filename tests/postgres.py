"""A throwaway PostgreSQL cluster for the tests (the ledger's server database, SPEC §2, §9).

`start_postgres()` runs initdb into a temporary directory, starts the server on a free
TCP port on 127.0.0.1 (and a unix socket in that directory) with fsync on, creates a
database and yields its URL; leaving the block stops the server and removes the
directory. `fresh_database(url)` makes one more, uniquely named, database in the same
cluster and drops it afterwards.

Binaries: $COOPCHAIN_PG_BINDIR, else `initdb` on PATH, else Debian's
/usr/lib/postgresql/<version>/bin (newest). As root the server runs as the `postgres`
system user (Debian's package creates it), else as `nobody`: PostgreSQL refuses to run
as root.

Missing PostgreSQL (no binaries, or no psycopg) makes the pytest fixtures below skip
with the reason on a developer's machine and fail in CI ($COOPCHAIN_REQUIRE_POSTGRES=1,
which .ci/run exports, or $CI set); a server that is there but does not start is always
an error.

Fixtures (import them into a conftest or a test module; one cluster per process
whichever module asks first, stopped when the process exits):
  postgres_url  session: URL of the session's database
  postgres_db   function: URL of a fresh database, dropped after the test
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

SUPERUSER = "coopchain"
DATABASE = "coopchain_test"
START_TIMEOUT_S = 60

# Wall time of the last start_postgres() in this process: initdb, start, createdb (seconds).
last_timings: dict[str, float] = {}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL (server binaries or the psycopg driver) is not installed here."""


class PostgresError(RuntimeError):
    """PostgreSQL is installed but the throwaway cluster could not be set up."""


def postgres_required() -> bool:
    """True when a missing PostgreSQL must fail the tests rather than skip them."""
    flag = os.environ.get("COOPCHAIN_REQUIRE_POSTGRES", "").strip().lower()
    if not flag:
        flag = os.environ.get("CI", "").strip().lower()
    return flag not in ("", "0", "false", "no", "off")


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    candidates: list[Path] = []
    if os.environ.get("COOPCHAIN_PG_BINDIR"):
        candidates.append(Path(os.environ["COOPCHAIN_PG_BINDIR"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for d in candidates:
        if all(os.access(d / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PostgresUnavailable(
        "no PostgreSQL server found (initdb, pg_ctl, postgres on PATH, in $COOPCHAIN_PG_BINDIR "
        "or /usr/lib/postgresql/*/bin); on Debian: apt-get install postgresql"
    )


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None = this process's own (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def with_database(url: str, dbname: str) -> str:
    """The same URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))


@contextlib.contextmanager
def start_postgres(settings: dict[str, str | int] | None = None) -> Iterator[str]:
    """Start a throwaway cluster; yield `postgresql://coopchain:PW@127.0.0.1:PORT/coopchain_test`.

    `settings` are extra postgresql.conf lines (name -> value), e.g. {"max_connections": 200}.
    Authentication: scram-sha-256 with a random password over TCP, trust on the socket
    (its directory is private to the server's user).
    """
    try:
        import psycopg
        from psycopg import sql
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PostgresUnavailable(f"the psycopg driver is not installed ({exc}); pip install 'psycopg[binary]'") from exc
    bindir = find_bindir()
    user = _server_user()
    as_user = {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    # As root, /tmp rather than $TMPDIR, which may be under a home the server cannot enter.
    # Short path: the socket's path must stay under 107 bytes.
    base = Path(tempfile.mkdtemp(prefix="coopchain-pg-", dir="/tmp" if user else None))
    data, log, pwfile = base / "data", base / "server.log", base / "pw"
    password = secrets.token_urlsafe(18)
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    env.pop("PGDATA", None)

    def run(*args: str | Path, check: bool = True, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(a) for a in args], cwd=base, env=env, capture_output=True, text=True, timeout=timeout, **as_user
        )
        if check and proc.returncode != 0:
            raise PostgresError(
                f"{Path(str(args[0])).name} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}\n"
                f"server log:\n{_tail(log)}"
            )
        return proc

    started = False
    try:
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if user is not None:
            for p in (base, pwfile):
                os.chown(p, user.pw_uid, user.pw_gid)
        t0 = time.perf_counter()
        # --no-sync: initdb's own files need not survive a crash; the server runs with fsync on.
        run(bindir / "initdb", "-D", data, "-U", SUPERUSER, f"--pwfile={pwfile}", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        t1 = time.perf_counter()
        pwfile.unlink()
        conf = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(base),
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "timezone": "UTC",
            "log_timezone": "UTC",
            **(settings or {}),
        }
        for attempt in range(5):
            port = _free_port()
            lines = [f"{k} = '{v}'" for k, v in {**conf, "port": port}.items()]
            # Appended lines win over initdb's; a retry appends a new port after the old one.
            with open(data / "postgresql.conf", "a") as f:
                f.write("\n# tests/postgres.py\n" + "\n".join(lines) + "\n")
            proc = run(bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", str(START_TIMEOUT_S), "-s", "start",
                       check=False, timeout=START_TIMEOUT_S + 10)
            if proc.returncode == 0:
                started = True
                break
            if "could not bind" not in _tail(log, 200) or attempt == 4:  # a port taken since _free_port
                raise PostgresError(f"pg_ctl start failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}\n"
                                    f"server log:\n{_tail(log)}")
        t2 = time.perf_counter()
        admin = f"postgresql://{SUPERUSER}:{quote(password, safe='')}@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        t3 = time.perf_counter()
        last_timings.clear()
        last_timings.update(initdb=t1 - t0, start=t2 - t1, createdb=t3 - t2)
        yield with_database(admin, DATABASE)
    finally:
        if started or (data / "postmaster.pid").exists():  # also a server pg_ctl gave up waiting for
            stop = run(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30", "-s", "stop", check=False)
            if stop.returncode != 0:
                run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "30", "-s", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(url: str, prefix: str = "t") -> Iterator[str]:
    """CREATE DATABASE with a unique name in url's cluster; yield its URL; drop it (FORCE) after."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# One cluster per process, shared by every fixture that asks, stopped at exit.
_lock = threading.Lock()
_shared: dict[str, object] = {}


def shared_postgres_url() -> str:
    """URL of this process's cluster, started on first use (a failure is remembered, not retried)."""
    with _lock:
        if "error" in _shared:
            raise _shared["error"]  # type: ignore[misc]
        if "url" not in _shared:
            stack = contextlib.ExitStack()
            try:
                _shared["url"] = stack.enter_context(start_postgres())
            except BaseException as exc:
                stack.close()
                _shared["error"] = exc
                raise
            atexit.register(stack.close)
        return _shared["url"]  # type: ignore[return-value]


def postgres_url_or_skip() -> str:
    """shared_postgres_url(), or skip (developer machine) / fail (CI) when PostgreSQL is missing."""
    try:
        return shared_postgres_url()
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required here (COOPCHAIN_REQUIRE_POSTGRES/CI) but unavailable: {exc}",
                        pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the session's PostgreSQL database (see the module docstring)."""
    return postgres_url_or_skip()


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """URL of a database of its own for one test, dropped afterwards."""
    with fresh_database(postgres_url) as url:
        yield url
