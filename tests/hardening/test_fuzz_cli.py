"""No traceback, ever, for input: Hypothesis over every command's arguments and file parsers.

Each example runs the CLI in this process exactly as the console script does
(``mutualcredit_cli.main.run``: the one place errors become exit codes) against a copy of the
demo ledger.  Whatever the input, the command must end with a documented exit
code (0-5, or 130 for an abort) and, when it fails, say so in a last line of its
own (``error: …``, or the JSON error with ``--json``); an exception that escapes
``run`` — a traceback for a user — fails the test with the input that caused it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import run_cli

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 130}
# Commands left out: they build or replace whole ledgers and files by design (demo, init),
# or wait for a server (none here).  Everything else is fuzzed.
SKIPPED = {("demo",), ("init",)}

# Hostile and boundary texts, beside Hypothesis's own random text.
NASTY = [
    "",
    " ",
    "-",
    "--",
    "0",
    "-1",
    "1",
    "9" * 30,
    str(2**63),
    str(2**63 - 1),
    "1e9",
    "nan",
    "12,50",
    "12.5.0",
    "0001-01-01",
    "9999-12-31",
    "9998-12-31T23:59",
    "1970-01-01",
    "0000-00",
    "9999-12",
    "2026-13",
    "2026-02-30",
    "3h",
    "0h",
    "99999999d",
    "١٢٣",
    "١d",
    ":a:",
    "collectives:a:clearing",
    "[bold]x[/bold]",
    "\u202eevil",
    "a\u2028b",
    "a\x00b",
    "../../x",
    "/etc/passwd",
    "/dev/zero",
    "'; DROP TABLE transfer; --",
    "ana",
    "caio",
    "members:ana",
    "collectives:cubo:fund",
    "network:clearing:cubo",
    "studio",
    "CUBO",
    "BRL",
    '=HYPERLINK("x")',
    "@SUM(A1)",
    "\udcff",
    "x" * 600,
]


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    import typer

    from mutualcredit_cli.main import app

    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):
            for name, sub in sorted(command.commands.items()):
                walk(sub, (*path, name))
        elif path not in SKIPPED:
            found.append((path, command))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def _value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY),
        st.text(max_size=40),
        st.from_regex(r"[a-z:0-9.,\-]{0,20}", fullmatch=True),
    )


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    path, command = draw(st.sampled_from(COMMANDS))
    args = list(path)
    for param in command.params:
        if param.name == "help" or not draw(st.booleans()) and not param.required:
            continue
        if param.param_type_name == "argument":
            args.extend(draw(st.lists(_value(), min_size=1, max_size=2)))
        elif param.is_flag:
            args.append(param.opts[0])
        else:
            args.extend([param.opts[0], draw(_value())])
    if draw(st.integers(0, 9)) == 0:  # now and then, options out of place or unknown
        args.insert(draw(st.integers(0, len(args))), draw(st.sampled_from(["--json", "--nope"])))
    return args


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: value for key, value in os.environ.items() if key.startswith("MUTUALCREDIT_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        for key in values:
            os.environ.pop(key, None)
        os.environ.update(saved)


def invoke(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI in-process as the console script does: (exit code, stderr)."""
    from mutualcredit_cli import common, main

    # Real text streams over bytes, as a process has (commands write bytes to .buffer).
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    argv = sys.argv
    sys.argv = ["mutualcredit", *args]
    common.STATE.db = None
    common.STATE.acting = None
    try:
        with (
            _environment(env),
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
            contextlib.suppress(EOFError),
        ):
            try:
                main.run()
                code = 0
            except SystemExit as ended:
                code = (
                    ended.code if isinstance(ended.code, int) else (0 if ended.code is None else 1)
                )
    finally:
        sys.argv = argv
    stderr.flush()
    return code, stderr.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]


