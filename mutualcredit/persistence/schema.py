"""Schema versions, and the Alembic migrations that are the only way to change them.

Every command checks the database's revision against :data:`KNOWN_REVISIONS`
with one small query (Alembic itself is imported only to migrate): a database
without an ``alembic_version`` table is not a ledger; one at a revision this
program does not know was written by a newer program and is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from mutualcredit.domain.errors import IntegrityProblem, MutualCreditError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# Oldest first; the last one is the head this program writes.
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005")
HEAD_REVISION = KNOWN_REVISIONS[-1]
MIGRATIONS = Path(__file__).with_name("migrations")


class NotALedger(IntegrityProblem):
    code = "not_a_ledger"


class SchemaTooNew(IntegrityProblem):
    code = "schema_too_new"


class SchemaOutdated(MutualCreditError):
    code = "schema_outdated"


class CopyIncomplete(IntegrityProblem):
    code = "copy_incomplete"


# ``mutualcredit db copy`` writes this revision first and the real one last, after the copy
# is verified: a copy that was interrupted is refused by every command, never half-used.
COPY_IN_PROGRESS = "copy-in-progress"


def copy_incomplete(where: str) -> CopyIncomplete:
    return CopyIncomplete(
        f"{where} holds an incomplete copy of a ledger ('mutualcredit db copy' did not "
        "finish); empty it and copy again"
    )


def alembic_config(connection: Connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> str:
    """Bring the schema to :data:`HEAD_REVISION`; return the revision found before."""
    from alembic import command

    before = current_revision(engine)
    if before == COPY_IN_PROGRESS:
        raise copy_incomplete("the database")
    if before is not None and before not in KNOWN_REVISIONS:
        raise SchemaTooNew(_too_new_message(before))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    return before or "none"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check(engine: Engine, *, where: str) -> None:
    """Refuse a database that is not a ledger, or is newer or older than this program."""
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as error:  # noqa: BLE001 - any failure here means "not a ledger"
        if not _is_missing_table(error):
            raise
        raise NotALedger(
            f"{where} is not a mutualcredit ledger (no schema version); "
            "create one with 'mutualcredit init'"
        ) from None
    if revision == HEAD_REVISION:
        return
    if revision == COPY_IN_PROGRESS:
        raise copy_incomplete(where)
    if revision not in KNOWN_REVISIONS:
        raise SchemaTooNew(_too_new_message(revision or "unknown", where=where))
    raise SchemaOutdated(
        f"{where} is at schema revision {revision}; run 'mutualcredit db upgrade' "
        f"to bring it to {HEAD_REVISION}",
        exit_code_hint=1,
    )


def _is_missing_table(error: Exception) -> bool:
    message = str(error).lower()
    return any(
        sign in message for sign in ("no such table", "does not exist", "file is not a database")
    )


def _too_new_message(revision: str, *, where: str = "the database") -> str:
    return (
        f"{where} is at schema revision {revision}, newer than this program knows "
        f"(up to {HEAD_REVISION}); upgrade mutualcredit"
    )
