"""``--out`` and ``--rejects`` never replace what is not a regular file.

A regular file is written whole (a temporary file renamed over it); a FIFO or
a device is written into; a symlink or a directory is refused with
``out_not_regular`` (exit 2) before anything is done.  Run as root, the old
rename replaced ``/dev/null`` itself.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from mutualcredit.domain.errors import ExitCode, UsageError
from mutualcredit.schema_files import validate
from mutualcredit.services.output_files import check_output, open_output, write_output
from tests.e2e.test_import_cli import GOOD, TICKET_RULES, cli, ledger_dir, tickets
from tests.support import make_network, run_cli

__all__ = ["ledger_dir"]  # the import tests' fixture: a ledger with an importer

PASS = "s3cret-pass"


class FifoReader(threading.Thread):
    """Reads a FIFO to its end in the background, as the program at its other end would."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.data = path, b""

    def run(self) -> None:
        with open(self.path, "rb") as fifo:
            self.data = fifo.read()


def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


# -- the helper ------------------------------------------------------------------------------


def test_kinds(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    assert check_output(tmp_path / "absent") == "file"
    assert check_output(tmp_path / "file") == "file"
    assert check_output(fifo(tmp_path)) == "stream"
    assert check_output("/dev/null") == "stream"
    for path, what in (
        (tmp_path / "link", "a symbolic link; give the file it points to"),
        (tmp_path, "a directory"),
    ):
        with pytest.raises(UsageError) as caught:
            check_output(path)
        assert (caught.value.code, caught.value.exit_code) == ("out_not_regular", ExitCode.USAGE)
        assert caught.value.message == f"cannot write {path}: it is {what}"


def test_a_regular_file_is_replaced_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old")
    target.chmod(0o600)
    with pytest.raises(RuntimeError), open_output(target) as handle:
        handle.write("half")
        raise RuntimeError("the run fails half way")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["report.csv"]
    write_output(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    path = fifo(tmp_path)
    reader = FifoReader(path)
    reader.start()
    write_output(path, b"through the pipe\n")
    reader.join(10)
    assert reader.data == b"through the pipe\n"
    assert stat.S_ISFIFO(os.lstat(path).st_mode)


def test_dev_null_stays_a_character_device() -> None:
    write_output("/dev/null", "nothing\n")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_node_of_our_own_is_written_into(tmp_path: Path) -> None:
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the same device as /dev/null
    write_output(node, "x")
    assert stat.S_ISCHR(os.lstat(node).st_mode)


# -- through the installed command -----------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mutualcredit.services.keys import KeyStore

    root = tmp_path_factory.mktemp("out")
    net = make_network(str(root / "ledger.db"))
    net.pay("ana", "bia", "30.00", memo="ensaio")
    KeyStore(root / "home", net.ledger.network.id, kdf_n=2**10).write(net["banco"], PASS)
    net.ledger.engine.dispose()
    return root


def mc(root: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(
        "--db",
        str(root / "ledger.db"),
        *args,
        env={"MUTUALCREDIT_HOME": str(root / "home"), "MUTUALCREDIT_PASSPHRASE": PASS},
    )


def test_cli_export_into_a_fifo(home: Path, tmp_path: Path) -> None:
    path = fifo(tmp_path)
    reader = FifoReader(path)
    reader.start()
    result = mc(home, "export", "csv", "--out", str(path))
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert reader.data.decode().splitlines()[0] == (
        "transfer_id,date,created_at,kind,memo,hours,account,currency,amount"
    )
    assert b"ensaio" in reader.data
    assert stat.S_ISFIFO(os.lstat(path).st_mode)


def test_cli_export_to_dev_null_leaves_it_a_device(home: Path) -> None:
    # In-process first: if the helper ever renamed again, stop before the command (run as
    # root) could replace this machine's /dev/null.
    assert check_output("/dev/null") == "stream"
    for args in (("export", "csv"), ("checkpoint", "create")):
        result = mc(home, *args, "--out", "/dev/null")
        assert result.returncode == 0, result.stderr
        assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_cli_symlink_out_is_refused_and_nothing_is_written(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("keep me")
    link = tmp_path / "out.json"
    link.symlink_to(target)
    before = mc(home, "checkpoint", "list", "--json").stdout
    for args in (
        ("export", "csv"),
        ("checkpoint", "create"),
        ("report", "settlement", "--period", "2026-01", "--format", "csv"),
    ):
        result = mc(home, *args, "--out", str(link), "--json")
        assert (result.returncode, result.stdout) == (2, ""), (args, result.stderr)
        error = json.loads(result.stderr)
        validate(error, "error.schema.json")
        assert error["error"] == {
            "code": "out_not_regular",
            "message": f"cannot write {link}: it is a symbolic link; give the file it points to",
            "data": {},
        }
        assert link.is_symlink() and target.read_text() == "keep me"
    assert mc(home, "checkpoint", "list", "--json").stdout == before  # no checkpoint stored


def test_cli_directory_out_is_refused(home: Path, tmp_path: Path) -> None:
    for args in (
        ("export", "hledger"),
        ("checkpoint", "create"),
        ("report", "settlement", "--period", "2026-01"),
    ):
        result = mc(home, *args, "--out", str(tmp_path))
        assert (result.returncode, result.stdout) == (2, ""), (args, result.stderr)
        assert result.stderr == f"error: cannot write {tmp_path}: it is a directory\n"
    assert os.listdir(tmp_path) == []


def test_cli_rejects_symlink_is_refused_before_importing(ledger_dir, tmp_path):  # type: ignore[no-untyped-def]
    path = tickets(
        tmp_path / "t.csv",
        GOOD.replace("GR-1;", "GR-SYM;"),
        GOOD.replace("GR-1;", "GR-BAD;").replace("40,00", "x"),
    )
    link = tmp_path / "rejects.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    result = cli(
        ledger_dir,
        "import",
        path,
        "--rules",
        TICKET_RULES,
        "--skip-invalid",
        "--rejects",
        str(link),
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: cannot write {link}: it is a symbolic link; give the file it points to\n"
    )
    assert not (tmp_path / "elsewhere.csv").exists()
    again = cli(ledger_dir, "import", path, "--rules", TICKET_RULES, "--dry-run", "--json")
    assert json.loads(again.stdout)["already_imported"] == 0  # GR-SYM was not imported


def test_cli_rejects_into_a_fifo(ledger_dir, tmp_path):  # type: ignore[no-untyped-def]
    bad = GOOD.replace("GR-1;", "GR-F2;").replace("40,00", "x")
    path = tickets(tmp_path / "t.csv", bad)
    pipe = fifo(tmp_path)
    reader = FifoReader(pipe)
    reader.start()
    result = cli(
        ledger_dir,
        "import",
        path,
        "--rules",
        TICKET_RULES,
        "--dry-run",
        "--skip-invalid",
        "--rejects",
        str(pipe),
    )
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert reader.data.decode("utf-8").splitlines()[1] == bad
