"""How fast is a checkpoint? Times the Merkle root and proofs over 1,000,000 events.

Run with ``python bench/bench_merkle.py [events]``.  The baseline, measured in
the same run over the same leaves, is the bare ``hashlib.sha256`` loop: one
hash per event and nothing else.  A Merkle root needs about two hashes per
event (one leaf, one interior node), so about twice the baseline is the floor
for pure Python.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mutualcredit.domain.events import event_bytes  # noqa: E402
from mutualcredit.domain.merkle import (  # noqa: E402
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    root_from_leaves,
    verify_inclusion,
)

EVENTS_DEFAULT = 1_000_000
RUNS = 3


def make_leaves(count: int) -> list[bytes]:
    """Event bytes as :func:`event_bytes` makes them (RFC 8785 is slow to call a million times)."""
    template = b'mutualcredit/event/v1\n{"body_hash":"%s","seq":%d,"type":"transfer"}'
    leaves = [
        template % (hashlib.sha256(b"%d" % seq).hexdigest().encode(), seq)
        for seq in range(1, count + 1)
    ]
    for seq in (1, count // 2, count):
        body_hash = hashlib.sha256(b"%d" % seq).hexdigest()
        assert leaves[seq - 1] == event_bytes(seq=seq, type="transfer", body_hash=body_hash)
    return leaves


def best_of(runs: int, work: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else EVENTS_DEFAULT
    print(f"{count:,} events, best of {RUNS} runs, Python {sys.version.split()[0]}")
    leaves = make_leaves(count)
    sha256 = hashlib.sha256

    def baseline() -> None:
        for leaf in leaves:
            sha256(leaf).digest()

    seconds_baseline, _ = best_of(RUNS, baseline)
    report("baseline: sha256 of each event, nothing else", seconds_baseline, seconds_baseline)

    seconds, root = best_of(RUNS, lambda: root_from_leaves(leaves, count))
    report("root_from_leaves (leaf hashing included)", seconds, seconds_baseline)

    leaf_hashes = [leaf_hash(leaf) for leaf in leaves]
    seconds, root_again = best_of(RUNS, lambda: root_from_leaf_hashes(iter(leaf_hashes), count))
    report("root_from_leaf_hashes (stored leaf hashes)", seconds, seconds_baseline)
    assert root == root_again

    index = count * 2 // 3
    seconds, proof = best_of(RUNS, lambda: inclusion_proof(leaf_hashes, index, count))
    report(f"inclusion_proof, in memory ({len(proof)} hashes)", seconds, seconds_baseline)

    assert isinstance(root, bytes) and isinstance(proof, list)
    seconds, valid = best_of(
        RUNS, lambda: verify_inclusion(leaf_hashes[index], index, count, proof, root)
    )
    assert valid is True
    print(f"  {'verify_inclusion':<48} {seconds * 1e6:9.1f} µs")
    print(f"  root: {root.hex()}")


def report(label: str, seconds: float, seconds_baseline: float) -> None:
    ratio = seconds / seconds_baseline
    print(f"  {label:<48} {seconds:7.3f} s   {ratio:4.2f}× baseline")


if __name__ == "__main__":
    main()
