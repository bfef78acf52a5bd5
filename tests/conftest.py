"""Shared fixtures: every service test runs on a real SQLite file and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import Net, drop_postgres_schema, make_network, postgres_schema_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
        return
    url, schema = postgres_schema_url()
    try:
        yield url
    finally:
        drop_postgres_schema(schema)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema on the test server, as a --db URL."""
    url, schema = postgres_schema_url()
    try:
        yield url
    finally:
        drop_postgres_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return str(tmp_path / "ledger.db")


@pytest.fixture
def net(db_url: str) -> Net:
    """The small test network of :func:`tests.support.make_network`."""
    return make_network(db_url)


# The fast tier is `pytest -m "not slow"`: pure and service tests on SQLite in this process.
# Whole folders and fixtures that cannot be fast are marked here, so a new test in them is
# classed without a marker; a single slow test elsewhere carries @pytest.mark.slow itself.
_SLOW_FOLDERS = ("e2e", "property")
_SLOW_FIXTURES = {"pg_url"}
# A module that starts processes (the installed command, writers, a killed import) is slow.
_PROCESS_NAMES = ("run_cli", "subprocess", "multiprocessing", "concurrent_payments")
# A module that asks for the PostgreSQL server itself (beside the db_url and pg_url fixtures).
_POSTGRES_NAMES = ("require_postgres", "postgres_available", "postgres_schema_url")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        folder = parts[parts.index("tests") + 1] if "tests" in parts else ""
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("db_url") == "postgresql"
        if folder == "e2e":
            item.add_marker(pytest.mark.e2e)
        if on_postgres or fixtures & _SLOW_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        module = getattr(item, "module", None)
        runs_processes = any(hasattr(module, name) for name in _PROCESS_NAMES)
        if any(hasattr(module, name) for name in _POSTGRES_NAMES):
            on_postgres = True
        if folder in _SLOW_FOLDERS or on_postgres or fixtures & _SLOW_FIXTURES or runs_processes:
            item.add_marker(pytest.mark.slow)
