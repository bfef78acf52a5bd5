"""Key events in the ledger: registering, rotating and revoking public keys.

Only public keys are stored.  A rotation is signed by the old key (the holder
proves possession) and revokes it in the same transaction; a revocation is
signed by the holder, a coordinator of their collective or the admin.
"""

from __future__ import annotations

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from mutualcredit.domain.errors import NotFound, Refused
from mutualcredit.persistence import models
from mutualcredit.persistence.models import core_table
from mutualcredit.services.clock import iso, now
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer
from mutualcredit.services.network import member_row, require
from mutualcredit.services.records import sign_record, write_record


def active_key(connection: Connection, handle: str):  # type: ignore[no-untyped-def]
    return connection.execute(
        text(
            "SELECT id, public_key, created_at FROM key WHERE handle = :h AND revoked_at IS NULL "
            "ORDER BY id DESC"
        ),
        {"h": handle},
    ).first()


def rotate_key(ledger: Ledger, old: Signer, new: Signer) -> None:
    """Register ``new`` for the holder of ``old`` and revoke ``old``, signed by ``old``."""
    assert old.handle == new.handle
    created_at = iso(now())
    record = sign_record(
        ledger,
        old,
        "key_rotated",
        created_at,
        handle=old.handle,
        old_key=old.public_key,
        new_key=new.public_key,
    )

    def work(connection: Connection) -> None:
        write_record(connection, ledger, record, event_type="key")
        _add_key(connection, new.handle, new.public_key, created_at)
        connection.execute(
            text("UPDATE key SET revoked_at = :at WHERE public_key = :k"),
            {"at": created_at, "k": old.public_key},
        )

    ledger.write(work)


def register_key(ledger: Ledger, actor: Signer, *, handle: str, public_key: str) -> None:
    """A coordinator or admin registers a (new) public key for a member without one."""
    created_at = iso(now())
    record = sign_record(
        ledger, actor, "key_registered", created_at, handle=handle, public_key=public_key
    )

    def work(connection: Connection) -> None:
        member = member_row(connection, handle)
        require(
            connection,
            actor.handle,
            what=f"register keys of {handle}",
            collective=member.collective,
        )
        if active_key(connection, handle) is not None:
            raise Refused(
                f"{handle} already has an active key; rotate or revoke it first", code="key_active"
            )
        _add_key(connection, handle, public_key, created_at)
        write_record(connection, ledger, record, event_type="key")

    ledger.write(work)


def revoke_key(ledger: Ledger, actor: Signer, *, handle: str) -> str:
    """Revoke ``handle``'s active key (by the holder, a coordinator or the admin)."""
    created_at = iso(now())

    def work(connection: Connection) -> str:
        member = member_row(connection, handle)
        if actor.handle != handle:
            require(
                connection,
                actor.handle,
                what=f"revoke keys of {handle}",
                collective=member.collective,
            )
        key = active_key(connection, handle)
        if key is None:
            raise NotFound(f"{handle} has no active key", code="key_not_found")
        record = sign_record(
            ledger, actor, "key_revoked", created_at, handle=handle, public_key=key.public_key
        )
        write_record(connection, ledger, record, event_type="key")
        connection.execute(
            text("UPDATE key SET revoked_at = :at WHERE id = :i"), {"at": created_at, "i": key.id}
        )
        return str(key.public_key)

    return ledger.write(work)


def _add_key(connection: Connection, handle: str, public_key: str, created_at: str) -> None:
    if connection.execute(
        text("SELECT id FROM key WHERE public_key = :k"), {"k": public_key}
    ).scalar():
        raise Refused("that public key is already registered", code="already_exists")
    connection.execute(
        insert(core_table(models.Key)),
        {"handle": handle, "public_key": public_key, "created_at": created_at},
    )
