"""The import register's row hash: pinned, since registers written by earlier versions hold it."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from mutualcredit.imports.service import CONTENT_HASH_LENGTH, content_hash

FIELDS = ("pedido", "data", "valor", "status")


def spec_hash(fields: tuple[str, ...], values: tuple[str | None, ...]) -> str:
    """The documented rule, written plainly: name\\x1fvalue pairs sorted by name."""
    pairs = sorted(zip(fields, values, strict=True))
    joined = "\x1e".join(f"{name}\x1f{(value or '').strip()}" for name, value in pairs)
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[:CONTENT_HASH_LENGTH]


def test_the_row_hash_is_the_one_earlier_versions_registered() -> None:
    rules = SimpleNamespace(fields_needed=FIELDS)
    assert (
        content_hash(rules, (" P-1 ", "01/02/2026 10:00", "40,00", "Aprovado"))
        == "409d1ee7201fe71688da8f2e6a3bb7ad"
    )
    assert (
        content_hash(rules, ("P-1", None, " 40,00 ", "Aprovado\t"))
        == "484982c48b9e25f291e9aa6f32507bfb"
    )
    assert (
        content_hash(SimpleNamespace(fields_needed=("a%s",)), ("é😀",))
        == "644ac1a91fd5a33545fba7b958a847d3"
    )


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
values = st.one_of(st.none(), st.text(max_size=12))


@given(st.lists(st.tuples(names, values), min_size=1, max_size=6, unique_by=lambda pair: pair[0]))
def test_the_row_hash_follows_the_documented_rule(pairs: list[tuple[str, str | None]]) -> None:
    fields = tuple(name for name, _ in pairs)
    row = tuple(value for _, value in pairs)
    assert content_hash(SimpleNamespace(fields_needed=fields), row) == spec_hash(fields, row)
