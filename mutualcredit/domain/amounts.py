"""Money: integers of minor units bound to a currency.

A :class:`Currency` has a code (``CARD``, ``CUBO``, ``BRL``), a scale (decimal
places) and a fixed rate to the network card, kept as an exact fraction.  One
parser (:func:`parse_amount`) turns what a person types into minor units and
one formatter (:func:`format_amount`) turns minor units into the string every
output and JSON document uses: ``.`` as decimal mark and exactly ``scale``
decimals (``-30.00``).  Floats never carry money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from mutualcredit.domain.errors import AmountTooLarge, InvalidAmount, Refused, UsageError

# The largest amount, in minor units, that anything may carry: a parsed amount, a limit, a
# price, and each of an account's four totals (posted and pending debits and credits).
# 10**15 centavos are ten trillion reais; 9,223 such totals still sum inside a signed 64-bit
# column (2**63 - 1 is about 9.2 * 10**18), so balances, positions and report sums over
# thousands of accounts never overflow the database's BIGINT.
AMOUNT_MAX = 10**15
SCALE_MAX = 6
CURRENCY_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
_AMOUNT_RE = re.compile(r"^([0-9]+)(?:[.,]([0-9]+))?$")
_RATE_RE = re.compile(r"^([0-9]+)(?:\.([0-9]+))?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Currency:
    """A currency of the network; ``rate`` is how many card units one unit is worth."""

    code: str
    scale: int
    rate: Fraction = Fraction(1)

    def to_card_minor(self, minor: int, *, card: Currency) -> int:
        """Convert ``minor`` units of this currency to the card's minor units, exactly.

        Conversion across currencies must be exact so that the clearing legs of a
        payment mirror each other to the centavo; an inexact conversion is refused.
        """
        value = Fraction(minor, 10**self.scale) * self.rate * 10**card.scale
        if value.denominator != 1:
            raise Refused(
                f"{format_amount(minor, self.scale)} {self.code} cannot be converted exactly "
                f"to {card.code} at rate {format_rate(self.rate)}",
                code="inexact_conversion",
            )
        return value.numerator

    def from_card_minor(self, card_minor: int, *, card: Currency) -> int:
        """Convert card minor units into this currency's minor units, exactly."""
        value = Fraction(card_minor, 10**card.scale) / self.rate * 10**self.scale
        if value.denominator != 1:
            raise Refused(
                f"{format_amount(card_minor, card.scale)} {card.code} cannot be converted "
                f"exactly to {self.code} at rate {format_rate(self.rate)}",
                code="inexact_conversion",
            )
        return value.numerator


def validate_currency_code(code: str) -> str:
    if not CURRENCY_CODE_RE.fullmatch(code):
        raise UsageError(
            f"currency code {code!r} is not valid: use 2 to 10 capital letters or digits, "
            "starting with a letter (e.g. CARD, BRL)",
            code="invalid_currency",
        )
    return code


def validate_scale(scale: int) -> int:
    if not 0 <= scale <= SCALE_MAX:
        raise UsageError(f"scale {scale} is not between 0 and {SCALE_MAX}", code="invalid_scale")
    return scale


def parse_amount(text: str, *, scale: int, allow_zero: bool = False) -> int:
    """Parse a positive amount typed by a person into minor units.

    Digits with at most one decimal mark (``.`` or ``,``) and at most ``scale``
    decimals.  Signs, exponents, thousands separators, spaces, NaN and
    infinities are refused, as is anything above :data:`AMOUNT_MAX`.
    """
    shown = text if len(text) <= 40 else text[:37] + "..."
    match = _AMOUNT_RE.fullmatch(text)
    if not match:
        raise InvalidAmount(
            f"amount {shown!r} is not valid: write digits with at most one decimal mark "
            f"and at most {scale} decimals, e.g. 12.50 or 12,50",
            text=text,
        )
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > scale:
        raise InvalidAmount(
            f"amount {shown!r} has {len(fraction)} decimals; at most {scale} are allowed",
            text=text,
        )
    if len(whole.lstrip("0")) > 18:
        raise AmountTooLarge(
            f"amount {shown!r} is too large; at most {format_amount(AMOUNT_MAX, scale)}",
            text=text,
            limit=format_amount(AMOUNT_MAX, scale),
        )
    minor = int(whole) * 10**scale + int(fraction.ljust(scale, "0") or "0")
    if minor > AMOUNT_MAX:
        raise AmountTooLarge(
            f"amount {shown!r} is too large; at most {format_amount(AMOUNT_MAX, scale)}",
            text=text,
            limit=format_amount(AMOUNT_MAX, scale),
        )
    if minor == 0 and not allow_zero:
        raise InvalidAmount(f"amount {shown!r} must be greater than zero", text=text)
    return minor


def format_amount(minor: int, scale: int) -> str:
    """Format minor units with ``.`` and exactly ``scale`` decimals: ``-30.00``."""
    assert isinstance(minor, int) and not isinstance(minor, bool), minor
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(scale + 1, "0")
    if scale == 0:
        return sign + digits
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def parse_signed_amount(text: str, *, scale: int) -> int:
    """Parse an amount as written by :func:`format_amount` (may be negative or zero)."""
    negative = text.startswith("-")
    minor = parse_amount(text[1:] if negative else text, scale=scale, allow_zero=True)
    return -minor if negative else minor


def parse_rate(text: str) -> Fraction:
    """Parse a fixed exchange rate (``1``, ``0.5``, ``2``) as an exact fraction."""
    match = _RATE_RE.fullmatch(text.strip())
    if not match or len(text) > 20:
        raise UsageError(
            f"rate {text!r} is not valid: write a positive decimal number such as 1 or 0.5",
            code="invalid_rate",
        )
    rate = Fraction(f"{match.group(1)}.{match.group(2) or '0'}")
    if rate <= 0:
        raise UsageError(f"rate {text!r} must be greater than zero", code="invalid_rate")
    return rate


def format_rate(rate: Fraction) -> str:
    """Show a rate as a finite decimal when it is one, else as a fraction."""
    denominator = rate.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return f"{rate.numerator}/{rate.denominator}"
    places = 0
    while (rate * 10**places).denominator != 1:
        places += 1
    return format_amount(int(rate * 10**places), places)
