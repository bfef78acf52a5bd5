"""The closed registry of codes: every refusal and problem the program can report, once.

A *code* is the stable name a script reads in ``{"error": {"code": …}}`` (an
``error``: raised as a :class:`~mutualcredit.domain.errors.MutualCreditError`,
the command exits with its ``exit_code``) or in the ``problems`` of a
``verify`` report or an import summary (a ``problem``: reported with the
others, and the command then exits 3 for ``verify``, 1 for an import).  A code
of kind ``both`` is raised in one place and reported as a problem in another
(``signature_invalid`` when writing, and when ``verify`` re-checks the chain).

Precedence: when several things are wrong at once, the one listed first here
is the one reported, because that is the order in which the program checks.
The errors, stage by stage:

1. the command line, its options and the files it names (exit 2, or 4 for a
   named file that is missing);
2. malformed values: amounts, names, dates, durations, rates… (exit 2);
3. the ledger's storage: the database, its schema, the disk (exit 5 or 3);
4. the key that signs: key files and passphrases;
5. the writer's seven steps, in its order (``services/posting.py``):
   the draft (``malformed_transfer``, ``unbalanced``), the signature, the
   idempotency key, what the transfer names (not found, exit 4; closed; other
   currency), authority (``not_authorised``), the references of the kind
   (holds, reversals), then the limits;
6. the rules of the features that build on the writer (bookings, requests,
   settlements, accounts, roles, checkpoints, copies, imports) — exit 1;
7. integrity: the stored ledger or a signed document is not what it claims
   (exit 3);
8. the run was interrupted (exit 130).

Problems follow in the order ``verify`` checks (checkpoints, the chain, the
events against their rows, signed records and keys, tables, transfers, holds,
reversals, batches, requests; then the two only the test-suite's invariant
checker reports), then the import's, in the order the reader meets them (the
file, its lines, the header, each row, each field, then conflicts).

``python -m mutualcredit.domain.codes --markdown`` prints the README's table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

from mutualcredit.domain.errors import ExitCode

Kind = Literal["error", "problem", "both"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    """One code: its name, the exit it causes, what it means and how it is reported."""

    name: str
    exit_code: ExitCode
    meaning: str
    kind: Kind = "error"
    # A second exit code some raise site uses for the same name (kept: changing either
    # would change a documented exit code).
    exit_code_also: ExitCode | None = None


_U, _R, _I, _N, _A = (
    ExitCode.USAGE,
    ExitCode.REFUSED,
    ExitCode.INTEGRITY,
    ExitCode.NOT_FOUND,
    ExitCode.UNAVAILABLE,
)


def _error(name: str, exit_code: ExitCode, meaning: str) -> Code:
    return Code(name=name, exit_code=exit_code, meaning=meaning)


def _both(name: str, exit_code: ExitCode, meaning: str) -> Code:
    return Code(name=name, exit_code=exit_code, meaning=meaning, kind="both")


def _verify(name: str, meaning: str) -> Code:
    return Code(name=name, exit_code=_I, meaning=meaning, kind="problem")


def _import(name: str, meaning: str) -> Code:
    return Code(name=name, exit_code=_R, meaning=meaning, kind="problem")


CODES: tuple[Code, ...] = (
    # 1. the command line, its options and files
    _error("usage", _U, "the command line is malformed (an option, an argument, their mix)"),
    _error("invalid_argument", _U, "an argument or MUTUALCREDIT_ variable is not UTF-8 text"),
    _error("invalid_format", _U, "an output format or option value is not one of the choices"),
    _error("invalid_status", _U, "a status filter is not one of the known statuses"),
    _error("invalid_role", _U, "a role is not one of the network's roles"),
    _error("invalid_period", _U, "a period is empty or malformed (--to before --from)"),
    _error("invalid_threshold", _U, "a threshold is not a percentage from 1 to 100"),
    _error("invalid_percent", _U, "a percentage is not a whole number from 0 to 100"),
    _error("reason_required", _U, "the change needs a --reason"),
    _error("empty_acting", _U, "--as or MUTUALCREDIT_AS is given but empty"),
    _error("passphrase_required", _U, "no terminal to ask for the passphrase and none is set"),
    _error("passphrase_too_short", _U, "a new passphrase is shorter than 8 characters"),
    _error("invalid_db", _U, "the database URL is not valid"),
    _error("unsupported_database", _U, "the database URL's scheme is not SQLite or PostgreSQL"),
    _error("unsupported", _U, "the operation does not apply to this kind of database"),
    _error("invalid_busy_timeout", _U, "MUTUALCREDIT_BUSY_TIMEOUT is not a number of seconds"),
    _error("invalid_import_rules", _U, "an import rules file is malformed"),
    _error("invalid_resource_rules", _U, "a resource's booking rules are malformed"),
    _error("copy_onto_itself", _U, "a copy's target is the ledger being copied"),
    _error("output_not_writable", _U, "the output path cannot be written (e.g. a folder)"),
    _error("out_not_regular", _U, "the output path exists and is not a regular file"),
    _error("file_not_regular", _U, "a named input file is not a regular file"),
    _error("file_not_found", _N, "a named input file does not exist"),
    _error("file_exists", _R, "the file to create exists; --force replaces it"),
    _error("input_too_deep", _U, "a JSON input is nested too deeply to read"),
    _error("os_error", _U, "the operating system refused a file operation"),
    # 2. malformed values
    _error("invalid_amount", _U, "an amount is not a positive decimal of the currency's scale"),
    _both("amount_too_large", _U, "an amount, or an account's total, would pass AMOUNT_MAX"),
    _error("invalid_currency", _U, "a currency code is not 2 to 10 capitals or digits"),
    _error("invalid_scale", _U, "a currency's scale is out of range"),
    _error("invalid_rate", _U, "a conversion rate is not a positive decimal"),
    _error("invalid_limit", _U, "an upper limit is below the lower limit"),
    _error("invalid_name", _U, "a handle, slug or account name breaks the naming rules"),
    _error("reserved_name", _U, "an account name is reserved for members or clearing"),
    _error("invalid_text", _U, "a memo, name or reason is not printable text of its length"),
    _error("invalid_public_key", _U, "a public key is not 64 hex characters of Ed25519"),
    _error("invalid_duration", _U, "a duration is malformed (e.g. 90m, 1h30m, 2d)"),
    _error("invalid_date", _U, "a date is not YYYY-MM-DD"),
    _error("invalid_datetime", _U, "a date and time is malformed"),
    _error("date_out_of_range", _U, "a date lies outside 1970-01-01 to 9998-12-31"),
    _error("invalid_timezone", _U, "the network's time zone is not known"),
    _error("invalid_time_zone", _U, "a time zone is not a known IANA name"),
    _error("nonexistent_local_time", _U, "a local time is skipped by a clock change"),
    _error("ambiguous_local_time", _U, "a local time happens twice at a clock change"),
    _error("booking_end_before_start", _U, "a booking ends before it starts"),
    _error("booking_zero_duration", _U, "a booking starts and ends at the same moment"),
    _error("booking_not_whole_minutes", _U, "a booking's time is not on a whole minute"),
    _error("booking_complete_amount_invalid", _U, "the amount to complete for is not above 0"),
    # 3. the ledger's storage
    _error("database_unavailable", _A, "the database cannot be reached or opened"),
    _error("database_busy", _A, "another writer holds the ledger; try again"),
    _error("database_read_only", _A, "the ledger file is read-only here; writes need access"),
    _error("disk_full", _A, "the disk is full"),
    _error("disk_error", _A, "the disk failed to read or write"),
    _error("ledger_not_found", _N, "there is no ledger at the database URL"),
    _error("not_a_ledger", _I, "the database is not a mutualcredit ledger"),
    _error("schema_too_new", _I, "the ledger was written by a newer mutualcredit"),
    _error("schema_outdated", _R, "the ledger's schema needs 'mutualcredit db upgrade'"),
    _both(
        "storage_corrupt", _I, "the ledger file is damaged: its pages fail the database's own check"
    ),
    _error("database_error", _I, "the database reported an error of no known kind"),
    _error("target_not_empty", _R, "a copy's target already holds a ledger"),
    # 4. the key that signs
    _error("key_file_missing", _N, "no key file for that member on this machine"),
    _error("key_file_invalid", _I, "the key file is not this member's mutualcredit key"),
    _error("key_file_corrupt", _I, "a field of the key file is wrong"),
    _error("key_file_insecure", _I, "the key file or its folder is open to others"),
    _error("key_file_exists", _R, "a key file for that member already exists"),
    _error("wrong_passphrase", _R, "the passphrase does not open the key file"),
    # 5. the writer, in its order
    _error("malformed_transfer", _U, "a transfer draft is malformed (kind, postings, memo)"),
    _error("unbalanced", _R, "a transfer's postings do not sum to zero in each currency"),
    _error("self_payment", _R, "payer and payee are the same account"),
    Code(
        name="signature_invalid",
        exit_code=_I,
        exit_code_also=_R,
        kind="both",
        meaning="a signature does not verify (exit 3 for a document or the chain, 1 when writing)",
    ),
    _both("key_unknown", _R, "the signing key is not registered for its author"),
    _both("key_revoked", _R, "the signing key was revoked"),
    _both("body_hash_mismatch", _I, "a signed body does not match its hash"),
    _error("idempotency_conflict", _R, "the key was used before for a different transfer"),
    _error("not_found", _N, "something named does not exist"),
    _error("member_not_found", _N, "no member has that handle"),
    _error("collective_not_found", _N, "no collective has that slug"),
    _error("account_not_found", _N, "no account has that name"),
    _error("currency_not_found", _N, "no currency has that code"),
    _error("transfer_not_found", _N, "no transfer has that id"),
    _error("hold_not_found", _N, "that transfer is not a hold"),
    _error("key_not_found", _N, "the member has no active key"),
    _error("role_not_found", _N, "the member does not hold that role"),
    _error("request_not_found", _N, "no payment request has that id"),
    _error("resource_not_found", _N, "no resource has that slug"),
    _error("booking_not_found", _N, "no booking has that id"),
    _error("account_closed", _R, "the account is closed"),
    _error("currency_mismatch", _R, "the account is in another currency than the payment"),
    _error("inexact_conversion", _R, "an amount does not convert exactly at the rate"),
    _both("not_authorised", _R, "the author may not do this (move that money, sign that)"),
    _error("issuance_not_authorised", _R, "the import's issuance account is not a collective's"),
    _both("positions_unbalanced", _R, "a transfer's network:clearing postings do not sum to zero"),
    _error("not_party", _R, "the member is not a party of the request"),
    _error("hold_not_pending", _R, "the hold is no longer pending"),
    _error("hold_not_expired", _R, "the hold has not expired yet"),
    _error("post_exceeds_hold", _R, "posting more than the hold holds"),
    _error("already_reversed", _R, "the transfer was already reversed"),
    _error("not_reversible", _R, "the transfer moves no money to reverse"),
    _both("reversal_mismatch", _R, "a reversal does not move exactly the opposite postings"),
    _error("limit_lower_exceeded", _R, "an account would go below its lower limit, holds counted"),
    _error("limit_upper_exceeded", _R, "an account would go above its upper limit, holds counted"),
    # 6. the features' rules
    _error("insufficient_credit", _R, "the booker's available credit does not cover the price"),
    _error("settlement_limit", _R, "settling would break a limit; change it first"),
    _error("limit_already_passed", _R, "the account is already beyond the limit being set"),
    _error("refused", _R, "the ledger's rules refuse the operation"),
    _error("already_exists", _R, "that member, collective, account or key already exists"),
    _error("already_closed", _R, "the account is already closed"),
    _error("account_not_empty", _R, "the account still has a balance or holds"),
    _both("account_invalid", _R, "the account's name does not fit its kind and collective"),
    _error("not_closable", _R, "the account belongs to its collective and stays open"),
    _error("issuance_invalid", _R, "the issuance account is not of that collective and card"),
    _error("key_active", _R, "the member already has an active key"),
    _error("request_not_open", _R, "the payment request is no longer open"),
    _error("request_expired", _R, "the payment request has expired"),
    _error("resource_closed", _R, "the resource is closed to bookings"),
    _error("resource_has_bookings_ahead", _R, "the resource still has bookings ahead"),
    _error("booking_unavailable", _R, "the resource is not free at that time"),
    _error("booking_too_short", _R, "the booking is shorter than the resource allows"),
    _error("booking_too_long", _R, "the booking is longer than the resource allows"),
    _error("booking_in_past", _R, "the booking starts in the past"),
    _error("booking_inside_lead_time", _R, "the booking starts sooner than the lead time"),
    _error("booking_too_far_ahead", _R, "the booking starts too far ahead"),
    _error("booking_price_too_large", _R, "the booking's price would pass AMOUNT_MAX"),
    _error("booking_not_held", _R, "the booking is not held any more"),
    _error("booking_already_started", _R, "the booking has started; it cannot be cancelled"),
    _error("booking_not_started", _R, "the booking has not started; it cannot be completed"),
    _error("booking_complete_exceeds_hold", _R, "completing for more than the booking holds"),
    _error("too_many_bookings", _R, "more bookings at once than allowed"),
    _error("already_settled", _R, "the period was already settled"),
    _error("positions_changed", _R, "the positions moved while settling; settle again"),
    _error("period_not_over", _R, "the period has not ended yet"),
    _error(
        "import_refused", _R, "the import file has problems or conflicts; nothing new was written"
    ),
    _error("already_signed", _R, "the member already signed this checkpoint"),
    _error("not_in_checkpoint", _R, "the event is not covered by the checkpoint"),
    # 7. integrity
    _error("integrity", _I, "stored data, a key file or a signed document failed a check"),
    _error("verification_failed", _I, "'mutualcredit verify' found problems"),
    _error("import_register_mismatch", _I, "an import transfer exists without its register row"),
    _error("copy_incomplete", _I, "a ledger copy was interrupted before it finished"),
    _error("copy_mismatch", _I, "a ledger copy differs from its source"),
    _error("checkpoint_mismatch", _I, "the ledger does not match a signed checkpoint"),
    _error("malformed_document", _I, "a checkpoint or proof document is malformed"),
    _error("foreign_document", _I, "a checkpoint or proof belongs to another network"),
    _error("proof_failed", _I, "an inclusion or consistency proof does not verify"),
    _error("untrusted_key", _I, "a document is signed by a key not trusted for its signer"),
    # 8. interrupted
    _error("aborted", ExitCode.INTERRUPTED, "interrupted (Ctrl-C, or a prompt declined)"),
    _error("error", _R, "the root error's default; every raised error names a better code"),
    # problems that verify reports, in the order it checks (and errors it also raises)
    _verify("checkpoint_invalid", "a saved checkpoint does not verify"),
    Code(
        name="ledger_behind_checkpoint",
        exit_code=_I,
        kind="both",
        meaning="the ledger holds fewer events than a checkpoint states",
    ),
    Code(
        name="checkpoint_root_mismatch",
        exit_code=_I,
        kind="both",
        meaning="the ledger's first events are not those a checkpoint signed",
    ),
    Code(
        name="checkpoint_chain_mismatch",
        exit_code=_I,
        kind="both",
        meaning="the chain hash at a checkpoint's size is not the one it signed",
    ),
    Code(
        name="event_missing", exit_code=_I, kind="both", meaning="an event of the chain is missing"
    ),
    _verify("event_type_unknown", "an event has an unknown type"),
    _verify("chain_broken", "an event's chain hash does not follow from the previous one"),
    _verify("genesis_mismatch", "the network's genesis hash is not its creation record's"),
    _verify("event_duplicate", "an event repeats the subject of another"),
    Code(
        name="chain_head_mismatch",
        exit_code=_I,
        kind="both",
        meaning="the chain head does not match the last event",
    ),
    Code(
        name="merkle_cache",
        exit_code=_I,
        kind="both",
        meaning="events no longer hash to the root recorded for their block",
    ),
    _verify("not_chained", "a row has no event in the chain (inserted behind our back)"),
    _verify("event_subject_mismatch", "an event names a row that records another event"),
    _verify("event_subject_missing", "an event names a row that is not in the ledger"),
    _verify("event_reordered", "events were reordered"),
    _verify("event_hash_mismatch", "an event's hash does not match its number, type and body"),
    _verify("column_mismatch", "a row's columns differ from its signed body"),
    _verify("author_mismatch", "a record is signed with a key of another member"),
    _verify("key_not_yet_registered", "a record is signed by a key registered only later"),
    _verify("key_not_recorded", "a key was registered by no signed record"),
    _verify("key_revocation_mismatch", "a key's revocation differs from its signed records"),
    _verify("key_missing", "a key a signed record registered is missing"),
    _verify("row_not_recorded", "a row was made by no signed record"),
    _verify("row_missing", "a row a signed record made is missing"),
    _verify("body_invalid", "a transfer's body is not a transfer"),
    _verify("postings_mismatch", "a transfer's postings are not those its author signed"),
    _verify("content_hash_mismatch", "a transfer's content hash is not that of its content"),
    _verify("memo_mismatch", "a transfer's memo is not the signed memo"),
    _verify("limit_history_mismatch", "an account's limits are not those its records set"),
    _verify("post_mismatch", "a hold is posted with postings that are not the hold's"),
    _verify("limit_exceeded", "a transfer took an account beyond a limit"),
    _verify("cached_totals", "an account's cached totals differ from its postings"),
    _verify("zero_sum", "a currency's postings do not sum to zero"),
    _verify("positions", "the network's clearing positions do not sum to zero"),
    _verify("hold_resolution_invalid", "a transfer resolves something that is not a hold"),
    _verify("hold_resolved_twice", "a hold is resolved more than once"),
    _verify("hold_status", "a hold's status is not the one its resolutions give"),
    _verify("hold_expired_early", "a hold was expired before its expiry"),
    _verify("reversed_twice", "a transfer is reversed more than once"),
    _verify("reversal_invalid", "a reversal reverses a transfer that cannot be reversed"),
    _verify("batch_mismatch", "a batch's transfers are not those it signed"),
    _verify("batch_signature_invalid", "a batch's signature does not verify"),
    _verify("idempotency_key_reused", "a transfer repeats another's signed body"),
    _verify("request_mismatch", "a payment request's row differs from its signed record"),
    _verify("request_missing", "a signed payment request has no row"),
    _verify("request_accepted_twice", "a payment request was accepted more than once"),
    _verify("request_resolved_twice", "a payment request was resolved more than once"),
    _verify("request_status", "a payment request's status is not its resolutions'"),
    _verify("request_payment_mismatch", "a payment does not pay what its request asks"),
    _verify("request_accepted_expired", "a payment request was accepted after it expired"),
    _verify("request_wrong_party", "a request's resolution is signed by the wrong member"),
    _verify("limit", "an account is below its lower limit (the invariant checker)"),
    _verify("reversal", "a reversal's original is not reversed (the invariant checker)"),
    # problems of an import, in the order the reader meets them
    _import("file_unreadable", "the import file cannot be read"),
    _import("file_too_large", "the import file is larger than the size limit"),
    _import("file_empty", "the import file is empty or has no header"),
    _import("file_binary", "the import file is not text (a NUL byte)"),
    _import("line_too_long", "a line is longer than a row can be"),
    _import("encoding_bom", "the file starts with a byte-order mark the rules do not expect"),
    _import("binary_byte", "a line holds a NUL byte"),
    _import("encoding", "a line is not in the rules' encoding"),
    _import("csv_syntax", "a CSV row or header cannot be read"),
    _import("missing_column", "a column the rules need is not in the header"),
    _import("duplicate_column", "a column appears more than once in the header"),
    _import("no_rows", "the file has no rows"),
    _import("row_too_short", "a CSV row has fewer fields than the header"),
    _import("row_too_long", "a CSV row has more fields than the header"),
    _import("json_syntax", "a JSON record is not valid JSON"),
    _import("json_not_object", "a JSON record is not an object"),
    _import("json_value_type", "a JSON value is neither a string nor a number"),
    _import("missing_field", "a row lacks a field the rules need"),
    _import("external_id", "a row's external id is empty or not printable"),
    _import("duplicate_external_id", "an external id appears twice in the file"),
    _import("unknown_value", "a field's value is not one the rules know"),
    _import("amount", "a row's amount is not a valid amount"),
    _import("negative_amount", "a row's amount is negative and the rules refuse it"),
    _import("date", "a row's date is not valid"),
    _import("date_zone", "a row's date has no zone offset and the rules set none"),
    _import("description", "a row's description is not valid text"),
    _import("account", "a row's account is not a valid account name"),
    _import("conflict", "an external id was imported before with different values"),
)

BY_NAME: dict[str, Code] = {code.name: code for code in CODES}
assert len(BY_NAME) == len(CODES), "a code is registered twice"

# Registered for codes other branches add; the test that every code is used spares them.
PENDING: frozenset[str] = frozenset()


def lookup(name: str) -> Code:
    """The registered code ``name``; ``KeyError`` if the program has no such code."""
    return BY_NAME[name]


def allows(name: str, exit_code: int) -> bool:
    """Whether ``name`` is registered with ``exit_code`` (one dict lookup: raises call it)."""
    code = BY_NAME.get(name)
    return code is not None and exit_code in (code.exit_code, code.exit_code_also)


def markdown() -> str:
    """The README's table of codes, in precedence order."""
    lines = ["| code | exit | kind | meaning |", "| --- | --- | --- | --- |"]
    for code in CODES:
        exits = str(int(code.exit_code))
        if code.exit_code_also is not None:
            exits += f", {int(code.exit_code_also)}"
        lines.append(f"| `{code.name}` | {exits} | {code.kind} | {code.meaning} |")
    return "\n".join(lines) + "\n"


def main(arguments: list[str]) -> int:
    if arguments != ["--markdown"]:
        sys.stderr.write("usage: python -m mutualcredit.domain.codes --markdown\n")
        return int(ExitCode.USAGE)
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
