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

import errno
import json
import os
import secrets
import stat
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
from mutualcredit.domain.names import validate_handle, validate_network_id

KEY_FORMAT = "mutualcredit-key/v1"
KDF_N = 2**15
KDF_R = 8
KDF_P = 1
# Bounds a key file's KDF parameters must lie within before scrypt runs, so that a
# hostile file cannot make us allocate gigabytes or spin for minutes: scrypt needs
# 128 * r * n bytes, 128 MiB at the largest n accepted (4 times the default).
KDF_N_MIN = 2**10
KDF_N_MAX = 2**17
SALT_BYTES = 16
NONCE_BYTES = 12
SEALED_KEY_BYTES = 32 + 16  # the raw Ed25519 private key and the GCM tag
KEY_FILE_SIZE_MAX = 64 * 1024
PASSPHRASE_LENGTH_MIN = 8  # for new keys; files sealed under a shorter one still open
FOLDER_MODE = 0o700
FILE_MODE = 0o600
DATA_HOME_MODE = 0o755


class WrongPassphrase(Refused):
    code = "wrong_passphrase"


class KeyFileMissing(NotFound):
    code = "key_file_missing"


class KeyFileInvalid(IntegrityProblem):
    """A well-formed key file that is not the one wanted (another handle, network, key)."""

    code = "key_file_invalid"


class KeyFileCorrupt(KeyFileInvalid):
    """A key file that cannot be a sealed key: not JSON, wrong fields, types or bounds."""

    code = "key_file_corrupt"


class KeyFileInsecure(IntegrityProblem):
    """A key file or key folder others may read or write, a link, or not a file at all.

    Like ssh, we refuse rather than warn: a private key others can read is no
    longer private, and a folder others can write lets them swap the key.
    """

    code = "key_file_insecure"


class PassphraseTooShort(UsageError):
    code = "passphrase_too_short"


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
            with path.open("rb") as handle:
                content = handle.read(KEY_FILE_SIZE_MAX + 1)
            if len(content) > KEY_FILE_SIZE_MAX:
                raise UsageError(
                    f"public key file {text} is larger than {KEY_FILE_SIZE_MAX} bytes",
                    code="invalid_public_key",
                )
            candidate = content.decode("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise UsageError(f"public key file {text} cannot be read as text") from None
        if candidate.startswith("{"):
            try:
                candidate = str(json.loads(candidate)["public_key"])
            except (ValueError, KeyError, TypeError, RecursionError):
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
    """Key files of one network on this machine.

    Every path is built from a network id and a handle checked against their
    grammars (so neither can climb out of ``keys/``), and is confirmed to resolve
    inside the keys folder.  The folders ``keys/`` and ``keys/<network id>/`` are
    made 0700 and key files 0600 whatever the umask; an existing folder or file
    that is a link, or that its group or others may use, is refused.
    """

    def __init__(self, home: Path, network_id: str, *, kdf_n: int = KDF_N) -> None:
        assert KDF_N_MIN <= kdf_n <= KDF_N_MAX, "scrypt cost out of the accepted range"
        validate_network_id(network_id)
        self.home = home
        self.root = home / "keys"
        self.folder = self.root / network_id
        self.network_id = network_id
        self.kdf_n = kdf_n

    def path(self, handle: str, suffix: str = ".key") -> Path:
        validate_handle(handle)
        path = self.folder / f"{handle}{suffix}"
        # The grammar already rules out separators and '..'; this states the promise.
        assert path.parent == self.folder and os.path.normpath(path) == str(path), path
        return path

    def exists(self, handle: str) -> bool:
        return os.path.lexists(self.path(handle))

    def check_folders(self) -> None:
        """Refuse ``keys/`` or ``keys/<network id>/`` when a link or open to others."""
        for folder in (self.root, self.folder):
            check_private(folder, folder=True)
        if self.folder.exists() and not _inside(self.folder.resolve(), self.root.resolve()):
            raise KeyFileInsecure(f"key folder {self.folder} resolves outside {self.root}")

    def prepare(self) -> None:
        """Make the key folders (0700, whatever the umask) or check the existing ones."""
        if not self.home.exists():
            missing = [self.home, *[p for p in self.home.parents if not p.exists()]]
            for folder in reversed(missing):
                try:
                    os.mkdir(folder, DATA_HOME_MODE)  # the umask may make it stricter
                except FileExistsError:
                    continue
                os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) | 0o700)  # but ours
        for folder in (self.root, self.folder):  # each checked before anything goes in
            try:
                os.mkdir(folder, FOLDER_MODE)
                os.chmod(folder, FOLDER_MODE)  # the umask may have taken bits we need
            except FileExistsError:
                pass
            check_private(folder, folder=True)
        self.check_folders()

    def seal(self, signer: Signer, passphrase: str) -> dict:
        return seal(signer, passphrase, network_id=self.network_id, kdf_n=self.kdf_n)

    def write(self, signer: Signer, passphrase: str, *, overwrite: bool = False) -> Path:
        return self.write_document(
            signer.handle, self.seal(signer, passphrase), overwrite=overwrite
        )

    def write_document(
        self, handle: str, document: dict, *, overwrite: bool = False, suffix: str = ".key"
    ) -> Path:
        path = self.path(handle, suffix)
        self.prepare()
        if overwrite:
            return replace_private_file(path, document)
        return write_private_file(path, document, overwrite=False)

    def read(self, handle: str) -> dict:
        """The key file of ``handle`` as a document, after checking it and its folders."""
        path = self.path(handle)
        self.check_folders()
        if not os.path.lexists(path):
            raise KeyFileMissing(
                f"no key file for {handle} on this machine ({path}); make one with "
                f"'mutualcredit key new {handle}' or bring it with 'mutualcredit key import'"
            )
        return read_key_document(path, private=True)

    def unlock(self, handle: str, passphrase: str) -> Signer:
        document = self.read(handle)
        return unseal(
            document,
            passphrase,
            network_id=self.network_id,
            handle=handle,
            where=str(self.path(handle)),
        )

    def archive(self, handle: str, suffix: str) -> None:
        path = self.path(handle)
        if os.path.lexists(path):
            self.check_folders()
            path.rename(self.path(handle, f".{suffix}.old"))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_private(path: Path, *, folder: bool) -> None:
    """Refuse ``path`` when it is a link, not a file (folder), or open to group or others.

    A path that does not exist passes: it will be made with the right mode.
    """
    what = "key folder" if folder else "key file"
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    _check_status(status, path, what=what, folder=folder)


