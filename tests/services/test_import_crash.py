"""Kill an import with SIGKILL at random moments, then rerun it: every row exactly once.

An import of 3,000 generated ticket orders (about 2,400 approved) in batches
of 100 transfers runs in a child process that is killed after a random delay,
ten times over, each time on the ledger the previous run left.  After every
kill the ledger holds whole batches only (each batch's transfers, register
rows and postings all there, invariants intact) — and, where the run streams
(SQLite: one transaction for the whole file), nothing or every row; a last
run to completion leaves every approved order imported exactly once, with
the exact totals the parser computes from the file.  Both ways of running
are killed: streamed, and in two passes (as on PostgreSQL).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from mutualcredit.imports import ParsedRow, load_rules, parse_file
from mutualcredit.imports.demo import add_festival_accounts
from mutualcredit.imports.examples import RULES_TICKETS, example
from tests.support import make_network

ROOT = Path(__file__).resolve().parents[2]
ROWS = 3000
KILLS = 10
CHILD = """
import sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mutualcredit.imports import service
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer, public_hex
service.IMPORT_BATCH_ROWS = 100
if sys.argv[5] == "two-passes":
    service._streams = lambda ledger: False
key = Ed25519PrivateKey.from_private_bytes(open(sys.argv[2], "rb").read())
signer = Signer("banco", key, public_hex(key.public_key()))
ledger = Ledger.open(sys.argv[1])
print("ready", flush=True)
summary = service.import_file(ledger, signer, sys.argv[3], sys.argv[4])
print(summary.imported, summary.already_imported)
"""


@pytest.mark.parametrize("mode", ["streamed", "two-passes"])
def test_killed_imports_leave_whole_batches_and_a_rerun_completes_exactly_once(tmp_path, mode):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    net = make_network(str(tmp_path / "ledger.db"))
    admin = net["banco"]
    add_festival_accounts(net.ledger, admin)
    key_file = tmp_path / "key"
    key_file.write_bytes(
        admin.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    )
    export = tmp_path / "tickets.csv"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gen_tickets.py"),
            "--rows",
            str(ROWS),
            "--seed",
            "5",
            "-o",
            str(export),
        ],
        check=True,
    )
    rules = example(RULES_TICKETS)
    expected = Counter()
    approved = 0
    for item in parse_file(export, load_rules(rules)):
        if isinstance(item, ParsedRow):
            approved += 1
            for account, _currency, amount in item.postings:
                expected[account] += amount
    command = [
        sys.executable,
        "-c",
        CHILD,
        str(net.url),
        str(key_file),
        str(export),
        str(rules),
        mode,
    ]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    duration = calibrate(command, environment, tmp_path, net.url)
    draw = random.Random(20261127)
    killed_with_work_done = 0
    for _attempt in range(KILLS):
        child = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(draw.uniform(0.4, 1.0) * duration)  # validation comes first: aim at posting
        child.send_signal(signal.SIGKILL)
        child.wait()
        imported = assert_whole_batches(net)
        if mode == "streamed":  # one transaction: nothing, or the whole file
            assert imported in (0, approved), imported
        killed_with_work_done += 0 < imported < approved
    final = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    imported_now, already = (int(value) for value in final.stdout.split()[1:])
    assert imported_now + already == approved
    assert assert_whole_batches(net) == approved
    with net.ledger.read() as connection:
        assert (
            connection.execute(
                text("SELECT COUNT(DISTINCT external_id) FROM import_row")
            ).scalar_one()
            == approved
        )
        balances = dict(
            connection.execute(
                text(
                    "SELECT name, posted_credits - posted_debits FROM account WHERE currency = "
                    "'BRL'"
                )
            ).all()
        )
    assert {name: amount for name, amount in balances.items() if amount} == dict(expected)
    net.assert_consistent()
    # Not a pass/fail condition on timing: only a note of how many kills landed mid-import.
    print(f"{killed_with_work_done} of {KILLS} kills landed between the first and last batch")


def calibrate(command: list[str], environment: dict[str, str], tmp_path: Path, url: str) -> float:
    """How long a whole import takes after the child is ready (on a copy of the ledger)."""
    import sqlite3

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # Through SQLite's backup, not a copy of the files: a process that opens and closes
    # a file some of its SQLite connections have open drops their POSIX locks (fcntl),
    # and another process may then reset the WAL index under them.
    source, target = sqlite3.connect(url), sqlite3.connect(scratch / "ledger.db")
    with target:
        source.backup(target)
    source.close()
    target.close()
    copy = [*command[:3], str(scratch / "ledger.db"), *command[4:]]
    child = subprocess.Popen(copy, env=environment, stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    started = time.perf_counter()
    assert child.wait() == 0
    return time.perf_counter() - started


def assert_whole_batches(net) -> int:  # type: ignore[no-untyped-def]
    """Every import batch is complete; returns how many rows are imported."""
    with net.ledger.read() as connection:
        batches = connection.execute(
            text("""
            SELECT b.id, b.size,
              (SELECT COUNT(*) FROM transfer t WHERE t.batch_id = b.id),
              (SELECT COUNT(*) FROM import_row r WHERE r.batch_id = b.id),
              (SELECT COUNT(*) FROM posting p JOIN transfer t ON t.id = p.transfer_id
                 WHERE t.batch_id = b.id)
            FROM batch b WHERE b.kind = 'import'""")
        ).all()
        transfers = connection.execute(
            text("SELECT COUNT(*) FROM transfer WHERE kind = 'import'")
        ).scalar_one()
    for batch_id, size, written, registered, postings in batches:
        assert size == written == registered, (batch_id, size, written, registered)
        assert postings == 3 * size, (batch_id, postings)
    assert transfers == sum(size for _id, size, *_rest in batches)
    net.assert_consistent()
    return int(transfers)
