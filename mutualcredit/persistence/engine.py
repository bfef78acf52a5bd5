"""Engines for SQLite files and any SQLAlchemy URL (PostgreSQL).

SQLite runs in WAL mode with ``synchronous=FULL`` — money is not allowed to
vanish on a power cut — and every write transaction starts with
``BEGIN IMMEDIATE`` so that it holds the write lock from its first read: the
limit checks then see exactly the state they will write over.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from mutualcredit.domain.errors import UsageError

SQLITE_BUSY_TIMEOUT_MS = 60_000
WRITE = {"mutualcredit_write": True}


def database_url(target: str) -> URL:
    """A SQLAlchemy URL for ``target``: a URL as given, else a SQLite file path."""
    if "://" in target:
        try:
            url = make_url(target)
        except ArgumentError:
            raise UsageError(f"database URL {target!r} is not valid", code="invalid_db") from None
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return url
    return URL.create("sqlite+pysqlite", database=str(Path(target).expanduser()))


def describe(url: URL) -> str:
    """The URL as shown to people: the password is never printed."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def make_engine(url: URL) -> Engine:
    from sqlalchemy import create_engine

    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


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
            connection.exec_driver_sql("COMMIT") if connection.in_transaction() else None
            connection.connection.driver_connection.execute("PRAGMA journal_mode = WAL")
