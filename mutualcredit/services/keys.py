"""Ed25519 keys: key files on the user's machine, public halves in the ledger.

A private key never enters the database, logs or tracebacks.  It lives in a
key file under ``<data dir>/keys/<network id>/<handle>.key`` (the data dir is
``MUTUALCREDIT_HOME`` or the platform's user data directory), mode 0600, as
JSON with these fields::

    {"format": "mutualcredit-key/v1", "network": …, "handle": …, "public_key": hex,
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": hex},
     "cipher": "aes-256-gcm", "nonce": hex, "ciphertext": hex}

The passphrase is stretched with **scrypt, n = 2^15, r = 8, p = 1** (32 MiB of
memory, about 0.1 s on this project's 2-core reference machine): expensive
enough that guessing passphrases from a stolen file costs an attacker tens of
CPU-seconds per thousand tries and memory that defeats GPUs, cheap enough that
every signed command pays it once.  The 32-byte raw private key is sealed with
AES-256-GCM; the header fields (format, network, handle, public key, KDF
parameters) are its associated data, so a file edited or moved to another
handle or network fails to open rather than signing as someone else.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mutualcredit.domain.canonical import canonical_json
from mutualcredit.domain.errors import IntegrityProblem, NotFound, Refused, UsageError

KEY_FORMAT = "mutualcredit-key/v1"
KDF_N = 2**15
KDF_R = 8
KDF_P = 1
KEY_FILE_SIZE_MAX = 64 * 1024
PASSPHRASE_LENGTH_MIN = 4


class WrongPassphrase(Refused):
    code = "wrong_passphrase"


class KeyFileMissing(NotFound):
    code = "key_file_missing"


class KeyFileInvalid(IntegrityProblem):
    code = "key_file_invalid"


@dataclass(frozen=True, slots=True)
class Signer:
    """An unlocked private key.  Its repr never shows the key."""

    handle: str
    private_key: Ed25519PrivateKey = field(repr=False)
    public_key: str  # hex

    def sign(self, message: bytes) -> str:
        return self.private_key.sign(message).hex()

    @classmethod
    def generate(cls, handle: str) -> Signer:
        private_key = Ed25519PrivateKey.generate()
        return cls(handle, private_key, public_hex(private_key.public_key()))


def public_hex(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def verify_signature(public_key: str, signature: str, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
            bytes.fromhex(signature), message
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_public_key(text: str) -> str:
    """Accept a public key as 64 hex characters, or a path to a file holding them."""
    candidate = text.strip()
    path = Path(candidate)
    if len(candidate) != 64 and path.is_file():
        try:
            candidate = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise UsageError(f"public key file {text} cannot be read as text") from None
        if candidate.startswith("{"):
            try:
                candidate = str(json.loads(candidate)["public_key"])
            except (ValueError, KeyError, TypeError):
                raise UsageError(f"public key file {text} has no public_key field") from None
    try:
        raw = bytes.fromhex(candidate)
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise UsageError(
            f"public key {text[:80]!r} is not valid: give 64 hex characters (an Ed25519 "
            "public key) or a file holding them",
            code="invalid_public_key",
        ) from None
    return raw.hex()


class KeyStore:
    """Key files of one network on this machine."""

    def __init__(self, home: Path, network_id: str, *, kdf_n: int = KDF_N) -> None:
        assert kdf_n >= 2**10, "scrypt cost this low is for nothing"
        self.folder = home / "keys" / network_id
        self.network_id = network_id
        self.kdf_n = kdf_n

    def path(self, handle: str) -> Path:
        return self.folder / f"{handle}.key"

    def exists(self, handle: str) -> bool:
        return self.path(handle).is_file()

    def write(self, signer: Signer, passphrase: str, *, overwrite: bool = False) -> Path:
        document = seal(signer, passphrase, network_id=self.network_id, kdf_n=self.kdf_n)
        return write_private_file(self.path(signer.handle), document, overwrite=overwrite)

    def unlock(self, handle: str, passphrase: str) -> Signer:
        path = self.path(handle)
        if not path.is_file():
            raise KeyFileMissing(
                f"no key file for {handle} on this machine ({path}); make one with "
                f"'mutualcredit key new {handle}' or bring it with 'mutualcredit key import'"
            )
        return unseal(read_key_document(path), passphrase, network_id=self.network_id,
                      handle=handle, where=str(path))

    def archive(self, handle: str, suffix: str) -> None:
        path = self.path(handle)
        if path.exists():
            path.rename(path.with_name(f"{handle}.{suffix}.old"))


def seal(signer: Signer, passphrase: str, *, network_id: str, kdf_n: int = KDF_N) -> dict:
    if len(passphrase) < PASSPHRASE_LENGTH_MIN:
        raise UsageError(f"a passphrase needs at least {PASSPHRASE_LENGTH_MIN} characters")
    salt = secrets.token_bytes(16)
    nonce = secrets.token_bytes(12)
    header: dict[str, Any] = {
        "format": KEY_FORMAT,
        "network": network_id,
        "handle": signer.handle,
        "public_key": signer.public_key,
        "kdf": {"name": "scrypt", "n": kdf_n, "r": KDF_R, "p": KDF_P, "salt": salt.hex()},
        "cipher": "aes-256-gcm",
    }
    secret = _derive(passphrase, header["kdf"])
    raw = signer.private_key.private_bytes_raw()
    ciphertext = AESGCM(secret).encrypt(nonce, raw, canonical_json(header))
    return {**header, "nonce": nonce.hex(), "ciphertext": ciphertext.hex()}


def unseal(document: dict, passphrase: str, *, network_id: str | None, handle: str | None,
           where: str) -> Signer:
    try:
        header = {name: document[name] for name in
                  ("format", "network", "handle", "public_key", "kdf", "cipher")}
        nonce = bytes.fromhex(document["nonce"])
        ciphertext = bytes.fromhex(document["ciphertext"])
        kdf = header["kdf"]
        assert_kdf(kdf)
    except (KeyError, TypeError, ValueError, AssertionError):
        raise KeyFileInvalid(f"{where} is not a mutualcredit key file (corrupted?)") from None
    if header["format"] != KEY_FORMAT or header["cipher"] != "aes-256-gcm":
        raise KeyFileInvalid(f"{where} is not a {KEY_FORMAT} key file")
    if network_id is not None and header["network"] != network_id:
        raise KeyFileInvalid(f"{where} belongs to another network ({header['network']})")
    if handle is not None and header["handle"] != handle:
        raise KeyFileInvalid(f"{where} is the key of {header['handle']}, not of {handle}")
    try:
        raw = AESGCM(_derive(passphrase, kdf)).decrypt(nonce, ciphertext, canonical_json(header))
    except InvalidTag:
        raise WrongPassphrase(
            f"wrong passphrase for {where} (or the file was altered)"
        ) from None
    private_key = Ed25519PrivateKey.from_private_bytes(raw)
    if public_hex(private_key.public_key()) != header["public_key"]:
        raise KeyFileInvalid(f"{where}: private and public key do not match")
    return Signer(str(header["handle"]), private_key, str(header["public_key"]))


def assert_kdf(kdf: dict) -> None:
    assert kdf["name"] == "scrypt"
    assert 2**10 <= int(kdf["n"]) <= 2**22 and int(kdf["r"]) == KDF_R and int(kdf["p"]) == KDF_P
    assert len(bytes.fromhex(kdf["salt"])) == 16


def _derive(passphrase: str, kdf: dict) -> bytes:
    return Scrypt(
        salt=bytes.fromhex(kdf["salt"]), length=32, n=int(kdf["n"]), r=KDF_R, p=KDF_P
    ).derive(passphrase.encode("utf-8"))


def read_key_document(path: Path) -> dict:
    try:
        if path.stat().st_size > KEY_FILE_SIZE_MAX:
            raise KeyFileInvalid(f"{path} is too large to be a key file")
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise KeyFileInvalid(f"{path} is not a mutualcredit key file (corrupted?)") from None
    except FileNotFoundError:
        raise KeyFileMissing(f"key file {path} does not exist") from None
    if not isinstance(document, dict):
        raise KeyFileInvalid(f"{path} is not a mutualcredit key file")
    return document


def write_private_file(path: Path, document: dict, *, overwrite: bool) -> Path:
    """Write ``document`` as JSON to a new file created with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise Refused(f"{path} already exists; not overwriting a key file",
                      code="key_file_exists") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.chmod(path, 0o600)
    return path
