"""Engines for SQLite files and any SQLAlchemy URL (PostgreSQL).

SQLite runs in WAL mode with ``synchronous=FULL`` — money is not allowed to
vanish on a power cut — and every write transaction starts with
``BEGIN IMMEDIATE`` so that it holds the write lock from its first read: the
limit checks then see exactly the state they will write over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from mutualcredit.domain.errors import UsageError

# SQLite's own wait for the write lock, per attempt; the writer retries attempts until
# busy_timeout_seconds() have passed in all (services.context), so a waiting writer can say
# so on a terminal and a wait is never longer than the user allows.
SQLITE_BUSY_TIMEOUT_MS = 250
BUSY_TIMEOUT_DEFAULT_SECONDS = 10.0
BUSY_TIMEOUT_MAX_SECONDS = 24 * 3600.0
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
WRITE = {"mutualcredit_write": True}


def database_url(target: str) -> URL:
    """A SQLAlchemy URL for ``target``: a URL as given, else a SQLite file path."""
    if "://" in target:
        try:
            url = make_url(target)
        except ArgumentError:
            raise UsageError(f"database URL {target!r} is not valid", code="invalid_db") from None
        if url.get_backend_name() not in SUPPORTED_BACKENDS:
            raise UsageError(
                f"database URL scheme {url.drivername!r} is not supported: use a SQLite file "
                "path, sqlite:///PATH or postgresql+psycopg://…",
                code="unsupported_database",
            )
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
            raise UsageError(
                f"database driver {url.get_driver_name()!r} is not supported: "
                "use postgresql+psycopg://…",
                code="unsupported_database",
            )
        return url
    return URL.create("sqlite+pysqlite", database=str(Path(target).expanduser()))


def busy_timeout_seconds() -> float:
    """How long a writer waits for the write lock in all: ``MUTUALCREDIT_BUSY_TIMEOUT``
    (seconds) or 10."""
    import os

    value = os.environ.get("MUTUALCREDIT_BUSY_TIMEOUT", "").strip()
    if not value:
        return BUSY_TIMEOUT_DEFAULT_SECONDS
    if not value.isascii() or not value.replace(".", "", 1).isdigit():
        raise UsageError(
            f"MUTUALCREDIT_BUSY_TIMEOUT={value!r} is not a number of seconds",
            code="invalid_busy_timeout",
        )
    seconds = float(value)
    if not 0 < seconds <= BUSY_TIMEOUT_MAX_SECONDS:
        raise UsageError(
            f"MUTUALCREDIT_BUSY_TIMEOUT={value!r} must be more than 0 and at most "
            f"{int(BUSY_TIMEOUT_MAX_SECONDS)} seconds",
            code="invalid_busy_timeout",
        )
    return seconds


def describe(url: URL) -> str:
    """The URL as shown to people: the password is never printed."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def make_engine(url: URL) -> Engine:
    from sqlalchemy import create_engine

    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **_read_only_creator(str(url.database)),
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=30,
        connect_args={"connect_timeout": 10},
    )
    _configure_postgres(engine)
    return engine


# PostgreSQL sessions.  A process holds at most POOL_SIZE + POOL_OVERFLOW connections (the
# CLI uses one at a time); a server's max_connections (100 by default) bounds how many
# writer processes one server takes.  A lock wait longer than LOCK_TIMEOUT_MS (or the busy
# timeout, if shorter) fails with 55P03 and is retried by the writer until the busy
# timeout; a session idle inside a transaction (a client stopped
# while holding the chain head) is ended after IDLE_IN_TRANSACTION_TIMEOUT so it cannot
# stall every other writer.
POOL_SIZE = 5
POOL_OVERFLOW = 5
LOCK_TIMEOUT_MS = 10_000
IDLE_IN_TRANSACTION_TIMEOUT = "60s"
# A pooled connection idle for longer than this is pinged before use (a server restart
# leaves dead connections); a busy writer pays no extra round trip per checkout.
PING_AFTER_IDLE_SECONDS = 5.0


def _configure_postgres(engine: Engine) -> None:
    import time

    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute(
            f"SET lock_timeout = '{min(LOCK_TIMEOUT_MS, int(busy_timeout_seconds() * 1000))}'; "
            f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}'"
        )
        dbapi_connection.autocommit = autocommit

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection, record):  # type: ignore[no-untyped-def]
        if record is not None:
            record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        idle_since = record.info.get("checked_in")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # noqa: BLE001 - the pool replaces the connection
            raise DisconnectionError(str(error)) from error


def _read_only_creator(path: str) -> dict[str, Any]:
    """A file we may read but not write is opened read-only, so every read still works
    (a write then fails as ``database_read_only``, exit 5).  In WAL mode a reader needs the
    ``-shm`` file; when it is missing and cannot be made (a read-only folder), the file is
    opened as immutable: nothing can be writing it then, since no writer could either."""
    import os
    import sqlite3
    from urllib.parse import quote

    if not path or path == ":memory:" or not os.path.exists(path) or os.access(path, os.W_OK):
        return {}
    folder = os.path.dirname(os.path.abspath(path))
    immutable = not os.path.exists(path + "-shm") and not os.access(folder, os.W_OK)
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro" + ("&immutable=1" if immutable else "")

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(
            uri, uri=True, check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
        )

    return {"creator": connect}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is too late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("mutualcredit_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def enable_wal(engine: Engine) -> None:
    """Switch a new SQLite file to WAL mode (persistent; done once, at creation)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA journal_mode = WAL")