def _check_status(status: os.stat_result, path: Path, *, what: str, folder: bool) -> None:
    if stat.S_ISLNK(status.st_mode):
        raise _link_refused(path, what)
    if not (stat.S_ISDIR(status.st_mode) if folder else stat.S_ISREG(status.st_mode)):
        raise KeyFileInsecure(f"{what} {path} is not a {'folder' if folder else 'regular file'}")
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        fix = FOLDER_MODE if folder else FILE_MODE
        raise KeyFileInsecure(
            f"{what} {path} is open to its group or others (mode {mode:04o}); "
            f"fix with: chmod {fix:o} {path}"
        )


def _link_refused(path: Path, what: str) -> KeyFileInsecure:
    return KeyFileInsecure(
        f"{what} {path} is a symbolic link; key files and folders are used only as "
        f"themselves: replace the link with what it points to (mv TARGET {path})"
    )


def validate_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < PASSPHRASE_LENGTH_MIN:
        raise PassphraseTooShort(
            f"a new key's passphrase needs at least {PASSPHRASE_LENGTH_MIN} characters "
            f"(this one has {len(passphrase)})"
        )
    return passphrase


def seal(signer: Signer, passphrase: str, *, network_id: str, kdf_n: int = KDF_N) -> dict:
    validate_new_passphrase(passphrase)
    salt = secrets.token_bytes(SALT_BYTES)
    nonce = secrets.token_bytes(NONCE_BYTES)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedKey:
    """A key file's fields, each checked for type and bounds; nothing decrypted yet."""

    header: dict[str, Any]
    nonce: bytes
    ciphertext: bytes

    @property
    def network(self) -> str:
        return str(self.header["network"])

    @property
    def handle(self) -> str:
        return str(self.header["handle"])


_HEADER_FIELDS = ("format", "network", "handle", "public_key", "kdf", "cipher")
_KDF_FIELDS = frozenset({"name", "n", "r", "p", "salt"})