def check_outcome(args: list[str], code: int, stderr: str) -> None:
    assert code in DOCUMENTED_EXIT_CODES, (args, code, stderr)
    assert "Traceback" not in stderr, (args, stderr)
    if code not in (0, 130):
        lines = stderr.rstrip("\n").splitlines()
        if "--json" in args:  # the JSON error is the last line; problems of a file above it
            assert json.loads(lines[-1])["error"]["code"], (args, stderr)
        else:  # one "error:" line; a rules or import file may list its problems with it
            assert any(line.startswith("error: ") for line in lines), (args, stderr)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("fuzz")
    home = root / "home"
    result = run_cli(
        "--db",
        str(root / "demo.db"),
        "demo",
        "--force",
        env={"MUTUALCREDIT_HOME": str(home)},
        cwd=str(root),
    )
    assert result.returncode == 0, result.stderr
    passphrase = re.search(r"passphrase '([^']+)'", result.stdout)
    assert passphrase, result.stdout
    return root, passphrase.group(1)


@pytest.fixture
def ledger(
    demo: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    root, passphrase = demo
    shutil.copy(root / "demo.db", tmp_path / "demo.db")
    shutil.copytree(root / "home", tmp_path / "home")
    monkeypatch.chdir(tmp_path)  # files a command writes land in this test's folder
    return {
        "MUTUALCREDIT_DB": str(tmp_path / "demo.db"),
        "MUTUALCREDIT_HOME": str(tmp_path / "home"),
        "MUTUALCREDIT_PASSPHRASE": passphrase,
        "MUTUALCREDIT_BUSY_TIMEOUT": "2",
    }


def test_every_command_is_fuzzed() -> None:
    # The list is read from the Typer app: a new command is fuzzed without being named here.
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"pay", "verify", "import", "book", "report settlement", "key import"} <= names
    assert len(COMMANDS) >= 50


@settings(
    max_examples=int(os.environ.get("MUTUALCREDIT_FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=invocations(), as_someone=st.sampled_from([None, "ana", "banco", "nobody"]))
def test_no_traceback_for_any_arguments(
    ledger: dict[str, str], args: list[str], as_someone: str | None
) -> None:
    env = dict(ledger)
    if as_someone:
        env["MUTUALCREDIT_AS"] = as_someone
    code, stderr = invoke(args, env)
    check_outcome(args, code, stderr)


FILE_COMMANDS = [
    ["import", "--dry-run", "--rules", "{rules}", "{file}"],
    ["import", "--rules", "{file}", "{file}"],
    ["verify", "--checkpoint", "{file}"],
    ["verify-proof", "{file}", "--checkpoint", "{file}"],
    ["key", "import", "ana", "{file}"],
    ["member", "add", "zed", "--collective", "cubo", "--pubkey", "{file}"],
]


def _file_content() -> st.SearchStrategy[bytes]:
    structured = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode())
    return st.one_of(
        st.binary(max_size=300),
        structured,
        st.sampled_from(
            [
                b"[" * 100_000,
                b'{"a":' * 50_000,
                b"a = " + b"[" * 600,
                b"a = " + b"9" * 5_000,
                b"\xff\xfe\x00",
                b"",
                b"\n\n\n",
                b"date,amount\n0001-01-01,1\n",
                b"date,amount\n2026-11-01,\xd9\xa1\n",
            ]
        ),
    )


@settings(
    max_examples=int(os.environ.get("MUTUALCREDIT_FUZZ_EXAMPLES", "250")) // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(template=st.sampled_from(FILE_COMMANDS), content=_file_content(), json_output=st.booleans())
def test_no_traceback_for_any_file(
    ledger: dict[str, str], template: list[str], content: bytes, json_output: bool
) -> None:
    rules = Path("fuzz-rules.toml")
    shutil.copy(Path(__file__).parents[2] / "examples" / "import-rules" / "tickets.toml", rules)
    target = Path("fuzz-input")
    target.write_bytes(content)
    args = [part.format(rules=rules, file=target) for part in template]
    if json_output:
        args.append("--json")
    code, stderr = invoke(args, ledger)
    check_outcome(args, code, stderr)
