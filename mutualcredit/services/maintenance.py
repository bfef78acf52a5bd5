"""Keeping a ledger safe: online backups."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mutualcredit.domain.errors import Refused, UsageError
from mutualcredit.services.context import Ledger


def backup(ledger: Ledger, target: Path) -> int:
    """Copy a SQLite ledger with SQLite's online backup API (a plain copy of WAL is unsafe)."""
    if ledger.engine.dialect.name != "sqlite":
        raise UsageError(
            "db backup copies SQLite files; use pg_dump for PostgreSQL", code="unsupported"
        )
    if target.exists():
        raise Refused(f"{target} already exists; not overwriting it", code="file_exists")
    source = sqlite3.connect(str(ledger.url.database))
    try:
        destination = sqlite3.connect(str(target))
        try:
            source.backup(destination)
            pages = destination.execute("PRAGMA page_count").fetchone()[0]
        finally:
            destination.close()
    finally:
        source.close()
    return int(pages)