def parse_sealed(document: Any, *, where: str) -> SealedKey:
    """Check every field of a key file before any of it reaches scrypt or AES.

    Raises :class:`KeyFileCorrupt` naming the first field that is wrong.
    """

    def corrupt(reason: str) -> KeyFileCorrupt:
        return KeyFileCorrupt(f"{where} is not a mutualcredit key file (corrupted?): {reason}")

    if not isinstance(document, dict):
        raise corrupt("not a JSON object")
    for name in (*_HEADER_FIELDS, "nonce", "ciphertext"):
        if name not in document:
            raise corrupt(f"no {name!r} field")
        if name != "kdf" and not isinstance(document[name], str):
            raise corrupt(f"field {name!r} is not a string")
    if document["format"] != KEY_FORMAT or document["cipher"] != "aes-256-gcm":
        raise corrupt(f"not a {KEY_FORMAT} file sealed with aes-256-gcm")
    kdf = document["kdf"]
    if not isinstance(kdf, dict) or set(kdf) != _KDF_FIELDS or kdf["name"] != "scrypt":
        raise corrupt("field 'kdf' is not scrypt with n, r, p and salt")
    n, r, p = kdf["n"], kdf["r"], kdf["p"]
    if not all(type(value) is int for value in (n, r, p)):
        raise corrupt("kdf n, r and p must be integers")
    if not (KDF_N_MIN <= n <= KDF_N_MAX and n & (n - 1) == 0):
        raise corrupt(f"kdf n must be a power of 2 from {KDF_N_MIN} to {KDF_N_MAX}")
    if r != KDF_R or p != KDF_P:
        raise corrupt(f"kdf r must be {KDF_R} and p {KDF_P}")
    salt = _hex_bytes(kdf["salt"], SALT_BYTES)
    nonce = _hex_bytes(document["nonce"], NONCE_BYTES)
    ciphertext = _hex_bytes(document["ciphertext"], SEALED_KEY_BYTES)
    public_key = _hex_bytes(document["public_key"], 32)
    if salt is None or nonce is None or ciphertext is None or public_key is None:
        raise corrupt(
            f"salt, nonce, ciphertext and public_key must be hex of {SALT_BYTES}, "
            f"{NONCE_BYTES}, {SEALED_KEY_BYTES} and 32 bytes"
        )
    header = {name: document[name] for name in _HEADER_FIELDS}
    return SealedKey(header=header, nonce=nonce, ciphertext=ciphertext)


def _hex_bytes(text: Any, length: int) -> bytes | None:
    if not isinstance(text, str) or len(text) != 2 * length:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def unseal(
    document: Any, passphrase: str, *, network_id: str | None, handle: str | None, where: str
) -> Signer:
    sealed = parse_sealed(document, where=where)
    header = sealed.header
    if network_id is not None and sealed.network != network_id:
        raise KeyFileInvalid(f"{where} belongs to another network ({sealed.network[:64]})")
    if handle is not None and sealed.handle != handle:
        raise KeyFileInvalid(f"{where} is the key of {sealed.handle[:32]}, not of {handle}")
    try:
        raw = AESGCM(_derive(passphrase, header["kdf"])).decrypt(
            sealed.nonce, sealed.ciphertext, canonical_json(header)
        )
    except InvalidTag:
        raise WrongPassphrase(f"wrong passphrase for {where} (or the file was altered)") from None
    private_key = Ed25519PrivateKey.from_private_bytes(raw)
    if public_hex(private_key.public_key()) != header["public_key"]:
        raise KeyFileInvalid(f"{where}: private and public key do not match")
    return Signer(sealed.handle, private_key, str(header["public_key"]))


def _derive(passphrase: str, kdf: dict) -> bytes:
    n = int(kdf["n"])
    assert KDF_N_MIN <= n <= KDF_N_MAX and kdf["r"] == KDF_R and kdf["p"] == KDF_P, kdf
    return Scrypt(salt=bytes.fromhex(kdf["salt"]), length=32, n=n, r=KDF_R, p=KDF_P).derive(
        passphrase.encode("utf-8", "surrogatepass")
    )


def read_key_document(path: Path, *, private: bool = False) -> Any:
    """Read a key file as JSON, at most ``KEY_FILE_SIZE_MAX`` bytes, never following a link.

    ``private``: the file is one of ours, so it must also be 0600 (checked on the
    open descriptor, so it cannot be swapped between check and read).  A file
    given to ``key import`` may have any mode but must still be a regular file:
    a FIFO or ``/dev/zero`` would never end.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise KeyFileMissing(f"key file {path} does not exist") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _link_refused(path, "key file") from None
        raise
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if private:
            _check_status(status, path, what="key file", folder=False)
        elif not stat.S_ISREG(status.st_mode):
            raise KeyFileCorrupt(f"{path} is not a regular file, so not a key file")
        content = handle.read(KEY_FILE_SIZE_MAX + 1)
    if len(content) > KEY_FILE_SIZE_MAX:
        raise KeyFileCorrupt(f"{path} is larger than {KEY_FILE_SIZE_MAX} bytes: not a key file")
    try:
        return json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise KeyFileCorrupt(
            f"{path} is not a mutualcredit key file (corrupted?): not JSON"
        ) from None


def _dump(document: dict) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def write_private_file(path: Path, document: dict, *, overwrite: bool) -> Path:
    """Write ``document`` as JSON to a new file created with mode 0600.

    ``overwrite`` writes through a temporary file renamed over ``path``, so a
    crash never leaves half a key file.  Links are never followed.
    """
    if overwrite:
        return replace_private_file(path, document)
    path.parent.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, FILE_MODE)
    except FileExistsError:
        raise Refused(
            f"{path} already exists; not overwriting a key file", code="key_file_exists"
        ) from None
    try:
        os.fchmod(descriptor, FILE_MODE)  # the umask may have taken bits we need
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(_dump(document))
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def replace_private_file(path: Path, document: dict) -> Path:
    staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    write_private_file(staged, document, overwrite=False)
    try:
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return path
