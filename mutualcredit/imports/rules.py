"""Import rules: how one export format maps to balanced transfers.

A rules file is TOML, described by ``schemas/import-rules.schema.json``.  It
says how to read the file (format, encoding — always written out — delimiter,
quoting), how to read its values (decimal mark, thousands separator, date
format and time zone), which fields (header names for CSV, keys for JSON) hold
the external id, date, amount and description, which rows to keep, and where
the money goes::

    [accounts]
    debit = "income:festivals:grito-rock-2026"     # gets the negative posting
    credit = "collectives:cubo:cash:{cashier}"     # gets the positive posting

``{cashier}`` is a placeholder: ``[placeholders.cashier]`` names the field
that fills it, and optionally a ``map`` from the field's values to account
segments (``"Dinheiro na bilheteria" = "bilheteria"``).  Instead of one
``credit`` account, ``[[accounts.split]]`` shares the amount between accounts
by percentages (see :func:`mutualcredit.imports.rows.split_amount`), and
``[issuance]`` issues a collective's card against the Reais received.

Loading happens in two steps, as everywhere in mutualcredit: validate, then
build.  The schema catches the shape; then the rules are checked for meaning
(a known time zone, percentages that add up to 100, placeholders that exist,
account names that are valid).  Every problem is reported at once, each
naming its key: ``rules.toml: accounts.credit: ...``.  The result is a frozen
:class:`Rules` value that the reader and the row parser share.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from math import gcd
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

from mutualcredit.domain.amounts import parse_rate
from mutualcredit.domain.errors import UsageError
from mutualcredit.domain.names import validate_account_name

RULES_FILE_SIZE_MAX = 1024 * 1024  # bytes; a rules file is a page of TOML
SCHEMA_NAME = "import-rules.schema.json"
ISO_8601 = "iso8601"
PLACEHOLDER_RE = re.compile(r"\{([a-z][a-z0-9_]{0,31})\}")
DATE_DIRECTIVES = frozenset("dmYyHMSz")


class RulesInvalid(UsageError):
    """A rules file that cannot be read or does not describe a usable import.

    ``problems`` holds one message per problem, each starting with the file
    name and the key path (``rules.toml: accounts.credit: ...``).
    """

    code = "invalid_import_rules"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems), problems=problems)
        self.problems = problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """Keep a row only if ``field`` is in ``keep`` (when given) and not in ``drop``.

    When both are given, they close the set: a value in neither is a problem,
    so a status the rules never heard of is reported rather than guessed.
    """

    field: str
    keep: frozenset[str] | None
    drop: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Placeholder:
    """Fills ``{name}`` in account names from a field, optionally through a map."""

    name: str
    field: str
    map: MappingProxyType[str, str] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Share:
    """One account's share of a split: its weight over the sum of the weights."""

    account: str
    percent: Fraction
    weight: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Issuance:
    """Card issued against money received: ``rate`` card units per unit received."""

    currency: str
    rate: Fraction
    debit: str
    credit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """A loaded, validated rules file."""

    path: str
    source: str
    format: str
    encoding: str
    delimiter: str
    quotechar: str
    quoting_none: bool
    currency: str
    decimal_mark: str
    thousands_separator: str
    strip: tuple[str, ...]
    negative: str
    date_format: str
    time_zone: str | None
    field_external_id: str
    field_date: str
    field_amount: str
    field_description: str | None
    filters: tuple[Filter, ...]
    placeholders: tuple[Placeholder, ...]
    debit: str
    shares: tuple[Share, ...]
    issuance: Issuance | None
    currency_scales: MappingProxyType[str, int]
    fields_needed: tuple[str, ...]


