"""Checkpoints and proofs over the ledger's events (RFC 9162), with a database.

The leaves of the Merkle tree are the event bytes of the ``event`` rows in
``seq`` order (:func:`mutualcredit.domain.events.event_bytes`).  The database
builds those bytes itself (``SELECT 'mutualcredit/event/v1' || … ``): event
types are plain words and body hashes hex, so the JSON needs no escaping, and
:func:`leaf_sql` is checked against ``event_bytes`` in the tests.  Python then
only hashes, and from :data:`PARALLEL_BLOCKS` blocks on it hashes on every
core (:func:`block_roots`): a checkpoint over a million events takes about
1.3 s on two cores (``bench/bench_verify.py``).

Roots of complete, aligned blocks of :data:`CHUNK_LEAVES` events are cached in
``merkle_chunk`` (derived data, recomputed by ``verify``), so a proof in a
ledger of a million events reads about a thousand cached roots and at most
two blocks of events: milliseconds.

Who may sign: **creating** a checkpoint needs the admin or a coordinator of
any collective (someone the network already trusts with its money);
**co-signing** the same, by a handle that has not signed it yet.  Both first
check that the ledger holds exactly the history the checkpoint states —
a signer vouches only for what their own copy of the ledger shows.
``checkpoint create`` recomputes the root from the events (it never trusts
the cache, and refuses, exit 3, when a cached block no longer matches its
events); it does not recompute the hash chain — that is ``verify``'s job.

Trust without a database (``verify-proof``, ``checkpoint verify --proof``):
the documents carry their signers' public keys; a member who checks a proof
learns that *those keys* signed the checkpoint and that the transfer's author
signed its body.  Whether those keys belong to the network's coordinators is
learned out of band (``key list``/``whoami`` on a trusted machine, a
published fingerprint); ``--trust HANDLE=KEY`` pins them, and then any other
key is refused.  With a database, ``verify`` and ``checkpoint verify`` require
every checkpoint signer to be a key of that handle recorded in the ledger.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection, Engine

from mutualcredit.domain import checkpoints as documents
from mutualcredit.domain.canonical import TAG_TRANSFER
from mutualcredit.domain.errors import IntegrityProblem, NotFound, Refused
from mutualcredit.domain.merkle import (
    EMPTY_ROOT,
    consistency_proof_from_subtrees,
    inclusion_proof_from_subtrees,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    split_point,
)
from mutualcredit.persistence import models_audit
from mutualcredit.persistence.models import core_table
from mutualcredit.services.clock import iso, now
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer
from mutualcredit.services.network import roles_of
from mutualcredit.services.posting import NotAuthorised

CHUNK_BITS = 10
CHUNK_LEAVES = 1 << CHUNK_BITS  # events per cached block
PARALLEL_BLOCKS = 64  # from this many blocks to hash, worker processes hash them
BLOCKS_PER_TASK = 64

_LEAF = (
    "'mutualcredit/event/v1' || {newline} || '{{\"body_hash\":\"' || body_hash || "
    '\'","seq":\' || {seq} || \',"type":"\' || type || \'"}}\''
)


class LedgerMismatch(IntegrityProblem):
    """The ledger does not hold the history a checkpoint states."""

    code = "checkpoint_mismatch"


class NotInCheckpoint(Refused):
    code = "not_in_checkpoint"


def leaf_sql(postgres: bool) -> str:
    """SQL for one event's leaf bytes (RFC 8785 of {body_hash, seq, type}, tagged)."""
    if postgres:
        return "convert_to(" + _LEAF.format(newline="chr(10)", seq="seq::text") + ", 'UTF8')"
    return "CAST(" + _LEAF.format(newline="char(10)", seq="seq") + " AS BLOB)"


def event_count(connection: Connection) -> tuple[int, str]:
    """The chain head: how many events, and the chain hash after the last."""
    row = connection.execute(text("SELECT seq, chain_hash FROM chain_head WHERE id = 1")).one()
    return int(row.seq), str(row.chain_hash)


