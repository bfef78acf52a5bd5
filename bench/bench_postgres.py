"""Signed payments on PostgreSQL: 1, 4 and 8 writer processes, and one hot account.

Run with ``python bench/bench_postgres.py [payments per writer] [--sqlite] [--full-path]
[--only WRITERS:SHAPE ...]``
against the server in ``MUTUALCREDIT_TEST_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``).  Each scenario gets a
fresh schema with a network of one collective, 16 members per writer (credit
lines large enough that no payment is refused) and a festival cash box.

- ``spread``: each writer pays between its own 16 members (the accounts of
  different writers never meet; the chain head is the only shared row);
- ``hot``: every payment of every writer goes to the one festival cash box
  ``collectives:fest:cash:caixa`` (a row every writer locks).

Each payment is the whole library path a script takes: ``payments.pay`` —
resolve both accounts, route, build and sign (Ed25519) the canonical body,
verify the signature, then one write transaction (key, idempotency, lock the
accounts in id order, limits, insert transfer and postings, totals, chain).

The baseline, measured in the same run with the same process counts, is raw
psycopg doing the least a double-entry write can do: one transaction that
locks the two account rows in id order, inserts two posting rows and updates
the two balances (no signature, no chain, no SQLAlchemy).  Figures are
transfers/s over the wall time of all writers, the p50/p99 latency of one
payment as its writer saw it, and the storage the ledger takes per transfer
(tables and indexes), and the CPU time one transfer took: its writer's
(``time.process_time`` over its payments) plus the server's (every
``postgres`` process, from ``/proc``, over the same window), with the rate
all cores would give if they did nothing else (the *ceiling*: cores ÷ CPU
per transfer).  ``--sqlite`` first runs the same payments on one
SQLite file (raw baseline: ``sqlite3`` with ``BEGIN IMMEDIATE``), for the
capacity model in ``docs/scaling.md``.  ``--full-path`` also runs each scenario's payments
with the one-statement path turned off (``posting.ONE_STATEMENT``): every payment then
takes the full path of four round trips, as every write did before; its row says ``full``
(its bytes/transfer column is the library's).  ``--only 8:spread`` runs that scenario only.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.services.concurrent_payments import HOT  # noqa: E402
from tests.support import drop_postgres_schema, postgres_schema_url  # noqa: E402

PG_URL = os.environ.get(
    "MUTUALCREDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PAYMENTS_DEFAULT = 400
MEMBERS_PER_WRITER = 16
SCENARIOS = ((1, "spread"), (4, "spread"), (8, "spread"), (4, "hot"), (8, "hot"))
FULL_PATH_VARIABLE = "MUTUALCREDIT_BENCH_FULL_PATH"  # 1: writers take the full posting path


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def build_network(url: str, writers: int) -> list[list[tuple[str, bytes]]]:
    """16 members per writer with ample credit; each writer's (handle, private key)."""
    from tests.services.concurrent_payments import build

    return build(url, writers, members=MEMBERS_PER_WRITER, credit_line=10_000_000)


def library_writer(
    url: str, members: list[tuple[str, bytes]], payments: int, hot: bool, start: float, queue
) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mutualcredit.services import posting
    from mutualcredit.services.context import Ledger

    posting.ONE_STATEMENT = os.environ.get(FULL_PATH_VARIABLE) != "1"
    from mutualcredit.services.keys import Signer, public_hex
    from mutualcredit.services.payments import pay

    ledger = Ledger.open(url)
    signers = []
    for handle, raw in members:
        key = Ed25519PrivateKey.from_private_bytes(raw)
        signers.append(Signer(handle, key, public_hex(key.public_key())))
    rng = random.Random(len(members[0][0]) * 7919 + payments)
    latencies = []
    while time.time() < start:
        time.sleep(0.001)
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(payments):
        payer, payee = rng.sample(signers, 2)
        target = HOT if hot else payee.handle
        moment = time.perf_counter()
        pay(ledger, payer, payer=payer.handle, payee=target, amount=rng.randint(1, 500))
        latencies.append(time.perf_counter() - moment)
    queue.put((began, time.perf_counter(), latencies, time.process_time() - cpu))


