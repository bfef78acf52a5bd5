"""Merkle trees over the ledger's events (RFC 9162, Certificate Transparency v2).

The ledger's events, in commit order, are the leaves of a binary hash tree.
The tree's root — the *Merkle tree hash* (MTH) — is a 32-byte digest that
commits to every event and to their order.  A coordinator signs the root in a
checkpoint; afterwards two kinds of short proofs can be checked by anyone,
offline, with nothing but SHA-256:

- an **inclusion proof** (audit path) shows that one event is leaf ``index``
  of the tree of ``size`` leaves whose root the checkpoint states.  It holds
  about log2(size) hashes: the roots of the sibling subtrees met on the way
  from the leaf up to the root;
- a **consistency proof** shows that the tree of ``old_size`` leaves is a
  prefix of the tree of ``new_size`` leaves: nothing in the past was edited,
  removed, inserted or reordered, only new events were appended.

RFC 9162 fixes the hashing so that any implementation agrees on the root:

- a leaf hash is ``SHA-256(0x00 || leaf bytes)`` and an interior node is
  ``SHA-256(0x01 || left || right)``; the different first bytes keep a leaf
  from ever passing for an interior node (a second-preimage attack);
- the tree of ``n > 1`` leaves splits at ``k``, the largest power of two
  smaller than ``n``: ``MTH(D[0:n]) = node(MTH(D[0:k]), MTH(D[k:n]))``.  So
  the left part is always a complete (perfect) subtree and only the right
  edge of the tree is ragged;
- the root of the empty tree is ``SHA-256("")``.

Here the leaf bytes are the event bytes of :mod:`mutualcredit.domain.events`.
Everything in this module is pure: hashes are raw 32-byte ``bytes``, indices
are 0-based (an event's ``seq`` is ``index + 1``).

The root is computed streaming, the way a binary counter counts: a stack
holds the roots of the complete subtrees seen so far (at most one of each
height, so O(log n) memory), and each new leaf is merged with the stack's top
while the two have the same height.  At the end the stack is folded from the
right, which gives exactly the RFC's split at the largest power of two.

Proofs over a large ledger need the roots of a few subtrees ``[start, end)``
only.  :func:`inclusion_proof_ranges` and :func:`consistency_proof_ranges`
name those ranges, and the ``*_from_subtrees`` helpers build a proof from any
callable that returns a subtree's root — a service can answer it from stored
leaf hashes (or cached roots of complete subtrees) without materialising the
whole tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from itertools import islice

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# Event bytes carry ``seq`` as an RFC 8785 number, which is exact up to 2**53 - 1.
TREE_SIZE_MAX = 2**53 - 1
# A proof in a tree of at most 2**53 leaves has at most 53 (inclusion) or
# 54 (consistency) hashes; anything longer is refused before any hashing.
PROOF_LENGTH_MAX = 64

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

SubtreeRoot = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (``size`` >= 2)."""
    assert size >= 2, size
    return 1 << ((size - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Iterable[bytes], size: int) -> bytes:
    """The Merkle tree hash of the first ``size`` leaf hashes, in O(log size) memory.

    ``hashes`` may be any iterable (a database cursor, a generator); exactly
    ``size`` items are consumed.
    """
    assert 0 <= size <= TREE_SIZE_MAX, size
    if size == 0:
        return EMPTY_ROOT
    sha256, prefix = _sha256, _NODE_PREFIX
    stack: list[bytes] = []
    push, pop = stack.append, stack.pop
    count = 0
    for digest in islice(hashes, size):
        count += 1
        # Merge once per trailing zero bit of the new count: that is how many
        # complete subtrees of equal height this leaf closes.
        carry = count
        while not carry & 1:
            digest = sha256(prefix + pop() + digest).digest()
            carry >>= 1
        push(digest)
    assert count == size, f"expected {size} leaf hashes, got {count}"
    return _fold_right(stack)


def root_from_leaves(leaves: Iterable[bytes], size: int) -> bytes:
    """The Merkle tree hash of the first ``size`` leaves (raw leaf bytes).

    Same as ``root_from_leaf_hashes(map(leaf_hash, leaves), size)``, with the
    leaf hashing inlined because this loop is the hot path of a checkpoint.
    """
    assert 0 <= size <= TREE_SIZE_MAX, size
    if size == 0:
        return EMPTY_ROOT
    sha256, leaf_prefix, node_prefix = _sha256, _LEAF_PREFIX, _NODE_PREFIX
    stack: list[bytes] = []
    push, pop = stack.append, stack.pop
    count = 0
    for leaf in islice(leaves, size):
        digest = sha256(leaf_prefix + leaf).digest()
        count += 1
        carry = count
        while not carry & 1:
            digest = sha256(node_prefix + pop() + digest).digest()
            carry >>= 1
        push(digest)
    assert count == size, f"expected {size} leaves, got {count}"
    return _fold_right(stack)


def _fold_right(stack: list[bytes]) -> bytes:
    """Join the complete subtrees left on the stack, smallest (rightmost) first."""
    digest = stack.pop()
    while stack:
        digest = node_hash(stack.pop(), digest)
    return digest


# --- Inclusion proofs -------------------------------------------------------


def inclusion_proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees ``[start, end)`` whose roots form the audit path of leaf ``index``.

    Listed in proof order: the leaf's sibling first, the root's child last
    (RFC 9162 §2.1.3.1, PATH(m, D[n])).
    """
    assert 0 <= index < size <= TREE_SIZE_MAX, (index, size)
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + split_point(end - start)
        if index < middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
    ranges.reverse()
    return ranges


def inclusion_proof_from_subtrees(index: int, size: int, subtree_root: SubtreeRoot) -> list[bytes]:
    """The audit path of leaf ``index`` built from ``subtree_root(start, end)``."""
    return [subtree_root(start, end) for start, end in inclusion_proof_ranges(index, size)]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaf hashes."""
    assert size <= len(leaf_hashes), (size, len(leaf_hashes))
    return inclusion_proof_from_subtrees(index, size, _sequence_subtree_root(leaf_hashes))


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows ``leaf_hash`` is leaf ``index`` of the tree with ``root``.

    The algorithm of RFC 9162 §2.1.3.2, step for step.
    """
    if not (0 <= index < size <= TREE_SIZE_MAX) or len(proof) > PROOF_LENGTH_MAX:
        return False
    if not _all_hashes([leaf_hash, root, *proof]):
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- Consistency proofs -----------------------------------------------------


def consistency_proof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The subtrees ``[start, end)`` whose roots form the consistency proof.

    RFC 9162 §2.1.4.1, PROOF(m, D[n]) = SUBPROOF(m, D[n], true), unrolled:
    walk down the new tree towards the old tree's right edge, collecting the
    sibling subtrees; if the walk ends inside the right part of some split,
    the old tree's last complete subtree is needed as well.
    """
    assert 0 <= old_size <= new_size <= TREE_SIZE_MAX, (old_size, new_size)
    ranges: list[tuple[int, int]] = []
    if old_size in (0, new_size):
        return ranges
    start, end, whole_old_tree = 0, new_size, True
    while old_size != end:
        middle = start + split_point(end - start)
        if old_size <= middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
            whole_old_tree = False
    if not whole_old_tree:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def consistency_proof_from_subtrees(
    old_size: int, new_size: int, subtree_root: SubtreeRoot
) -> list[bytes]:
    """The consistency proof between two sizes built from ``subtree_root(start, end)``."""
    return [subtree_root(start, end) for start, end in consistency_proof_ranges(old_size, new_size)]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """The proof that the first ``old_size`` leaves are a prefix of the first ``new_size``."""
    assert new_size <= len(leaf_hashes), (new_size, len(leaf_hashes))
    return consistency_proof_from_subtrees(old_size, new_size, _sequence_subtree_root(leaf_hashes))


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 §2.1.4.2, plus the cases it leaves to the caller: equal sizes
    need an empty proof and equal roots; the empty tree (whose root must be
    SHA-256("")) is a prefix of every tree.
    """
    if not (0 <= old_size <= new_size <= TREE_SIZE_MAX) or len(proof) > PROOF_LENGTH_MAX:
        return False
    if not _all_hashes([old_root, new_root, *proof]):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


# --- Helpers ----------------------------------------------------------------


def _sequence_subtree_root(leaf_hashes: Sequence[bytes]) -> SubtreeRoot:
    """A ``subtree_root`` over an in-memory sequence; a proof then costs O(size) hashes."""

    def subtree_root(start: int, end: int) -> bytes:
        return root_from_leaf_hashes(map(leaf_hashes.__getitem__, range(start, end)), end - start)

    return subtree_root


def _all_hashes(values: Iterable[object]) -> bool:
    return all(isinstance(value, bytes) and len(value) == HASH_SIZE for value in values)
