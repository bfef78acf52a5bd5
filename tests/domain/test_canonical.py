import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualcredit.domain.canonical import canonical_json

keys = st.text(alphabet=st.characters(codec="ascii"), max_size=8)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
)
documents = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(keys | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(documents)
def test_fast_path_equals_rfc8785(document: object) -> None:
    try:
        expected = rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, ValueError, UnicodeEncodeError):
        return
    assert canonical_json(document) == expected


def test_key_order_is_by_utf16_code_units_for_non_ascii_keys() -> None:
    document = {"\U0001f600": 1, "\uff61": 2}
    assert canonical_json(document) == rfc8785.dumps(document)
