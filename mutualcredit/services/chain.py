"""Appending events to the hash chain, inside the writer's transaction.

The chain head is one row; reading it (``FOR UPDATE`` on PostgreSQL, under
``BEGIN IMMEDIATE`` on SQLite) is the only serial step of a write, and it
comes last, after the account rows are locked, so it is held briefly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from mutualcredit.domain.canonical import TAG_EVENT
from mutualcredit.domain.events import EVENT_TYPES, event_rows
from mutualcredit.persistence.bulk import bulk_insert, driver_rows
from mutualcredit.services.context import Ledger

EVENT_COLUMNS = ("seq", "type", "subject_id", "body_hash", "event_hash", "chain_hash", "created_at")


def append_events(
    connection: Connection,
    ledger: Ledger,
    events: Sequence[tuple[str, int, str, str]],
    *,
    head: tuple[int, str] | None = None,
) -> list[int]:
    """Append ``(type, subject_id, body_hash, created_at)`` events; return their seqs.

    ``head`` is what :func:`lock_head` returned when the caller locked it already.
    """
    seq, chain = head if head is not None else lock_head(connection, ledger)
    rows = event_rows(seq, chain, events)
    if rows:
        bulk_insert(connection, "event", EVENT_COLUMNS, rows)
        driver_rows(
            connection,
            "UPDATE chain_head SET seq = ?, chain_hash = ? WHERE id = 1",
            (rows[-1][0], rows[-1][5]),
        )
    return [row[0] for row in rows]


def lock_head(connection: Connection, ledger: Ledger) -> tuple[int, str]:
    """The last event's seq and chain hash, locking the head (the next append is seq + 1)."""
    lock = " FOR UPDATE" if ledger.is_postgres else ""
    row = driver_rows(connection, f"SELECT seq, chain_hash FROM chain_head WHERE id = 1{lock}")
    return int(row[0][0]), str(row[0][1])


def allocate_ids(connection: Connection, ledger: Ledger, table: str, count: int) -> list[int]:
    """``count`` fresh primary keys of ``table``, to insert rows with known ids in bulk.

    PostgreSQL draws them from the table's sequence; SQLite, whose writer holds
    the database lock for the whole transaction (``BEGIN IMMEDIATE``), continues
    after the largest id, exactly as it would itself.
    """
    assert table in ("transfer", "posting", "event", "batch"), table
    if count == 0:
        return []
    if ledger.is_postgres:
        return sorted(int(row[0]) for row in driver_rows(connection, *ids_statement(table, count)))
    last = driver_rows(connection, f"SELECT COALESCE(MAX(id), 0) FROM {table}")[0][0]
    return list(range(int(last) + 1, int(last) + 1 + count))


def ids_statement(table: str, count: int) -> tuple[str, tuple[()]]:
    """PostgreSQL: the statement that draws ``count`` ids of ``table`` from its sequence.

    The count is part of the text, not a parameter: with it known the server plans the
    statement once and reuses the plan (with a parameter it planned every execution).
    """
    assert table in ("transfer", "posting", "event", "batch"), table
    assert count >= 1
    return (
        f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
        f"FROM generate_series(1, {count:d})",
        (),
    )


# What a guarded statement's writes test: the guard's table ``ok`` (see append_statement).
GUARD_HOLDS = "(SELECT ok FROM ok)"

# At most this many rows go into one combined statement (PostgreSQL takes 65,535 parameters).
COMBINED_ROWS_MAX = 1_000


@dataclass(frozen=True, slots=True)
class EventSeq:
    """A column value the server fills in: the seq of the ``number``-th event appended (from 1)."""

    number: int


@dataclass(frozen=True, slots=True)
class Sql:
    """A column value the server computes: an SQL expression of the statement's own
    common table expressions (e.g. an id drawn by a guard's ``ids``), never user data."""

    expression: str


# domain.events.event_bytes, built by the server: b"mutualcredit/event/v1\n" + RFC 8785 JSON of
# {"body_hash", "seq", "type"} (a hex digest, an integer and a word from EVENT_TYPES, so plain
# concatenation is the canonical form).  verify recomputes every hash in Python.
_EVENT_BYTES_SQL = (
    f"convert_to('{TAG_EVENT.decode('ascii')}' || chr(10) || '{{\"body_hash\":\"' || e.body_hash "
    "|| '\",\"seq\":' || (h.seq + e.number) || ',\"type\":\"' || e.type || '\"}', 'UTF8')"
)


