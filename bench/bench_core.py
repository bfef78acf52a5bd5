"""Core ledger benchmarks, each beside a baseline measured in the same run.

    python bench/bench_core.py [--payments 3000] [--batch 20000] [--postings 1000000]

1. Signed payments, one per database transaction (SQLite, WAL, synchronous=FULL),
   through the library's ``pay`` — baseline: raw sqlite3 committing a two-posting
   transfer per transaction with the same settings, and the raw Ed25519 sign+verify rate.
2. The batch API, one signature per batch.
3. Whole-process ``mutualcredit balance`` / ``pay`` / ``--help`` against
   ``python -c "import typer, sqlmodel, cryptography...ed25519"`` and a minimal
   two-command Typer app, plus the scrypt key-unlock cost.
4. An account with 1,000,000 postings: balance query time; ``statement --json``
   streamed, peak RSS of the process.

The machine this project targets has 2 cores; run it with nothing else busy.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mutualcredit.domain.transfers import Posting, TransferDraft
from mutualcredit.services import network as setup
from mutualcredit.services import payments
from mutualcredit.services.clock import iso
from mutualcredit.services.keys import KDF_N, KeyStore, Signer
from mutualcredit.services.posting import post_batch

BIN = Path(sys.executable).parent


def build(folder: Path) -> tuple[object, dict[str, Signer]]:
    admin = Signer.generate("banco")
    ledger = setup.init_network(
        str(folder / "ledger.db"),
        setup.NetworkSettings(
            name="bench",
            card="CARD",
            admin="banco",
            member_limit_lower=-(10**12),
            clearing_limit=10**13,
        ),
        admin,
        setup.new_network_id(),
    )
    setup.add_collective(ledger, admin, slug="cubo", name="Cubo", currency="CUBO", rate=Fraction(1))
    signers = {"banco": admin}
    for handle in ("ana", "bia"):
        signers[handle] = Signer.generate(handle)
        setup.add_member(
            ledger,
            admin,
            handle=handle,
            collective="cubo",
            public_key=signers[handle].public_key,
            limit_lower=-(10**12),
        )
    return ledger, signers


def raw_sqlite_rate(folder: Path, count: int) -> float:
    connection = sqlite3.connect(folder / "raw.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, memo TEXT)")
    connection.execute("CREATE TABLE p (id INTEGER PRIMARY KEY, t INT, account INT, amount INT)")
    start = time.perf_counter()
    for index in range(count):
        connection.execute("BEGIN IMMEDIATE")
        transfer = connection.execute("INSERT INTO t (memo) VALUES (?)", (str(index),)).lastrowid
        connection.executemany(
            "INSERT INTO p (t, account, amount) VALUES (?, ?, ?)",
            [(transfer, 1, -100), (transfer, 2, 100)],
        )
        connection.execute("COMMIT")
    return count / (time.perf_counter() - start)


def ed25519_rates(count: int) -> tuple[float, float]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    message = b"x" * 300
    start = time.perf_counter()
    signatures = [key.sign(message) for _ in range(count)]
    signed = count / (time.perf_counter() - start)
    start = time.perf_counter()
    for signature in signatures:
        public.verify(signature, message)
    return signed, count / (time.perf_counter() - start)


def payment_rate(ledger, signers, count: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    latencies = []
    start = time.perf_counter()
    for _ in range(count):
        began = time.perf_counter()
        payments.pay(ledger, signers["ana"], payer="ana", payee="bia", amount=100, memo="bench")
        latencies.append(time.perf_counter() - began)
    rate = count / (time.perf_counter() - start)
    return rate, statistics.quantiles(latencies, n=100)[98] * 1000


def batch_rate(ledger, signers, count: int) -> float:  # type: ignore[no-untyped-def]
    now = iso(datetime.now(UTC))
    drafts = [
        TransferDraft(
            network=ledger.network.id,
            kind="payment",
            author="ana",
            key=f"batch-{index}",
            created_at=now,
            memo="bench batch",
            postings=(
                Posting(account="members:ana", currency="CUBO", amount=-1),
                Posting(account="members:bia", currency="CUBO", amount=1),
            ),
        )
        for index in range(count)
    ]
    start = time.perf_counter()
    post_batch(ledger, drafts, signers["ana"], kind="payment")
    return count / (time.perf_counter() - start)


def wall(command: list[str], env: dict[str, str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cli_times(folder: Path) -> None:
    env = {
        **os.environ,
        "MUTUALCREDIT_HOME": str(folder / "home"),
        "MUTUALCREDIT_PASSPHRASE": "bench-pass",
    }
    db = str(folder / "mutualcredit_cli.db")
    cli = str(BIN / "mutualcredit")
    subprocess.run(
        [
            cli,
            "--db",
            db,
            "init",
            "--network",
            "b",
            "--currency",
            "CARD",
            "--admin",
            "banco",
            "--default-limit",
            "1000000",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [cli, "--db", db, "collective", "add", "cubo", "--name", "C"],
        env=env,
        check=True,
        capture_output=True,
    )
    for handle in ("ana", "bia"):
        subprocess.run(
            [cli, "--db", db, "member", "add", handle, "--collective", "cubo"],
            env=env,
            check=True,
            capture_output=True,
        )
    baseline = wall(
        [
            sys.executable,
            "-c",
            "import typer, sqlmodel, cryptography.hazmat.primitives.asymmetric.ed25519",
        ],
        env,
    )
    minimal = folder / "minimal.py"
    minimal.write_text(
        "import typer\napp = typer.Typer()\n@app.command()\ndef a(): pass\n"
        "@app.command()\ndef b(): pass\napp()\n"
    )
    minimal_help = wall([sys.executable, str(minimal), "--help"], env)
    balance = wall([cli, "--db", db, "balance", "ana"], env)
    pay = wall([cli, "--db", db, "pay", "ana", "bia", "1"], env)
    help_ = wall([cli, "--help"], env)
    store = KeyStore(folder / "home", "x")
    signer = Signer.generate("k")
    store.write(signer, "bench-pass")
    start = time.perf_counter()
    for _ in range(5):
        store.unlock("k", "bench-pass")
    unlock = (time.perf_counter() - start) / 5
    print(f"  baseline python -c 'import typer, sqlmodel, ed25519': {baseline * 1000:7.1f} ms")
    print(
        f"  mutualcredit balance:  {balance * 1000:7.1f} ms  = {balance / baseline:.2f}x "
        "(goal <= 1.25x)"
    )
    print(f"  key unlock (scrypt n=2^{KDF_N.bit_length() - 1}, r=8, p=1): {unlock * 1000:.1f} ms")
    print(
        f"  mutualcredit pay:      {pay * 1000:7.1f} ms  = {pay / (baseline + unlock):.2f}x "
        "of baseline + unlock (goal <= 1.25x)"
    )
    print(f"  minimal Typer --help:  {minimal_help * 1000:7.1f} ms")
    print(
        f"  mutualcredit --help:   {help_ * 1000:7.1f} ms  = {help_ / minimal_help:.2f}x "
        "(goal <= 1.5x)"
    )


def million_postings(folder: Path, count: int) -> None:
    """An account with ``count`` postings, written with the batch API (one signature)."""
    (folder / "big").mkdir()
    ledger, signers = build(folder / "big")
    now = iso(datetime.now(UTC))
    chunk = 100_000
    start = time.perf_counter()
    for first in range(0, count, chunk):
        drafts = [
            TransferDraft(
                network=ledger.network.id,
                kind="payment",
                author="ana",
                key=f"m-{index}",
                created_at=now,
                memo="",
                postings=(
                    Posting(account="members:ana", currency="CUBO", amount=-1),
                    Posting(account="members:bia", currency="CUBO", amount=1),
                ),
            )
            for index in range(first, min(first + chunk, count))
        ]
        post_batch(ledger, drafts, signers["ana"], kind="payment")
    print(f"  wrote {count} transfers with the batch API in {time.perf_counter() - start:.1f} s")
    from mutualcredit.services.queries import balance

    times = []
    for _ in range(20):
        began = time.perf_counter()
        balance(ledger, "ana")
        times.append(time.perf_counter() - began)
    print(
        f"  balance query on an account with {count} postings: "
        f"{statistics.median(times) * 1000:.2f} ms median (goal <= 50 ms)"
    )
    env = {**os.environ, "MUTUALCREDIT_HOME": str(folder / "home")}
    start = time.perf_counter()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, subprocess, sys;"
            f"subprocess.run([{str(BIN / 'mutualcredit')!r}, '--db', "
            f"{str(folder / 'big' / 'ledger.db')!r}, 'statement', 'ana', '--json'], "
            "stdout=subprocess.DEVNULL, check=True);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    print(
        f"  statement --json of {count} entries: {time.perf_counter() - start:.1f} s, peak RSS "
        f"{int(child.stdout) / 1024:.0f} MB (goal <= 150 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=20000)
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--skip-cli", action="store_true")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as name:
        folder = Path(name)
        print("signed payments, one per transaction (SQLite WAL, synchronous=FULL):")
        raw = raw_sqlite_rate(folder, arguments.payments)
        signed, verified = ed25519_rates(20_000)
        ledger, signers = build(folder)
        rate, p99 = payment_rate(ledger, signers, arguments.payments)
        print(f"  baseline raw sqlite3 two-posting transfer: {raw:8.0f} /s")
        print(f"  baseline Ed25519 sign {signed:.0f}/s, verify {verified:.0f}/s (one core)")
        print(
            f"  mutualcredit pay (library):               {rate:8.0f} /s "
            f"({rate / raw:.0%} of raw), p99 {p99:.2f} ms (goal >= 1,500/s)"
        )
        print("batch API, one signature per batch:")
        print(
            f"  {batch_rate(ledger, signers, arguments.batch):8.0f} transfers/s (goal >= 10,000/s)"
        )
        if not arguments.skip_cli:
            print("whole-process commands (median of 7):")
            cli_times(folder)
        if arguments.postings:
            print("large account:")
            million_postings(folder, arguments.postings)
    print(f"bench peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
