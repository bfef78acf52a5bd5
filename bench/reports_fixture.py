"""BENCHMARK FIXTURE ONLY: a ledger of N transfers written directly with executemany.

Going through signing and the posting function would take hours for a million
transfers, so this fixture — and nothing else in mutualcredit — writes
``transfer`` and ``posting`` rows itself, then recomputes the cached account
totals with one set-based UPDATE.  The network, its collectives and members are
made through the library as usual.  The transfers are shaped like the real
ones (same body document, same postings through clearing, hours in ``meta``)
but carry no signatures and no hash-chain events: ``verify`` would rightly
reject this ledger.  Never use this outside ``bench/``.

    .venv/bin/python bench/reports_fixture.py /tmp/bench-1m.db --transfers 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

COLLECTIVES = 10
MEMBERS_PER_COLLECTIVE = 100
FIRST_DAY = datetime(2025, 11, 1, 3, 0, tzinfo=UTC)  # 00:00 in São Paulo
DAYS = 365
CROSS_SHARE = 0.3
HOURS_SHARE = 0.4
ROWS_PER_CHUNK = 20_000


def build(path: Path, *, transfers: int, seed: int = 1) -> None:
    """Create the network through the library, then write ``transfers`` rows directly."""
    assert not path.exists(), path
    # The network exists before the first transfer, whatever the real date.
    saved = os.environ.get("MUTUALCREDIT_NOW")
    os.environ["MUTUALCREDIT_NOW"] = (FIRST_DAY - timedelta(days=30)).isoformat()
    try:
        network_id = _make_network(path)
    finally:
        os.environ.pop("MUTUALCREDIT_NOW")
        if saved is not None:
            os.environ["MUTUALCREDIT_NOW"] = saved
    _write_transfers(path, network_id, transfers, seed)


def _make_network(path: Path) -> str:
    from mutualcredit.services import network as setup
    from mutualcredit.services.keys import Signer

    admin = Signer.generate("banco")
    ledger = setup.init_network(
        str(path),
        setup.NetworkSettings(
            name="Rede de bancada",
            card="CARD",
            admin="banco",
            member_limit_lower=-(10**12),
            clearing_limit=10**14,
        ),
        admin,
        setup.new_network_id(),
    )
    for index in range(COLLECTIVES):
        setup.add_collective(
            ledger,
            admin,
            slug=f"c{index}",
            name=f"Coletivo {index}",
            currency=f"C{index}X",
            rate=Fraction(1),
        )
    for index in range(COLLECTIVES):
        for number in range(MEMBERS_PER_COLLECTIVE):
            handle = f"m{index}-{number}"
            setup.add_member(
                ledger,
                admin,
                handle=handle,
                collective=f"c{index}",
                public_key=Signer.generate(handle).public_key,
                limit_lower=-(10**12),
            )
    ledger.engine.dispose()
    return ledger.network.id


def _write_transfers(path: Path, network_id: str, transfers: int, seed: int) -> None:
    rng = random.Random(seed)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous = OFF")
    accounts = dict(connection.execute("SELECT name, id FROM account"))
    key_id = connection.execute("SELECT id FROM key WHERE handle = 'banco'").fetchone()[0]
    seq = connection.execute("SELECT seq FROM chain_head").fetchone()[0]
    next_id = (connection.execute("SELECT MAX(id) FROM transfer").fetchone()[0] or 0) + 1
    step = timedelta(days=DAYS) / transfers
    connection.execute("BEGIN")
    transfer_rows: list[tuple] = []
    posting_rows: list[tuple] = []
    for number in range(transfers):
        created_at = (FIRST_DAY + step * number).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        home = rng.randrange(COLLECTIVES)
        away = rng.randrange(COLLECTIVES) if rng.random() < CROSS_SHARE else home
        payer = f"m{home}-{rng.randrange(MEMBERS_PER_COLLECTIVE)}"
        payee = f"m{away}-{rng.randrange(MEMBERS_PER_COLLECTIVE)}"
        if payee == payer:
            payee = f"m{away}-{(int(payer.split('-')[1]) + 1) % MEMBERS_PER_COLLECTIVE}"
        amount = rng.randrange(100, 20_000)
        legs = [(f"members:{payer}", f"C{home}X", -amount)]
        if away == home:
            legs.append((f"members:{payee}", f"C{home}X", amount))
        else:
            legs += [
                (f"collectives:c{home}:clearing", f"C{home}X", amount),
                (f"network:clearing:c{home}", "CARD", -amount),
                (f"network:clearing:c{away}", "CARD", amount),
                (f"collectives:c{away}:clearing", f"C{away}X", -amount),
                (f"members:{payee}", f"C{away}X", amount),
            ]
        meta = {"from": f"members:{payer}", "to": f"members:{payee}"}
        if rng.random() < HOURS_SHARE:
            meta["hours"] = f"{rng.randrange(1, 40) / 4:.2f}"
        memo = f"serviço {number}"
        body = json.dumps(
            {
                "author": payer,
                "created_at": created_at,
                "key": f"bench-{number}",
                "kind": "payment",
                "memo": memo,
                "meta": meta,
                "network": network_id,
                "postings": [
                    {"account": a, "amount": f"{m / 100:.2f}", "currency": c} for a, c, m in legs
                ],
                "refs": {},
            },
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )
        transfer_id = next_id + number
        seq += 1
        transfer_rows.append(
            (
                transfer_id,
                "payment",
                "posted",
                payer,
                f"bench-{number}",
                "0" * 64,
                body,
                "0" * 64,
                key_id,
                memo,
                created_at,
                seq,
            )
        )
        posting_rows += [(transfer_id, accounts[a], c, m) for a, c, m in legs]
        if len(transfer_rows) >= ROWS_PER_CHUNK:
            _flush(connection, transfer_rows, posting_rows)
    _flush(connection, transfer_rows, posting_rows)
    connection.execute(
        "UPDATE account SET posted_debits = COALESCE((SELECT -SUM(amount) FROM posting "
        "WHERE account_id = account.id AND amount < 0), 0), posted_credits = COALESCE(("
        "SELECT SUM(amount) FROM posting WHERE account_id = account.id AND amount > 0), 0)"
    )
    connection.execute("UPDATE chain_head SET seq = ?", (seq,))
    connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.close()


def _flush(connection: sqlite3.Connection, transfers: list[tuple], postings: list[tuple]) -> None:
    connection.executemany(
        "INSERT INTO transfer (id, kind, status, author, idempotency_key, content_hash, body, "
        "body_hash, key_id, memo, created_at, event_seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        transfers,
    )
    connection.executemany(
        "INSERT INTO posting (transfer_id, account_id, currency, amount) VALUES (?,?,?,?)", postings
    )
    transfers.clear()
    postings.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--transfers", type=int, default=1_000_000)
    arguments = parser.parse_args()
    started = time.perf_counter()
    build(arguments.path, transfers=arguments.transfers)
    print(f"built {arguments.transfers} transfers in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
