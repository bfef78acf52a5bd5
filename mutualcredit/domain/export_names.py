"""Names, commodities and transactions as hledger and beancount write them.

Our ledger already speaks plain-text accounting: account names are
colon-separated segments (``members:ana``, ``collectives:cubo:cash:bilheteria``,
``network:clearing:cubo``, ``income:festivals:grito-rock-2026``), each segment
``[a-z0-9][a-z0-9._-]{0,31}``, and a positive posting is money arriving in an
account, as in hledger and beancount.  Exporting is therefore mostly a matter
of spelling, and this module holds that spelling in one place.  Every mapping
here is deterministic and *injective* — two different names of ours never
become the same exported name — and the beancount one can be undone
(:func:`account_from_beancount`), which is how the tests prove it.

**hledger accounts** are our names unchanged: hledger accepts any text
between colons except two spaces in a row, which our alphabet cannot contain.
:func:`hledger_account_type` gives the type (``A`` asset, ``L`` liability,
``E`` equity, ``R`` revenue, ``X`` expense) for ``account`` directives, the
same classification as beancount's roots below.

**beancount accounts** must start with one of the five roots ``Assets``,
``Liabilities``, ``Equity``, ``Income``, ``Expenses``, and every component
after it must start with a capital letter or a digit and contain only
letters, digits and ``-``.  The rule:

1. The first segment chooses the root.  ``liabilities``, ``equity``,
   ``income`` and ``expenses`` *become* that root (``income:festivals:x`` is
   ``Income:Festivals:X``).  Every other first segment — ``members``,
   ``collectives``, ``network``, and also ``assets`` — is kept as a component
   under ``Assets`` (``members:ana`` is ``Assets:Members:Ana``;
   ``assets:x`` would be ``Assets:Assets:X``).  Keeping it is what keeps the
   mapping injective: the root plus the second component always tell which
   first segment a name had.  Why ``Assets``: each of these accounts is
   something its holder has (negative when the holder owes the network), and
   our signs are exported as they are, which is the asset convention.  An
   income account is negative when it has earned, as in beancount.
2. Each segment becomes a component: its first character is capitalised
   (``a-z`` to ``A-Z``; a digit stays a digit, which beancount 3 accepts),
   and in the rest, ``.`` is written ``D`` (dot) and ``_`` is written ``U``
   (underscore).  Letters after the first are always lower case in our
   names, so a capital letter after the first character can only be one of
   these two escapes and decoding is unambiguous.  ``-`` and digits stay.
   ``joao.silva`` is ``JoaoDsilva``, ``grito_rock-2026`` is ``GritoUrock-2026``.

**Commodities**: our currency codes (``[A-Z][A-Z0-9]{1,9}``) are valid
beancount commodities as they are.  hledger needs a symbol with anything but
letters in double quotes, so ``C2`` is written ``"C2"`` there.

**Transactions** (:func:`render_hledger_transaction`,
:func:`render_beancount_transaction`) carry the date, the memo, the transfer
id and optional hours and other metadata, and amounts written exactly by
:func:`~mutualcredit.domain.amounts.format_amount`.  In beancount the memo is
a double-quoted string with ``\\``, ``"``, newlines, carriage returns and tabs
escaped, so it round-trips exactly.  hledger has no escapes in a
description: a ``;`` starts a comment and a newline ends the line, so there
each ``;`` is written as the full-width semicolon ``；`` (U+FF1B), tabs and
line breaks as spaces, and hledger itself trims spaces around the
description.  The transfer id tag leads back to the exact memo.  A
description starting with ``(`` would be read as a transaction code, so an
empty code ``()`` is written before it.  Quotes, backslashes, SQL, emoji and
right-to-left text need nothing else in either tool.  Other control
characters are refused when a memo is recorded
(:func:`~mutualcredit.domain.names.validate_text`), so here they are a
programmer error.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from mutualcredit.domain.amounts import Currency, format_amount, validate_currency_code
from mutualcredit.domain.errors import InvalidName
from mutualcredit.domain.names import HANDLE_RE, validate_account_name

BEANCOUNT_ROOTS = ("Assets", "Liabilities", "Equity", "Income", "Expenses")
# First segments that become a beancount root; every other one goes under Assets.
_ROOT_OF_FIRST_SEGMENT = {
    "liabilities": "Liabilities",
    "equity": "Equity",
    "income": "Income",
    "expenses": "Expenses",
}
_FIRST_SEGMENT_OF_ROOT = {root: segment for segment, root in _ROOT_OF_FIRST_SEGMENT.items()}
_HLEDGER_TYPE_OF_ROOT = {
    "Assets": "A",
    "Liabilities": "L",
    "Equity": "E",
    "Income": "R",
    "Expenses": "X",
}
# Characters of our alphabet that beancount does not allow, and their escapes.
_SEGMENT_ESCAPES = {".": "D", "_": "U"}
_SEGMENT_UNESCAPES = {escape: char for char, escape in _SEGMENT_ESCAPES.items()}
_BEANCOUNT_COMPONENT_RE = re.compile(r"^[A-Z0-9][A-Za-z0-9-]*$")
_BEANCOUNT_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HLEDGER_DESCRIPTION_REPLACEMENTS = {";": "\uff1b", "\n": " ", "\r": " ", "\t": " "}
METADATA_KEY_RE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
HOURS_RE = re.compile(r"^[0-9]{1,6}(?:\.[0-9]{1,6})?$")


# --- accounts ---------------------------------------------------------------


def hledger_account(name: str) -> str:
    """Our account name as an hledger account name: unchanged."""
    return validate_account_name(name)


def hledger_account_type(name: str) -> str:
    """The hledger account type letter (``A``, ``L``, ``E``, ``R``, ``X``) of ``name``."""
    return _HLEDGER_TYPE_OF_ROOT[beancount_account(name).split(":", 1)[0]]


def beancount_component(segment: str) -> str:
    """One segment of ours as one beancount component: ``joao.silva`` -> ``JoaoDsilva``."""
    assert HANDLE_RE.match(segment), segment
    rest = "".join(_SEGMENT_ESCAPES.get(char, char) for char in segment[1:])
    return segment[0].upper() + rest


def segment_from_beancount(component: str) -> str:
    """Undo :func:`beancount_component`: ``JoaoDsilva`` -> ``joao.silva``."""
    if not _BEANCOUNT_COMPONENT_RE.match(component) or any(
        char.isupper() and char not in _SEGMENT_UNESCAPES for char in component[1:]
    ):
        raise InvalidName(f"{component!r} is not a beancount component made by mutualcredit")
    rest = "".join(_SEGMENT_UNESCAPES.get(char, char) for char in component[1:])
    return component[0].lower() + rest


def beancount_account(name: str) -> str:
    """Our account name as a beancount account name (see the module docstring)."""
    first, *rest = validate_account_name(name).split(":")
    root = _ROOT_OF_FIRST_SEGMENT.get(first)
    if root is None:
        root, rest = "Assets", [first, *rest]
    return ":".join([root, *(beancount_component(segment) for segment in rest)])


def account_from_beancount(name: str) -> str:
    """Undo :func:`beancount_account`; raise :class:`InvalidName` for foreign names."""
    root, *components = name.split(":")
    if root not in BEANCOUNT_ROOTS or not components:
        raise InvalidName(f"{name!r} is not a beancount account made by mutualcredit")
    segments = [segment_from_beancount(component) for component in components]
    if root != "Assets":
        segments.insert(0, _FIRST_SEGMENT_OF_ROOT[root])
    elif segments[0] in _ROOT_OF_FIRST_SEGMENT:
        # Assets:Income:X is not ours: income:x maps to Income:X.
        raise InvalidName(f"{name!r} is not a beancount account made by mutualcredit")
    try:
        return validate_account_name(":".join(segments))
    except InvalidName:
        raise InvalidName(f"{name!r} is not a beancount account made by mutualcredit") from None


# --- commodities ------------------------------------------------------------


def beancount_commodity(code: str) -> str:
    """Our currency code as a beancount commodity: unchanged (``CARD``, ``BRL``)."""
    return validate_currency_code(code)


def hledger_commodity(code: str) -> str:
    """Our currency code as an hledger commodity symbol: quoted unless all letters."""
    validate_currency_code(code)
    return code if code.isalpha() else f'"{code}"'


# --- transactions -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportPosting:
    """One posting to export: ``amount`` minor units of ``currency`` (with ``scale``)."""

    account: str
    amount: int
    currency: str
    scale: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportTransaction:
    """A posted transfer as the exports see it.

    ``hours`` is a decimal string (``"2.5"``) for exchanges of time.
    ``metadata`` holds further ``(key, value)`` pairs, e.g. ``("reverses", id)``;
    keys are ``[a-z][a-z0-9-]{1,31}`` and values are ids or decimal strings.
    """

    date: datetime.date
    memo: str
    transfer_id: str
    postings: tuple[ExportPosting, ...]
    hours: str | None = None
    metadata: tuple[tuple[str, str], ...] = field(default=())


def _assert_no_other_control_characters(text: str, allowed: str) -> None:
    for char in text:
        assert char in allowed or unicodedata.category(char) != "Cc", (
            f"control character U+{ord(char):04X} in exported text"
        )


def _metadata_pairs(transaction: ExportTransaction) -> list[tuple[str, str]]:
    """All metadata as checked pairs, the transfer id first."""
    pairs = [("transfer-id", transaction.transfer_id)]
    if transaction.hours is not None:
        assert HOURS_RE.match(transaction.hours), transaction.hours
        pairs.append(("hours", transaction.hours))
    pairs.extend(transaction.metadata)
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate metadata keys: {keys}"
    for key, value in pairs:
        assert METADATA_KEY_RE.match(key), key
        # A comma ends an hledger tag value; ids and decimals never need one.
        assert value and value.isprintable() and "," not in value, (key, value)
    return pairs


def _assert_balanced(postings: Iterable[ExportPosting]) -> None:
    totals: dict[str, int] = {}
    for posting in postings:
        totals[posting.currency] = totals.get(posting.currency, 0) + posting.amount
    assert all(total == 0 for total in totals.values()), f"unbalanced transfer: {totals}"


def beancount_string(text: str) -> str:
    """``text`` as a beancount double-quoted string, escaped so it reads back exactly."""
    _assert_no_other_control_characters(text, allowed="\n\r\t")
    return '"' + "".join(_BEANCOUNT_STRING_ESCAPES.get(char, char) for char in text) + '"'


def hledger_description(memo: str) -> str:
    """``memo`` as an hledger description (see the module docstring for what changes)."""
    _assert_no_other_control_characters(memo, allowed="\n\r\t")
    text = "".join(_HLEDGER_DESCRIPTION_REPLACEMENTS.get(char, char) for char in memo).strip()
    return f"() {text}" if text.startswith("(") else text


def render_hledger_transaction(transaction: ExportTransaction) -> str:
    """One transaction as hledger journal text, ending with a newline."""
    _assert_balanced(transaction.postings)
    header = f"{transaction.date.isoformat()} * {hledger_description(transaction.memo)}"
    lines = [header.rstrip()]
    lines += [f"    ; {key}: {value}" for key, value in _metadata_pairs(transaction)]
    for posting in transaction.postings:
        amount = format_amount(posting.amount, posting.scale)
        commodity = hledger_commodity(posting.currency)
        lines.append(f"    {hledger_account(posting.account)}  {amount} {commodity}")
    return "\n".join(lines) + "\n"


def render_beancount_transaction(transaction: ExportTransaction) -> str:
    """One transaction as beancount text, ending with a newline.

    Hours are written as a number (so ``bean-query`` can add them up); every
    other metadata value is a string.
    """
    _assert_balanced(transaction.postings)
    lines = [f"{transaction.date.isoformat()} * {beancount_string(transaction.memo)}"]
    for key, value in _metadata_pairs(transaction):
        shown = value if key == "hours" else beancount_string(value)
        lines.append(f"  {key}: {shown}")
    for posting in transaction.postings:
        amount = format_amount(posting.amount, posting.scale)
        commodity = beancount_commodity(posting.currency)
        lines.append(f"  {beancount_account(posting.account)}  {amount} {commodity}")
    return "\n".join(lines) + "\n"


# --- declarations -----------------------------------------------------------


def render_hledger_preamble(currencies: Iterable[Currency]) -> str:
    """Directives that start an hledger journal: the decimal mark and each commodity.

    Declaring ``.`` as the decimal mark keeps hledger from reading ``1.000``
    (scale 3) as one thousand.
    """
    lines = ["decimal-mark ."]
    for currency in currencies:
        sample = format_amount(1000 * 10**currency.scale, currency.scale)
        lines.append(f"commodity {sample} {hledger_commodity(currency.code)}")
    return "\n".join(lines) + "\n"


def render_hledger_account_directive(name: str) -> str:
    """An hledger ``account`` directive declaring ``name`` with its type."""
    return f"account {hledger_account(name)}  ; type: {hledger_account_type(name)}\n"


def render_beancount_open(*, date: datetime.date, name: str, currency: str) -> str:
    """A beancount ``open`` directive: every account must be opened before use."""
    account = beancount_account(name)
    return f"{date.isoformat()} open {account} {beancount_commodity(currency)}\n"
