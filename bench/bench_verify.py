"""How fast are verify, the chain, checkpoints and proofs?  Baselines measured in the same run.

Run with ``python bench/bench_verify.py [transfers] [events]`` (defaults 100,000 and
1,000,000).  It prints:

1. ``verify`` of a ledger of ``transfers`` individually signed payments (written through
   the posting function's own writer, in large transactions) against a plain Ed25519
   verification loop over the same (public key, signature, message) triples on all cores
   (a ``ProcessPoolExecutor`` over chunks, as ``verify`` does), in three alternating
   rounds, best of each;
2. the chain's cost on signed payments: ``pay`` one at a time, in alternating rounds with
   the chain append and without it (``posting.append_events`` replaced by a no-op);
3. ``checkpoint create`` over ``events`` events (no Merkle block cache, then with it);
4. an inclusion proof and a consistency proof in that ledger.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402

from mutualcredit.domain.canonical import TAG_TRANSFER  # noqa: E402
from mutualcredit.domain.events import event_hash, next_chain_hash  # noqa: E402
from mutualcredit.domain.transfers import Posting, TransferDraft  # noqa: E402
from mutualcredit.persistence import models  # noqa: E402
from mutualcredit.services import audit, posting  # noqa: E402
from mutualcredit.services.clock import iso, now  # noqa: E402
from mutualcredit.services.payments import pay  # noqa: E402
from mutualcredit.services.verify import verify_ledger  # noqa: E402
from tests.support import Net, make_network  # noqa: E402

TRANSFERS_DEFAULT = 100_000
EVENTS_DEFAULT = 1_000_000
PER_TRANSACTION = 10_000
PAYMENTS_PER_ROUND = 200
ROUNDS = 6
VERIFY_ROUNDS = 3


def build_signed(net: Net, count: int) -> None:
    """``count`` payments, each signed by its payer, written by the posting function's writer."""
    ledger = net.ledger
    members = [net.add_member(f"m{n}", "cubo", "1000000") for n in range(20)]
    created = iso(now())
    for start in range(0, count, PER_TRANSACTION):
        items = []
        for n in range(start, min(count, start + PER_TRANSACTION)):
            payer, payee = members[n % 20], members[(n * 7 + 3) % 20]
            if payer is payee:
                payee = members[(n + 1) % 20]
            draft = TransferDraft(
                network=ledger.network.id,
                kind="payment",
                author=payer.handle,
                key=f"b{n}",
                postings=(
                    Posting(
                        account=f"members:{payer.handle}", currency="CUBO", amount=-(100 + n % 900)
                    ),
                    Posting(
                        account=f"members:{payee.handle}", currency="CUBO", amount=100 + n % 900
                    ),
                ),
                created_at=created,
                memo=f"troca {n}",
                meta={"from": f"members:{payer.handle}", "to": f"members:{payee.handle}"},
            )
            items.append(posting.sign(ledger, draft, payer))
        ledger.write(
            lambda connection, items=items: posting._post_all(  # noqa: SLF001
                connection, ledger, items, None
            )
        )


def _verify_chunk(chunk: list[tuple[bytes, bytes, bytes]]) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    for public_key, signature, message in chunk:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    return len(chunk)


