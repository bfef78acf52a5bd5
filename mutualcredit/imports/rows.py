"""From raw records to balanced postings: the pure heart of an import.

Each :class:`~mutualcredit.imports.reader.Record` becomes exactly one of:

- a :class:`ParsedRow` — external id, the moment it happened (aware, UTC),
  the amount in integer minor units, a description, and the postings of one
  balanced transfer, as ``(account, currency, signed minor units)`` tuples
  that sum to zero per currency;
- a :class:`Filtered` — a row the rules leave out on purpose (a cancelled
  order, a zero amount, a refund when refunds are filtered); counted, not a
  problem;
- one or more :class:`~mutualcredit.imports.reader.Problem` values, each
  ``FILE:LINE:COLUMN: message``.  Every field of a row is checked, so a row
  with a bad amount *and* a bad date reports both.

Signs follow hledger and beancount: a debit is a negative posting.  The
rules' ``accounts.debit`` (the festival's income account) gets ``-amount``;
the credited account or accounts (cash boxes, the network fund) get the
amount.  With ``[issuance]``, two more postings in the card's currency move
the issued value from an issuing account to the collective's fund.

Amounts are parsed by our own parser, not ``float`` and not ``Decimal``: the
rules declare the decimal mark and the thousands separator, and the parser
accepts only those (``1.200,00``), refusing everything else with a reason
(``12,5,0``, ``R$ 40,00``, ``1.20,00``).  Parsed amounts and dates are cached
per distinct text, because exports repeat the same few prices and minutes;
each cache is bounded and simply cleared when full.

:func:`parse_file` runs a whole file through the reader and the row parser;
it also refuses an external id seen twice in the same file.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

from mutualcredit.domain.amounts import AMOUNT_MAX, format_amount
from mutualcredit.domain.dates import DATE_MAX, DATE_MIN
from mutualcredit.domain.errors import UsageError
from mutualcredit.domain.names import MEMO_LENGTH_MAX, validate_account_name, validate_text
from mutualcredit.imports.reader import SIZE_LIMIT_DEFAULT, Problem, Record, SourceReader
from mutualcredit.imports.rules import ISO_8601, PLACEHOLDER_RE, Rules, compile_date_format

EXTERNAL_ID_LENGTH_MAX = 160  # the source name, ':' and this fit an idempotency key (200)
# Entries per cache of parsed amounts, dates and accounts (each is emptied when full): about
# three days of distinct minutes.  At 65,536 the caches of a 1M-row import's validating
# process held 30 MiB more; the parser was about 5% faster on bench/bench_parse.py's
# export, whose times are spread over 90 days (122k vs 130k rows/s, one run each).
CACHE_SIZE_MAX = 4096

Posting = tuple[str, str, int]  # (account, currency code, signed minor units)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedRow:
    """A row that will become one balanced transfer."""

    source: str
    external_id: str
    line: int
    occurred_at: datetime
    amount: int
    currency: str
    description: str
    postings: tuple[Posting, ...]
    text: str

    @property
    def idempotency_key(self) -> str:
        """The transfer's idempotency key: source name and external id."""
        return f"{self.source}:{self.external_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Filtered:
    """A row the rules leave out on purpose, with the reason (for the summary)."""

    line: int
    external_id: str
    reason: str
    text: str


