"""Measure the import parser on a generated ticket export.

Runs, over the same file: (1) the baseline — a plain ``csv.reader`` loop on a
text stream, the least any CSV import can cost; (2) the reader alone
(decoding, projection, SHA-256); (3) the full parse into postings.  Prints
rows/s for each and the process's peak RSS.

    .venv/bin/python bench/gen_tickets.py --rows 1000000 -o /tmp/tickets-1m.csv
    .venv/bin/python bench/bench_parse.py /tmp/tickets-1m.csv
"""

from __future__ import annotations

import argparse
import csv
import resource
import time
from pathlib import Path

from mutualcredit.imports import SourceReader, load_rules, parse_file

RULES = Path(__file__).resolve().parents[1] / "examples" / "import-rules" / "tickets.toml"


def baseline(path: str) -> int:
    count = 0
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for _row in csv.reader(handle, delimiter=";"):
            count += 1
    return count - 1


def reader_only(path: str) -> int:
    return sum(1 for _ in SourceReader(path, load_rules(RULES)))


def full(path: str) -> int:
    parse = parse_file(path, load_rules(RULES))
    for _item in parse:
        pass
    assert parse.problems == 0, parse.problems
    return parse.rows_parsed + parse.rows_filtered


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    path = parser.parse_args().path
    for name, run in (
        ("csv.reader baseline", baseline),
        ("reader", reader_only),
        ("full parse", full),
    ):
        started = time.perf_counter()
        rows = run(path)
        seconds = time.perf_counter() - started
        print(
            f"{name:20} {rows:>9} rows {seconds:7.2f} s {rows / seconds:>10,.0f} rows/s "
            f"peak RSS {peak_rss_mib():6.1f} MiB"
        )


if __name__ == "__main__":
    main()