def stream_leaves(connection: Connection, first: int, last: int) -> Iterator[bytes]:
    """Leaf bytes of events ``first`` … ``last`` (1-based seqs, inclusive), in order."""
    if last < first:
        return
    from mutualcredit.services.verify_workers import raw_stream

    # Through the driver's cursor: SQLAlchemy's per-row processing would double the cost.
    postgres = connection.dialect.name == "postgresql"
    for (leaf,) in raw_stream(
        connection,
        f"SELECT {leaf_sql(postgres)} FROM event WHERE seq BETWEEN ? AND ? ORDER BY seq",
        (first, last),
    ):
        yield leaf if isinstance(leaf, bytes) else bytes(leaf)


def chunk_roots_of(leaves: Iterable[bytes]) -> Iterator[bytes | list[bytes]]:
    """Roots of consecutive blocks of CHUNK_LEAVES leaves; a last partial block as leaf hashes.

    The inner loop is :func:`mutualcredit.domain.merkle.root_from_leaves`,
    restarted at each block boundary (a block is a perfect subtree).
    """
    import hashlib

    sha256 = hashlib.sha256
    stack: list[bytes] = []
    push, pop = stack.append, stack.pop
    tail: list[bytes] = []
    count = 0
    for leaf in leaves:
        digest = sha256(b"\x00" + leaf).digest()
        tail.append(digest)
        count += 1
        carry = count
        while not carry & 1:
            digest = sha256(b"\x01" + pop() + digest).digest()
            carry >>= 1
        push(digest)
        if count == CHUNK_LEAVES:
            yield pop()
            count = 0
            tail = []
    if tail:
        yield tail


