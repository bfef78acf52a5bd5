"""Entry point: global options, command groups, and the one place errors become exit codes.

Exit codes (:class:`mutualcredit.domain.errors.ExitCode`): 0 success; 1 refused by
the ledger's rules; 2 usage; 3 integrity problem; 4 not found.  Diagnostics go
to stderr as one line, or as ``{"error": {"code": …, "message": …, "data": {…}}}``
with ``--json`` (``data``: the error's numbers and names, as strings); data goes to
stdout.  Tracebacks never show local variables.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

import typer

from mutualcredit_cli import common

app = typer.Typer(
    name="mutualcredit",
    help="A mutual-credit ledger for networks of cultural collectives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from mutualcredit import __version__

        typer.echo(f"mutualcredit {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    db: str | None = typer.Option(  # noqa: UP007 - Typer needs Optional on 3.11
        None,
        "--db",
        help="SQLite file or SQLAlchemy URL (env MUTUALCREDIT_DB).",
        show_default=False,
    ),
    acting: str | None = typer.Option(  # noqa: UP007
        None, "--as", help="Who acts (env MUTUALCREDIT_AS).", show_default=False
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """A mutual-credit ledger for networks of cultural collectives."""
    common.check_acting(acting, "--as")
    common.STATE.db = db
    common.STATE.acting = acting


def _register() -> None:
    from mutualcredit_cli import db_cmd, demo_cmd, keys_cmd, money, setup

    setup.register(app)
    money.register(app)
    keys_cmd.register(app)
    db_cmd.register(app)
    demo_cmd.register(app)
    for name in EXTENSIONS:
        module = __import__(f"mutualcredit_cli.{name}", fromlist=["register"])
        module.register(app)


# Command modules of later features register themselves here (one line each).
EXTENSIONS: tuple[str, ...] = (
    "bookings_cmd",
    "audit_cmd",
    "requests_cmd",
    "reports_cmd",
    "imports_cmd",
)

_register()


def run() -> None:
    """Console-script entry point."""
    try:
        _check_arguments(sys.argv[1:])
        app(standalone_mode=False)
    except SystemExit:
        raise
    except BaseException as error:  # noqa: BLE001 - the one place errors are mapped
        sys.exit(_report(error))


def _check_arguments(arguments: list[str]) -> None:
    """Arguments and our environment variables must be text: Python hands undecodable bytes
    on as lone surrogates, which would fail much later, deep inside a write."""
    from mutualcredit.domain.errors import UsageError

    for position, argument in enumerate(arguments, start=1):
        if not _is_text(argument):
            raise UsageError(
                f"argument {position} is not valid UTF-8 text", code="invalid_argument"
            )
    for name, value in os.environ.items():
        if name.startswith("MUTUALCREDIT_") and not _is_text(value):
            raise UsageError(
                f"environment variable {name} is not valid UTF-8 text", code="invalid_argument"
            )


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _click_exceptions():  # type: ignore[no-untyped-def]
    """Typer vendors its own copy of Click; accept exceptions from either."""
    modules = []
    try:
        from typer._click import exceptions as vendored

        modules.append(vendored)
    except ImportError:  # an older Typer that uses Click itself
        pass
    try:  # the plain package is not a dependency of ours, and may be absent
        import click.exceptions as plain

        modules.append(plain)
    except ImportError:
        pass
    return tuple(modules)


def _report(error: BaseException) -> int:
    from mutualcredit.domain.errors import ExitCode, MutualCreditError

    wants_json = "--json" in sys.argv[1:]
    exit_type = getattr(typer, "Exit", None)
    if exit_type is not None and isinstance(error, exit_type):
        return int(getattr(error, "exit_code", 0))
    abort_type = getattr(typer, "Abort", None)
    if abort_type is not None and isinstance(error, abort_type):
        return _emit(wants_json, "aborted", "aborted", int(ExitCode.INTERRUPTED))
    for click in _click_exceptions():
        if isinstance(error, getattr(click, "Exit", ())):
            return int(getattr(error, "exit_code", 0))
        if isinstance(error, getattr(click, "Abort", ())):
            return _emit(wants_json, "aborted", "aborted", int(ExitCode.INTERRUPTED))
        if isinstance(error, click.ClickException):
            return _emit(
                wants_json, "usage", _usage_message(error), int(getattr(error, "exit_code", 2))
            )
    if isinstance(error, KeyboardInterrupt):
        return _emit(wants_json, "aborted", "aborted", int(ExitCode.INTERRUPTED))
    if isinstance(error, MutualCreditError):
        return _emit(wants_json, error.code, error.message, int(error.exit_code), error.data)
    database = _database_error(error)
    if database is not None:
        return _emit(wants_json, *database)
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            return _emit(
                wants_json,
                "disk_full",
                f"cannot write{where}: the disk is full",
                int(ExitCode.UNAVAILABLE),
            )
        return _emit(
            wants_json,
            "os_error",
            f"cannot use{where}: {error.strerror or error}",
            int(ExitCode.USAGE),
        )
    if isinstance(error, RecursionError):  # a parser of ours handed nesting past its depth
        return _emit(
            wants_json, "input_too_deep", "the input is nested too deeply", int(ExitCode.USAGE)
        )
    raise error


def _usage_message(error: BaseException) -> str:
    """Click's usage error as one line, naming the command whose --help explains it."""
    message = " ".join(str(getattr(error, "format_message", lambda: error)()).split())
    context = getattr(error, "ctx", None)
    if context is not None:
        return f"{message} (see '{context.command_path} --help')"
    return message


