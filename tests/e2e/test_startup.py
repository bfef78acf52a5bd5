"""``--help`` and ``--version`` stay fast: no database or crypto libraries on that path."""

from __future__ import annotations

import re

from tests.support import run_cli

HEAVY = ("sqlalchemy", "sqlmodel", "cryptography", "alembic", "jsonschema", "psycopg")


def imported_modules(*args: str) -> set[str]:
    result = run_cli(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr
    return {
        match.group(1).split(".")[0]
        for match in re.finditer(r"\|\s+(\S+)\s*$", result.stderr, re.MULTILINE)
    }


def test_help_imports_no_heavy_library() -> None:
    loaded = imported_modules("--help")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("mutualcredit ")
    assert not imported_modules("--version") & set(HEAVY)
