"""Festival income import: from ticketing and bar exports to balanced transfers.

This package is the pure part of the importer — files in, values out, no
database::

    from mutualcredit.imports import load_rules, parse_file, ParsedRow, Problem

    rules = load_rules("examples/import-rules/tickets.toml")
    parse = parse_file("tickets.csv", rules)
    for item in parse:
        if isinstance(item, ParsedRow):
            ...  # item.idempotency_key, item.occurred_at, item.postings
        elif isinstance(item, Problem):
            print(item)  # tickets.csv:12:47: amount '12,5,0' has more than one decimal mark ','
    parse.sha256, parse.rows_parsed, parse.rows_filtered, parse.problems

- :mod:`~mutualcredit.imports.rules` loads and validates a rules file;
- :mod:`~mutualcredit.imports.reader` streams a file into raw records;
- :mod:`~mutualcredit.imports.rows` turns records into postings.

The service that writes an import (atomically, signed as one batch) builds
on these.
"""

from mutualcredit.imports.reader import SIZE_LIMIT_DEFAULT, Problem, Record, SourceReader
from mutualcredit.imports.rows import (
    FileParse,
    Filtered,
    ParsedRow,
    Posting,
    RowParser,
    parse_file,
    split_amount,
)
from mutualcredit.imports.rules import Rules, RulesInvalid, load_rules, rules_from_document

__all__ = [
    "SIZE_LIMIT_DEFAULT",
    "FileParse",
    "Filtered",
    "ParsedRow",
    "Posting",
    "Problem",
    "Record",
    "RowParser",
    "Rules",
    "RulesInvalid",
    "SourceReader",
    "load_rules",
    "parse_file",
    "rules_from_document",
    "split_amount",
]