# SQLite's and PostgreSQL's own errors, by what the user can do about them: a busy lock, a
# read-only file or a full disk pass (exit 5: try again, elsewhere or later); a file whose
# pages are not a database is the ledger's integrity (exit 3).
_SQLITE_MESSAGES = (
    (
        "database is locked",
        "database_busy",
        "UNAVAILABLE",
        "the ledger is busy: another writer holds it; try again (with the same --key)",
    ),
    (
        "database is busy",
        "database_busy",
        "UNAVAILABLE",
        "the ledger is busy: another writer holds it; try again (with the same --key)",
    ),
    (
        "readonly database",
        "database_read_only",
        "UNAVAILABLE",
        "the ledger file is read-only here: reads work, writes need write access",
    ),
    ("disk is full", "disk_full", "UNAVAILABLE", "the disk holding the ledger is full"),
    (
        "disk i/o error",
        "disk_error",
        "UNAVAILABLE",
        "the disk holding the ledger failed to read or write",
    ),
    ("malformed", "storage_corrupt", "INTEGRITY", "the ledger file is corrupt"),
    (
        "file is not a database",
        "storage_corrupt",
        "INTEGRITY",
        "the ledger file is not a database (corrupt, or not a ledger)",
    ),
    (
        "unable to open database file",
        "database_unavailable",
        "UNAVAILABLE",
        "the ledger file cannot be opened (check the path and its folder's permissions)",
    ),
)
_SQLSTATE_CLASSES = {
    "53": ("disk_full", "UNAVAILABLE"),
    "08": ("database_unavailable", "UNAVAILABLE"),
    "57": ("database_unavailable", "UNAVAILABLE"),
    "55": ("database_busy", "UNAVAILABLE"),
    "XX": ("storage_corrupt", "INTEGRITY"),
}


def _database_error(error: BaseException) -> tuple[str, str, int] | None:
    """(code, message, exit code) for a database error, or None when it is not one."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import DBAPIError

    from mutualcredit.domain.errors import ExitCode

    if not isinstance(error, DBAPIError):
        return None
    reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
    lowered = reason.lower()
    for fragment, code, exit_name, message in _SQLITE_MESSAGES:
        if fragment in lowered:
            return code, message, int(ExitCode[exit_name])
    sqlstate = str(getattr(error.orig, "sqlstate", None) or "")
    if sqlstate == "22003":  # PostgreSQL's one-statement path: a total past 64 bits
        return (
            "amount_too_large",
            "the amount would take a total past what the ledger "
            "holds (AMOUNT_MAX); nothing was written",
            int(ExitCode.USAGE),
        )
    if sqlstate[:2] in _SQLSTATE_CLASSES:
        code, exit_name = _SQLSTATE_CLASSES[sqlstate[:2]]
        return code, f"database error: {reason}", int(ExitCode[exit_name])
    return "database_error", f"database error: {reason}", int(ExitCode.INTEGRITY)


def _emit(
    wants_json: bool, code: str, message: str, exit_code: int, data: Mapping[str, Any] | None = None
) -> int:
    if wants_json:
        document = {"code": code, "message": message, "data": _strings(data or {})}
        sys.stderr.write(json.dumps({"error": document}, ensure_ascii=False) + "\n")
    else:
        sys.stderr.write(f"error: {message}\n")
    return exit_code


def _strings(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """An error's data as the JSON error's ``data``: every value a string (amounts are already
    decimal strings like the message's); a nested mapping's entries become ``key.entry``."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_strings(value, f"{prefix}{key}."))
        elif isinstance(value, bool):
            flat[f"{prefix}{key}"] = "true" if value else "false"
        elif isinstance(value, list | tuple | set | frozenset):
            flat[f"{prefix}{key}"] = ", ".join(str(item) for item in value)
        else:
            flat[f"{prefix}{key}"] = "" if value is None else str(value)
    return flat


if __name__ == "__main__":
    run()