@dataclass
class Tree:
    """Roots of any range of the first ``size`` events, from cached blocks and event rows."""

    connection: Connection
    ledger: Ledger
    size: int
    chunks: dict[int, bytes]
    tail: list[bytes] = field(default_factory=list)  # leaf hashes after the last block

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        tail_start = self.size - len(self.tail)
        if self.tail and start >= tail_start:
            return self.tail[start - tail_start : end - tail_start]
        return [leaf_hash(leaf) for leaf in stream_leaves(self.connection, start + 1, end)]

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end) (0-based), end <= size."""
        assert 0 <= start < end <= self.size, (start, end, self.size)
        count = end - start
        if (
            start % CHUNK_LEAVES == 0
            and count == CHUNK_LEAVES
            and start // CHUNK_LEAVES in self.chunks
        ):
            return self.chunks[start // CHUNK_LEAVES]
        if count <= CHUNK_LEAVES or start % CHUNK_LEAVES:
            hashes = self.leaf_hashes(start, end)
            if len(hashes) != count:
                raise IntegrityProblem(
                    f"events {start + 1}…{end} are missing from the ledger; "
                    "run 'mutualcredit verify'",
                    code="event_missing",
                )
            return root_from_leaf_hashes(hashes, count)
        middle = start + split_point(count)
        return node_hash(self.subtree_root(start, middle), self.subtree_root(middle, end))

    def root(self) -> bytes:
        return EMPTY_ROOT if self.size == 0 else self.subtree_root(0, self.size)


def load_chunks(connection: Connection, below: int) -> dict[int, bytes]:
    rows = connection.execute(
        text("SELECT chunk, root FROM merkle_chunk WHERE chunk < :n"), {"n": below}
    )
    return {int(chunk): bytes.fromhex(root) for chunk, root in rows}


def tree(connection: Connection, ledger: Ledger, size: int, *, fill: bool = True) -> Tree:
    """A :class:`Tree` of the first ``size`` events; missing complete blocks are computed."""
    complete = size // CHUNK_LEAVES
    chunks = load_chunks(connection, complete)
    missing = [chunk for chunk in range(complete) if chunk not in chunks]
    if missing and fill:
        start = missing[0]
        computed = block_roots(connection, ledger, start, complete)
        for chunk, root in computed.items():
            if chunk in chunks and chunks[chunk] != root:
                raise cache_mismatch(chunk)
        chunks.update(computed)
        store_chunks(ledger, {c: r for c, r in computed.items() if c in missing})
    return Tree(connection, ledger, size, chunks)


def block_roots(
    connection: Connection,
    ledger: Ledger,
    first_chunk: int,
    end_chunk: int,
    *,
    workers: int | None = None,
) -> dict[int, bytes]:
    """Roots of blocks first_chunk … end_chunk - 1, from the event rows.

    From :data:`PARALLEL_BLOCKS` blocks on, worker processes (one per core, each
    with a connection of its own) read and hash ranges of :data:`BLOCKS_PER_TASK`
    blocks: events are append-only, so a range below the chain head reads the
    same rows from any connection.  Reading and hashing a million events keeps
    one core busy about 2.5 s; two cores take half that.
    """
    count = end_chunk - first_chunk
    workers = workers if workers is not None else (os.cpu_count() or 1)
    ranges = [(first_chunk, end_chunk)]
    if count >= PARALLEL_BLOCKS and workers > 1 and _reachable_from_other_processes(ledger):
        ranges = [
            (start, min(end_chunk, start + BLOCKS_PER_TASK))
            for start in range(first_chunk, end_chunk, BLOCKS_PER_TASK)
        ]
        url = ledger.url.render_as_string(hide_password=False)
        from mutualcredit.services.verify_workers import process_pool

        with process_pool(min(workers, len(ranges))) as executor:
            futures = [executor.submit(_roots_in_worker, url, start, end) for start, end in ranges]
            parts = [future.result() for future in futures]
    else:
        parts = [_roots_of_blocks(connection, first_chunk, end_chunk)]
    roots: dict[int, bytes] = {}
    for (start, end), part in zip(ranges, parts, strict=True):
        complete = [root for root in part if isinstance(root, bytes)]
        roots.update(enumerate(complete, start=start))
        if len(complete) != end - start:
            missing = _first_missing(connection, start * CHUNK_LEAVES + 1, end * CHUNK_LEAVES)
            raise IntegrityProblem(
                f"event {missing} is missing from the ledger; run 'mutualcredit verify'",
                code="event_missing",
            )
    return roots


def _reachable_from_other_processes(ledger: Ledger) -> bool:
    """Whether other processes can open this database (it is not an in-memory SQLite one)."""
    return ledger.is_postgres or str(ledger.url.database or "") not in ("", ":memory:")


def _roots_of_blocks(
    connection: Connection, first_chunk: int, end_chunk: int
) -> list[bytes | list[bytes]]:
    leaves = stream_leaves(connection, first_chunk * CHUNK_LEAVES + 1, end_chunk * CHUNK_LEAVES)
    return list(chunk_roots_of(leaves))


def _first_missing(connection: Connection, first: int, last: int) -> int:
    expected = first
    for (seq,) in connection.execute(
        text("SELECT seq FROM event WHERE seq BETWEEN :a AND :b ORDER BY seq"),
        {"a": first, "b": last},
    ):
        if seq != expected:
            break
        expected += 1
    return expected


_WORKER_ENGINES: dict[str, Engine] = {}


def _roots_in_worker(url: str, first_chunk: int, end_chunk: int) -> list[bytes | list[bytes]]:
    """In a worker process: :func:`_roots_of_blocks` over a connection of its own."""
    from mutualcredit.persistence.engine import database_url, make_engine

    engine = _WORKER_ENGINES.get(url)
    if engine is None:
        engine = _WORKER_ENGINES[url] = make_engine(database_url(url))
    with engine.connect() as connection:
        return _roots_of_blocks(connection, first_chunk, end_chunk)


def store_chunks(ledger: Ledger, roots: dict[int, bytes]) -> None:
    if not roots:
        return

    def work(connection: Connection) -> None:
        known = set(load_chunks(connection, max(roots) + 1))
        rows = [{"chunk": c, "root": r.hex()} for c, r in sorted(roots.items()) if c not in known]
        if rows:
            connection.execute(insert(core_table(models_audit.MerkleChunk)), rows)

    ledger.write(work)


def cache_mismatch(chunk: int) -> IntegrityProblem:
    first = chunk * CHUNK_LEAVES + 1
    return IntegrityProblem(
        f"events {first}…{first + CHUNK_LEAVES - 1} no longer hash to the root recorded "
        "when they were first checked; run 'mutualcredit verify'",
        code="merkle_cache",
    )


def full_root(
    connection: Connection, ledger: Ledger, size: int, *, workers: int | None = None
) -> tuple[bytes, dict[int, bytes]]:
    """The root of the first ``size`` events recomputed from every event row (no cache)."""
    complete = size // CHUNK_LEAVES
    chunks = block_roots(connection, ledger, 0, complete, workers=workers)
    tail = [
        leaf_hash(leaf) for leaf in stream_leaves(connection, complete * CHUNK_LEAVES + 1, size)
    ]
    if len(tail) != size - complete * CHUNK_LEAVES:
        raise IntegrityProblem(
            f"the chain head says {size} events but the ledger holds "
            f"{complete * CHUNK_LEAVES + len(tail)}; run 'mutualcredit verify'",
            code="event_missing",
        )
    return Tree(connection, ledger, size, chunks, tail).root(), chunks


# -- checkpoints ------------------------------------------------------------------------------


def may_sign_checkpoints(connection: Connection, handle: str) -> bool:
    return any(role in ("admin", "coordinator") for role, _ in roles_of(connection, handle))


def create_checkpoint(ledger: Ledger, signer: Signer) -> dict[str, Any]:
    """Sign (network, size, root, chain hash, time) of the ledger as it is now."""
    with ledger.read() as connection:
        _require_signer(connection, signer.handle)
        size, chain_hash = event_count(connection)
        last = connection.execute(
            text("SELECT chain_hash FROM event WHERE seq = :s"), {"s": size}
        ).scalar()
        if size and last != chain_hash:
            raise IntegrityProblem(
                f"the chain head does not match event {size}; run 'mutualcredit verify'",
                code="chain_head_mismatch",
            )
        root, chunks = full_root(connection, ledger, size)
        cached = load_chunks(connection, len(chunks))
    for chunk, value in cached.items():
        if chunks.get(chunk) != value:
            raise cache_mismatch(chunk)
    store_chunks(ledger, {c: r for c, r in chunks.items() if c not in cached})
    checkpoint = documents.Checkpoint(
        network=ledger.network.id,
        network_name=ledger.network.name,
        size=size,
        root=root.hex(),
        chain_hash=chain_hash,
        time=iso(now()),
    )
    signed = documents.sign_checkpoint(
        checkpoint, signer=signer.handle, private_key=signer.private_key
    )
    document = documents.checkpoint_document(signed)
    _store_checkpoint(ledger, signed, document)
    return document


def cosign_checkpoint(ledger: Ledger, signer: Signer, document: Any) -> dict[str, Any]:
    """Add ``signer``'s signature after checking the checkpoint against this ledger."""
    checkpoint = check_against_ledger(ledger, document)
    with ledger.read() as connection:
        _require_signer(connection, signer.handle)
    if any(item.signer == signer.handle for item in checkpoint.signatures):
        raise Refused(f"{signer.handle} already signed this checkpoint", code="already_signed")
    signed = documents.sign_checkpoint(
        checkpoint, signer=signer.handle, private_key=signer.private_key
    )
    result = documents.checkpoint_document(signed)
    _store_checkpoint(ledger, signed, result)
    return result


