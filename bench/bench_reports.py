"""Settlement report, export and ``ledger bal`` on a ledger of a million transfers, in one run.

    .venv/bin/python bench/bench_reports.py --db /tmp/bench-1m.db --transfers 1000000

Builds the ledger with :mod:`bench.reports_fixture` unless ``--db`` already
exists (BENCHMARK FIXTURE ONLY: it writes transfer rows directly, see there),
then runs each step in its own process and prints its wall time, the time
the library call itself took, and the process's peak RSS (``wait4``):

1. the first fold of the whole history into the day summaries (once per ledger);
2. the settlement report for the last month, and for the whole year;
3. ``export hledger`` of the whole ledger (transfers per second);
4. the baseline, measured in the same run: Debian's ``ledger -f EXPORT bal``
   on that very export (and ``hledger bal`` with ``--hledger``: about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measured(command: list[str]) -> tuple[float, float, str]:
    """Run ``command``; return (wall seconds, its peak RSS in MiB from wait4, its stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=errors, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        errors.seek(0)
        assert process.returncode == 0, (command, errors.read()[-2000:])
        return wall, usage.ru_maxrss / 1024, out.read()


def child(arguments: argparse.Namespace) -> None:
    """One measured step, inside its own process; prints the library call's own seconds."""
    from mutualcredit.services.context import Ledger

    ledger = Ledger.open(arguments.db)
    started = time.perf_counter()
    if arguments.step == "fold":
        from mutualcredit.services.reports import refresh_summaries

        refresh_summaries(ledger)
        extra = {}
    elif arguments.step == "report":
        from datetime import date

        from mutualcredit.services.reports import make_period, settlement_report

        period = make_period(
            ledger, date.fromisoformat(arguments.first), date.fromisoformat(arguments.last)
        )
        document = settlement_report(ledger, period)
        extra = {"members": len(document["members"]), "netting": len(document["netting"])}
    else:
        from mutualcredit.services.exports import export

        with open(arguments.out, "w", encoding="utf-8") as handle:
            summary = export(ledger, "hledger", handle)
        extra = {"transfers": summary.transfers}
    print(json.dumps({"seconds": time.perf_counter() - started, **extra}))


def step(db: str, name: str, *extra: str) -> tuple[float, float, dict]:
    wall, rss, output = measured([sys.executable, __file__, "--db", db, "--step", name, *extra])
    return wall, rss, json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--step", choices=("fold", "report", "export"))
    parser.add_argument("--first")
    parser.add_argument("--last")
    parser.add_argument("--out")
    parser.add_argument("--hledger", action="store_true", help="also time hledger bal (slow)")
    arguments = parser.parse_args()
    if arguments.step:
        child(arguments)
        return
    os.environ.setdefault("MUTUALCREDIT_NOW", "2026-11-02T12:00:00-03:00")
    db = arguments.db
    if not Path(db).exists():
        sys.path.insert(0, str(HERE.parent))
        from bench.reports_fixture import build

        started = time.perf_counter()
        build(Path(db), transfers=arguments.transfers)
        print(
            f"fixture: {arguments.transfers} transfers written in "
            f"{time.perf_counter() - started:.1f} s (directly; see reports_fixture.py)"
        )
    wall, rss, out = step(db, "fold")
    print(
        f"first fold of the history: {out['seconds']:.2f} s (once per ledger), "
        f"peak RSS {rss:.0f} MiB"
    )
    for label, first, last in (
        ("month 2026-10", "2026-10-01", "2026-10-31"),
        ("year 2025-11..2026-10", "2025-11-01", "2026-10-31"),
    ):
        wall, rss, out = step(db, "report", "--first", first, "--last", last)
        print(
            f"settlement report, {label}: {out['seconds']:.3f} s in the library, "
            f"{wall:.2f} s for the whole process, peak RSS {rss:.0f} MiB "
            f"({out['members']} members, {out['netting']} netting transfers)"
        )
    journal = str(Path(db).with_suffix(".journal"))
    wall, rss, out = step(db, "export", "--out", journal)
    print(
        f"export hledger: {out['transfers']} transfers in {out['seconds']:.2f} s = "
        f"{out['transfers'] / out['seconds']:,.0f} transfers/s, peak RSS {rss:.0f} MiB, "
        f"{Path(journal).stat().st_size / 2**20:.0f} MiB"
    )
    baseline = shutil.which("ledger")
    if baseline:
        wall, rss, _ = measured([baseline, "-f", journal, "bal"])
        print(f"baseline ledger -f EXPORT bal: {wall:.2f} s, peak RSS {rss:.0f} MiB")
    else:
        print("baseline: ledger is not installed (apt-get install ledger)")
    if arguments.hledger and shutil.which("hledger"):
        wall, rss, _ = measured(["hledger", "-f", journal, "bal"])
        print(f"baseline hledger -f EXPORT bal: {wall:.2f} s, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