def append_statement(
    events: Sequence[tuple[str, int | Sql, str, str]],
    tables: Sequence[tuple[str, Sequence[str], Sequence[tuple[Any, ...]]]],
    also: Sequence[tuple[str, Sequence[Any]]] = (),
    *,
    guard: Sequence[tuple[str, Sequence[Any]]] = (),
    returning: str = "",
) -> tuple[str, list[Any]]:
    """PostgreSQL: ONE statement that locks the chain head, appends ``events`` with their
    hashes computed by the server, inserts ``tables`` and runs the ``also`` statements.

    ``events`` are ``(type, subject_id, body_hash, created_at)``; ``tables`` are
    ``(table, columns, rows)``, where a value :class:`EventSeq` becomes that event's seq;
    ``also`` are ``(statement, parameters)`` run in the same statement (e.g. the account
    totals).  Nothing waits on the client between the head lock and the end of the
    statement, so sent in one round trip with the COMMIT (:func:`context.at_commit`) the
    head is held only while the server executes and flushes.  Foreign keys between the
    rows of one statement are checked at its end, so parents and children may go together.

    ``guard`` are common table expressions ``(definition, parameters)`` put first, one
    of them named ``ok`` (one boolean column ``ok``): unless it holds, the head is
    not locked and nothing is written — every insert selects its rows only when it holds,
    and ``also`` statements must test it themselves.  A subject id may then be an
    :class:`Sql` expression of the guard's tables.  ``returning`` is the main statement's
    ``RETURNING`` list (no row comes back when the guard fails).
    """
    assert events
    assert sum(len(rows) for _, _, rows in tables) + len(events) <= COMBINED_ROWS_MAX
    parameters: list[Any] = [value for _, values_guard in guard for value in values_guard]
    parts = [definition for definition, _ in guard]
    gate = f" AND {GUARD_HOLDS}" if guard else ""
    values = []
    for number, (type_, subject_id, body_hash, created_at) in enumerate(events, start=1):
        assert type_ in EVENT_TYPES, type_
        assert len(body_hash) == 64 and body_hash.isalnum() and body_hash == body_hash.lower()
        parameters.append(type_)
        subject = _cell(subject_id, parameters, len(events))
        values.append(f"({number}, %s::text, {subject}::bigint, %s::text, %s::text)")
        parameters += [body_hash, created_at]
    parts += [
        f"head AS (SELECT seq, chain_hash FROM chain_head WHERE id = 1{gate} FOR UPDATE)",
        f"ev (number, type, subject_id, body_hash, created_at) AS (VALUES {', '.join(values)})",
        "evh AS (SELECT e.number, h.seq + e.number AS seq, e.type, e.subject_id, e.body_hash, "
        f"e.created_at, encode(sha256({_EVENT_BYTES_SQL}), 'hex') AS event_hash "
        "FROM ev e CROSS JOIN head h)",
        "chain (number, chain_hash) AS (SELECT 0, chain_hash::text FROM head UNION ALL "
        "SELECT v.number, encode(sha256(decode(c.chain_hash, 'hex') || decode(v.event_hash, "
        "'hex')), 'hex') FROM chain c JOIN evh v ON v.number = c.number + 1)",
        f"w_event AS (INSERT INTO event ({', '.join(EVENT_COLUMNS)}) SELECT v.seq, v.type, "
        "v.subject_id, v.body_hash, v.event_hash, c.chain_hash, v.created_at "
        "FROM evh v JOIN chain c ON c.number = v.number)",
    ]
    for index, (table, columns, rows) in enumerate(tables):
        if not rows:
            continue
        assert table.isidentifier() and all(column.isidentifier() for column in columns)
        rendered = []
        for row in rows:
            assert len(row) == len(columns)
            cells = [_cell(value, parameters, len(events)) for value in row]
            rendered.append(f"({', '.join(cells)})")
        into = f"INSERT INTO {table} ({', '.join(columns)})"
        if not guard:
            parts.append(f"w{index} AS ({into} VALUES {', '.join(rendered)})")
        elif len(rows) == 1:  # the server takes each value's type from its column
            parts.append(f"w{index} AS ({into} SELECT {rendered[0][1:-1]} WHERE {GUARD_HOLDS})")
        else:  # VALUES of several rows type a column of NULLs as text: none allowed here
            assert all(value is not None for row in rows for value in row), table
            parts.append(
                f"w{index} AS ({into} SELECT * FROM (VALUES {', '.join(rendered)}) "
                f"AS v WHERE {GUARD_HOLDS})"
            )
    for index, (statement, values_also) in enumerate(also):
        parts.append(f"a{index} AS ({statement})")
        parameters.extend(values_also)
    statement = (
        f"WITH RECURSIVE {', '.join(parts)} UPDATE chain_head SET (seq, chain_hash) = "
        "(SELECT v.seq, c.chain_hash FROM evh v JOIN chain c ON c.number = v.number "
        f"ORDER BY v.number DESC LIMIT 1) WHERE id = 1{gate}"
    )
    if returning:
        statement += f" RETURNING {returning}"
    return statement, parameters


def _cell(value: Any, parameters: list[Any], events: int) -> str:
    """One value of :func:`append_statement`: a parameter (added to ``parameters``), an
    event's seq, or an expression of the statement's own tables."""
    if isinstance(value, EventSeq):
        assert 1 <= value.number <= events
        return f"(SELECT seq FROM evh WHERE number = {value.number:d})"
    if isinstance(value, Sql):
        return f"({value.expression})"
    parameters.append(value)
    return "%s"
