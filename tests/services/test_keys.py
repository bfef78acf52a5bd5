"""Key files: 0600 in 0700 folders, passphrase-encrypted, bound to their network and handle.

Names are checked before a path is built; links, loose modes and corrupt fields are refused.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from mutualcredit.domain.errors import ExitCode, InvalidName, UsageError
from mutualcredit.services import keys as keys_module
from mutualcredit.services.keys import (
    KDF_N_MAX,
    KeyFileCorrupt,
    KeyFileInsecure,
    KeyFileInvalid,
    KeyFileMissing,
    KeyStore,
    PassphraseTooShort,
    Signer,
    WrongPassphrase,
    parse_public_key,
    read_key_document,
    verify_signature,
)

FAST = 2**10  # scrypt cost for tests only; the program's default is 2**15


def store(tmp_path: Path, network: str = "net-a") -> KeyStore:
    return KeyStore(tmp_path, network, kdf_n=FAST)


def test_key_file_is_0600_and_never_holds_the_raw_key(tmp_path: Path) -> None:
    signer = Signer.generate("ana")
    path = store(tmp_path).write(signer, "correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.parent == tmp_path / "keys" / "net-a"
    content = path.read_text()
    raw = signer.private_key.private_bytes_raw()
    assert raw.hex() not in content and raw.hex().upper() not in content
    document = json.loads(content)
    assert document["kdf"]["name"] == "scrypt" and document["cipher"] == "aes-256-gcm"
    assert document["public_key"] == signer.public_key


def test_unlock_round_trips_and_signs(tmp_path: Path) -> None:
    signer = Signer.generate("ana")
    keys = store(tmp_path)
    keys.write(signer, "correct horse")
    unlocked = keys.unlock("ana", "correct horse")
    assert unlocked.public_key == signer.public_key
    assert verify_signature(signer.public_key, unlocked.sign(b"x"), b"x")


def test_wrong_passphrase(tmp_path: Path) -> None:
    keys = store(tmp_path)
    keys.write(Signer.generate("ana"), "correct horse")
    with pytest.raises(WrongPassphrase, match="wrong passphrase for .*ana.key"):
        keys.unlock("ana", "wrong horse")


def test_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(KeyFileMissing, match="mutualcredit key new ana"):
        store(tmp_path).unlock("ana", "x")


def test_corrupted_key_file(tmp_path: Path) -> None:
    keys = store(tmp_path)
    path = keys.write(Signer.generate("ana"), "correct horse")
    path.write_text("{not json")
    with pytest.raises(KeyFileInvalid, match="is not a mutualcredit key file"):
        keys.unlock("ana", "correct horse")
    document = {"format": "mutualcredit-key/v1"}
    path.write_text(json.dumps(document))
    with pytest.raises(KeyFileInvalid):
        keys.unlock("ana", "correct horse")


def test_flipped_ciphertext_byte_does_not_open(tmp_path: Path) -> None:
    keys = store(tmp_path)
    path = keys.write(Signer.generate("ana"), "correct horse")
    document = json.loads(path.read_text())
    document["ciphertext"] = ("0" if document["ciphertext"][0] != "0" else "1") + document[
        "ciphertext"
    ][1:]
    path.write_text(json.dumps(document))
    with pytest.raises(WrongPassphrase):
        keys.unlock("ana", "correct horse")


def test_a_key_file_moved_to_another_handle_or_network_is_foreign(tmp_path: Path) -> None:
    keys = store(tmp_path)
    path = keys.write(Signer.generate("ana"), "correct horse")
    path.rename(keys.path("bia"))
    with pytest.raises(KeyFileInvalid, match="is the key of ana, not of bia"):
        keys.unlock("bia", "correct horse")
    other = store(tmp_path, "net-b")
    other.prepare()
    keys.path("bia").rename(other.path("ana"))
    with pytest.raises(KeyFileInvalid, match="belongs to another network"):
        other.unlock("ana", "correct horse")


def test_editing_the_public_key_in_the_header_breaks_the_seal(tmp_path: Path) -> None:
    keys = store(tmp_path)
    path = keys.write(Signer.generate("ana"), "correct horse")
    document = json.loads(path.read_text())
    document["public_key"] = Signer.generate("x").public_key
    path.write_text(json.dumps(document))
    with pytest.raises(WrongPassphrase):
        keys.unlock("ana", "correct horse")


def test_signer_repr_hides_the_private_key() -> None:
    signer = Signer.generate("ana")
    assert "private" not in repr(signer)
    assert signer.private_key.private_bytes_raw().hex() not in repr(signer)


def test_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    keys = store(tmp_path)
    keys.write(Signer.generate("ana"), "correct horse")
    from mutualcredit.domain.errors import Refused

    with pytest.raises(Refused, match="not overwriting a key file"):
        keys.write(Signer.generate("ana"), "correct horse")


# --- hardening (issue 15): names, modes, links, passphrases, corrupt files ---------------


@pytest.mark.parametrize(
    "network", ["../../x", "/abs", "a/b", ".hidden", "", "..", "a" * 65, "net\n", "ré"]
)
def test_a_network_id_outside_its_grammar_builds_no_path(tmp_path: Path, network: str) -> None:
    with pytest.raises(InvalidName) as caught:
        KeyStore(tmp_path, network, kdf_n=FAST)
    assert caught.value.exit_code == ExitCode.USAGE
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("handle", ["../../x", "/etc/passwd", "a/b", "..", "", "Ana", "a" * 33])
def test_a_handle_outside_its_grammar_builds_no_path(tmp_path: Path, handle: str) -> None:
    keys = store(tmp_path)
    for attempt in (
        lambda: keys.path(handle),
        lambda: keys.unlock(handle, "correct horse"),
        lambda: keys.write(Signer.generate(handle), "correct horse"),
    ):
        with pytest.raises(InvalidName):
            attempt()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_folders_0700_and_files_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    home = tmp_path / "data" / "home"
    previous = os.umask(umask)
    try:
        keys = store(home)
        path = keys.write(Signer.generate("ana"), "correct horse")
        keys.write(Signer.generate("ana"), "correct horse", overwrite=True)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(home / "keys").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(keys.folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # the data directory may be 0755, never looser, even under umask 000; always ours to use
    assert stat.S_IMODE(os.stat(home).st_mode) == (0o755 & ~umask) | 0o700
    assert sorted(p.name for p in keys.folder.iterdir()) == ["ana.key"]  # no temporary left


def test_a_key_file_open_to_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    keys = store(tmp_path)
    path = keys.write(Signer.generate("ana"), "correct horse")
    for mode in (0o644, 0o640, 0o604, 0o660, 0o601):
        path.chmod(mode)
        with pytest.raises(KeyFileInsecure) as caught:
            keys.unlock("ana", "correct horse")
        assert caught.value.message == (
            f"key file {path} is open to its group or others (mode {mode:04o}); "
            f"fix with: chmod 600 {path}"
        )
        assert caught.value.code == "key_file_insecure"
        assert caught.value.exit_code == ExitCode.INTEGRITY
    path.chmod(0o400)  # stricter than 0600 is fine
    assert keys.unlock("ana", "correct horse").handle == "ana"


@pytest.mark.parametrize("which", ["root", "network"])
def test_a_key_folder_open_to_others_is_refused_with_the_fix(tmp_path: Path, which: str) -> None:
    keys = store(tmp_path)
    keys.write(Signer.generate("ana"), "correct horse")
    folder = keys.root if which == "root" else keys.folder
    for mode in (0o755, 0o750, 0o711, 0o701, 0o770, 0o777):
        folder.chmod(mode)
        for attempt in (
            lambda: keys.unlock("ana", "correct horse"),
            lambda: keys.write(Signer.generate("bia"), "correct horse"),
        ):
            with pytest.raises(KeyFileInsecure) as caught:
                attempt()
            assert caught.value.message == (
                f"key folder {folder} is open to its group or others (mode {mode:04o}); "
                f"fix with: chmod 700 {folder}"
            )
    assert not keys.path("bia").exists()
    folder.chmod(0o700)
    assert keys.unlock("ana", "correct horse").handle == "ana"


def test_symlinked_key_file_and_key_folders_are_refused(tmp_path: Path) -> None:
    keys = store(tmp_path / "home")
    real = keys.write(Signer.generate("ana"), "correct horse")
    elsewhere = tmp_path / "elsewhere.key"
    real.rename(elsewhere)
    keys.path("ana").symlink_to(elsewhere)
    with pytest.raises(KeyFileInsecure, match=r"key file .*ana\.key is a symbolic link; "):
        keys.unlock("ana", "correct horse")
    keys.path("ana").unlink()
    elsewhere.rename(real)
    for folder in (keys.folder, keys.root):
        moved = tmp_path / f"moved-{folder.name}"
        folder.rename(moved)
        folder.symlink_to(moved)
        with pytest.raises(KeyFileInsecure, match=rf"key folder {folder} is a symbolic link"):
            keys.unlock("ana", "correct horse")
        with pytest.raises(KeyFileInsecure):
            keys.write(Signer.generate("bia"), "correct horse")
        folder.unlink()
        moved.rename(folder)
    assert keys.unlock("ana", "correct horse").handle == "ana"


def test_a_key_path_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    keys = store(tmp_path)
    keys.prepare()
    os.mkfifo(keys.path("ana"), 0o600)
    with pytest.raises(KeyFileInsecure, match="is not a regular file"):
        keys.unlock("ana", "correct horse")


def test_new_keys_need_eight_characters_and_nothing_is_written(tmp_path: Path) -> None:
    keys = store(tmp_path / "home")
    with pytest.raises(PassphraseTooShort) as caught:
        keys.write(Signer.generate("ana"), "7-chars")
    assert caught.value.code == "passphrase_too_short"
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message == (
        "a new key's passphrase needs at least 8 characters (this one has 7)"
    )
    assert not (tmp_path / "home").exists()
    keys.write(Signer.generate("ana"), "8-chars!")
    assert keys.unlock("ana", "8-chars!").handle == "ana"


def test_a_key_file_sealed_under_a_short_passphrase_still_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = store(tmp_path)
    monkeypatch.setattr(keys_module, "PASSPHRASE_LENGTH_MIN", 4)  # what earlier versions took
    keys.write(Signer.generate("ana"), "demo")
    monkeypatch.undo()
    assert keys.unlock("ana", "demo").handle == "ana"
    with pytest.raises(PassphraseTooShort):
        keys.write(Signer.generate("ana"), "demo", overwrite=True)


def _sealed(tmp_path: Path) -> tuple[KeyStore, Path, dict]:
    keys = store(tmp_path)
    path = keys.write(Signer.generate("ana"), "correct horse")
    return keys, path, json.loads(path.read_text())


def _set(document: dict, dotted: str, value: object) -> dict:
    copy = json.loads(json.dumps(document))
    *parents, last = dotted.split(".")
    target = copy
    for name in parents:
        target = target[name]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return copy


_DELETE = object()
CORRUPTIONS = [
    ("nonce", ""),
    ("nonce", "00" * 11),
    ("nonce", "zz" * 12),
    ("nonce", None),
    ("nonce", 12),
    ("ciphertext", ""),
    ("ciphertext", "00" * 47),
    ("ciphertext", "00" * 49),
    ("kdf.n", 1025),
    ("kdf.n", 2**40),
    ("kdf.n", 2**18),
    ("kdf.n", 512),
    ("kdf.n", 0),
    ("kdf.n", -32768),
    ("kdf.n", "32768"),
    ("kdf.n", 32768.0),
    ("kdf.n", True),
    ("kdf.n", 10**400),
    ("kdf.r", 2**30),
    ("kdf.r", 0),
    ("kdf.p", 2**30),
    ("kdf.p", 2),
    ("kdf.salt", ""),
    ("kdf.salt", "00" * 15),
    ("kdf.name", "argon2"),
    ("kdf.extra", 1),
    ("kdf", "scrypt"),
    ("kdf", None),
    ("kdf", []),
    ("kdf", _DELETE),
    ("format", 1),
    ("format", "mutualcredit-key/v9"),
    ("cipher", "chacha20"),
    ("handle", ["ana"]),
    ("network", {"a": 1}),
    ("public_key", "00"),
    ("public_key", 7),
    ("nonce", _DELETE),
]


@pytest.mark.parametrize(
    ("field_name", "value"),
    CORRUPTIONS,
    ids=[f"{n}=<deleted>" if v is _DELETE else f"{n}={v!r}"[:40] for n, v in CORRUPTIONS],
)
def test_a_corrupt_field_is_key_file_corrupt_before_scrypt_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field_name: str, value: object
) -> None:
    keys, path, document = _sealed(tmp_path)
    path.write_text(json.dumps(_set(document, field_name, value)))

    def no_kdf(*_: object) -> bytes:
        raise AssertionError("scrypt ran on a corrupt key file")

    monkeypatch.setattr(keys_module, "_derive", no_kdf)
    with pytest.raises(KeyFileCorrupt) as caught:
        keys.unlock("ana", "correct horse")
    assert caught.value.code == "key_file_corrupt"
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert caught.value.message.startswith(f"{path} is not a mutualcredit key file (corrupted?): ")
    assert "\n" not in caught.value.message


def test_the_largest_accepted_scrypt_cost_is_bounded() -> None:
    assert KDF_N_MAX == 2**17
    assert 128 * keys_module.KDF_R * KDF_N_MAX == 128 * 2**20  # 128 MiB at most


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe{}",
        b"[" * 60_000,
        b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
        b"[]",
        b"null",
        b"x" * (64 * 1024 + 1),
    ],
    ids=[
        "empty",
        "not-json",
        "not-utf8",
        "deep-array",
        "deep-object",
        "array",
        "null",
        "too-large",
    ],
)
def test_files_that_are_not_key_documents(tmp_path: Path, content: bytes) -> None:
    keys, path, _ = _sealed(tmp_path)
    path.write_bytes(content)
    with pytest.raises(KeyFileCorrupt, match="is not a mutualcredit key file|larger than"):
        keys.unlock("ana", "correct horse")


def test_reading_a_fifo_or_a_device_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(KeyFileCorrupt, match="is not a regular file"):
            read_key_document(path)


def test_a_public_key_file_is_read_bounded_and_parsed_without_a_traceback(tmp_path: Path) -> None:
    public_key = Signer.generate("ana").public_key
    given = tmp_path / "ana.pub"
    given.write_text(json.dumps({"public_key": public_key}))
    assert parse_public_key(str(given)) == public_key
    given.write_text('{"a":' + "[" * 30_000 + "]" * 30_000 + "}")  # RecursionError
    with pytest.raises(UsageError, match="has no public_key field"):
        parse_public_key(str(given))
    given.write_text(" " * (64 * 1024) + public_key)
    with pytest.raises(UsageError, match="is larger than 65536 bytes"):
        parse_public_key(str(given))