def baseline_verify(net: Net, workers: int) -> tuple[float, int]:
    with net.ledger.read() as connection:
        rows = connection.execute(
            text(
                "SELECT k.public_key, t.signature, t.body FROM transfer t JOIN key k "
                "ON k.id = t.key_id WHERE t.signature IS NOT NULL ORDER BY t.id"
            )
        ).all()
    triples = [
        (bytes.fromhex(k), bytes.fromhex(s), TAG_TRANSFER + b"\n" + b.encode()) for k, s, b in rows
    ]
    chunks = [triples[i : i + 2000] for i in range(0, len(triples), 2000)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        checked = sum(pool.map(_verify_chunk, chunks))
    return time.perf_counter() - started, checked


def bench_verify(root: Path, count: int) -> None:
    """Baseline and verify in alternating rounds; the best of each (a busy neighbour on a
    shared machine slows one round, not the code)."""
    workers = os.cpu_count() or 1
    net = make_network(str(root / "signed.db"))
    started = time.perf_counter()
    build_signed(net, count)
    print(f"built {count:,} signed payments in {time.perf_counter() - started:.1f} s")
    baselines, runs = [], []
    for _ in range(VERIFY_ROUNDS):
        baseline, checked = baseline_verify(net, workers)
        baselines.append(baseline)
        started = time.perf_counter()
        report = verify_ledger(net.ledger)
        runs.append(time.perf_counter() - started)
        assert report.clean, report.problems[:5]
    baseline, seconds = min(baselines), min(runs)
    print(
        f"verify, {workers} cores: {report.transfers:,} transfers, {report.events:,} events, "
        f"{report.signatures:,} signatures; best of {VERIFY_ROUNDS} alternating rounds"
    )
    print(
        f"  plain Ed25519 loop, {workers} processes: {checked / baseline:9,.0f} signatures/s "
        f"({baseline:.2f} s; rounds {', '.join(f'{b:.2f}' for b in baselines)})"
    )
    print(
        f"  mutualcredit verify (everything):  {report.signatures / seconds:9,.0f} "
        f"signatures/s ({seconds:.2f} s; rounds {', '.join(f'{r:.2f}' for r in runs)}) "
        f"= {baseline / seconds:.0%} of the plain loop"
    )


def bench_chain(root: Path) -> None:
    net = make_network(str(root / "chain.db"))
    net.add_member("d1", "cubo", "1000000")
    real = posting.append_events, posting.lock_head
    counter = [10**9]  # event numbers far from the real ones (transfer.event_seq is unique)

    def no_head(connection, ledger):  # type: ignore[no-untyped-def]
        return counter[0], "0" * 64

    def no_chain(connection, ledger, events, head=None):  # type: ignore[no-untyped-def]
        first = counter[0] + 1
        counter[0] += len(events)
        return list(range(first, first + len(events)))

    timings: dict[str, float] = {"with chain": 0.0, "without chain": 0.0}
    for round_ in range(ROUNDS):
        for label in (
            ("with chain", "without chain") if round_ % 2 else ("without chain", "with chain")
        ):
            posting.append_events, posting.lock_head = (
                real if label == "with chain" else (no_chain, no_head)
            )
            started = time.perf_counter()
            for n in range(PAYMENTS_PER_ROUND):
                pay(
                    net.ledger,
                    net["d1"],
                    payer="d1",
                    payee="bia",
                    amount=1,
                    key=f"{label[:4]}-{round_}-{n}",
                )
            timings[label] += time.perf_counter() - started
    posting.append_events, posting.lock_head = real
    total = PAYMENTS_PER_ROUND * ROUNDS
    rates = {label: total / seconds for label, seconds in timings.items()}
    print(
        f"signed payments, one transaction each ({total} per variant, {ROUNDS} alternating rounds):"
    )
    for label, rate in rates.items():
        print(f"  {label:<14} {rate:8,.0f} payments/s")
    print(f"  the chain adds {rates['without chain'] / rates['with chain'] - 1:.1%}")


def synthetic_events(net: Net, count: int) -> None:
    """Append ``count`` events with correct hashes after the ledger's own (bulk, not signed)."""
    with net.ledger.engine.begin() as connection:
        seq, chain = connection.execute(text("SELECT seq, chain_hash FROM chain_head")).one()
        rows = []
        for n in range(seq + 1, seq + count + 1):
            body_hash = hashlib.sha256(b"%d" % n).hexdigest()
            this = event_hash(seq=n, type="record", body_hash=body_hash)
            chain = next_chain_hash(chain, this)
            rows.append(
                {
                    "seq": n,
                    "type": "record",
                    "subject_id": n,
                    "body_hash": body_hash,
                    "event_hash": this,
                    "chain_hash": chain,
                    "created_at": "x",
                }
            )
            if len(rows) == 50_000:
                connection.execute(insert(models.Event.__table__), rows)
                rows = []
        if rows:
            connection.execute(insert(models.Event.__table__), rows)
        connection.execute(
            text("UPDATE chain_head SET seq = :s, chain_hash = :c"), {"s": seq + count, "c": chain}
        )


def bench_checkpoint(root: Path, count: int) -> None:
    net = make_network(str(root / "events.db"))
    net.run("ana -> bia 1.00")
    synthetic_events(net, count)
    started = time.perf_counter()
    old = audit.create_checkpoint(net.ledger, net["banco"])
    cold = time.perf_counter() - started
    synthetic_events(net, 1000)
    started = time.perf_counter()
    new = audit.create_checkpoint(net.ledger, net["banco"])
    warm = time.perf_counter() - started
    print(
        f"checkpoint create over {old['size']:,} events: {cold:.2f} s (no block cache); "
        f"{new['size']:,} events: {warm:.2f} s (the root is always recomputed from events)"
    )
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        proof = audit.inclusion_proof(net.ledger, 1, new)
        timings.append(time.perf_counter() - started)
    print(
        f"inclusion proof of transfer 1 (event {proof['seq']}) in {new['size']:,} events, "
        f"{len(proof['audit_path'])} hashes, checked against the ledger and self-verified: "
        f"{min(timings) * 1000:.1f} ms (best of 5; first {timings[0] * 1000:.1f} ms)"
    )
    started = time.perf_counter()
    consistency = audit.consistency_proof(net.ledger, old, new)
    print(
        f"consistency proof {old['size']:,} → {new['size']:,} ({len(consistency['path'])} "
        f"hashes): {(time.perf_counter() - started) * 1000:.1f} ms"
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else TRANSFERS_DEFAULT
    events = int(sys.argv[2]) if len(sys.argv) > 2 else EVENTS_DEFAULT
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, SQLite")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        bench_verify(root, count)
        bench_chain(root)
        bench_checkpoint(root, events)


if __name__ == "__main__":
    main()
