"""The registry of codes is closed: every code the source raises or reports is in it, once,
with the exit code its error classes use, and every entry is used somewhere."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

import mutualcredit
import mutualcredit_cli
from mutualcredit.domain import codes
from mutualcredit.domain.errors import ExitCode, MutualCreditError, Refused, UsageError

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Calls that take a code as a positional argument: function name -> index of the code.
POSITIONAL = {"problem": 0, "_problem": 3, "_note": 3, "FieldInvalid": 1, "_emit": 1}
# Functions whose returned tuples start with a code (and whether it is a problem's).
TUPLES = {"key_problem": "problem", "_database_error": "error"}


def _names(node: ast.expr) -> list[str]:
    """The code strings of an expression: a literal, or the branches of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.match(node.value):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _names(node.body) + _names(node.orelse)
    return []


def _called(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def scan(source: str) -> Iterator[tuple[str, str, int, str]]:
    """``(code, "error" | "problem", line, called)`` for every code written at a raise or
    problem site of ``source``."""
    tree = ast.parse(source)
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef) and function.name in TUPLES:
            for node in ast.walk(function):
                if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
                    for name in _names(node.value.elts[0]):
                        yield name, TUPLES[function.name], node.lineno, function.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = _called(node.func)
            kind = (
                "problem"
                if called == "Problem" or called in POSITIONAL and called != "_emit"
                else "error"
            )
            for keyword in node.keywords:
                if keyword.arg == "code":
                    for name in _names(keyword.value):
                        yield name, kind, node.lineno, called
            if called in POSITIONAL and len(node.args) > POSITIONAL[called]:
                for name in _names(node.args[POSITIONAL[called]]):
                    yield name, kind, node.lineno, called
            if (
                called == "append"
                and _called(getattr(node.func, "value", node.func)) == "problems"
                and node.args
                and isinstance(node.args[0], ast.Tuple)
            ):
                for name in _names(node.args[0].elts[0]):
                    yield name, "problem", node.lineno, "problems.append"
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(
                isinstance(target, ast.Name)
                and target.id == "code"
                or isinstance(target, ast.Attribute)
                and target.attr == "code"
                for target in targets
            ):
                for name in _names(node.value):
                    yield name, "error", node.lineno, "code ="


def _sources() -> list[Path]:
    return sorted([*(ROOT / "mutualcredit").rglob("*.py"), *(ROOT / "cli").rglob("*.py")])


def used() -> dict[str, set[str]]:
    """Every code the source uses, with the kinds of site it appears at."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in _sources():
        if path.name == "codes.py" and path.parent.name == "domain":
            continue
        for name, kind, _line, _called_name in scan(path.read_text(encoding="utf-8")):
            found[name].add(kind)
    from mutualcredit_cli import main

    for _fragment, name, _exit_name, _message in main._SQLITE_MESSAGES:
        found[name].add("error")
    for name, _exit_name in main._SQLSTATE_CLASSES.values():
        found[name].add("error")
    return found


def _all_error_classes() -> list[type[MutualCreditError]]:
    for package in (mutualcredit, mutualcredit_cli):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    classes: list[type[MutualCreditError]] = []
    pending: list[type[MutualCreditError]] = [MutualCreditError]
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    return classes


def test_the_scanner_finds_each_kind_of_site() -> None:
    source = """
class Odd(Refused):
    code = "one"
raise Refused("m", code="two" if x else "three")
self.problem("four", subject, message)
self._problem(line, column, message, "five", text=text)
Problem(file=f, code="six")
facts.problems.append(("seven", subject, message, seq, None))
def key_problem():
    return ("eight", subject, message)