class FieldInvalid(Exception):
    """A field's value is wrong (raised by the value parsers); becomes a Problem there."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


class SeenIds:
    """The external ids of one file, and the line each was first seen on, in little memory.

    A million ids as a ``dict`` of strings take over 150 MiB; here each id is
    reduced to Python's 64-bit string hash (SipHash with a per-process random
    key, and already cached on the string) in an open-addressing table of two
    flat arrays: 12 bytes a slot, 24 MiB for a million ids.  Two different
    ids share a hash with a probability of about n²/2⁶⁵ (3·10⁻⁸ for a million
    rows); the only effect would be a row refused as a duplicate, and the next
    run, with a new random key, would accept it.
    """

    def __init__(self, capacity: int = 1024) -> None:
        size = 1 << max(10, (2 * capacity - 1).bit_length())
        self._keys = array("q", bytes(8 * size))
        self._lines = array("q", bytes(8 * size))
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, external_id: str, line: int) -> int:
        """Remember ``external_id`` at ``line``; return the line it was first seen on."""
        key = hash(external_id) or 1  # 0 marks an empty slot
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self._lines[slot]
            if found == 0:
                break
            slot = (slot + 1) & mask
        keys[slot] = key
        self._lines[slot] = line
        self._count += 1
        if self._count * 2 > mask:
            self._grow()
        return line

    def _grow(self) -> None:
        old_keys, old_lines = self._keys, self._lines
        size = 2 * (self._mask + 1)
        self._keys = array("q", bytes(8 * size))
        self._lines = array("q", bytes(8 * size))
        self._mask = size - 1
        keys, lines, mask = self._keys, self._lines, self._mask
        for index, key in enumerate(old_keys):
            if not key:
                continue
            line = old_lines[index]
            slot = key & mask
            while keys[slot]:
                slot = (slot + 1) & mask
            keys[slot] = key
            lines[slot] = line


def split_amount(amount: int, weights: tuple[int, ...]) -> tuple[int, ...]:
    """Share ``amount`` minor units in proportion to ``weights``, losing nothing.

    The largest-remainder method (Hamilton's): each share first gets the
    whole part of ``amount * weight / total``; the centavos left over (fewer
    than the number of shares) go one each to the shares with the largest
    remainders, ties going to the share listed first in the rules.  The shares
    always add up to ``amount`` exactly, and the result depends only on the
    amount and the weights.  A negative amount is split as its absolute value
    and negated, so a refund mirrors the sale it undoes.

    >>> split_amount(10000, (1, 1, 1))
    (3334, 3333, 3333)
    """
    assert weights and all(weight >= 0 for weight in weights) and sum(weights) > 0, weights
    if amount < 0:
        return tuple(-share for share in split_amount(-amount, weights))
    total = sum(weights)
    shares = [amount * weight // total for weight in weights]
    remainders = [amount * weight % total for weight in weights]
    left = amount - sum(shares)
    order = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in order[:left]:
        shares[index] += 1
    assert sum(shares) == amount
    return tuple(shares)


class AmountParser:
    """Parse amounts written with the rules' decimal mark and thousands separator."""

    def __init__(self, rules: Rules) -> None:
        self.scale = rules.currency_scales[rules.currency]
        self.currency = rules.currency
        self.mark = rules.decimal_mark
        self.separator = rules.thousands_separator
        self.strip = rules.strip
        mark, separator = re.escape(self.mark), re.escape(self.separator)
        whole = rf"[0-9]{{1,3}}(?:{separator}[0-9]{{3}})+|[0-9]+" if self.separator else r"[0-9]+"
        self._pattern = re.compile(rf"(-?)({whole})(?:{mark}([0-9]+))?\Z")
        self._cache: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        """Signed minor units; raises ``FieldInvalid`` with a reason."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        match = self._pattern.match(self._stripped(text))
        if match is None:
            raise FieldInvalid(self._diagnose(text), "amount")
        sign, whole, fraction = match.groups()
        fraction = fraction or ""
        if len(fraction) > self.scale:
            raise FieldInvalid(
                f"amount {text!r} has {len(fraction)} decimals; {self.currency} has {self.scale}",
                "amount",
            )
        if self.separator:
            whole = whole.replace(self.separator, "")
        minor = int(whole) * 10**self.scale + int(fraction.ljust(self.scale, "0") or "0")
        if minor > AMOUNT_MAX:
            limit = format_amount(AMOUNT_MAX, self.scale)
            raise FieldInvalid(f"amount {text!r} is too large; at most {limit}", "amount_too_large")
        if len(self._cache) >= CACHE_SIZE_MAX:
            self._cache.clear()
        self._cache[text] = minor = -minor if sign else minor
        return minor

    def _stripped(self, text: str) -> str:
        text = text.strip()
        if not self.strip:
            return text
        sign = "-" if text.startswith("-") else ""
        body = text[len(sign) :].lstrip()
        for prefix in self.strip:
            if body.startswith(prefix):
                return sign + body[len(prefix) :].strip()
        return text

    def _diagnose(self, text: str) -> str:
        """Say why ``text`` is not an amount, as precisely as we can."""
        shown = text if len(text) <= 40 else text[:37] + "..."
        body = self._stripped(text)
        if not body:
            return "the amount is empty"
        expected = (
            f"expected digits with {self.mark!r} as decimal mark"
            + (f" and {self.separator!r} between thousands" if self.separator else "")
            + f", e.g. {self._example()}"
        )
        allowed = set("0123456789-") | {self.mark, self.separator}
        stray = next((char for char in body if char not in allowed), None)
        if stray is not None:
            hint = (
                "; only the digits 0-9 are read"
                if stray.isdigit()
                else "; amounts.strip can remove a currency symbol"
            )
            return f"amount {shown!r} contains {stray!r}; {expected}{hint}"
        if body.count(self.mark) > 1:
            return f"amount {shown!r} has more than one decimal mark {self.mark!r}"
        if "-" in body[1:] or body == "-":
            return f"amount {shown!r} has a misplaced '-'; {expected}"
        if self.separator and self.separator in body:
            return f"amount {shown!r} has misplaced thousands separators {self.separator!r}"
        return f"amount {shown!r} is not valid; {expected}"

    def _example(self) -> str:
        whole = f"1{self.separator}234" if self.separator else "1234"
        return whole + (self.mark + "5" * self.scale if self.scale else "")


class DateParser:
    """Parse dates with the rules' format into aware UTC datetimes.

    Local times (no offset in the data) are placed in ``dates.time_zone``.  A
    local time that a daylight-saving change skips does not exist and is
    refused; one that happens twice is ambiguous and is refused too, rather
    than guessed.
    """

    def __init__(self, rules: Rules) -> None:
        self.format = rules.date_format
        self.zone = ZoneInfo(rules.time_zone) if rules.time_zone else None
        self._pattern = None if self.format == ISO_8601 else compile_date_format(self.format)
        self._cache: dict[str, datetime] = {}

    def __call__(self, text: str) -> datetime:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        if not text.strip():
            raise FieldInvalid("the date is empty", "date")
        moment = self._aware(self._iso(text) if self._pattern is None else self._match(text), text)
        if len(self._cache) >= CACHE_SIZE_MAX:
            self._cache.clear()
        self._cache[text] = moment
        return moment

    def _iso(self, text: str) -> datetime:
        try:
            return datetime.fromisoformat(text.strip())
        except ValueError as error:
            if "out of range" in str(error):
                raise FieldInvalid(f"date {text!r} does not exist ({error})", "date") from None
            raise FieldInvalid(f"date {text!r} is not an ISO 8601 date and time", "date") from None

    def _match(self, text: str) -> datetime:
        assert self._pattern is not None
        match = self._pattern.match(text.strip())
        if match is None:
            raise FieldInvalid(f"date {text!r} does not match the format {self.format!r}", "date")
        parts = match.groupdict()
        year = int(parts["Y"]) if parts.get("Y") else 2000 + int(parts["y"])
        try:
            naive = datetime(
                year, int(parts["m"]), int(parts["d"]),
                int(parts.get("H") or 0), int(parts.get("M") or 0), int(parts.get("S") or 0),
            )  # fmt: skip
        except ValueError as error:
            raise FieldInvalid(f"date {text!r} does not exist ({error})", "date") from None
        offset = parts.get("z")
        if offset is None:
            return naive
        if offset == "Z":
            return naive.replace(tzinfo=UTC)
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:])
        return naive.replace(tzinfo=timezone(sign * timedelta(minutes=minutes)))

    def _aware(self, moment: datetime, text: str) -> datetime:
        if not DATE_MIN <= moment.date() <= DATE_MAX:
            raise FieldInvalid(
                f"date {text!r} is outside the dates the ledger accepts "
                f"({DATE_MIN.isoformat()} to {DATE_MAX.isoformat()})",
                "date",
            )
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
        if self.zone is None:
            raise FieldInvalid(
                f"date {text!r} has no time zone offset and the rules set no dates.time_zone",
                "date_zone",
            )
        local = moment.replace(tzinfo=self.zone)
        if local.utcoffset() != local.replace(fold=1).utcoffset():
            # A daylight-saving change: the time is skipped (a gap) or repeated (a fold).
            earlier = local.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None)
            what = "does not exist" if earlier != moment else "happens twice"
            raise FieldInvalid(f"date {text!r} {what} in {self.zone.key}", "date")
        return local.astimezone(UTC)


class RowParser:
    """Turns the records of one file into rows, filtered rows and problems.

    It keeps per-file state: the external ids seen (to refuse duplicates
    within the file) and bounded caches.  Use one parser per file.
    """

    def __init__(self, rules: Rules, *, file: str) -> None:
        self.rules = rules
        self.file = file
        self.parse_amount = AmountParser(rules)
        self.parse_date = DateParser(rules)
        index = {name: position for position, name in enumerate(rules.fields_needed)}
        self._index = index
        self._id, self._date, self._amount = (
            index[rules.field_external_id], index[rules.field_date], index[rules.field_amount],
        )  # fmt: skip
        self._description = (
            index[rules.field_description] if rules.field_description is not None else None
        )
        self._filters = [(index[rule.field], rule) for rule in rules.filters]
        self._placeholders = [(index[item.field], item) for item in rules.placeholders]
        self._templates = _templates(rules)
        self._accounts: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._splits: dict[int, tuple[int, ...]] = {}
        self._weights = tuple(share.weight for share in rules.shares)
        self._issuance = _issuance_factor(rules)
        self._seen = SeenIds()

    def _problem(self, record: Record, index: int | None, message: str, code: str) -> Problem:
        line, column = (record.line, record.column) if index is None else record.position(index)
        return Problem(
            file=self.file, line=line, column=column, message=message, code=code,
            text=record.text,
        )  # fmt: skip

    def parse(self, record: Record) -> ParsedRow | Filtered | list[Problem]:
        """One record: a row to post, a row left out, or every problem it has."""
        problem = self.check_external_id(record)
        if problem is not None:
            return [problem]
        return self.parse_checked(record)

    @property
    def id_index(self) -> int:
        """Where the external id is in a record's values."""
        return self._id

    def external_id(self, record: Record) -> str | None:
        return record.values[self._id]

    def check_external_id(self, record: Record) -> Problem | None:
        """Whether the record's external id is usable and new in this file (then remember it)."""
        return self._check_external_id(record, record.values[self._id])

    def parse_checked(self, record: Record) -> ParsedRow | Filtered | list[Problem]:
        """:meth:`parse` for a record whose external id :meth:`check_external_id` accepted."""
        values = record.values
        external_id = values[self._id]
        assert external_id is not None
        reason = self._filter(record, values)
        if isinstance(reason, Problem):
            return [reason]
        if reason is not None:
            return Filtered(
                line=record.line, external_id=external_id, reason=reason, text=record.text
            )
        return self._build(record, external_id)

    def _check_external_id(self, record: Record, external_id: str | None) -> Problem | None:
        name = self.rules.field_external_id
        if external_id is None:
            return self._problem(record, self._id, f"{name!r} is missing", "missing_field")
        if not external_id.strip():
            return self._problem(record, self._id, "the external id is empty", "external_id")
        if len(external_id) > EXTERNAL_ID_LENGTH_MAX or not external_id.isprintable():
            return self._problem(
                record, self._id,
                f"the external id must be 1 to {EXTERNAL_ID_LENGTH_MAX} printable characters",
                "external_id",
            )  # fmt: skip
        first = self._seen.add(external_id, record.line)
        if first != record.line:
            return self._problem(
                record, self._id,
                f"external id {external_id!r} appears twice in this file (first on line {first})",
                "duplicate_external_id",
            )  # fmt: skip
        return None

    def _filter(self, record: Record, values: tuple[str | None, ...]) -> str | Problem | None:
        """The reason a row is left out, a problem with a filtered field, or None."""
        for index, rule in self._filters:
            value = values[index]
            if value is None:
                return self._problem(record, index, f"{rule.field!r} is missing", "missing_field")
            value = value.strip()
            if value in rule.drop:
                return f"{rule.field} is {value!r}"
            if rule.keep is not None and value not in rule.keep:
                if rule.drop:  # keep and drop together close the set of known values
                    known = ", ".join(repr(item) for item in sorted(rule.keep | rule.drop))
                    return self._problem(
                        record, index,
                        f"{rule.field} {value!r} is not a value the rules know ({known})",
                        "unknown_value",
                    )  # fmt: skip
                return f"{rule.field} is {value!r}"
        return None

    def _build(self, record: Record, external_id: str) -> ParsedRow | Filtered | list[Problem]:
        problems: list[Problem] = []
        values = record.values
        amount = self._field(record, self._amount, self.parse_amount, problems)
        occurred_at = self._field(record, self._date, self.parse_date, problems)
        description = self._field(record, self._description, _description, problems)
        accounts = self._resolve_accounts(record, problems)
        if amount is not None and amount < 0 and self.rules.negative != "allow":
            if self.rules.negative == "filter" and not problems:
                return Filtered(
                    line=record.line, external_id=external_id, reason="negative amount",
                    text=record.text,
                )  # fmt: skip
            problems.append(self._problem(
                record, self._amount,
                f"amount {values[self._amount]!r} is negative; the rules refuse negative "
                "amounts (amounts.negative)",
                "negative_amount",
            ))  # fmt: skip
        if problems:
            return problems
        assert amount is not None and occurred_at is not None and accounts is not None
        if amount == 0:
            return Filtered(
                line=record.line, external_id=external_id, reason="amount is zero",
                text=record.text,
            )  # fmt: skip
        return ParsedRow(
            source=self.rules.source,
            external_id=external_id,
            line=record.line,
            occurred_at=occurred_at,
            amount=amount,
            currency=self.rules.currency,
            description=description or "",
            postings=self._postings(amount, accounts),
            text=record.text,
        )

    def _field(self, record: Record, index: int | None, parse, problems: list[Problem]):  # type: ignore[no-untyped-def]
        """Parse one field; on failure add a problem located at the field."""
        if index is None:
            return None
        value = record.values[index]
        if value is None:
            name = self.rules.fields_needed[index]
            problems.append(self._problem(record, index, f"{name!r} is missing", "missing_field"))
            return None
        try:
            return parse(value)
        except FieldInvalid as error:
            problems.append(self._problem(record, index, error.message, error.code))
            return None

    def _resolve_accounts(self, record: Record, problems: list[Problem]) -> tuple[str, ...] | None:
        """Fill the placeholders of every account template, validating each name once."""
        segments: list[str] = []
        for index, placeholder in self._placeholders:
            value = record.values[index]
            if value is None:
                problems.append(self._problem(
                    record, index, f"{placeholder.field!r} is missing", "missing_field"
                ))  # fmt: skip
                return None
            value = value.strip()
            if placeholder.map is not None:
                mapped = placeholder.map.get(value)
                if mapped is None:
                    problems.append(self._problem(
                        record, index,
                        f"{placeholder.field} {value!r} has no entry in "
                        f"placeholders.{placeholder.name}.map",
                        "unknown_value",
                    ))  # fmt: skip
                    return None
                value = mapped
            segments.append(value)
        key = tuple(segments)
        accounts = self._accounts.get(key)
        if accounts is not None:
            return accounts
        try:
            return self._fill(key)
        except UsageError as error:
            where = self._placeholders[0][0] if self._placeholders else None
            problems.append(self._problem(record, where, str(error), "account"))
            return None

    def _fill(self, segments: tuple[str, ...]) -> tuple[str, ...]:
        names = dict(zip((item.name for _, item in self._placeholders), segments, strict=True))
        accounts = tuple(
            validate_account_name(PLACEHOLDER_RE.sub(lambda match: names[match[1]], template))
            for template in self._templates
        )
        if len(self._accounts) >= CACHE_SIZE_MAX:
            self._accounts.clear()
        self._accounts[segments] = accounts
        return accounts

    def _postings(self, amount: int, accounts: tuple[str, ...]) -> tuple[Posting, ...]:
        """Debit, credits (split), then the issuance pair; zero postings are left out."""
        currency = self.rules.currency
        shares = self._splits.get(amount)
        if shares is None:
            if len(self._splits) >= CACHE_SIZE_MAX:
                self._splits.clear()
            shares = self._splits[amount] = split_amount(amount, self._weights)
        postings = [(accounts[0], currency, -amount)]
        postings += [
            (account, currency, share)
            for account, share in zip(accounts[1:], shares, strict=False)
            if share
        ]
        if self._issuance is not None:
            card, numerator, denominator = self._issuance
            issued = abs(amount) * numerator // denominator
            issued = -issued if amount < 0 else issued
            if issued:
                postings += [(accounts[-2], card, -issued), (accounts[-1], card, issued)]
        return tuple(postings)


def _description(text: str) -> str:
    text = text.strip()
    if len(text) > MEMO_LENGTH_MAX or not text.isprintable():
        try:
            validate_text(text, what="the description", length_max=MEMO_LENGTH_MAX)
        except UsageError as error:
            raise FieldInvalid(str(error), "description") from None
    return text


def _templates(rules: Rules) -> tuple[str, ...]:
    """Account templates in posting order: debit, each share, issuance debit and credit."""
    templates = [rules.debit, *(share.account for share in rules.shares)]
    if rules.issuance is not None:
        templates += [rules.issuance.debit, rules.issuance.credit]
    return tuple(templates)


def _issuance_factor(rules: Rules) -> tuple[str, int, int] | None:
    """Card minor units per minor unit received, as an exact fraction.

    Issuance rounds toward zero to the card's minor unit: a collective never
    issues more card than the Reais received back.
    """
    if rules.issuance is None:
        return None
    scales = rules.currency_scales
    factor = rules.issuance.rate * Fraction(10) ** (
        scales[rules.issuance.currency] - scales[rules.currency]
    )
    return rules.issuance.currency, factor.numerator, factor.denominator


class FileParse:
    """One pass over an export: iterate for rows, filtered rows and problems.

    After iteration: ``sha256`` of the file, and counts — ``rows_parsed``,
    ``rows_filtered`` (with ``filtered_reasons``), ``rows_rejected`` (records
    with at least one problem) and ``problems``.  ``fatal`` is true when the
    file as a whole cannot be imported.
    """

    def __init__(self, path: str | Path, rules: Rules, *, size_limit: int) -> None:
        self.reader = SourceReader(path, rules, size_limit=size_limit)
        self.parser = RowParser(rules, file=self.reader.name)
        self.rows_parsed = 0
        self.rows_filtered = 0
        self.rows_rejected = 0
        self.problems = 0
        self.fatal = False
        self.filtered_reasons: Counter[str] = Counter()

    @property
    def sha256(self) -> str | None:
        return self.reader.sha256

    def __iter__(self) -> Iterator[ParsedRow | Filtered | Problem]:
        parse = self.parser.parse
        rejected_line = 0
        for item in self.reader:
            if item.__class__ is Record:
                result = parse(item)  # type: ignore[arg-type]
                if result.__class__ is ParsedRow:
                    self.rows_parsed += 1
                    yield result  # type: ignore[misc]
                elif result.__class__ is Filtered:
                    self.rows_filtered += 1
                    self.filtered_reasons[result.reason] += 1  # type: ignore[union-attr]
                    yield result  # type: ignore[misc]
                else:
                    self.rows_rejected += 1
                    self.problems += len(result)  # type: ignore[arg-type]
                    yield from result  # type: ignore[misc]
                continue
            assert isinstance(item, Problem)
            self.problems += 1
            self.fatal = self.fatal or item.fatal
            if not item.fatal and item.line != rejected_line:
                self.rows_rejected += 1
                rejected_line = item.line
            yield item


def parse_file(
    path: str | Path, rules: Rules, *, size_limit: int = SIZE_LIMIT_DEFAULT
) -> FileParse:
    """Parse an export with ``rules``; see :class:`FileParse`.  Nothing is read until iterated."""
    return FileParse(path, rules, size_limit=size_limit)