def raw_writer(
    url: str, members: list[tuple[str, bytes]], payments: int, hot: bool, start: float, queue
) -> None:  # type: ignore[no-untyped-def]
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        dbname=parsed.database,
        password=parsed.password,
        options=parsed.query.get("options"),
    )
    ids = [
        row[0]
        for row in connection.execute(
            "SELECT id FROM account WHERE name = ANY(%s)",
            ([f"members:{handle}" for handle, _ in members],),
        )
    ]
    hot_id = connection.execute("SELECT id FROM account WHERE name = %s", (HOT,)).fetchone()[0]
    connection.commit()
    rng = random.Random(len(ids) * 31 + payments)
    latencies = []
    while time.time() < start:
        time.sleep(0.001)
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(payments):
        payer, payee = rng.sample(ids, 2)
        if hot:
            payee = hot_id
        amount = rng.randint(1, 500)
        moment = time.perf_counter()
        with connection.transaction():
            connection.execute(
                "SELECT id FROM account WHERE id IN (%s, %s) ORDER BY id FOR UPDATE", (payer, payee)
            )
            connection.execute(
                "INSERT INTO bench_posting (account_id, amount) VALUES (%s, %s), (%s, %s)",
                (payer, -amount, payee, amount),
            )
            connection.execute(
                "UPDATE account SET posted_debits = posted_debits + %s WHERE id = %s",
                (amount, payer),
            )
            connection.execute(
                "UPDATE account SET posted_credits = posted_credits + %s WHERE id = %s",
                (amount, payee),
            )
        latencies.append(time.perf_counter() - moment)
    connection.close()
    queue.put((began, time.perf_counter(), latencies, time.process_time() - cpu))


def raw_sqlite_writer(
    url: str, members: list[tuple[str, bytes]], payments: int, hot: bool, start: float, queue
) -> None:  # type: ignore[no-untyped-def]
    """The same least double-entry write on the SQLite file (WAL, synchronous=FULL)."""
    import sqlite3

    connection = sqlite3.connect(url, timeout=60, isolation_level=None)
    connection.execute("PRAGMA synchronous = FULL")
    ids = [
        row[0]
        for row in connection.execute(
            f"SELECT id FROM account WHERE name IN ({','.join('?' * len(members))})",
            [f"members:{handle}" for handle, _ in members],
        )
    ]
    hot_id = connection.execute("SELECT id FROM account WHERE name = ?", (HOT,)).fetchone()[0]
    rng = random.Random(len(ids) * 31 + payments)
    latencies = []
    while time.time() < start:
        time.sleep(0.001)
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(payments):
        payer, payee = rng.sample(ids, 2)
        payee = hot_id if hot else payee
        amount = rng.randint(1, 500)
        moment = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO bench_posting (account_id, amount) VALUES (?, ?), (?, ?)",
            (payer, -amount, payee, amount),
        )
        connection.execute(
            "UPDATE account SET posted_debits = posted_debits + ? WHERE id = ?", (amount, payer)
        )
        connection.execute(
            "UPDATE account SET posted_credits = posted_credits + ? WHERE id = ?", (amount, payee)
        )
        connection.execute("COMMIT")
        latencies.append(time.perf_counter() - moment)
    connection.close()
    queue.put((began, time.perf_counter(), latencies, time.process_time() - cpu))


Result = tuple[float, float, float, float, float | None]
"""transfers/s, p50 ms, p99 ms, the writers' CPU ms per transfer, the server's (or None)."""


