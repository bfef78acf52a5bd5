"""RFC 9162 Merkle trees: known answers, and every proof of every small tree."""

from __future__ import annotations

import hashlib

import pytest

from mutualcredit.domain.merkle import (
    EMPTY_ROOT,
    PROOF_LENGTH_MAX,
    consistency_proof,
    consistency_proof_from_subtrees,
    consistency_proof_ranges,
    inclusion_proof,
    inclusion_proof_from_subtrees,
    inclusion_proof_ranges,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

SIZE_MAX_EXHAUSTIVE = 64

# The Certificate Transparency reference leaves and tree heads (used by the C++,
# Go and many other implementations' tests since RFC 6962).
CT_LEAVES = [
    bytes.fromhex(text)
    for text in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (index, size, audit path)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_LEAF_HASHES = [leaf_hash(leaf) for leaf in CT_LEAVES]


# --- A reference implementation: the RFC's recursive definitions, verbatim ---


def reference_root(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(reference_root(hashes[:k]), reference_root(hashes[k:]))


def reference_path(m: int, hashes: list[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return reference_path(m, hashes[:k]) + [reference_root(hashes[k:])]
    return reference_path(m - k, hashes[k:]) + [reference_root(hashes[:k])]


def reference_subproof(m: int, hashes: list[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [reference_root(hashes)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return reference_subproof(m, hashes[:k], complete) + [reference_root(hashes[k:])]
    return reference_subproof(m - k, hashes[k:], False) + [reference_root(hashes[:k])]


def make_leaf_hashes(count: int) -> list[bytes]:
    return [leaf_hash(b"event %d" % number) for number in range(count)]


def flipped(digest: bytes, position: int = 0) -> bytes:
    return digest[:position] + bytes([digest[position] ^ 0x01]) + digest[position + 1 :]


LEAF_HASHES = make_leaf_hashes(SIZE_MAX_EXHAUSTIVE + 1)
ROOTS = [reference_root(LEAF_HASHES[:size]) for size in range(SIZE_MAX_EXHAUSTIVE + 2)]


# --- Known answers ----------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert root_from_leaf_hashes([], 0) == EMPTY_ROOT
    assert root_from_leaves(iter([b"ignored"]), 0) == EMPTY_ROOT


def test_leaf_and_node_hashes_carry_their_prefix_bytes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert leaf_hash(b"").hex() == CT_ROOTS[1]
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_a_three_leaf_tree_computed_by_hand() -> None:
    a, b, c = (hashlib.sha256(b"\x00" + data).digest() for data in (b"a", b"b", b"c"))
    ab = hashlib.sha256(b"\x01" + a + b).digest()
    root = hashlib.sha256(b"\x01" + ab + c).digest()  # split at 2: ((a b) c)
    assert root_from_leaves([b"a", b"b", b"c"], 3) == root
    assert root_from_leaf_hashes([a, b, c], 3) == root
    assert inclusion_proof([a, b, c], 0, 3) == [b, c]
    assert inclusion_proof([a, b, c], 2, 3) == [ab]
    assert consistency_proof([a, b, c], 2, 3) == [c]
    assert consistency_proof([a, b, c], 1, 3) == [b, c]


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_roots_match_the_certificate_transparency_vectors(size: int) -> None:
    assert root_from_leaves(CT_LEAVES, size).hex() == CT_ROOTS[size]
    assert root_from_leaf_hashes(iter(CT_LEAF_HASHES), size).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "expected"), CT_INCLUSION)
def test_inclusion_proofs_match_the_vectors(index: int, size: int, expected: list[str]) -> None:
    proof = inclusion_proof(CT_LEAF_HASHES, index, size)
    assert [digest.hex() for digest in proof] == expected
    root = bytes.fromhex(CT_ROOTS[size])
    assert verify_inclusion(CT_LEAF_HASHES[index], index, size, proof, root)


@pytest.mark.parametrize(("old_size", "new_size", "expected"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_vectors(
    old_size: int, new_size: int, expected: list[str]
) -> None:
    proof = consistency_proof(CT_LEAF_HASHES, old_size, new_size)
    assert [digest.hex() for digest in proof] == expected
    old_root, new_root = bytes.fromhex(CT_ROOTS[old_size]), bytes.fromhex(CT_ROOTS[new_size])
    assert verify_consistency(old_size, new_size, old_root, new_root, proof)


# --- Streaming root ---------------------------------------------------------


def test_root_consumes_exactly_size_items_from_a_stream() -> None:
    stream = iter(LEAF_HASHES)
    assert root_from_leaf_hashes(stream, 5) == ROOTS[5]
    assert next(stream) == LEAF_HASHES[5]


def test_root_of_a_short_stream_is_a_programmer_error() -> None:
    with pytest.raises(AssertionError, match="expected 5 leaf hashes, got 4"):
        root_from_leaf_hashes(LEAF_HASHES[:4], 5)


def test_root_of_every_size_matches_the_recursive_definition() -> None:
    leaves = [b"event %d" % number for number in range(SIZE_MAX_EXHAUSTIVE + 1)]
    for size in range(SIZE_MAX_EXHAUSTIVE + 2):
        assert root_from_leaf_hashes(LEAF_HASHES, size) == ROOTS[size], size
        assert root_from_leaves(leaves, size) == ROOTS[size], size


# --- Inclusion: every leaf of every tree up to 64 leaves ----------------------


def test_every_inclusion_proof_verifies_and_every_tampering_fails() -> None:
    for size in range(1, SIZE_MAX_EXHAUSTIVE + 1):
        hashes, root = LEAF_HASHES[:size], ROOTS[size]
        for index in range(size):
            leaf = hashes[index]
            proof = inclusion_proof(LEAF_HASHES, index, size)
            assert proof == reference_path(index, hashes), (index, size)
            assert verify_inclusion(leaf, index, size, proof, root), (index, size)
            assert_inclusion_tamperings_fail(leaf, index, size, proof, root)


def assert_inclusion_tamperings_fail(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    case = (index, size)
    assert not verify_inclusion(flipped(leaf), index, size, proof, root), case
    assert not verify_inclusion(leaf, index, size, proof, flipped(root, 31)), case
    for position in range(len(proof)):
        tampered = [*proof[:position], flipped(proof[position]), *proof[position + 1 :]]
        assert not verify_inclusion(leaf, index, size, tampered, root), (case, position)
    for other in (index - 1, index + 1, size):
        assert not verify_inclusion(leaf, other, size, proof, root), (case, other)
    # The checkpoint states size and root together, so a wrong size comes with its root.
    for other_size in (size - 1, size + 1):
        if other_size > index:
            other_root = ROOTS[other_size]
            assert not verify_inclusion(leaf, index, other_size, proof, other_root), case
    if proof:
        assert not verify_inclusion(leaf, index, size, proof[:-1], root), case
    if len(proof) > 1:
        assert not verify_inclusion(leaf, index, size, proof[::-1], root), case
    assert not verify_inclusion(leaf, index, size, [*proof, root], root), case


def test_inclusion_proof_ranges_name_the_siblings_from_the_leaf_up() -> None:
    assert inclusion_proof_ranges(5, 8) == [(4, 5), (6, 8), (0, 4)]
    assert inclusion_proof_ranges(6, 7) == [(4, 6), (0, 4)]
    assert inclusion_proof_ranges(0, 1) == []


def test_inclusion_proof_from_subtrees_asks_only_for_the_path() -> None:
    asked: list[tuple[int, int]] = []

    def subtree_root(start: int, end: int) -> bytes:
        asked.append((start, end))
        return root_from_leaf_hashes(LEAF_HASHES[start:end], end - start)

    proof = inclusion_proof_from_subtrees(37, 60, subtree_root)
    assert proof == reference_path(37, LEAF_HASHES[:60])
    assert asked == inclusion_proof_ranges(37, 60)
    assert len(asked) == 6


def test_verify_inclusion_refuses_malformed_input_without_raising() -> None:
    leaf, root = LEAF_HASHES[0], ROOTS[1]
    assert verify_inclusion(leaf, 0, 1, [], root)
    assert not verify_inclusion(leaf, 0, 0, [], root)
    assert not verify_inclusion(leaf, -1, 1, [], root)
    assert not verify_inclusion(leaf.hex(), 0, 1, [], root)  # type: ignore[arg-type]
    assert not verify_inclusion(leaf, 0, 1, [], root[:31])
    assert not verify_inclusion(leaf, 0, 2, [b"short"], root)
    assert not verify_inclusion(leaf, 0, 2**60, [root] * (PROOF_LENGTH_MAX + 1), root)


# --- Consistency: every old size of every tree up to 64 leaves ----------------


def test_every_consistency_proof_verifies_and_every_tampering_fails() -> None:
    for new_size in range(1, SIZE_MAX_EXHAUSTIVE + 1):
        hashes = LEAF_HASHES[:new_size]
        for old_size in range(0, new_size + 1):
            proof = consistency_proof(LEAF_HASHES, old_size, new_size)
            expected = reference_subproof(old_size, hashes, True) if old_size else []
            assert proof == expected, (old_size, new_size)
            old_root, new_root = ROOTS[old_size], ROOTS[new_size]
            assert verify_consistency(old_size, new_size, old_root, new_root, proof)
            assert_consistency_tamperings_fail(old_size, new_size, proof)


def assert_consistency_tamperings_fail(old_size: int, new_size: int, proof: list[bytes]) -> None:
    case = (old_size, new_size)
    old_root, new_root = ROOTS[old_size], ROOTS[new_size]
    assert not verify_consistency(old_size, new_size, flipped(old_root), new_root, proof), case
    if old_size > 0:  # the empty tree is a prefix of every tree, whatever its root
        assert not verify_consistency(old_size, new_size, old_root, flipped(new_root), proof)
    for position in range(len(proof)):
        tampered = [*proof[:position], flipped(proof[position]), *proof[position + 1 :]]
        assert not verify_consistency(old_size, new_size, old_root, new_root, tampered), case
    if proof:
        assert not verify_consistency(old_size, new_size, old_root, new_root, proof[:-1]), case
    assert not verify_consistency(old_size, new_size, old_root, new_root, [*proof, new_root])
    # Other sizes, each with its true root: the proof holds only where it is that pair's proof.
    for other_old, other_new in (
        (old_size - 1, new_size),
        (old_size + 1, new_size),
        (old_size, new_size - 1),
        (old_size, new_size + 1),
        (new_size, old_size),
    ):
        if 0 <= other_old <= other_new <= SIZE_MAX_EXHAUSTIVE + 1:
            valid = proof == consistency_proof(LEAF_HASHES, other_old, other_new)
            claim = (other_old, other_new, ROOTS[other_old], ROOTS[other_new], proof)
            assert verify_consistency(*claim) == valid, (case, other_old, other_new)


def test_consistency_proof_ranges() -> None:
    assert consistency_proof_ranges(6, 8) == [(4, 6), (6, 8), (0, 4)]
    assert consistency_proof_ranges(4, 8) == [(4, 8)]
    assert consistency_proof_ranges(0, 8) == []
    assert consistency_proof_ranges(8, 8) == []


def test_consistency_proof_from_subtrees_matches_the_in_memory_proof() -> None:
    def subtree_root(start: int, end: int) -> bytes:
        return root_from_leaf_hashes(LEAF_HASHES[start:end], end - start)

    for old_size in range(0, 61):
        assert consistency_proof_from_subtrees(old_size, 60, subtree_root) == consistency_proof(
            LEAF_HASHES, old_size, 60
        )


def test_verify_consistency_edge_cases() -> None:
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    assert not verify_consistency(0, 5, ROOTS[1], ROOTS[5], [])  # not the empty tree's root
    assert not verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [ROOTS[5]])
    assert verify_consistency(7, 7, ROOTS[7], ROOTS[7], [])
    assert not verify_consistency(7, 7, ROOTS[7], ROOTS[7], [ROOTS[7]])
    assert not verify_consistency(3, 7, ROOTS[3], ROOTS[7], [])
    assert not verify_consistency(7, 3, ROOTS[7], ROOTS[3], [ROOTS[1]])
    assert not verify_consistency(3, 7, ROOTS[3].hex(), ROOTS[7], [])  # type: ignore[arg-type]
