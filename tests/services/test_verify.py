"""verify, the hash chain under concurrent writers, checkpoints and proofs over the ledger."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from mutualcredit.domain import checkpoints as documents
from mutualcredit.domain import merkle
from mutualcredit.domain.authority import roles_at
from mutualcredit.domain.errors import IntegrityProblem, Refused
from mutualcredit.domain.events import event_bytes
from mutualcredit.domain.transfers import Posting, TransferDraft
from mutualcredit.services import audit, requests
from mutualcredit.services.clock import iso, now
from mutualcredit.services.key_events import rotate_key
from mutualcredit.services.keys import Signer
from mutualcredit.services.network import set_limit
from mutualcredit.services.payments import resolve_hold, reverse
from mutualcredit.services.posting import NotAuthorised, post_batch
from mutualcredit.services.verify import CheckpointInput, Verifier, verify_ledger
from tests.support import Net


def codes(net: Net, **kw) -> list[str]:  # type: ignore[no-untyped-def]
    return [problem.code for problem in verify_ledger(net.ledger, workers=1, **kw).problems]


def busy_ledger(net: Net) -> None:
    """Every kind of event: payments, holds posted and voided, a reversal, a batch, limits,
    key rotation, requests."""
    net.run("ana -> bia 30.00", "ana -> caio 10.00")
    held = net.hold("ana", "bia", "5.00").transfer_id
    voided = net.hold("bia", "ana", "1.00").transfer_id
    resolve_hold(net.ledger, net["ana"], hold_id=held, action="post", amount=300)
    resolve_hold(net.ledger, net["bia"], hold_id=voided, action="void")
    reverse(net.ledger, net["banco"], transfer_id=2, reason="engano")
    set_limit(
        net.ledger,
        net["banco"],
        account="members:ana",
        reason="mais crédito",
        limit_lower=-net.amount("140.00"),
    )
    new_caio = Signer.generate("caio")
    rotate_key(net.ledger, net["caio"], new_caio)
    net.signers["caio"] = new_caio
    drafts = [
        TransferDraft(
            network=net.ledger.network.id,
            kind="issuance",
            author="banco",
            key=f"issue-{n}",
            created_at=iso(now()),
            postings=(
                Posting(account="collectives:cubo:fund", currency="CUBO", amount=-100),
                Posting(account="members:bia", currency="CUBO", amount=100),
            ),
        )
        for n in range(3)
    ]
    post_batch(net.ledger, drafts, net["banco"], kind="import")
    asked = requests.create_request(
        net.ledger, net["caio"], payer="bia", payee="caio", amount=200, memo="roadie"
    )
    requests.accept_request(net.ledger, net["bia"], request_id=asked.id)
    declined = requests.create_request(
        net.ledger, net["bia"], payer="caio", payee="bia", amount=100, memo="x"
    )
    requests.decline_request(net.ledger, net["caio"], request_id=declined.id, reason="não")


def test_a_busy_ledger_verifies_clean(net: Net) -> None:
    busy_ledger(net)
    net.assert_consistent()
    report = verify_ledger(net.ledger, workers=2)
    assert report.problems == []
    assert report.clean and report.transfers == 11
    assert report.signatures == report.events - 3 + 1  # 3 batch members, 1 batch signature


def test_the_chain_is_contiguous_under_concurrent_writers(net: Net) -> None:
    for handle, collective in (("d1", "cubo"), ("d2", "palafita"), ("d3", "cubo")):
        net.add_member(handle, collective, "100")
    errors: list[BaseException] = []

    def write(handle: str) -> None:
        try:
            for n in range(8):
                net.pay(handle, "ana" if n % 2 else "caio", "1.00")
                if n == 3:
                    set_limit(
                        net.ledger,
                        net["banco"],
                        account=f"members:{handle}",
                        reason="mais",
                        limit_lower=-net.amount("120.00"),
                    )
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=write, args=(h,)) for h in ("d1", "d2", "d3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with net.ledger.read() as connection:
        seqs = [s for (s,) in connection.execute(text("SELECT seq FROM event ORDER BY seq"))]
        head = connection.execute(text("SELECT seq FROM chain_head")).scalar()
    assert seqs == list(range(1, len(seqs) + 1)) and head == len(seqs)
    net.assert_consistent()
    assert codes(net) == []


def test_leaf_bytes_built_by_the_database_are_the_event_bytes(net: Net) -> None:
    net.run("ana -> bia 1.00")
    with net.ledger.read() as connection:
        rows = connection.execute(text("SELECT seq, type, body_hash FROM event ORDER BY seq"))
        expected = [event_bytes(seq=s, type=t, body_hash=b) for s, t, b in rows]
        size, _ = audit.event_count(connection)
        streamed = list(audit.stream_leaves(connection, 1, size))
    assert streamed == expected and len(expected) == size


def _synthetic_events(net: Net, count: int) -> list[bytes]:
    """Replace the chain with ``count`` synthetic events (for the tree arithmetic only)."""
    with net.ledger.engine.begin() as connection:
        connection.execute(text("DELETE FROM event"))
        rows = [
            {
                "seq": s,
                "type": "transfer",
                "subject_id": s,
                "body_hash": f"{s:064x}",
                "event_hash": "0" * 64,
                "chain_hash": "0" * 64,
                "created_at": "x",
            }
            for s in range(1, count + 1)
        ]
        connection.execute(
            text(
                "INSERT INTO event (seq, type, subject_id, body_hash, event_hash, chain_hash, "
                "created_at) VALUES (:seq, :type, :subject_id, :body_hash, :event_hash, "
                ":chain_hash, :created_at)"
            ),
            rows,
        )
    return [event_bytes(seq=s, type="transfer", body_hash=f"{s:064x}") for s in range(1, count + 1)]


def test_ledger_proofs_match_rfc9162_for_every_size_and_leaf(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "CHUNK_LEAVES", 4)  # so 64 events span 16 cached blocks
    leaves = _synthetic_events(net, 64)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    with net.ledger.read() as connection:
        for size in range(1, 65):
            tree = audit.tree(connection, net.ledger, size)
            root = merkle.root_from_leaves(leaves, size)
            assert tree.root() == root
            for index in range(size):
                path = merkle.inclusion_proof_from_subtrees(index, size, tree.subtree_root)
                assert path == merkle.inclusion_proof(hashes, index, size)
                assert merkle.verify_inclusion(hashes[index], index, size, path, root)
            for old in range(0, size + 1):
                proof = merkle.consistency_proof_from_subtrees(old, size, tree.subtree_root)
                assert proof == merkle.consistency_proof(hashes, old, size)
        full, chunks = audit.full_root(connection, net.ledger, 63)
        assert full == merkle.root_from_leaves(leaves, 63) and len(chunks) == 15
    with net.ledger.read() as connection:
        assert len(audit.load_chunks(connection, 100)) == 16


@pytest.mark.parametrize("size", [12, 63, 64, 130])
def test_block_roots_computed_by_worker_processes_match_one_process(
    net: Net, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setattr(audit, "CHUNK_LEAVES", 4)
    leaves = _synthetic_events(net, size)
    with net.ledger.read() as connection:
        alone = audit.full_root(connection, net.ledger, size)
    monkeypatch.setattr(audit, "PARALLEL_BLOCKS", 2)
    monkeypatch.setattr(audit, "BLOCKS_PER_TASK", 3)
    parent, hash_blocks = os.getpid(), audit.chunk_roots_of

    def only_in_workers(leaves):  # type: ignore[no-untyped-def]
        assert os.getpid() != parent, "the main process hashed a block itself"
        return hash_blocks(leaves)

    monkeypatch.setattr(audit, "chunk_roots_of", only_in_workers)
    with net.ledger.read() as connection:
        spread = audit.full_root(connection, net.ledger, size, workers=2)
    assert spread == alone and alone[0] == merkle.root_from_leaves(leaves, size)
    assert sorted(alone[1]) == list(range(size // 4))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_checkpoint_is_refused_when_an_event_is_missing(
    net: Net, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(audit, "CHUNK_LEAVES", 4)
    monkeypatch.setattr(audit, "PARALLEL_BLOCKS", 2)
    monkeypatch.setattr(audit, "BLOCKS_PER_TASK", 3)
    _synthetic_events(net, 64)
    with net.ledger.engine.begin() as connection:
        connection.execute(text("DELETE FROM event WHERE seq = 30"))
    with net.ledger.read() as connection, pytest.raises(IntegrityProblem) as caught:
        audit.full_root(connection, net.ledger, 64, workers=workers)
    assert caught.value.code == "event_missing"
    assert "event 30 is missing from the ledger" in str(caught.value)


def test_checkpoint_cosign_proof_and_consistency(net: Net) -> None:
    net.run("ana -> bia 30.00")
    old = audit.create_checkpoint(net.ledger, net["banco"])
    assert old["size"] == 7 and [s["signer"] for s in old["signatures"]] == ["banco"]
    cosigned = audit.cosign_checkpoint(net.ledger, net["caio"], old)
    assert [s["signer"] for s in cosigned["signatures"]] == ["banco", "caio"]
    with pytest.raises(Refused, match="caio already signed this checkpoint"):
        audit.cosign_checkpoint(net.ledger, net["caio"], cosigned)
    with pytest.raises(NotAuthorised, match="bia may not sign checkpoints"):
        audit.create_checkpoint(net.ledger, net["bia"])
    net.run("ana -> caio 2.00")
    new = audit.create_checkpoint(net.ledger, net["ana"])
    proof = audit.inclusion_proof(net.ledger, 1, cosigned)
    report = audit.verify_proof_offline(proof, cosigned)
    assert report["body"]["memo"] == "" and report["seq"] == 7
    with pytest.raises(
        audit.NotInCheckpoint, match="transfer 2 is event 8, after the checkpoint's 7 events"
    ):
        audit.inclusion_proof(net.ledger, 2, cosigned)
    consistency = audit.consistency_proof(net.ledger, cosigned, new)
    assert audit.verify_extension(None, cosigned, new, consistency)["mode"] == "proof"
    assert audit.verify_extension(net.ledger, cosigned, new, None)["new_size"] == 8
    with pytest.raises(documents.ProofFailed):
        audit.verify_extension(None, new, cosigned, consistency)
    tampered = dict(proof, body={**proof["body"], "memo": "outra coisa"})
    with pytest.raises(documents.ProofFailed):
        audit.verify_proof_offline(tampered, cosigned)
    trusted = {"banco": {net["banco"].public_key}}
    with pytest.raises(documents.UntrustedKey):
        audit.verify_proof_offline(proof, cosigned, trusted)


def test_a_checkpoint_the_ledger_no_longer_matches(net: Net) -> None:
    net.run("ana -> bia 30.00", "ana -> bia 1.00")
    checkpoint = audit.create_checkpoint(net.ledger, net["banco"])
    with net.ledger.engine.begin() as connection:
        connection.execute(text("DELETE FROM event WHERE seq = 8"))
        connection.execute(text("UPDATE chain_head SET seq = 7"))
    with pytest.raises(IntegrityProblem) as caught:
        audit.check_against_ledger(net.ledger, checkpoint)
    assert caught.value.code == "ledger_behind_checkpoint" and caught.value.exit_code == 3
    foreign = dict(checkpoint, network="another-network")
    with pytest.raises(documents.ForeignDocument):
        audit.check_against_ledger(net.ledger, foreign)
    report = verify_ledger(net.ledger, workers=1)
    assert "ledger_behind_checkpoint" in [p.code for p in report.problems]
    assert report.checkpoints[0]["outcome"] == "ahead"


def test_since_checkpoint_skips_the_signatures_it_covers(net: Net) -> None:
    net.run("ana -> bia 3.00")
    checkpoint = audit.create_checkpoint(net.ledger, net["banco"])
    net.run("ana -> bia 4.00")
    full = verify_ledger(net.ledger, workers=1, include_stored=False)
    since = verify_ledger(
        net.ledger,
        workers=1,
        include_stored=False,
        checkpoints=[CheckpointInput(label="cp", document=checkpoint, since=True)],
    )
    assert full.problems == since.problems == []
    assert (full.signatures, since.signatures) == (8, 7)  # 6 records are always checked


def limits_passed_without_the_raise(
    net: Net,
    found: list | None = None,  # type: ignore[type-arg]
) -> list[tuple[str | None, str]]:
    """Delete every signed limit change and put ana's line back to 100.00, as if it had never
    been raised; the (account, transfer) of each limit_exceeded verify then reports."""
    with net.ledger.engine.begin() as connection:
        connection.execute(text("DELETE FROM limit_change"))
        connection.execute(text("DELETE FROM event WHERE type = 'limit_change'"))
        connection.execute(
            text("UPDATE account SET limit_lower = -10000 WHERE name = 'members:ana'")
        )
    problems = verify_ledger(net.ledger, workers=1).problems
    if found is not None:
        found.extend(problems)
    return [(p.account, p.subject) for p in problems if p.code == "limit_exceeded"]


def test_limits_are_checked_as_they_stood_at_the_time(net: Net) -> None:
    net.run("ana -> bia 80.00")
    set_limit(
        net.ledger,
        net["banco"],
        account="members:ana",
        reason="mais",
        limit_lower=-net.amount("150.00"),
    )
    net.run("ana -> bia 60.00")  # -140.00: within the new line, beyond the old one
    assert codes(net) == []
    with net.ledger.engine.begin() as connection:  # pretend the line was never raised
        connection.execute(text("UPDATE limit_change SET new_lower = -10000"))
        connection.execute(
            text("UPDATE account SET limit_lower = -20000 WHERE name = 'members:ana'")
        )
    assert {(p.code, p.subject) for p in verify_ledger(net.ledger, workers=1).problems} == {
        ("column_mismatch", "limit change 1"),
        ("limit_history_mismatch", "account members:ana"),
    }
    exceeded = limits_passed_without_the_raise(net)
    assert exceeded == [("members:ana", "transfer 2")]


@pytest.mark.parametrize("events_per_task", [1, 2, 3, 5])
def test_a_busy_ledger_verifies_clean_in_ranges_of_any_size(
    net: Net, monkeypatch: pytest.MonkeyPatch, events_per_task: int
) -> None:
    from mutualcredit.services import verify_workers

    monkeypatch.setattr(verify_workers, "EVENTS_PER_TASK", events_per_task)
    busy_ledger(net)
    net.run(*["bia -> caio 1.00"] * 6)
    assert codes(net) == []


@pytest.mark.parametrize("events_per_task", [1, 2, 3, 5])
def test_the_replay_by_ranges_catches_a_limit_passed_mid_range(
    net: Net, monkeypatch: pytest.MonkeyPatch, events_per_task: int
) -> None:
    """A worker's range of plain payments is applied at once only if no order of them could
    pass a limit; a range that could is replayed payment by payment, and names the one."""
    from mutualcredit.services import verify_workers

    monkeypatch.setattr(verify_workers, "EVENTS_PER_TASK", events_per_task)
    set_limit(
        net.ledger,
        net["banco"],
        account="members:ana",
        reason="festival",
        limit_lower=-net.amount("150.00"),
    )
    net.run(*["ana -> bia 30.00"] * 4, "bia -> ana 5.00", "ana -> bia 1.00")
    assert codes(net) == []
    found = []
    exceeded = limits_passed_without_the_raise(net, found)
    # ana's line of 100.00: the 4th payment (-120.00) passes it; after bia's 5.00, -116.00.
    assert exceeded == [("members:ana", "transfer 4"), ("members:ana", "transfer 6")]
    assert "cached_totals" not in {p.code for p in found}


def test_create_checkpoint_refuses_when_a_cached_block_no_longer_matches(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "CHUNK_LEAVES", 4)
    net.run("ana -> bia 1.00")
    audit.create_checkpoint(net.ledger, net["banco"])
    with net.ledger.engine.begin() as connection:
        connection.execute(
            text("UPDATE merkle_chunk SET root = :r WHERE chunk = 0"), {"r": "ab" * 32}
        )
    with pytest.raises(IntegrityProblem) as caught:
        audit.create_checkpoint(net.ledger, net["banco"])
    assert caught.value.code == "merkle_cache"
    assert "merkle_cache" in codes(net)


def test_holds_expire_only_after_their_expiry(net: Net) -> None:
    hold_id = net.hold("ana", "bia", "2.00", hours=1).transfer_id
    resolve_hold(
        net.ledger,
        net["banco"],
        hold_id=hold_id,
        action="expire",
        at=datetime.now(UTC) + timedelta(hours=2),
    )
    assert codes(net) == []


def test_the_demo_ledger_verifies_clean(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mutualcredit.services import demo

    built = demo.build(
        tmp_path / "demo.db", seed=7, home=tmp_path / "home", passphrase="demo-pass", kdf_n=2**10
    )
    report = verify_ledger(built.ledger, workers=2)
    assert report.problems == [] and report.transfers > 30
    statuses = sorted(r.status for r in requests.list_requests(built.ledger))
    assert statuses == ["accepted", "declined", "open"]


def test_authority_follows_the_roles_the_chain_granted(net: Net) -> None:
    """Only a member (or the admin, or a coordinator reversing) moves money out of a member's
    account; verify applies the roles each author held at that point of the chain."""
    from mutualcredit.services.network import change_role

    net.run("ana -> bia 5.00", "ana -> bia 2.00", "ana -> bia 3.00")
    reverse(net.ledger, net["ana"], transfer_id=1, reason="engano")  # ana coordinates Cubo
    change_role(
        net.ledger, net["banco"], handle="caio", role="coordinator", collective="cubo", grant=True
    )
    reverse(net.ledger, net["caio"], transfer_id=2, reason="engano")  # for a while, so does caio
    change_role(
        net.ledger, net["banco"], handle="caio", role="coordinator", collective="cubo", grant=False
    )
    assert codes(net) == []
    verifier = Verifier(net.ledger, workers=1)
    verifier.run()
    with net.ledger.read() as connection:
        granted, revoked = [
            int(seq)
            for (seq,) in connection.execute(
                text("SELECT seq FROM event WHERE type = 'role' ORDER BY seq")
            )
        ]
    assert [
        ("coordinator", "cubo") in roles_at(verifier.roles["caio"], seq)
        for seq in (granted, granted + 1, revoked, revoked + 1)
    ] == [False, True, False, False]
    with net.ledger.engine.begin() as connection:  # the role table is not what counts
        connection.execute(text("DELETE FROM role WHERE handle = 'caio'"))
        connection.execute(text("UPDATE account SET owner = 'caio' WHERE name = 'members:bia'"))
    problems = verify_ledger(net.ledger, workers=1).problems
    # The deleted role rows are named too: the writer asks that table who may act.
    assert [(p.code, p.subject) for p in problems] == [
        ("column_mismatch", "account members:bia"),
        ("row_missing", "role of caio"),
    ]


def test_a_role_revoked_by_the_chain_is_gone_even_if_the_role_table_says_otherwise(
    net: Net,
) -> None:  # noqa: E501
    """Both reversals by caio fall in one worker's range; only the one after the signed
    revocation is reported, though the edited role table let the writer take it."""
    from mutualcredit.services.network import change_role

    net.run("ana -> bia 5.00", "ana -> bia 2.00")
    change_role(
        net.ledger, net["banco"], handle="caio", role="coordinator", collective="cubo", grant=True
    )
    reverse(net.ledger, net["caio"], transfer_id=1, reason="engano")
    change_role(
        net.ledger, net["banco"], handle="caio", role="coordinator", collective="cubo", grant=False
    )
    with net.ledger.engine.begin() as connection:  # what someone holding the file does
        connection.execute(text("UPDATE role SET revoked_at = NULL WHERE handle = 'caio'"))
    late = reverse(net.ledger, net["caio"], transfer_id=2, reason="engano")
    problems = verify_ledger(net.ledger, workers=1).problems
    # ... and the edited role row itself (its revocation erased) is named.
    assert {(p.code, p.subject) for p in problems} == {
        ("not_authorised", f"transfer {late.transfer_id}"),
        ("column_mismatch", "role of caio"),
        ("row_missing", "role of caio"),
    }


def test_resolving_someone_elses_hold_needs_a_right_the_chain_granted(net: Net) -> None:
    """caio voids ana's hold to bia with a coordinator role of Cubo that only the edited role
    table gives him: the writer took it, verify names it.  bia voiding the hold that pays
    her (a member it credits) is her right."""
    first = net.hold("ana", "bia", "4.00").transfer_id
    second = net.hold("ana", "bia", "3.00").transfer_id
    resolve_hold(net.ledger, net["bia"], hold_id=first, action="void")
    with net.ledger.engine.begin() as connection:  # what someone holding the file does
        connection.execute(
            text(
                "INSERT INTO role (handle, role, collective, granted_at, granted_by) "
                "VALUES ('caio', 'coordinator', 'cubo', '2026-01-01T00:00:00.000000Z', 'banco')"
            )
        )
    voided = resolve_hold(net.ledger, net["caio"], hold_id=second, action="void")
    problems = verify_ledger(net.ledger, workers=1).problems
    # The inserted role row is named first (the table is compared before the replay).
    assert [(p.code, p.subject) for p in problems] == [
        ("column_mismatch", "role of caio"),
        ("not_authorised", f"transfer {voided.transfer_id}"),
    ]
    assert f"resolves hold {second} of ana" in problems[1].message