code = compute("not_a_code")
"""
    assert sorted((name, kind) for name, kind, _line, _called in scan(source)) == [
        ("eight", "problem"),
        ("five", "problem"),
        ("four", "problem"),
        ("one", "error"),
        ("seven", "problem"),
        ("six", "problem"),
        ("three", "error"),
        ("two", "error"),
    ]


def test_the_scan_sees_the_codes_it_should() -> None:
    found = used()
    # one of each way of writing a code, so a scanner that stopped seeing one fails here
    for name in (
        "limit_lower_exceeded",
        "account_not_found",
        "column_mismatch",
        "json_syntax",
        "key_not_yet_registered",
        "date_zone",
        "aborted",
        "database_read_only",
        "database_error",
        "encoding_bom",
        "zero_sum",
    ):
        assert name in found, name
    assert len(found) > 200


def test_every_code_the_source_uses_is_registered_for_its_kind() -> None:
    unregistered = sorted(set(used()) - set(codes.BY_NAME))
    assert unregistered == []
    wrong_kind = sorted(
        name
        for name, kinds in used().items()
        if codes.lookup(name).kind != "both" and kinds != {codes.lookup(name).kind}
    )
    assert wrong_kind == []


def test_every_registered_code_is_used() -> None:
    found = set(used())
    assert sorted(set(codes.BY_NAME) - found - codes.PENDING) == []
    # a pending code that arrived must leave PENDING
    assert sorted(codes.PENDING & found) == []
    assert codes.PENDING <= set(codes.BY_NAME)


def test_codes_of_kind_both_are_used_both_ways() -> None:
    found = used()
    assert (
        sorted(
            code.name
            for code in codes.CODES
            if code.kind == "both"
            and code.name not in codes.PENDING
            and found[code.name] != {"error", "problem"}
        )
        == []
    )


def test_every_error_class_agrees_with_the_registry() -> None:
    classes = _all_error_classes()
    assert len(classes) > 60
    disagree = [
        (f"{cls.__module__}.{cls.__qualname__}", cls.code, int(cls.exit_code))
        for cls in classes
        if not codes.allows(cls.code, cls.exit_code)
    ]
    assert disagree == []


def test_every_raise_site_exit_code_agrees_with_the_registry() -> None:
    by_class: dict[str, set[int]] = defaultdict(set)
    for cls in _all_error_classes():
        by_class[cls.__name__].add(int(cls.exit_code))
    disagree = []
    for path in _sources():
        for name, kind, line, called in scan(path.read_text(encoding="utf-8")):
            if kind == "error" and called in by_class:
                if not any(codes.allows(name, exit_code) for exit_code in by_class[called]):
                    disagree.append((f"{path.relative_to(ROOT)}:{line}", called, name))
    assert disagree == []


def test_database_error_tables_agree_with_the_registry() -> None:
    from mutualcredit_cli import main

    pairs = [(name, exit_name) for _fragment, name, exit_name, _message in main._SQLITE_MESSAGES]
    pairs += list(main._SQLSTATE_CLASSES.values())
    assert [
        (name, exit_name)
        for name, exit_name in pairs
        if not codes.allows(name, ExitCode[exit_name])
    ] == []


def test_registry_is_ordered_and_complete_per_entry() -> None:
    assert len(codes.BY_NAME) == len(codes.CODES)
    for code in codes.CODES:
        assert NAME.match(code.name) and code.meaning and "\n" not in code.meaning
        assert code.kind in ("error", "problem", "both")
    names = [code.name for code in codes.CODES]
    # precedence: the writer's order (posting.py) — malformed, signature, idempotency,
    # not found, closed, authority, holds, limits
    writer = [
        "malformed_transfer",
        "unbalanced",
        "signature_invalid",
        "idempotency_conflict",
        "account_not_found",
        "account_closed",
        "not_authorised",
        "hold_not_pending",
        "limit_lower_exceeded",
    ]
    assert [names.index(name) for name in writer] == sorted(names.index(name) for name in writer)
    assert names.index("usage") < names.index("invalid_amount") < names.index("not_found")
    assert codes.lookup("limit_lower_exceeded").exit_code == ExitCode.REFUSED
    with pytest.raises(KeyError):
        codes.lookup("no_such_code")


def test_raising_an_unregistered_code_or_exit_is_a_programmer_error() -> None:
    assert Refused("fine", code="already_closed").code == "already_closed"
    with pytest.raises(AssertionError, match="'no_such_code' with exit 1 is not in"):
        Refused("a typo", code="no_such_code")
    with pytest.raises(AssertionError, match="'limit_lower_exceeded' with exit 2"):
        UsageError("wrong exit", code="limit_lower_exceeded")


def test_reporting_an_unregistered_problem_is_a_programmer_error() -> None:
    from mutualcredit.imports.reader import Problem

    assert (
        Problem(file="f", line=1, column=1, message="m", code="json_syntax").code == "json_syntax"
    )
    with pytest.raises(AssertionError, match="no_such_problem"):
        Problem(file="f", line=1, column=1, message="m", code="no_such_problem")


def test_readme_lists_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- codes:start -->\n", 1)[1].split("<!-- codes:end -->", 1)[0]
    assert section == codes.markdown()
    assert (
        readme.index("## Exit codes")
        < readme.index("## Error codes")
        < readme.index("<!-- codes:start -->")
    )


def test_markdown_command_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mutualcredit.domain.codes", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == codes.markdown()
    assert "| `limit_lower_exceeded` | 1 | error |" in result.stdout
    wrong = subprocess.run(
        [sys.executable, "-m", "mutualcredit.domain.codes"], capture_output=True, text=True
    )
    assert wrong.returncode == 2 and wrong.stdout == ""


def test_the_json_error_data_is_an_object_of_strings() -> None:
    from mutualcredit_cli.main import _strings

    assert _strings(
        {
            "account": "members:ana",
            "count": 3,
            "free": {"2026-12-05": "09:00"},
            "forced": True,
            "ids": (1, 2),
            "none": None,
        }
    ) == {
        "account": "members:ana",
        "count": "3",
        "free.2026-12-05": "09:00",
        "forced": "true",
        "ids": "1, 2",
        "none": "",
    }
    assert _strings({}) == {}


def test_the_cli_exit_codes_of_its_own_codes_agree_with_the_registry() -> None:
    def exit_of(node: ast.expr) -> int | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if (
            isinstance(node, ast.Call)
            and _called(node.func) == "int"
            and node.args
            and isinstance(node.args[0], ast.Attribute)
            and _called(node.args[0].value) == "ExitCode"
        ):
            return int(ExitCode[node.args[0].attr])
        return None

    pairs = []
    for node in ast.walk(ast.parse((ROOT / "cli" / "main.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and _called(node.func) == "_emit" and len(node.args) > 3:
            pairs.append((_names(node.args[1]), exit_of(node.args[3])))
        elif (
            isinstance(node, ast.Return)
            and isinstance(node.value, ast.Tuple)
            and len(node.value.elts) == 3
        ):
            pairs.append((_names(node.value.elts[0]), exit_of(node.value.elts[2])))
    checked = [(names[0], exit_code) for names, exit_code in pairs if names and exit_code]
    assert {name for name, _exit_code in checked} >= {
        "aborted",
        "disk_full",
        "os_error",
        "input_too_deep",
        "amount_too_large",
        "database_error",
    }
    assert [
        (name, exit_code) for name, exit_code in checked if not codes.allows(name, exit_code)
    ] == []
