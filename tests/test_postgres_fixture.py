"""The PostgreSQL test cluster (tests/postgres.py) is a real server: durable, serialisable, isolated."""

from pathlib import Path
from urllib.parse import urlsplit

from tests.postgres import postgres_db, postgres_url  # noqa: F401  (fixtures; one cluster per process)


def connect(url, **kwargs):
    import psycopg  # imported late: without it the fixtures skip or fail with the reason

    return psycopg.connect(url, **kwargs)


def test_cluster_accepts_connections_with_fsync_on(postgres_url):  # noqa: F811
    parts = urlsplit(postgres_url)
    assert parts.scheme == "postgresql" and parts.hostname == "127.0.0.1" and parts.port
    with connect(postgres_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == parts.path.lstrip("/")
        assert conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0] >= 130000
        assert conn.execute("SHOW fsync").fetchone()[0] == "on"
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert conn.execute("SHOW full_page_writes").fetchone()[0] == "on"
        socket_dir = conn.execute("SHOW unix_socket_directories").fetchone()[0]
    assert Path(socket_dir, f".s.PGSQL.{parts.port}").is_socket()  # and the unix socket in the temp dir


def test_serializable_keeps_one_head(postgres_db):  # noqa: F811
    """Two workers read the head and append at head + 1: serialisable lets one commit, not both (no fork).

    Read committed, the control, lets both commit: the check is not vacuous.
    """
    import psycopg
    from psycopg import IsolationLevel

    with connect(postgres_db, autocommit=True) as setup:
        setup.execute("CREATE TABLE blocks (height int NOT NULL, worker text NOT NULL)")  # no key: the race is visible
        setup.execute("INSERT INTO blocks VALUES (0, 'genesis')")

    def race(level):
        a, b = connect(postgres_db), connect(postgres_db)
        failures = 0
        try:
            for c in (a, b):
                c.isolation_level = level
            heads = [c.execute("SELECT max(height) FROM blocks").fetchone()[0] for c in (a, b)]
            for c, name, head in zip((a, b), "ab", heads):
                try:
                    c.execute("INSERT INTO blocks VALUES (%s, %s)", (head + 1, name))
                except psycopg.errors.SerializationFailure:
                    failures += 1
                    c.rollback()
            for c in (a, b):
                try:
                    c.commit()
                except psycopg.errors.SerializationFailure:
                    failures += 1
        finally:
            a.close()
            b.close()
        with connect(postgres_db, autocommit=True) as check:
            rows = check.execute("SELECT height, worker FROM blocks WHERE height > 0 ORDER BY worker").fetchall()
            check.execute("DELETE FROM blocks WHERE height > 0")
        return failures, rows

    failures, rows = race(IsolationLevel.SERIALIZABLE)
    assert failures == 1 and len(rows) == 1 and rows[0][0] == 1

    failures, rows = race(IsolationLevel.READ_COMMITTED)
    assert failures == 0 and rows == [(1, "a"), (1, "b")]  # the fork serialisable prevents


def test_fresh_databases_are_separate_and_dropped(postgres_url):  # noqa: F811
    from tests.postgres import fresh_database

    with fresh_database(postgres_url) as one, fresh_database(postgres_url) as two:
        assert one != two
        with connect(one, autocommit=True) as c:
            c.execute("CREATE TABLE only_here (x int)")
        with connect(two) as c:
            assert c.execute("SELECT to_regclass('only_here')").fetchone()[0] is None
        name = urlsplit(one).path.lstrip("/")
    with connect(postgres_url) as c:
        assert c.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0
