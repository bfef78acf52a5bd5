"""Entry point: global options, command groups, and the one place errors become exit codes.

Exit codes (:class:`mutualcredit.domain.errors.ExitCode`): 0 success; 1 refused by
the ledger's rules; 2 usage; 3 integrity problem; 4 not found.  Diagnostics go
to stderr as one line, or as ``{"error": {"code": …, "message": …}}`` with
``--json``; data goes to stdout.  Tracebacks never show local variables.
"""

from __future__ import annotations

import json
import sys

import typer

from cli import common

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
        None, "--db", help="SQLite file or SQLAlchemy URL (env MUTUALCREDIT_DB).",
        show_default=False),
    acting: str | None = typer.Option(  # noqa: UP007
        None, "--as", help="Who acts (env MUTUALCREDIT_AS).", show_default=False),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """A mutual-credit ledger for networks of cultural collectives."""
    common.check_acting(acting, "--as")
    common.STATE.db = db
    common.STATE.acting = acting


def _register() -> None:
    from cli import db_cmd, demo_cmd, keys_cmd, money, setup

    setup.register(app)
    money.register(app)
    keys_cmd.register(app)
    db_cmd.register(app)
    demo_cmd.register(app)
    for name in EXTENSIONS:
        module = __import__(f"cli.{name}", fromlist=["register"])
        module.register(app)


# Command modules of later features register themselves here (one line each).
EXTENSIONS: tuple[str, ...] = ("bookings_cmd", "audit_cmd", "requests_cmd", "reports_cmd",
                               "imports_cmd")

_register()


def run() -> None:
    """Console-script entry point."""
    try:
        app(standalone_mode=False)
    except SystemExit:
        raise
    except BaseException as error:  # noqa: BLE001 - the one place errors are mapped
        sys.exit(_report(error))


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
        return _emit(wants_json, "aborted", "aborted", 130)
    for click in _click_exceptions():
        if isinstance(error, getattr(click, "Exit", ())):
            return int(error.exit_code)
        if isinstance(error, getattr(click, "Abort", ())):
            return _emit(wants_json, "aborted", "aborted", 130)
        if isinstance(error, click.ClickException):
            error.show()
            return int(getattr(error, "exit_code", 2))
    if isinstance(error, KeyboardInterrupt):
        return _emit(wants_json, "aborted", "aborted", 130)
    if isinstance(error, MutualCreditError):
        return _emit(wants_json, error.code, error.message, int(error.exit_code))
    database = _database_error(error)
    if database is not None:
        return _emit(wants_json, "database_error", database, int(ExitCode.INTEGRITY))
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        return _emit(wants_json, "os_error", f"cannot use{where}: {error.strerror or error}",
                     int(ExitCode.USAGE))
    raise error


def _database_error(error: BaseException) -> str | None:
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError):
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        return f"database error: {reason}"
    return None


def _emit(wants_json: bool, code: str, message: str, exit_code: int) -> int:
    if wants_json:
        sys.stderr.write(json.dumps({"error": {"code": code, "message": message}},
                                    ensure_ascii=False) + "\n")
    else:
        sys.stderr.write(f"error: {message}\n")
    return exit_code


if __name__ == "__main__":
    run()