def _require_signer(connection: Connection, handle: str) -> None:
    if not may_sign_checkpoints(connection, handle):
        raise NotAuthorised(
            f"{handle} may not sign checkpoints: it needs the admin or a coordinator"
        )


def _store_checkpoint(
    ledger: Ledger, checkpoint: documents.Checkpoint, document: dict[str, Any]
) -> None:
    def work(connection: Connection) -> None:
        existing = connection.execute(
            text("SELECT id FROM checkpoint WHERE size = :s AND root = :r AND time = :t"),
            {"s": checkpoint.size, "r": checkpoint.root, "t": checkpoint.time},
        ).scalar()
        if existing is not None:
            connection.execute(
                text("UPDATE checkpoint SET document = :d WHERE id = :i"),
                {"d": json.dumps(document), "i": existing},
            )
            return
        connection.execute(
            insert(core_table(models_audit.StoredCheckpoint)),
            {
                "size": checkpoint.size,
                "root": checkpoint.root,
                "chain_hash": checkpoint.chain_hash,
                "time": checkpoint.time,
                "document": json.dumps(document),
                "created_at": iso(now()),
            },
        )

    ledger.write(work)


def stored_checkpoints(ledger: Ledger) -> list[dict[str, Any]]:
    with ledger.read() as connection:
        rows = connection.execute(text("SELECT document FROM checkpoint ORDER BY size, id"))
        return [json.loads(row.document) for row in rows]


