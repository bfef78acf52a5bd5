"""Opening a ledger, and running a write as one retried database transaction.

:class:`Ledger` is what every service takes: the engine, the network's fixed
facts (id, name, card, time zone, defaults) and its currencies.  A write is a
function of a connection run by :meth:`Ledger.write`, which begins the
transaction the right way for the database (SQLite: ``BEGIN IMMEDIATE``) and
retries it on serialization failures, deadlocks, lock timeouts and a busy
SQLite file — the same function with the same idempotency key, so a valid
payment under contention is delayed, never refused.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from mutualcredit.domain.amounts import Currency
from mutualcredit.domain.errors import IntegrityProblem, NotFound, Unavailable
from mutualcredit.persistence import schema
from mutualcredit.persistence.engine import (
    WRITE,
    busy_timeout_seconds,
    database_url,
    describe,
    make_engine,
)

T = TypeVar("T")
WRITE_ATTEMPTS_MAX = 50
RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock timeout
UNIQUE_RETRIES_MAX = 3
AT_COMMIT = "mutualcredit_at_commit"  # connection.info: statements sent with the COMMIT


class DatabaseUnavailable(Unavailable):
    """An unreachable server or wrong credentials: exit 5, so scripts can retry later."""


class DatabaseBusy(Unavailable):
    """Another writer held the write lock for longer than the busy timeout: exit 5."""

    code = "database_busy"


# Called once when a write starts waiting for another writer (the CLI says so on a terminal).
_waiting_notice: list[Callable[[], None]] = []


def on_waiting(notice: Callable[[], None] | None) -> None:
    """Set (or, with None, clear) what is called when a write starts to wait for the lock."""
    _waiting_notice.clear()
    if notice is not None:
        _waiting_notice.append(notice)


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkInfo:
    id: str
    name: str
    card: str
    timezone: str
    admin: str
    member_limit_lower: int
    clearing_limit: int
    created_at: str


def data_home() -> Path:
    """Where key files (and the default ledger) live: ``MUTUALCREDIT_HOME`` or the platform's."""
    home = os.environ.get("MUTUALCREDIT_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("mutualcredit", appauthor=False))


def default_database() -> str:
    return str(data_home() / "ledger.db")


class Ledger:
    """An open ledger: engine, network facts and currencies."""

    def __init__(
        self, engine: Engine, url: URL, network: NetworkInfo, currencies: dict[str, Currency]
    ) -> None:
        self.engine = engine
        self.url = url
        self.network = network
        self.currencies = currencies
        # Facts that never change once written (an account's currency and collective,
        # a collective's currency); statuses are always checked again inside writes.
        self.cache: dict[tuple[str, str], Any] = {}

    @property
    def card(self) -> Currency:
        return self.currencies[self.network.card]

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def currency(self, code: str) -> Currency:
        try:
            return self.currencies[code]
        except KeyError:
            raise NotFound(f"currency {code} does not exist", code="currency_not_found") from None

    def scales(self) -> dict[str, int]:
        return {code: currency.scale for code, currency in self.currencies.items()}

    def reload_currencies(self) -> None:
        with self.engine.connect() as connection:
            self.currencies = load_currencies(connection)

    def write(self, work: Callable[[Connection], T]) -> T:
        return run_write(self.engine, work)

    def read(self) -> Connection:
        return self.engine.connect()

    @classmethod
    def open(cls, target: str) -> Ledger:
        url = database_url(target)
        busy_timeout_seconds()  # a malformed MUTUALCREDIT_BUSY_TIMEOUT is refused up front
        if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
            raise NotFound(
                f"no ledger at {describe(url)}; create one with 'mutualcredit init' "
                "or choose another with --db",
                code="ledger_not_found",
            )
        engine = make_engine(url)
        guard_connect(engine, url)
        schema.check(engine, where=describe(url))
        return cls.from_engine(engine, url)

    @classmethod
    def from_engine(cls, engine: Engine, url: URL) -> Ledger:
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT id, name, card, timezone, admin, member_limit_lower, clearing_limit, "
                    "created_at FROM network"
                )
            ).one_or_none()
            if row is None:
                raise IntegrityProblem(
                    f"{describe(url)} has no network record", code="not_a_ledger"
                )
            currencies = load_currencies(connection)
        return cls(engine, url, NetworkInfo(**row._asdict()), currencies)


def load_currencies(connection: Connection) -> dict[str, Currency]:
    rows = connection.execute(text("SELECT code, scale, rate FROM currency"))
    return {
        code: Currency(code=code, scale=scale, rate=Fraction(rate)) for code, scale, rate in rows
    }


