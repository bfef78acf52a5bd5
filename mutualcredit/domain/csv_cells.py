"""CSV cells a spreadsheet will show, never run (CSV or "formula" injection).

A spreadsheet opening a CSV file reads a cell beginning with ``=``, ``+``,
``-`` or ``@`` as a formula (``=HYPERLINK(...)`` can send data away; older
programs ran commands), and a leading TAB or carriage return can hide one.
Memos, names and handles come from members, so every CSV the ledger writes
(``export csv``, ``report settlement --format csv``) passes each cell through
:func:`csv_cell`, following OWASP: such a text cell gets a leading ``'``,
which spreadsheets show as text and hide.

Numbers are left alone: a cell that is a plain decimal number such as
``-30.00`` (an amount as :func:`~mutualcredit.domain.amounts.format_amount`
writes it) is not a formula, and quoting it would turn amounts into text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")


def csv_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_PREFIXES)
        and not _NUMBER_RE.match(value)
    ):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through :func:`csv_cell`."""
    return [csv_cell(value) for value in values]
