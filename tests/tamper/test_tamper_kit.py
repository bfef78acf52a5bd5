"""The tamper kit: an attacker with the SQLite file edits it directly; verify names each edit.

Each case copies a small ledger built through the library (payments across
collectives, a hold, an accepted request, a revoked key, a checkpoint), edits
the copy with plain ``sqlite3`` — the way someone holding the file would —
and checks that ``verify`` finds the edit and names it with its stable code
and the event, transfer, key or account it concerns.  Where the attacker
could cover their tracks (recompute the chain, fix cached totals), they do.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mutualcredit.domain.canonical import TAG_TRANSFER, canonical_json
from mutualcredit.domain.events import event_hash, next_chain_hash
from mutualcredit.domain.transfers import Posting, TransferDraft, body_bytes, body_document
from mutualcredit.services import audit, requests
from mutualcredit.services.context import Ledger
from mutualcredit.services.key_events import revoke_key
from mutualcredit.services.keys import Signer
from mutualcredit.services.records import sign_record
from mutualcredit.services.verify import CheckpointInput, Problem, verify_ledger
from tests.support import make_network


@dataclass
class Base:
    path: Path
    network: str
    scales: dict[str, int]
    bia_old: Signer  # revoked: the attacker kept a copy of the key file
    checkpoint: dict
    caio: Signer  # a coordinator of Palafita, with a valid key
    ana: Signer  # a coordinator of Cubo with a line of 100.00, with a valid key


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    path = tmp_path_factory.mktemp("tamper") / "base.db"
    net = make_network(str(path))
    net.run("ana -> bia 30.00", "ana -> caio 10.00", "caio -> ana 5.00")  # transfers 1-3
    net.hold("ana", "bia", "4.00")  # transfer 4
    asked = requests.create_request(
        net.ledger, net["bia"], payer="ana", payee="bia", amount=700, memo="fotos"
    )
    requests.accept_request(net.ledger, net["ana"], request_id=asked.id)  # transfer 5
    bia_old = net["bia"]
    net.pay("bia", "ana", "1.00")  # transfer 6, signed before the revocation
    revoke_key(net.ledger, net["banco"], handle="bia")
    net.pay("ana", "caio", "2.00")  # transfer 7: the last event
    checkpoint = audit.create_checkpoint(net.ledger, net["banco"])
    assert verify_ledger(net.ledger, workers=1).problems == []
    net.ledger.engine.dispose()
    return Base(
        path=path,
        network=net.ledger.network.id,
        scales=net.ledger.scales(),
        bia_old=bia_old,
        checkpoint=checkpoint,
        caio=net["caio"],
        ana=net["ana"],
    )


@pytest.fixture
def db(base: Base, tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, Path]]:
    copy = tmp_path / "ledger.db"
    with sqlite3.connect(base.path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    connection = sqlite3.connect(copy, isolation_level=None)
    yield connection, copy
    connection.close()


def verify(path: Path, *checkpoints: dict) -> list[Problem]:
    ledger = Ledger.open(str(path))
    inputs = [CheckpointInput(label=f"cp{n}", document=c) for n, c in enumerate(checkpoints)]
    try:
        return verify_ledger(ledger, checkpoints=inputs, workers=1).problems
    finally:
        ledger.engine.dispose()


def found(problems: list[Problem], code: str) -> list[str]:
    return [problem.subject for problem in problems if problem.code == code]


def rebuild_totals(connection: sqlite3.Connection) -> None:
    """What a careful attacker does: make the cached totals agree with the postings."""
    posted = "t.status = 'posted' AND t.kind != 'hold'"
    pending = "t.status = 'pending' AND t.kind = 'hold'"

    def total(where: str, sign: str) -> str:
        return (
            f"(SELECT COALESCE(SUM({sign}p.amount), 0) FROM posting p JOIN transfer t "
            f"ON t.id = p.transfer_id WHERE p.account_id = account.id AND {where} AND "
            f"p.amount {'<' if sign else '>'} 0)"
        )

    connection.execute(
        f"UPDATE account SET posted_debits = {total(posted, '-')}, "
        f"posted_credits = {total(posted, '')}, pending_debits = {total(pending, '-')}, "
        f"pending_credits = {total(pending, '')}"
    )


def append_event(
    connection: sqlite3.Connection, type_: str, subject_id: int, body_hash: str, created_at: str
) -> int:
    """Append an event with correct hashes, as someone who read the code would."""
    seq, chain = connection.execute("SELECT seq, chain_hash FROM chain_head").fetchone()
    seq += 1
    this = event_hash(seq=seq, type=type_, body_hash=body_hash)
    chain = next_chain_hash(chain, this)
    connection.execute(
        "INSERT INTO event VALUES (?, ?, ?, ?, ?, ?, ?)",
        (seq, type_, subject_id, body_hash, this, chain, created_at),
    )
    connection.execute("UPDATE chain_head SET seq = ?, chain_hash = ?", (seq, chain))
    return seq


def forge(
    connection: sqlite3.Connection,
    base: Base,
    signer: Signer,
    key_id: int,
    *,
    author: str,
    postings: list[tuple[str, str, int]],
    created_at: str,
) -> int:
    draft = TransferDraft(
        network=base.network,
        kind="payment",
        author=author,
        key=f"forged-{created_at}",
        postings=tuple(Posting(account=a, currency=c, amount=m) for a, c, m in postings),
        created_at=created_at,
        memo="forged",
    )
    document = body_document(draft, base.scales)
    body = body_bytes(document)
    content = hashlib.sha256(
        canonical_json({k: v for k, v in document.items() if k != "created_at"})
    ).hexdigest()
    cursor = connection.execute(
        "INSERT INTO transfer (kind, status, author, idempotency_key, content_hash, body, "
        "body_hash, key_id, signature, memo, created_at) VALUES ('payment', 'posted', ?, ?, "
        "?, ?, ?, ?, ?, 'forged', ?)",
        (
            author,
            draft.key,
            content,
            body.split(b"\n", 1)[1].decode(),
            hashlib.sha256(body).hexdigest(),
            key_id,
            signer.sign(body),
            created_at,
        ),
    )
    transfer_id = int(cursor.lastrowid)
    for account, currency, amount in postings:
        connection.execute(
            "INSERT INTO posting (transfer_id, account_id, currency, amount) "
            "SELECT ?, id, ?, ? FROM account WHERE name = ?",
            (transfer_id, currency, amount, account),
        )
    seq = append_event(
        connection, "transfer", transfer_id, hashlib.sha256(body).hexdigest(), created_at
    )
    connection.execute("UPDATE transfer SET event_seq = ? WHERE id = ?", (seq, transfer_id))
    rebuild_totals(connection)
    return transfer_id


def forge_with_registered_key(
    connection: sqlite3.Connection, base: Base, signer: Signer, postings: list[tuple[str, str, int]]
) -> int:
    """:func:`forge`, signed by ``signer`` with the key the ledger registered for it."""
    key_id = connection.execute(
        "SELECT id FROM key WHERE public_key = ?", (signer.public_key,)
    ).fetchone()[0]
    return forge(
        connection,
        base,
        signer,
        key_id,
        author=signer.handle,
        postings=postings,
        created_at="2030-01-01T00:00:00.000000Z",
    )


def test_the_untouched_copy_is_clean(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    assert verify(db[1], base.checkpoint) == []


def test_change_a_postings_amount(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute("UPDATE posting SET amount = 300000 WHERE transfer_id = 1 AND amount > 0")
    problems = verify(path)
    assert found(problems, "postings_mismatch") == ["transfer 1"]
    assert found(problems, "zero_sum") == ["CUBO"]
    assert found(problems, "cached_totals") == ["account members:bia"]


def test_change_a_memo_column(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute("UPDATE transfer SET memo = 'pagamento de aluguel' WHERE id = 2")
    assert [(p.code, p.subject, p.event) for p in verify(path)] == [
        ("memo_mismatch", "transfer 2", 8)
    ]


def test_change_a_memo_in_the_signed_body(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute(
        'UPDATE transfer SET body = replace(body, \'"memo":""\', '
        "'\"memo\":\"aluguel\"'), memo = 'aluguel' WHERE id = 2"
    )
    problems = verify(path)
    assert found(problems, "body_hash_mismatch") == ["transfer 2"]
    assert found(problems, "signature_invalid") == ["transfer 2"]


def test_change_a_transfers_content_hash(db) -> None:  # type: ignore[no-untyped-def]
    # What a retry with the same idempotency key is compared with: edited, a different payment
    # retried under transfer 3's key would be answered "already posted" and never written.
    connection, path = db
    connection.execute("UPDATE transfer SET content_hash = ? WHERE id = 3", ("ab" * 32,))
    assert [(p.code, p.subject, p.event) for p in verify(path)] == [
        ("content_hash_mismatch", "transfer 3", 9)
    ]


def test_delete_a_posting(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute(
        "DELETE FROM posting WHERE id = (SELECT MAX(id) FROM posting WHERE transfer_id = 2)"
    )
    rebuild_totals(connection)
    problems = verify(path)
    assert found(problems, "postings_mismatch") == ["transfer 2"]
    assert found(problems, "zero_sum") == ["PALA"]


def test_move_a_posting_to_the_next_transfer(db) -> None:  # type: ignore[no-untyped-def]
    # Every posting row is still there, with its amount: only which transfer it belongs to
    # changed.  Both transfers are named.
    connection, path = db
    connection.execute(
        "UPDATE posting SET transfer_id = 3 WHERE id = (SELECT MAX(id) FROM "
        "posting WHERE transfer_id = 2)"
    )
    assert found(verify(path), "postings_mismatch") == ["transfer 2", "transfer 3"]


def test_replace_a_body_with_something_that_is_not_a_transfer(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute("UPDATE transfer SET body = '[1, 2' WHERE id = 3")
    problems = verify(path)
    for code in ("body_hash_mismatch", "body_invalid", "signature_invalid"):
        assert found(problems, code) == ["transfer 3"], code


def test_transfer_ids_out_of_chain_order_are_not_a_problem(db) -> None:  # type: ignore[no-untyped-def]
    # Concurrent writers on PostgreSQL number transfers before they take the chain in turn,
    # so a later event may hold a smaller transfer id.  Swap the ids of transfers 6 and 7
    # everywhere they are used: the ledger is as valid as before.
    connection, path = db
    connection.execute("PRAGMA foreign_keys = OFF")
    for old, new in ((6, -1), (7, 6), (-1, 7)):
        connection.execute("UPDATE transfer SET id = ? WHERE id = ?", (new, old))
        connection.execute("UPDATE posting SET transfer_id = ? WHERE transfer_id = ?", (new, old))
        connection.execute(
            "UPDATE event SET subject_id = ? WHERE subject_id = ? AND type = 'transfer'", (new, old)
        )
    assert connection.execute(
        "SELECT id FROM transfer ORDER BY event_seq DESC LIMIT 2"
    ).fetchall() == [(6,), (7,)]
    assert verify(path) == []


def test_delete_a_whole_transfer(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute("DELETE FROM posting WHERE transfer_id = 3")
    connection.execute("DELETE FROM transfer WHERE id = 3")
    rebuild_totals(connection)
    problems = verify(path)
    assert found(problems, "event_subject_missing") == ["event 9"]


def test_delete_a_whole_transfer_and_its_event(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute("DELETE FROM posting WHERE transfer_id = 3")
    connection.execute("DELETE FROM transfer WHERE id = 3")
    connection.execute("DELETE FROM event WHERE seq = 9")
    rebuild_totals(connection)
    problems = verify(path)
    assert found(problems, "event_missing") == ["event 9"]
    assert found(problems, "chain_broken") == ["event 10"]


def test_insert_a_transfer_signed_by_an_unknown_key(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    intruder = Signer.generate("ana")
    key_id = connection.execute(
        "INSERT INTO key (handle, public_key, created_at) VALUES ('ana', ?, "
        "'2026-01-01T00:00:00.000000Z')",
        (intruder.public_key,),
    ).lastrowid
    transfer_id = forge(
        connection,
        base,
        intruder,
        key_id,
        author="ana",
        postings=[("members:ana", "CUBO", -2000), ("members:bia", "CUBO", 2000)],
        created_at="2030-01-01T00:00:00.000000Z",
    )
    problems = verify(path)
    assert found(problems, "key_not_recorded") == [f"key {key_id} (ana)"]
    assert found(problems, "key_unknown") == [f"transfer {transfer_id}"]


def test_insert_a_transfer_signed_by_a_revoked_key(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    transfer_id = forge_with_registered_key(
        connection,
        base,
        base.bia_old,
        [("members:bia", "CUBO", -500), ("members:ana", "CUBO", 500)],
    )
    problems = verify(path)
    assert [(p.code, p.subject) for p in problems] == [("key_revoked", f"transfer {transfer_id}")]
    assert "revoked at event" in problems[0].message


def test_insert_a_transfer_debiting_someone_elses_account_with_a_valid_key(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    # caio's own key, valid and active; caio coordinates Palafita, which gives no right to
    # move money out of a member's account (the posting function refuses: not_authorised).
    connection, path = db
    transfer_id = forge_with_registered_key(
        connection, base, base.caio, [("members:ana", "CUBO", -1000), ("members:bia", "CUBO", 1000)]
    )
    problems = verify(path)
    assert [(p.code, p.subject) for p in problems] == [
        ("not_authorised", f"transfer {transfer_id}")
    ]
    assert "members:ana" in problems[0].message and "caio" in problems[0].message


@pytest.mark.parametrize(
    "postings",
    [
        # another collective's fund: Palafita's coordinator has no right to Cubo's
        [("collectives:cubo:fund", "CUBO", -100), ("members:bia", "CUBO", 100)],
        # the network's clearing account, not as the mirror of a collective's clearing leg
        [("network:clearing:palafita", "CARD", -100), ("network:clearing:cubo", "CARD", 100)],
    ],
    ids=["another-collectives-fund", "network-clearing-unmirrored"],
)
def test_insert_a_transfer_debiting_an_account_the_author_may_not(db, base, postings) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    transfer_id = forge_with_registered_key(connection, base, base.caio, postings)
    problems = verify(path)
    assert [(p.code, p.subject) for p in problems] == [
        ("not_authorised", f"transfer {transfer_id}")
    ]
    assert postings[0][0] in problems[0].message


def test_a_coordinator_moving_their_own_collectives_money_is_not_a_problem(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    # The same forgery as above, but within what caio's role allows: verify finds it valid
    # (it is signed by caio's active key and the posting function would have taken it).
    connection, path = db
    forge_with_registered_key(
        connection,
        base,
        base.caio,
        [("collectives:palafita:fund", "PALA", -100), ("members:caio", "PALA", 100)],
    )
    assert verify(path) == []


def test_a_coordinator_granting_themselves_admin_gains_nothing(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    # caio signs, with his own valid key, a record making him the admin (and writes the role
    # row, so the program would believe it), then moves Cubo's fund as "the admin".
    connection, path = db
    ledger = Ledger.open(str(path))
    try:
        record = sign_record(
            ledger,
            base.caio,
            "role_granted",
            "2030-01-01T00:00:00.000000Z",
            handle="caio",
            role="admin",
            collective=None,
        )
    finally:
        ledger.engine.dispose()
    key_id = connection.execute(
        "SELECT id FROM key WHERE public_key = ?", (base.caio.public_key,)
    ).fetchone()[0]
    record_id = connection.execute(
        "INSERT INTO record (type, author, body, body_hash, key_id, signature, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            record.type,
            record.author,
            record.body.split(b"\n", 1)[1].decode(),
            record.body_hash,
            key_id,
            record.signature,
            record.document["created_at"],
        ),
    ).lastrowid
    append_event(connection, "role", record_id, record.body_hash, record.document["created_at"])
    transfer_id = forge_with_registered_key(
        connection,
        base,
        base.caio,
        [("collectives:cubo:fund", "CUBO", -100), ("members:bia", "CUBO", 100)],
    )
    problems = verify(path)
    assert [(p.code, p.subject) for p in problems] == [
        ("not_authorised", f"record {record_id}"),
        ("not_authorised", f"transfer {transfer_id}"),
    ]
    assert "only the admin might sign it" in problems[0].message


def test_move_a_collectives_fund_to_another_collective_then_drain_it(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    # The account table says Cubo's fund belongs to Palafita, whose coordinator caio then
    # moves its money with his valid key: the edit is named against the signed record that
    # made the account.
    connection, path = db
    connection.execute(
        "UPDATE account SET owner = 'palafita', collective = 'palafita' "
        "WHERE name = 'collectives:cubo:fund'"
    )
    forge_with_registered_key(
        connection,
        base,
        base.caio,
        [("collectives:cubo:fund", "CUBO", -100), ("members:bia", "CUBO", 100)],
    )
    problems = verify(path)
    assert [(p.code, p.subject) for p in problems] == [
        ("column_mismatch", "account collectives:cubo:fund")
    ]
    assert "a fund account of collective cubo in cubo in the signed record" in problems[0].message


def test_change_a_currencys_rate(db) -> None:  # type: ignore[no-untyped-def]
    # Rates decide whether clearing legs mirror, hence who may debit clearing accounts.
    connection, path = db
    connection.execute("UPDATE currency SET rate = '2' WHERE code = 'PALA'")
    problems = verify(path)
    assert problems[0].code == "column_mismatch" and problems[0].subject == "currency PALA"
    assert "rate 2 in the currency table but rate 1 in the signed record" in problems[0].message
    # At the edited rate Palafita's clearing legs no longer mirror: the payments routed
    # through them are named too.
    assert {(p.code, p.subject) for p in problems[1:]} == {
        ("not_authorised", f"transfer {n}") for n in (2, 3, 7)
    }  # ana <-> caio


def test_swap_the_order_of_two_events(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute("UPDATE event SET seq = -1 WHERE seq = 9")
    connection.execute("UPDATE event SET seq = 9 WHERE seq = 10")
    connection.execute("UPDATE event SET seq = 10 WHERE seq = -1")
    problems = verify(path)
    assert found(problems, "event_reordered") == ["event 9", "event 10"]
    assert found(problems, "chain_broken") == ["event 9", "event 10", "event 11"]


def test_change_a_cached_balance(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute(
        "UPDATE account SET posted_credits = posted_credits + 100000 WHERE name = 'members:caio'"
    )
    problems = verify(path)
    assert [(p.code, p.subject, p.account) for p in problems] == [
        ("cached_totals", "account members:caio", "members:caio")
    ]


def test_replace_a_members_public_key(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute(
        "UPDATE key SET public_key = ? WHERE handle = 'caio'", (Signer.generate("caio").public_key,)
    )
    problems = verify(path)
    assert found(problems, "key_not_recorded") == ["key 4 (caio)"]
    assert found(problems, "signature_invalid") == ["transfer 3"]


def test_drop_the_last_events_is_caught_against_a_checkpoint(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute("DELETE FROM posting WHERE transfer_id = 7")
    connection.execute("DELETE FROM transfer WHERE id = 7")
    last = connection.execute("SELECT MAX(seq) FROM event").fetchone()[0]
    connection.execute("DELETE FROM event WHERE seq = ?", (last,))
    connection.execute(
        "UPDATE chain_head SET seq = ?, chain_hash = (SELECT chain_hash FROM event WHERE seq = ?)",
        (last - 1, last - 1),
    )
    connection.execute("DELETE FROM checkpoint")
    connection.execute("DELETE FROM merkle_chunk")
    rebuild_totals(connection)
    assert verify(path) == []  # without a checkpoint, a clean cut looks like a younger ledger
    problems = verify(path, base.checkpoint)
    assert [(p.code, p.subject, p.event) for p in problems] == [
        ("ledger_behind_checkpoint", "cp0", last)
    ]


def test_accept_a_request_twice(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    columns = (
        "kind, status, author, idempotency_key, content_hash, body, body_hash, key_id, "
        "signature, batch_id, memo, created_at, expires_at, resolves_id, reverses_id, "
        "resolved_at"
    )
    renamed = columns.replace("idempotency_key", "idempotency_key || '-again'")
    copied = connection.execute(
        f"INSERT INTO transfer ({columns}) SELECT {renamed} FROM transfer WHERE id = 5"
    ).lastrowid
    connection.execute(
        "INSERT INTO posting (transfer_id, account_id, currency, amount) "
        "SELECT ?, account_id, currency, amount FROM posting "
        "WHERE transfer_id = 5 ORDER BY id",
        (copied,),
    )
    body_hash, created_at = connection.execute(
        "SELECT body_hash, created_at FROM transfer WHERE id = 5"
    ).fetchone()
    seq = append_event(connection, "transfer", copied, body_hash, created_at)
    connection.execute("UPDATE transfer SET event_seq = ? WHERE id = ?", (seq, copied))
    rebuild_totals(connection)
    problems = verify(path)
    assert found(problems, "request_accepted_twice") == ["request 1"]
    assert found(problems, "idempotency_key_reused") == [f"transfer {copied}"]
    assert json.loads(
        connection.execute("SELECT body FROM transfer WHERE id = ?", (copied,)).fetchone()[0]
    )["refs"] == {"request": 1}


def test_every_problem_names_its_event_or_account(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute("UPDATE posting SET amount = amount + 1 WHERE transfer_id = 2")
    connection.execute("UPDATE transfer SET memo = 'x' WHERE id = 3")
    problems = verify(path)
    assert problems and all(
        p.event is not None
        or p.account is not None
        or p.subject in ("CUBO", "PALA", "CARD", "network:clearing")
        for p in problems
    ), problems
    assert TAG_TRANSFER == b"mutualcredit/transfer/v1"


def _through_the_program(path: Path, work) -> None:  # type: ignore[no-untyped-def]
    """Let the program write on the edited copy, as it would for the next user."""
    ledger = Ledger.open(str(path))
    try:
        work(ledger)
    finally:
        ledger.engine.dispose()


def test_widen_a_members_limit_in_the_table_then_pay_past_the_signed_one(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    # ana's signed line is 100.00; the table says 999,999.99, so the writer lets her pay
    # 5,000.00.  verify replays with the signed limit and names both.
    from mutualcredit.services import payments

    connection, path = db
    connection.execute("UPDATE account SET limit_lower = -99999999 WHERE name = 'members:ana'")
    _through_the_program(
        path,
        lambda ledger: payments.pay(ledger, base.ana, payer="ana", payee="bia", amount=500_000),
    )
    problems = verify(path)
    assert [(p.code, p.account) for p in problems] == [
        ("limit_history_mismatch", "members:ana"),
        ("limit_exceeded", "members:ana"),
    ]
    assert "past its limit of -100.00 CUBO" in problems[1].message


def test_widen_a_collectives_default_line_before_admitting_a_member(db, base: Base) -> None:  # type: ignore[no-untyped-def]
    # The collective's default line (unsigned member limit) is read when a member is admitted.
    connection, path = db
    connection.execute("UPDATE collective SET member_limit_lower = -5000000 WHERE slug = 'cubo'")
    connection.execute("UPDATE network SET member_limit_lower = -5000000")
    problems = verify(path)
    assert [(p.code, p.subject) for p in problems] == [
        ("column_mismatch", "network"),
        ("column_mismatch", "collective cubo"),
    ]
    assert "member_limit_lower -5000000 (signed: 0)" in problems[0].message


def test_widen_a_clearing_limit_in_the_table(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute(
        "UPDATE account SET limit_lower = -999999999, limit_upper = 999999999 "
        "WHERE name = 'network:clearing:cubo'"
    )
    problems = verify(path)
    assert [(p.code, p.account) for p in problems] == [
        ("limit_history_mismatch", "network:clearing:cubo")
    ]


def test_close_or_rename_behind_the_programs_back(db) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    connection.execute("UPDATE account SET status = 'closed' WHERE name = 'members:bia'")
    connection.execute("UPDATE member SET name = 'Someone else' WHERE handle = 'caio'")
    problems = verify(path)
    assert [(p.code, p.subject) for p in problems] == [
        ("column_mismatch", "member caio"),
        ("column_mismatch", "account members:bia"),
    ]


def test_grant_a_role_in_the_table(db) -> None:  # type: ignore[no-untyped-def]
    # The writer asks the role table who may act: a row no signed record made is named.
    connection, path = db
    connection.execute(
        "INSERT INTO role (handle, role, collective, granted_at, granted_by) "
        "VALUES ('bia', 'admin', NULL, '2026-01-01T00:00:00.000000Z', 'banco')"
    )
    problems = verify(path)
    assert [(p.code, p.subject) for p in problems] == [("column_mismatch", "role of bia")]