def ledger_keys(connection: Connection) -> dict[str, set[str]]:
    """Every key ever registered in the ledger, by handle (trust for checkpoint signers)."""
    keys: dict[str, set[str]] = {}
    for handle, public_key in connection.execute(text("SELECT handle, public_key FROM key")):
        keys.setdefault(handle, set()).add(public_key)
    return keys


def check_against_ledger(ledger: Ledger, document: Any) -> documents.Checkpoint:
    """The checkpoint, after checking its signatures and that this ledger holds its history.

    Signers must use keys recorded in this ledger for their handles.  Raises
    :class:`LedgerMismatch` (exit 3) when the ledger lost events, or holds
    different ones, or :class:`~mutualcredit.domain.errors.IntegrityProblem`
    for a malformed, foreign or wrongly signed checkpoint.
    """
    checkpoint = documents.parse_checkpoint(document, network=ledger.network.id)
    with ledger.read() as connection:
        documents.verify_checkpoint_signatures(checkpoint, ledger_keys(connection))
        size, _ = event_count(connection)
        if size < checkpoint.size:
            raise LedgerMismatch(
                f"the ledger holds {size} events but the checkpoint of {checkpoint.time} "
                f"states {checkpoint.size}: events were dropped",
                code="ledger_behind_checkpoint",
            )
        root = tree(connection, ledger, checkpoint.size).root()
        chain_hash = connection.execute(
            text("SELECT chain_hash FROM event WHERE seq = :s"), {"s": checkpoint.size}
        ).scalar()
    if root.hex() != checkpoint.root:
        raise LedgerMismatch(
            f"the first {checkpoint.size} events of the ledger are not those the checkpoint of "
            f"{checkpoint.time} signed (root {root.hex()[:16]}…, signed "
            f"{checkpoint.root[:16]}…)",
            code="checkpoint_root_mismatch",
        )
    if checkpoint.size and chain_hash != checkpoint.chain_hash:
        raise LedgerMismatch(
            f"the chain hash after event {checkpoint.size} is not the one the checkpoint signed",
            code="checkpoint_chain_mismatch",
        )
    return checkpoint


# -- proofs -----------------------------------------------------------------------------------


def inclusion_proof(ledger: Ledger, transfer_id: int, checkpoint_document: Any) -> dict[str, Any]:
    """A proof, checkable offline, that transfer ``transfer_id`` is in the checkpoint's ledger."""
    checkpoint = check_against_ledger(ledger, checkpoint_document)
    with ledger.read() as connection:
        row = connection.execute(
            text(
                "SELECT t.id, t.body, t.signature, t.batch_id, t.event_seq, t.author, t.kind, "
                "k.public_key FROM transfer t JOIN key k ON k.id = t.key_id WHERE t.id = :i"
            ),
            {"i": transfer_id},
        ).one_or_none()
        if row is None:
            raise NotFound(f"transfer {transfer_id} does not exist", code="transfer_not_found")
        seq = int(row.event_seq)
        if seq > checkpoint.size:
            raise NotInCheckpoint(
                f"transfer {transfer_id} is event {seq}, after the checkpoint's {checkpoint.size} "
                "events; make a newer checkpoint"
            )
        event_type = connection.execute(
            text("SELECT type FROM event WHERE seq = :s"), {"s": seq}
        ).scalar()
        signature = _event_signature(connection, row)
        path = inclusion_proof_from_subtrees(
            seq - 1, checkpoint.size, tree(connection, ledger, checkpoint.size).subtree_root
        )
    proof = documents.InclusionProof(
        network=ledger.network.id,
        checkpoint_size=checkpoint.size,
        checkpoint_root=checkpoint.root,
        seq=seq,
        event_type=str(event_type),
        body_tag=TAG_TRANSFER.decode(),
        body=json.loads(row.body),
        signature=signature,
        audit_path=tuple(node.hex() for node in path),
    )
    documents.verify_inclusion_document(proof, checkpoint)  # never hand out a proof that fails
    return documents.inclusion_document(proof)