@cache
def _schema_validator() -> jsonschema.Draft202012Validator:
    here = Path(__file__).resolve()
    # Installed wheels carry the schemas inside the package; a source tree has them at the root.
    for folder in (here.parents[1] / "schemas", here.parents[2] / "schemas"):
        candidate = folder / SCHEMA_NAME
        if candidate.is_file():
            schema = json.loads(candidate.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
            return jsonschema.Draft202012Validator(schema)
    raise AssertionError(f"{SCHEMA_NAME} is not shipped with the package")


def load_rules(path: str | Path, *, currency_scale: Callable[[str], int] | None = None) -> Rules:
    """Read, validate and build the rules in ``path``; raise :class:`RulesInvalid`.

    Currency scales come from the rules' ``[currencies]`` table or from
    ``currency_scale`` (the ledger's currencies); when both speak they must agree.
    """
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(RULES_FILE_SIZE_MAX + 1)
    except OSError as error:
        raise RulesInvalid([f"{name}: cannot read the rules file: {error.strerror}"]) from None
    if len(data) > RULES_FILE_SIZE_MAX:
        raise RulesInvalid([f"{name}: the rules file is larger than {RULES_FILE_SIZE_MAX} bytes"])
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise RulesInvalid([f"{name}: not UTF-8 at byte {error.start}"]) from None
    except tomllib.TOMLDecodeError as error:
        raise RulesInvalid([f"{name}: not valid TOML: {error}"]) from None
    except RecursionError:
        raise RulesInvalid([f"{name}: not valid TOML: nested too deeply"]) from None
    except ValueError as error:  # an integer past Python's digit limit, and the like
        raise RulesInvalid([f"{name}: not valid TOML: {str(error).split(';')[0]}"]) from None
    return rules_from_document(document, name=name, currency_scale=currency_scale)


def rules_from_document(
    document: dict[str, Any],
    *,
    name: str = "rules.toml",
    currency_scale: Callable[[str], int] | None = None,
) -> Rules:
    """Validate an already parsed document (from TOML or JSON) and build :class:`Rules`."""
    errors = sorted(_schema_validator().iter_errors(document), key=_error_sort_key)
    problems = [f"{name}: {_describe(error)}" for error in errors]
    if problems:
        raise RulesInvalid(_unique(problems))
    problems = [f"{name}: {problem}" for problem in _check_meaning(document, currency_scale)]
    if problems:
        raise RulesInvalid(problems)
    return _build(document, name=name, currency_scale=currency_scale)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _error_sort_key(error: jsonschema.ValidationError) -> tuple[str, str]:
    return (_key_path(error.absolute_path), error.message)


def _key_path(parts: Iterable[Any]) -> str:
    """Render a JSON path as TOML keys: ``accounts.split[1].percent``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(error: jsonschema.ValidationError) -> str:
    """One sentence per schema error, naming the key it is about."""
    path = _key_path(error.absolute_path)
    kind = error.validator
    if kind == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return f"{_join(path, missing[0])}: is required"
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return f"{_join(path, unknown[0])}: unknown key; expected one of {', '.join(allowed)}"
    if kind == "anyOf" and all("required" in option for option in error.validator_value):
        keys = " or ".join(option["required"][0] for option in error.validator_value)
        return f"{path}: needs {keys}"
    if kind == "enum":
        choices = ", ".join(json.dumps(choice) for choice in error.validator_value)
        return f"{path}: {json.dumps(error.instance)} is not one of {choices}"
    if kind == "propertyNames":
        return f"{path}: key {json.dumps(error.instance)} is not valid"
    shown = json.dumps(error.instance, ensure_ascii=False)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if description and kind in ("type", "pattern", "minLength", "maxLength", "minimum", "maximum"):
        return f"{path or '(top level)'}: {shown} is not valid: expected {description}"
    return f"{path or '(top level)'}: {error.message}"


_DIRECTIVE_PATTERNS = {
    "d": r"(?P<d>[0-9]{1,2})",
    "m": r"(?P<m>[0-9]{1,2})",
    "Y": r"(?P<Y>[0-9]{4})",
    "y": r"(?P<y>[0-9]{2})",
    "H": r"(?P<H>[0-9]{1,2})",
    "M": r"(?P<M>[0-9]{1,2})",
    "S": r"(?P<S>[0-9]{1,2})",
    "z": r"(?P<z>Z|[+-][0-9]{2}:?[0-9]{2})",
}


def compile_date_format(text: str) -> re.Pattern[str]:
    """Turn a ``strptime``-style pattern into a regular expression with named groups.

    Only the directives that exports use are known (%d %m %Y %y %H %M %S %z
    and %%); everything else is literal.  A regular expression plus
    ``datetime(...)`` is about four times faster than ``strptime`` and, like
    it, refuses dates that do not exist (31/02/2026).  Raises ``ValueError``.
    """
    parts: list[str] = []
    seen: set[str] = set()
    index = 0
    while index < len(text):
        char = text[index]
        if char != "%":
            parts.append(re.escape(char))
            index += 1
            continue
        directive = text[index + 1 : index + 2]
        if directive == "%":
            parts.append("%")
        elif directive in DATE_DIRECTIVES and directive not in seen:
            seen.add(directive)
            parts.append(_DIRECTIVE_PATTERNS[directive])
        else:
            raise ValueError(f"%{directive} is not a known directive or appears twice")
        index += 2
    if not ({"d", "m"} <= seen and seen & {"Y", "y"}):
        raise ValueError("needs at least %d, %m and %Y (or %y)")
    return re.compile("".join(parts) + r"\Z")


def _check_meaning(
    document: dict[str, Any], currency_scale: Callable[[str], int] | None
) -> list[str]:
    """Checks the schema cannot express; each message names its key."""
    problems = _check_dates(document["dates"])
    problems += _check_accounts(document)
    problems += _check_filters(document.get("filters", []))
    problems += _check_currencies(document, currency_scale)
    amounts = document["amounts"]
    if amounts["decimal_mark"] == amounts["thousands_separator"]:
        problems.append("amounts.thousands_separator: must differ from amounts.decimal_mark")
    csv_options = document.get("csv", {})
    delimiter = csv_options.get("delimiter")
    if delimiter is not None and delimiter == csv_options.get("quotechar", '"'):
        problems.append("csv.quotechar: must differ from csv.delimiter")
    return problems


def _check_dates(dates: dict[str, Any]) -> list[str]:
    problems = []
    zone = dates.get("time_zone")
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"dates.time_zone: unknown time zone {zone!r}; use an IANA name")
    if dates["format"] != ISO_8601:
        try:
            pattern = compile_date_format(dates["format"])
        except ValueError as error:
            problems.append(f"dates.format: {dates['format']!r} is not usable: {error}")
        else:
            if "z" not in pattern.groupindex and zone is None:
                problems.append(
                    "dates.time_zone: is required because dates.format has no %z "
                    "(the dates carry no offset)"
                )
    return problems


def _check_accounts(document: dict[str, Any]) -> list[str]:
    accounts = document["accounts"]
    placeholders = document.get("placeholders", {})
    problems = []
    if ("credit" in accounts) == ("split" in accounts):
        problems.append("accounts.credit: set exactly one of accounts.credit and accounts.split")
    templates = [("accounts.debit", accounts["debit"])]
    if "credit" in accounts:
        templates.append(("accounts.credit", accounts["credit"]))
    for index, share in enumerate(accounts.get("split", [])):
        templates.append((f"accounts.split[{index}].account", share["account"]))
    issuance = document.get("issuance")
    if issuance:
        templates += [
            ("issuance.debit", issuance["debit"]),
            ("issuance.credit", issuance["credit"]),
        ]
    for key, template in templates:
        problems += _check_template(key, template, placeholders)
    for index, share in enumerate(accounts.get("split", [])):
        if isinstance(
            share["percent"], float
        ):  # TOML 90.0: exact here, but money rules forbid floats
            problems.append(
                f"accounts.split[{index}].percent: {share['percent']} is a float; write an "
                'integer or a decimal string such as "33.33"'
            )
    if "split" in accounts and not problems:
        total = sum(Fraction(str(share["percent"])) for share in accounts["split"])
        if total != 100:
            problems.append(f"accounts.split: the percentages add up to {total}, not 100")
    if issuance:
        try:
            parse_rate(issuance["rate"])
        except UsageError as error:
            problems.append(f"issuance.rate: {error}")
    return problems


def _check_template(key: str, template: str, placeholders: dict[str, Any]) -> list[str]:
    """A template is valid if filling every placeholder with a valid segment gives a valid name."""
    problems = []
    for name in PLACEHOLDER_RE.findall(template):
        if name not in placeholders:
            problems.append(f"{key}: placeholder {{{name}}} is not defined in [placeholders]")
    try:
        validate_account_name(PLACEHOLDER_RE.sub("x", template))
    except UsageError:
        problems.append(
            f"{key}: {template!r} is not a valid account name: use 2 to 8 segments joined by "
            "':', each 1 to 32 characters from a-z, 0-9, '.', '_' and '-', or a whole "
            "{placeholder}"
        )
    return problems


def _check_filters(filters: list[dict[str, Any]]) -> list[str]:
    problems = []
    for index, rule in enumerate(filters):
        both = set(rule.get("keep", ())) & set(rule.get("drop", ()))
        if both:
            problems.append(f"filters[{index}]: {sorted(both)} are in both keep and drop")
    return problems


def _currencies_used(document: dict[str, Any]) -> list[tuple[str, str]]:
    used = [("amounts.currency", document["amounts"]["currency"])]
    if "issuance" in document:
        used.append(("issuance.currency", document["issuance"]["currency"]))
    return used


def _check_currencies(
    document: dict[str, Any], currency_scale: Callable[[str], int] | None
) -> list[str]:
    declared = document.get("currencies", {})
    problems = []
    for key, code in _currencies_used(document):
        scale = _ledger_scale(code, currency_scale)
        if code not in declared and scale is None:
            problems.append(f"{key}: the scale of {code} is unknown; declare currencies.{code}")
        elif code in declared and scale is not None and scale != declared[code]:
            problems.append(
                f"currencies.{code}: scale {declared[code]} differs from the ledger's {scale}"
            )
    return problems


def _ledger_scale(code: str, currency_scale: Callable[[str], int] | None) -> int | None:
    if currency_scale is None:
        return None
    try:
        return currency_scale(code)
    except (KeyError, LookupError, UsageError):
        return None


def _build(
    document: dict[str, Any], *, name: str, currency_scale: Callable[[str], int] | None
) -> Rules:
    source, amounts, dates, fields = (
        document[key] for key in ("source", "amounts", "dates", "fields")
    )
    csv_options = document.get("csv", {})
    accounts = document["accounts"]
    split = accounts.get("split") or [{"account": accounts["credit"], "percent": 100}]
    scales = dict(document.get("currencies", {}))
    for _key, code in _currencies_used(document):
        scale = _ledger_scale(code, currency_scale)
        scales[code] = scale if scale is not None else scales[code]
    filters = tuple(
        Filter(
            field=rule["field"],
            keep=frozenset(rule["keep"]) if "keep" in rule else None,
            drop=frozenset(rule.get("drop", ())),
        )
        for rule in document.get("filters", [])
    )
    placeholders = tuple(
        Placeholder(
            name=key,
            field=value["field"],
            map=MappingProxyType(dict(value["map"])) if "map" in value else None,
        )
        for key, value in document.get("placeholders", {}).items()
    )
    return Rules(
        path=name,
        source=source["name"],
        format=source["format"],
        encoding=source["encoding"],
        delimiter=csv_options.get("delimiter", ","),
        quotechar=csv_options.get("quotechar", '"'),
        quoting_none=csv_options.get("quoting", "minimal") == "none",
        currency=amounts["currency"],
        decimal_mark=amounts["decimal_mark"],
        thousands_separator=amounts["thousands_separator"],
        strip=tuple(amounts.get("strip", ())),
        negative=amounts.get("negative", "refuse"),
        date_format=dates["format"],
        time_zone=dates.get("time_zone"),
        field_external_id=fields["external_id"],
        field_date=fields["date"],
        field_amount=fields["amount"],
        field_description=fields.get("description"),
        filters=filters,
        placeholders=placeholders,
        debit=accounts["debit"],
        shares=_shares(split),
        issuance=_issuance(document.get("issuance")),
        currency_scales=MappingProxyType(scales),
        fields_needed=_fields_needed(document),
    )


def _shares(split: list[dict[str, Any]]) -> tuple[Share, ...]:
    """Percentages become integer weights over a common denominator, so splitting is exact."""
    percents = [Fraction(str(share["percent"])) for share in split]
    denominator = 1
    for percent in percents:
        denominator = denominator * percent.denominator // gcd(denominator, percent.denominator)
    return tuple(
        Share(account=share["account"], percent=percent, weight=int(percent * denominator))
        for share, percent in zip(split, percents, strict=True)
    )


def _issuance(table: dict[str, Any] | None) -> Issuance | None:
    if table is None:
        return None
    return Issuance(
        currency=table["currency"],
        rate=parse_rate(table["rate"]),
        debit=table["debit"],
        credit=table["credit"],
    )


def _fields_needed(document: dict[str, Any]) -> tuple[str, ...]:
    """The fields a row must have, in a fixed order that readers project records onto."""
    fields = document["fields"]
    names = [fields["external_id"], fields["date"], fields["amount"]]
    if "description" in fields:
        names.append(fields["description"])
    names += [rule["field"] for rule in document.get("filters", [])]
    names += [value["field"] for value in document.get("placeholders", {}).values()]
    return tuple(dict.fromkeys(names))
