"""Every input issue 15 found ending in a traceback: one line on stderr and its documented code.

End to end through the installed command, on a copy of the demo ledger: 2 for
malformed input, 3 for a corrupt file, 5 for a busy, read-only or full database.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("nt")
    result = run_cli(
        "--db",
        str(root / "demo.db"),
        "demo",
        "--force",
        env={"MUTUALCREDIT_HOME": str(root / "home")},
        cwd=str(root),
    )
    assert result.returncode == 0, result.stderr
    passphrase = re.search(r"passphrase '([^']+)'", result.stdout)
    assert passphrase
    return root, passphrase.group(1)


class Copy:
    def __init__(self, root: Path, passphrase: str) -> None:
        self.root = root
        self.db = str(root / "demo.db")
        self.env = {"MUTUALCREDIT_HOME": str(root / "home"), "MUTUALCREDIT_PASSPHRASE": passphrase}

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_cli("--db", self.db, *args, env={**self.env, **(env or {})}, cwd=str(self.root))


@pytest.fixture
def ledger(demo: tuple[Path, str], tmp_path: Path) -> Copy:
    root, passphrase = demo
    shutil.copy(root / "demo.db", tmp_path / "demo.db")
    shutil.copytree(root / "home", tmp_path / "home")
    return Copy(tmp_path, passphrase)


def assert_one_line(
    result: subprocess.CompletedProcess[str], code: int, error_code: str | None = None
) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    if error_code is not None:
        assert json.loads(lines[0])["error"]["code"] == error_code, lines[0]


def transfer_count(db: str) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT count(*) FROM transfer").fetchone()[0])


MALFORMED = [
    (["tx", "show", str(2**63)], "usage"),
    (["tx", "show", "99999999999999999999"], "usage"),
    (["reverse", str(2**63), "--reason", "x"], "usage"),
    (["booking", "show", str(2**64)], "usage"),
    (["accept", str(2**63)], "usage"),
    (["report", "settlement", "--period", "9999-12"], "date_out_of_range"),
    (["report", "settlement", "--period", "0000-01"], "date_out_of_range"),
    (["report", "settlement", "--from", "0001-01-01", "--to", "0001-01-31"], "date_out_of_range"),
    (["report", "income", "--from", "0001-01-01"], "date_out_of_range"),
    (["statement", "ana", "--from", "0001-01-01", "--to", "9999-12-31"], "date_out_of_range"),
    (["settle", "--period", "9999-12"], "date_out_of_range"),
    (["settle", "--from", "0001-01-01", "--to", "0001-01-31"], "date_out_of_range"),
    (["calendar", "studio", "--week", "9999-12-31"], "date_out_of_range"),
    (["calendar", "studio", "--week", "0001-01-01"], "date_out_of_range"),
    (
        ["book", "studio", "--by", "ana", "--from", "9999-12-31T22:00", "--for", "1h"],
        "date_out_of_range",
    ),
    (
        ["book", "studio", "--by", "ana", "--from", "0001-01-01T00:00", "--for", "1h"],
        "date_out_of_range",
    ),
    (["balance", "ana", "--nope"], "usage"),
]


@pytest.mark.parametrize(
    ("args", "error_code"), MALFORMED, ids=[" ".join(args)[:60] for args, _ in MALFORMED]
)
def test_malformed_arguments_exit_2_with_one_json_line(
    ledger: Copy, args: list[str], error_code: str
) -> None:
    before = transfer_count(ledger.db)
    assert_one_line(ledger.run(*args, "--json"), 2, error_code)
    assert transfer_count(ledger.db) == before


def test_non_utf8_arguments_and_environment_are_refused_as_malformed(ledger: Copy) -> None:
    executable = shutil.which("mutualcredit", path=os.path.dirname(sys.executable))
    assert executable
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MUTUALCREDIT_")},
        **ledger.env,
    }
    for args in ([b"balance", b"\xff\xfe"], [b"pay", b"ana", b"caio\xff", b"1"]):
        result = subprocess.run(
            [executable.encode(), b"--db", ledger.db.encode(), *args],
            capture_output=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 2
        lines = result.stderr.decode().splitlines()
        assert len(lines) == 1 and re.fullmatch(
            r"error: argument \d+ is not valid UTF-8 text", lines[0]
        ), lines
    env_bytes = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    env_bytes[b"MUTUALCREDIT_AS"] = b"\xffana"
    result = subprocess.run(
        [executable.encode(), b"--db", ledger.db.encode(), b"whoami"],
        capture_output=True,
        env=env_bytes,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"MUTUALCREDIT_AS is not valid UTF-8" in result.stderr


@pytest.mark.parametrize(
    "url", ["mysql://root@127.0.0.1/test", "postgresql+asyncpg://x/y", "oracle://x", "foo:bar://"]
)
def test_unsupported_database_urls_exit_2(ledger: Copy, url: str) -> None:
    result = run_cli("--db", url, "balance", "ana", "--json", env=ledger.env)
    assert_one_line(result, 2)
    assert json.loads(result.stderr)["error"]["code"] in {"unsupported_database", "invalid_db"}


def test_deep_and_odd_checkpoint_files_are_refused_without_traceback(ledger: Copy) -> None:
    deep = ledger.root / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert_one_line(ledger.run("verify", "--checkpoint", str(deep), "--json"), 2, "input_too_deep")
    assert_one_line(
        ledger.run("verify-proof", str(deep), "--checkpoint", str(deep), "--json"),
        2,
        "input_too_deep",
    )
    result = ledger.run("verify", "--checkpoint", "/dev/zero", "--json")
    assert_one_line(result, 2, "file_not_regular")
    assert "does not exist" not in result.stderr


def test_deep_or_huge_rules_files_are_refused_as_rules_problems(ledger: Copy) -> None:
    sample = Path(__file__).parents[2] / "examples" / "import-rules" / "tickets.toml"
    for name, text in (
        ("deep.toml", "a = " + "[" * 500 + "]" * 500 + "\n"),
        ("huge.toml", "a = " + "9" * 900_000 + "\n"),
    ):
        (ledger.root / name).write_text(text)
        result = ledger.run("import", "--rules", name, str(sample))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"error: {name}: not valid TOML")


def test_deep_json_import_rows_are_named_by_file_line_and_column(ledger: Copy) -> None:
    rules = Path(__file__).parents[2] / "examples" / "import-rules" / "bar.toml"
    (ledger.root / "deep.jsonl").write_text('{"a":' * 100_000 + "1" + "}" * 100_000 + "\n")
    before = transfer_count(ledger.db)
    result = ledger.run("import", "--rules", str(rules), "deep.jsonl")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "deep.jsonl:1:1: invalid JSON: nested too deeply" in result.stderr
    assert transfer_count(ledger.db) == before


def test_a_corrupt_ledger_file_is_exit_3(ledger: Copy) -> None:
    Path(ledger.db).write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    result = ledger.run("balance", "ana", "--json")
    assert_one_line(result, 3)
    Path(ledger.db).write_bytes(os.urandom(8192))
    assert_one_line(ledger.run("verify", "--json"), 3)


def test_a_ledger_file_cut_short_is_storage_corrupt_for_every_command(
    demo: tuple[Path, str], ledger: Copy
) -> None:
    data = (demo[0] / "demo.db").read_bytes()
    Path(ledger.db).write_bytes(data[: len(data) // 2])  # a killed cp, a full disk
    for args in (["balance", "ana"], ["pay", "ana", "caio", "1"], ["verify"]):
        assert_one_line(ledger.run(*args, "--json"), 3, "storage_corrupt")


def test_a_busy_ledger_is_exit_5_after_the_timeout_and_the_same_key_then_posts_once(
    ledger: Copy,
) -> None:
    holder = sqlite3.connect(ledger.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    try:
        result = ledger.run(
            "pay",
            "ana",
            "caio",
            "1",
            "--key",
            "retry-me",
            "--json",
            env={"MUTUALCREDIT_BUSY_TIMEOUT": "1.5"},
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    waited = time.monotonic() - started
    assert_one_line(result, 5, "database_busy")
    assert "--key" in json.loads(result.stderr)["error"]["message"]
    assert 1.5 <= waited < 30
    before = transfer_count(ledger.db)
    first = ledger.run("pay", "ana", "caio", "1", "--key", "retry-me", "--json")
    again = ledger.run("pay", "ana", "caio", "1", "--key", "retry-me", "--json")
    assert first.returncode == 0 and again.returncode == 0, (first.stderr, again.stderr)
    assert json.loads(first.stdout)["id"] == json.loads(again.stdout)["id"]
    assert transfer_count(ledger.db) == before + 1


def test_a_malformed_busy_timeout_is_refused(ledger: Copy) -> None:
    for value in ("soon", "-1", "0", "١"):
        assert_one_line(
            ledger.run("balance", "ana", "--json", env={"MUTUALCREDIT_BUSY_TIMEOUT": value}),
            2,
            "invalid_busy_timeout",
        )


def test_a_waiting_writer_says_so_on_a_terminal(ledger: Copy) -> None:
    executable = shutil.which("mutualcredit", path=os.path.dirname(sys.executable))
    assert executable
    holder = sqlite3.connect(ledger.db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(4.0, holder.execute, ("ROLLBACK",)).start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MUTUALCREDIT_")},
        **ledger.env,
    }
    leader, follower = pty.openpty()
    try:
        process = subprocess.run(
            [executable, "--db", ledger.db, "pay", "ana", "caio", "1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            env=env,
            timeout=60,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
        holder.close()
    assert process.returncode == 0
    assert b"waiting for another writer" in seen


def _as_nobody() -> list[str] | None:
    """A command prefix that drops root, so file permissions apply (None: cannot)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder that other users may enter (pytest's own are private to us)."""
    folder = Path(tempfile.mkdtemp(prefix="mc-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)
            if os.geteuid() == 0:
                os.chown(path, 0, 0)
        shutil.rmtree(folder)


def test_a_read_only_ledger_reads_and_refuses_writes_with_exit_5(
    ledger: Copy, open_folder: Path
) -> None:
    tmp_path = open_folder
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot make a file read-only for us")
    executable = shutil.which("mutualcredit", path=os.path.dirname(sys.executable))
    assert executable
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(ledger.db, folder / "demo.db")
    shutil.copytree(ledger.root / "home", folder / "home")
    keys = folder / "home"
    for path in [folder, *folder.rglob("*")]:
        if path == keys or keys in path.parents:  # the member's own keys, private to them
            path.chmod(0o700 if path.is_dir() else 0o600)
            if os.geteuid() == 0:
                os.chown(path, 65534, 65534)
        else:
            path.chmod(0o555 if path.is_dir() else 0o444)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MUTUALCREDIT_")},
        **ledger.env,
        "MUTUALCREDIT_HOME": str(folder / "home"),
        "HOME": str(folder),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, executable, "--db", str(folder / "demo.db"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    for args in (["balance", "ana"], ["statement", "ana"], ["account", "list"], ["verify"]):
        result = run(*args)
        assert result.returncode == 0, (args, result.stderr)
    written = run("pay", "ana", "caio", "1", "--json")
    assert_one_line(written, 5)
    assert json.loads(written.stderr)["error"]["code"] == "database_read_only"


def test_a_full_disk_is_exit_5_and_writes_nothing(ledger: Copy, tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs")
    mount_point = tmp_path / "full"
    mount_point.mkdir()
    size = 2 * Path(ledger.db).stat().st_size + 1024 * 1024
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"cannot mount a tmpfs in CI: {mounted.stderr!r}")
        pytest.skip("this machine does not let us mount a tmpfs")
    try:
        db = mount_point / "demo.db"
        shutil.copy(ledger.db, db)
        before = transfer_count(str(db))
        filler = mount_point / "filler"
        handle = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # take every free byte
            while os.write(handle, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(handle)
        result = run_cli("--db", str(db), "pay", "ana", "caio", "1", "--json", env=ledger.env)
        assert_one_line(result, 5)
        assert json.loads(result.stderr)["error"]["code"] in {"disk_full", "disk_error"}
        out = run_cli(
            "--db",
            ledger.db,
            "export",
            "csv",
            "--out",
            str(mount_point / "export.csv"),
            "--json",
            env=ledger.env,
        )
        assert "Traceback" not in out.stderr
        assert out.returncode == 5, out.stderr
        assert json.loads(out.stderr.splitlines()[-1])["error"]["code"] == "disk_full"
        filler.unlink()
        assert transfer_count(str(db)) == before
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