def guard_connect(engine: Engine, url: URL) -> None:
    """Turn a server that cannot be reached or refuses us into one clear error."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        if "file is not a database" in reason:
            raise schema.NotALedger(f"{describe(url)} is not a mutualcredit ledger") from None
        if "malformed" in reason or "database corrupt" in reason:  # a damaged or cut-short file
            raise IntegrityProblem(
                f"the database file {describe(url)} is damaged: {reason}; restore it from a backup",
                code="storage_corrupt",
            ) from None
        raise DatabaseUnavailable(f"cannot use the database {describe(url)}: {reason}") from None


def run_write(engine: Engine, work: Callable[[Connection], T]) -> T:
    return _retried(engine, lambda: _write_once(engine, work))


def run_statement(
    engine: Engine, statement: str, parameters: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """PostgreSQL: ONE statement as a transaction of its own (autocommit) — one round trip,
    and no BEGIN or COMMIT for the server to run — retried as :func:`run_write` retries a
    write; the rows it returns.  The statement must hold every check of the write itself."""
    return _retried(engine, lambda: _statement_once(engine, statement, parameters))


def _write_once(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.connect() as connection:
        connection.execution_options(**WRITE)
        try:
            with connection.begin():
                result = work(connection)
                _commit_with_pending(connection)
        finally:
            connection.info.pop(AT_COMMIT, None)
        return result


def _statement_once(
    engine: Engine, statement: str, parameters: Sequence[Any]
) -> list[tuple[Any, ...]]:
    pooled = engine.raw_connection()  # the pool's checkout (and ping after idling) only
    try:
        driver: Any = pooled.dbapi_connection  # a psycopg connection
        driver.autocommit = True
        try:
            cursor = driver.execute(statement, tuple(parameters))
            return list(cursor.fetchall()) if cursor.description is not None else []
        finally:
            if not driver.closed:
                driver.autocommit = False
    finally:
        pooled.close()  # back to the pool


def _retried(engine: Engine, attempt_once: Callable[[], T]) -> T:
    unique_violations = 0
    deadline = time.monotonic() + busy_timeout_seconds()
    waiting = False
    for attempt in range(1, WRITE_ATTEMPTS_MAX + 1):
        try:
            return attempt_once()
        except Exception as exception:
            error = database_error(engine, exception)
            if error is None:
                raise
            if is_busy(error):
                # Another writer holds the lock: wait for it (SQLite's busy_timeout and
                # PostgreSQL's lock_timeout are the waits of one attempt), bounded in all.
                if time.monotonic() >= deadline:
                    raise DatabaseBusy(
                        f"the ledger is busy: another writer has held it for more than "
                        f"{busy_timeout_seconds():g} s (MUTUALCREDIT_BUSY_TIMEOUT); try again "
                        "later: rerunning with the same --key is safe"
                    ) from None
                if not waiting:
                    waiting = True
                    for notice in _waiting_notice:
                        notice()
                continue
            if attempt == WRITE_ATTEMPTS_MAX:
                raise as_dbapi_error(engine, exception) from None
            if is_unique_violation(error):
                # Under READ COMMITTED a check-then-insert (idempotency key, member handle,
                # account name) can lose a race to a concurrent writer that committed the
                # same row after our check.  Run the work again: its check now sees that
                # row, and answers as it would have (the original transfer; a named
                # conflict).  A few times only: a violation that repeats is a real error.
                unique_violations += 1
                if unique_violations > UNIQUE_RETRIES_MAX:
                    raise as_dbapi_error(engine, exception) from None
                continue
            if not is_retryable(error):
                raise as_dbapi_error(engine, exception) from None
            time.sleep(_backoff(attempt))
    raise AssertionError("unreachable")


def begin_write(engine: Engine) -> tuple[Connection, Any]:
    """A write transaction for work that cannot be run again as a whole (a streamed
    import consumes its input): only taking the write lock is retried, in the loop that
    retries every write.  The caller commits or rolls back the transaction returned, and
    closes the connection."""
    return _retried(engine, lambda: _begin_once(engine))


def _begin_once(engine: Engine) -> tuple[Connection, Any]:
    connection = engine.connect()
    connection.execution_options(**WRITE)
    try:
        return connection, connection.begin()
    except BaseException:
        connection.close()
        raise


def _backoff(attempt: int) -> float:
    """Seconds to wait before a write's next attempt: jittered, growing, at most 0.2."""
    return min(0.2, 0.002 * 2 ** min(attempt, 7)) * random.random()


def at_commit(connection: Connection, statement: str, parameters: Sequence[Any]) -> None:
    """PostgreSQL: run ``statement`` when the write commits, in the COMMIT's round trip.

    Only for a write's last statements (nothing after them may read what they write):
    :func:`run_write` sends them and the COMMIT together in pipeline mode, so a lock
    they take (the chain head) is held while the server executes and flushes, never
    while a message travels to the client and back.
    """
    connection.info.setdefault(AT_COMMIT, []).append((statement, tuple(parameters)))


def _commit_with_pending(connection: Connection) -> None:
    pending = connection.info.pop(AT_COMMIT, None)
    if not pending:
        return  # the transaction's context commits as usual
    driver: Any = connection.connection.dbapi_connection  # a psycopg connection
    with driver.pipeline():
        cursor = driver.cursor()
        for statement, parameters in pending:
            cursor.execute(statement, parameters)
        # COMMIT as a plain statement: the pipeline's closing sync is its only round trip
        # (driver.commit() would sync once more); the context's commit then finds the
        # session idle and sends nothing.
        cursor.execute("COMMIT", prepare=False)


def database_error(engine: Engine, exception: BaseException) -> Any:
    """The driver's error behind ``exception`` (wrapped by SQLAlchemy or raised by a driver
    cursor, as on the posting path), or None when it is not a database error."""
    if isinstance(exception, DBAPIError):
        return exception.orig if exception.orig is not None else exception
    if isinstance(exception, engine.dialect.loaded_dbapi.Error):
        return exception
    return None


def as_dbapi_error(engine: Engine, exception: Exception) -> Exception:
    """A driver's own error as SQLAlchemy's wrapper, so callers (the CLI) see one kind."""
    if isinstance(exception, DBAPIError):
        return exception
    dbapi = engine.dialect.loaded_dbapi
    return DBAPIError.instance(None, None, exception, dbapi.Error)  # type: ignore[arg-type]


def is_unique_violation(error: BaseException) -> bool:
    return getattr(error, "sqlstate", None) == "23505"


def is_busy(error: BaseException) -> bool:
    """A wait for another writer's lock that timed out (not a conflict to run again)."""
    if getattr(error, "sqlstate", None) == "55P03":
        return True
    message = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and (
        "database is locked" in message or "database is busy" in message
    )


def is_retryable(error: BaseException) -> bool:
    if getattr(error, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    message = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and (
        "database is locked" in message or "database is busy" in message
    )
