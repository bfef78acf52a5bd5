"""Key files: 0600, passphrase-encrypted, bound to their network and handle."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mutualcredit.services.keys import (
    KeyFileInvalid,
    KeyFileMissing,
    KeyStore,
    Signer,
    WrongPassphrase,
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
    document["ciphertext"] = ("0" if document["ciphertext"][0] != "0" else "1") + \
        document["ciphertext"][1:]
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
    other.folder.mkdir(parents=True)
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