def _event_signature(connection: Connection, row: Any) -> documents.EventSignature:
    if row.batch_id is None:
        return documents.EventSignature(
            author=row.author, key=row.public_key, signature=row.signature
        )
    batch = connection.execute(
        text("SELECT signature FROM batch WHERE id = :i"), {"i": row.batch_id}
    ).one()
    hashes = connection.execute(
        text("SELECT body_hash FROM transfer WHERE batch_id = :b ORDER BY id"), {"b": row.batch_id}
    )
    return documents.EventSignature(
        author=row.author,
        key=row.public_key,
        signature=batch.signature,
        batch_transfers=tuple(h for (h,) in hashes),
    )


def consistency_proof(ledger: Ledger, old_document: Any, new_document: Any) -> dict[str, Any]:
    """The RFC 9162 proof that NEW's ledger extends OLD's, both checked against this ledger."""
    old = check_against_ledger(ledger, old_document)
    new = check_against_ledger(ledger, new_document)
    if old.size > new.size:
        raise documents.ProofFailed(
            f"the old checkpoint has {old.size} events, more than the new one's {new.size}"
        )
    with ledger.read() as connection:
        path = consistency_proof_from_subtrees(
            old.size, new.size, tree(connection, ledger, new.size).subtree_root
        )
    proof = documents.ConsistencyProof(
        network=ledger.network.id,
        old_size=old.size,
        old_root=old.root,
        new_size=new.size,
        new_root=new.root,
        path=tuple(node.hex() for node in path),
    )
    documents.verify_consistency_document(proof, old, new)
    return documents.consistency_document(proof)


def verify_extension(
    ledger: Ledger | None,
    old_document: Any,
    new_document: Any,
    proof_document: Any | None,
    trusted: documents.TrustedKeys | None = None,
) -> dict[str, Any]:
    """Check that NEW only appended to OLD: with a proof file (no database) or the ledger."""
    if proof_document is not None:
        documents.verify_consistency_document(
            proof_document, old_document, new_document, trusted_keys=trusted
        )
        old = documents.parse_checkpoint(old_document)
        new = documents.parse_checkpoint(new_document)
        return _extension_report(old, new, "proof")
    assert ledger is not None
    old = check_against_ledger(ledger, old_document)
    new = check_against_ledger(ledger, new_document)
    if old.size > new.size:
        raise documents.ProofFailed(
            f"the old checkpoint has {old.size} events, more than the new one's {new.size}"
        )
    if old.size == new.size and old.chain_hash != new.chain_hash:
        raise documents.ProofFailed("both checkpoints state the same size but chain hashes differ")
    return _extension_report(old, new, "ledger")


def _extension_report(
    old: documents.Checkpoint, new: documents.Checkpoint, mode: str
) -> dict[str, Any]:
    return {
        "valid": True,
        "network": new.network,
        "mode": mode,
        "old_size": old.size,
        "old_root": old.root,
        "new_size": new.size,
        "new_root": new.root,
        "signers": sorted({s.signer for s in (*old.signatures, *new.signatures)}),
    }


def verify_proof_offline(
    proof_document: Any, checkpoint_document: Any, trusted: documents.TrustedKeys | None = None
) -> dict[str, Any]:
    """Check an inclusion proof with nothing but the two documents; return a report."""
    proof = documents.parse_inclusion_proof(proof_document)
    checkpoint = documents.parse_checkpoint(checkpoint_document)
    body = documents.verify_inclusion_document(proof, checkpoint, trusted_keys=trusted)
    return {
        "valid": True,
        "network": checkpoint.network,
        "network_name": checkpoint.network_name,
        "seq": proof.seq,
        "event_type": proof.event_type,
        "checkpoint": {
            "size": checkpoint.size,
            "root": checkpoint.root,
            "time": checkpoint.time,
            "signers": [{"signer": s.signer, "key": s.key} for s in checkpoint.signatures],
        },
        "author": {"handle": proof.signature.author, "key": proof.signature.key},
        "body": body,
    }