def run(kind: str, url: str, groups: list, payments: int, hot: bool) -> Result:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    os.environ[FULL_PATH_VARIABLE] = "1" if kind == "full" else "0"  # spawned writers inherit it
    target = {
        "library": library_writer,
        "full": library_writer,
        "raw": raw_writer,
        "raw_sqlite": raw_sqlite_writer,
    }[kind]
    start = time.time() + 3.0  # every writer has imported and connected by then
    processes = [
        context.Process(target=target, args=(url, group, payments, hot, start, queue))
        for group in groups
    ]
    for process in processes:
        process.start()
    while time.time() < start:
        time.sleep(0.001)
    server = server_cpu() if url.startswith("postgresql") else None
    results = [queue.get(timeout=600) for _ in processes]
    if server is not None:
        server = server_cpu() - server
    for process in processes:
        process.join()
        assert process.exitcode == 0, f"a writer failed ({process.exitcode})"
    began = min(r[0] for r in results)
    ended = max(r[1] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    rate = len(latencies) / (ended - began)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    client = sum(r[3] for r in results) / len(latencies) * 1000
    return rate, p50, p99, client, None if server is None else server / len(latencies) * 1000


def server_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL process of this machine (backends and
    background workers alike: the WAL writer and checkpointer work for the writers too),
    with the processes that have ended (a backend whose client disconnected): the
    postmaster that collected them holds their time as its children's."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name.startswith("postgres"):
            fields = stat[stat.rindex(")") + 2 :].split()
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def bytes_per_transfer(url: str, schema: str | None) -> float:
    """Storage of the whole ledger (tables, indexes) divided by its transfers."""
    from sqlalchemy import text

    from mutualcredit.services.context import Ledger

    ledger = Ledger.open(url)
    with ledger.engine.connect() as connection:
        transfers = connection.execute(text("SELECT COUNT(*) FROM transfer")).scalar_one()
        if schema is None:
            size = 0
        else:
            size = connection.execute(
                text(
                    "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r' "
                    "AND c.relname != 'bench_posting'"
                ),
                {"s": schema},
            ).scalar_one()
    ledger.engine.dispose()
    if schema is None:
        import sqlite3

        with sqlite3.connect(url) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = Path(url).stat().st_size
    return int(size) / max(1, int(transfers))


def check(url: str, expected: int) -> None:
    from mutualcredit.services.context import Ledger
    from mutualcredit.services.invariants import check_invariants

    ledger = Ledger.open(url)
    with ledger.read() as connection:
        from sqlalchemy import text

        count = connection.execute(text("SELECT COUNT(*) FROM transfer")).scalar()
    problems = check_invariants(ledger)
    ledger.engine.dispose()
    assert count == expected, (count, expected)
    assert problems == [], problems


def main() -> None:
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    payments = int(arguments[0]) if arguments else PAYMENTS_DEFAULT
    print(
        f"signed payments on PostgreSQL, {payments} per writer, {os.cpu_count()} cores "
        "shared with the server"
    )
    header = (
        f"{'writers':>7} {'accounts':>8} | {'library/s':>9} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'raw/s':>7} {'p50 ms':>7} {'p99 ms':>7} | library/raw | bytes/transfer | "
        "library CPU ms/transfer: writers + server | raw CPU ms/transfer"
    )
    print(header)
    if "--sqlite" in sys.argv:
        sqlite_scenarios(payments)
    chosen = [
        value for option, value in zip(sys.argv, sys.argv[1:], strict=False) if option == "--only"
    ]
    for writers, shape in SCENARIOS:
        if chosen and f"{writers}:{shape}" not in chosen:
            continue
        url, schema = postgres_schema_url()
        try:
            groups = build_network(url, writers)
            import psycopg

            with psycopg.connect(
                libpq(PG_URL), autocommit=True, options=f"-csearch_path={schema}"
            ) as connection:
                connection.execute(
                    "CREATE TABLE bench_posting (id bigserial PRIMARY KEY, "
                    "account_id bigint NOT NULL, amount bigint NOT NULL)"
                )
            with psycopg.connect(
                libpq(PG_URL), autocommit=True, options=f"-csearch_path={schema}"
            ) as connection:
                before = connection.execute("SELECT COUNT(*) FROM transfer").fetchone()[0]
            library = run("library", url, groups, payments, shape == "hot")
            check(url, before + writers * payments)
            size = bytes_per_transfer(url, schema)
            full = None
            if "--full-path" in sys.argv:
                full = run("full", url, groups, payments, shape == "hot")
                check(url, before + 2 * writers * payments)
            raw = run("raw", url, groups, payments, shape == "hot")
        finally:
            drop_postgres_schema(schema)
        show(writers, shape, library, raw, size)
        if full is not None:
            show(writers, "full", full, raw, size)


def show(writers: int, shape: str, library: Result, raw: Result, size: float) -> None:
    print(
        f"{writers:>7} {shape:>8} | {library[0]:>9.0f} {library[1]:>7.2f} "
        f"{library[2]:>7.2f} | {raw[0]:>7.0f} {raw[1]:>7.2f} {raw[2]:>7.2f} | "
        f"{library[0] / raw[0]:>11.2f} | {size:>14.0f} | {cpu(library)} | {cpu(raw)}",
        flush=True,
    )


def cpu(result: Result) -> str:
    """CPU ms per transfer, writers + server, and the rate all cores would give at that."""
    client, server = result[3], result[4]
    if server is None:
        return f"{client:5.2f} + -   "
    ceiling = (os.cpu_count() or 1) * 1000 / (client + server)
    return f"{client:5.2f} + {server:4.2f} = {client + server:4.2f} (ceiling {ceiling:5.0f}/s)"


def sqlite_scenarios(payments: int) -> None:
    """The same payments on one SQLite file, for the capacity model's other column."""
    import sqlite3
    import tempfile

    print("SQLite file (WAL, synchronous=FULL):")
    for writers, shape in ((1, "spread"), (4, "spread"), (4, "hot")):
        with tempfile.TemporaryDirectory() as folder:
            url = str(Path(folder) / "bench.db")
            groups = build_network(url, writers)
            with sqlite3.connect(url) as connection:
                connection.execute(
                    "CREATE TABLE bench_posting (id INTEGER PRIMARY KEY, "
                    "account_id INTEGER NOT NULL, amount INTEGER NOT NULL)"
                )
            library = run("library", url, groups, payments, shape == "hot")
            size = bytes_per_transfer(url, None)
            raw = run("raw_sqlite", url, groups, payments, shape == "hot")
        show(writers, shape, library, raw, size)
    print("PostgreSQL:")


if __name__ == "__main__":
    main()
