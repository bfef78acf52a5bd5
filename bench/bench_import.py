"""Measure the festival income import end to end: a 1M-row ticket export, then re-import it.

Each measured step runs in its own child process on a fresh SQLite ledger
(WAL, synchronous=FULL), so its peak RSS (``resource.getrusage`` of the
child) is its own.  On SQLite the import forks a helper that reads,
validates and drafts the file while the importing process posts what it has
drafted so far; the helper's own peak RSS is printed as "+ helper" (pages it
shares with its parent count in both), and the peak of both processes'
proportional set size together as "Pss of all" (shared pages split between
them: the memory the import takes from the machine).
Printed, for the same file in the same run:

1. baseline: the parser alone (``parse_file``, no database);
2. baseline: raw ``sqlite3`` inserts of one posting row per parsed posting;
3. ``import_file``: validate, sign and post every row (in batches), on a
   ledger created before the clock starts;
4. ``import_file`` again on the same file: every row already imported.

    .venv/bin/python bench/bench_import.py --rows 1000000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "import-rules" / "tickets.toml"


def _child(step: str, path: str, folder: str, queue) -> None:  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT))
    prepare = globals().get(f"prepare_{step}")
    if prepare is not None:  # setup that is not the step (a new ledger): before the clock
        prepare(folder)
    footprint = _Footprint()
    started = time.perf_counter()
    result = globals()[f"step_{step}"](path, folder)
    seconds = time.perf_counter() - started
    queue.put(
        (
            result,
            seconds,
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            footprint.stop(),
        )
    )


class _Footprint:
    """The peak of this process's and its children's proportional set size together (Pss,
    Linux): shared pages are split between the processes sharing them, so, unlike adding
    their peak RSS, nothing is counted twice.  Sampled every 50 ms by a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self.running = Path("/proc/self/smaps_rollup").exists()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        if self.running:
            self.thread.start()

    def stop(self) -> float | None:
        if not self.running:
            return None
        self.running = False
        self.thread.join()
        return self.peak / 1024

    def _sample(self) -> None:
        me = os.getpid()
        while self.running:
            try:
                children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
            except OSError:
                children = []
            self.peak = max(self.peak, sum(_pss(pid) for pid in [str(me), *children]))
            time.sleep(0.05)


def _pss(pid: str) -> int:
    """KiB; 0 for a process that has just ended."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(step: str, path: str, folder: str) -> tuple[str, float, float, float, float | None]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.get_context("fork").Process(
        target=_child, args=(step, path, folder, queue)
    )
    process.start()
    result = queue.get()
    process.join()
    return result


def step_parse(path: str, folder: str) -> str:
    from mutualcredit.imports import load_rules, parse_file

    parse = parse_file(path, load_rules(RULES))
    for _item in parse:
        pass
    return f"{parse.rows_parsed + parse.rows_filtered} rows"


def step_sqlite(path: str, folder: str) -> str:
    from mutualcredit.imports import ParsedRow, load_rules, parse_file

    connection = sqlite3.connect(Path(folder) / "raw.db")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(
        "CREATE TABLE posting (id INTEGER PRIMARY KEY, transfer_id INTEGER, "
        "account TEXT, currency TEXT, amount INTEGER)"
    )
    rows = []
    count = 0
    for item in parse_file(path, load_rules(RULES)):
        if isinstance(item, ParsedRow):
            count += 1
            rows += [(count, *posting) for posting in item.postings]
            if len(rows) > 60_000:
                connection.executemany(
                    "INSERT INTO posting (transfer_id, account, currency, "
                    "amount) VALUES (?, ?, ?, ?)",
                    rows,
                )
                rows = []
    connection.executemany(
        "INSERT INTO posting (transfer_id, account, currency, amount) VALUES (?, ?, ?, ?)", rows
    )
    connection.commit()
    return f"{count} rows parsed and their postings inserted"


def _ledger(folder: str):  # type: ignore[no-untyped-def]
    from mutualcredit.imports.demo import add_festival_accounts
    from mutualcredit.services import network as setup
    from mutualcredit.services.context import Ledger
    from mutualcredit.services.keys import Signer

    database = Path(folder) / "ledger.db"
    importer = Signer.generate("banco")
    if database.exists():
        ledger = Ledger.open(str(database))
        return ledger, Signer(
            handle="banco", private_key=_load_key(folder), public_key=_public(folder)
        )
    ledger = setup.init_network(
        str(database),
        setup.NetworkSettings(name="bench", card="CARD", admin="banco"),
        importer,
        setup.new_network_id(),
    )
    setup.add_collective(
        ledger, importer, slug="cubo", name="Cubo", currency="CUBO", rate=Fraction(1)
    )
    add_festival_accounts(ledger, importer)
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    (Path(folder) / "key").write_bytes(
        importer.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    )
    (Path(folder) / "public").write_text(importer.public_key)
    return ledger, importer


def _load_key(folder: str):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes((Path(folder) / "key").read_bytes())


def _public(folder: str) -> str:
    return (Path(folder) / "public").read_text()


def _import(path: str, folder: str) -> str:
    from mutualcredit.imports.service import import_file

    ledger, signer = _ledger(folder)
    summary = import_file(ledger, signer, path, RULES)
    counts = summary.counts()
    return (
        f"imported {counts['imported']}, filtered {counts['filtered']}, already "
        f"{counts['already_imported']}, {len(summary.batch_ids)} batches"
    )


def prepare_import(folder: str) -> None:
    ledger, _importer = _ledger(folder)
    ledger.engine.dispose()


step_import = _import
step_reimport = _import


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file", help="an existing export (else one is generated)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        path = arguments.file or str(Path(folder) / "tickets.csv")
        if not arguments.file:
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "bench" / "gen_tickets.py"),
                    "--rows",
                    str(arguments.rows),
                    "--seed",
                    "1",
                    "-o",
                    path,
                ],
                check=True,
            )
        rows = sum(1 for _ in open(path, "rb")) - 1
        print(f"{rows:,} rows, {Path(path).stat().st_size / 2**20:.1f} MiB: {path}")
        for step, label in (
            ("parse", "baseline: parser alone"),
            ("sqlite", "baseline: parse + raw sqlite3 postings"),
            ("import", "import (validate, sign, post)"),
            ("reimport", "re-import (all already imported)"),
        ):
            result, seconds, rss, helper, together = measure(step, path, folder)
            helped = f" + helper {helper:5.1f} MiB" if helper else ""
            both = f", Pss of all {together:5.1f} MiB" if helper and together else ""
            print(
                f"{label:40} {seconds:7.2f} s {rows / seconds:>10,.0f} rows/s "
                f"peak RSS {rss:6.1f} MiB{helped}{both}  ({result})",
                flush=True,
            )


if __name__ == "__main__":
    main()
