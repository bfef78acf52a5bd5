"""Writing an output file (``--out``, ``--rejects``) without replacing what is not a file.

A regular file (or a name not yet taken) is written whole or not at all: a
temporary file in the same folder, renamed over the target at the end, so a
failed run leaves the old file.  Renaming is wrong for anything else:

* a FIFO or a character or block device (``/dev/null``, ``/dev/stdout``, a
  named pipe another program reads) is *written into*: opened and written,
  never renamed over (run as root, the rename destroyed ``/dev/null``);
* a symbolic link or a directory is refused (``out_not_regular``, exit 2):
  the rename would replace the link itself, and following it writes wherever
  the link's owner chose.  Give the file the link points to.

:func:`check_output` says which of the two a path is; commands call it before
doing any work, so a refused path leaves nothing written.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

from mutualcredit.domain.errors import UsageError

NEW_FILE_MODE = 0o644

OutputKind = Literal["file", "stream"]


def check_output(path: str | Path) -> OutputKind:
    """``"file"`` (absent or regular: temp and rename), ``"stream"`` (FIFO, device); else refuse."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return "file"
    except OSError as error:
        raise _unwritable(path, error) from None
    mode = found.st_mode
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "stream"
    what = (
        "a symbolic link; give the file it points to"
        if stat.S_ISLNK(mode)
        else "a directory"
        if stat.S_ISDIR(mode)
        else "not a regular file"
    )
    raise UsageError(f"cannot write {path}: it is {what}", code="out_not_regular")


@contextlib.contextmanager
def open_output(path: str | Path, *, binary: bool = False) -> Iterator[IO[Any]]:
    """A handle on ``path`` as :func:`check_output` decides: streamed into, or renamed."""
    if check_output(path) == "stream":
        try:
            handle = _open(path, binary)
        except OSError as error:
            raise _unwritable(path, error) from None
        with handle:
            yield handle
        return
    target = Path(path)
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.",
            suffix=".tmp",
            dir=target.parent if str(target.parent) else ".",
        )
    except OSError as error:
        raise _unwritable(path, error) from None
    try:
        with _open(descriptor, binary) as handle:
            yield handle
        os.chmod(temporary, _mode_for(target))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_output(path: str | Path, data: str | bytes) -> None:
    """Write all of ``data`` to ``path`` (see :func:`open_output`)."""
    with open_output(path, binary=isinstance(data, bytes)) as handle:
        handle.write(data)


def _open(file: str | Path | int, binary: bool) -> IO[Any]:
    if binary:
        return open(file, "wb")  # noqa: SIM115 - the caller closes it
    return open(file, "w", encoding="utf-8", newline="")  # noqa: SIM115


def _mode_for(target: Path) -> int:
    """An existing file keeps its mode; a new one is ``0644`` less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return NEW_FILE_MODE & ~umask


def _unwritable(path: str | Path, error: OSError) -> UsageError:
    return UsageError(f"cannot write {path}: {error.strerror or error}", code="output_not_writable")
