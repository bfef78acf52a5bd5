"""Checkpoints and proofs: the documents that let anyone audit the ledger offline.

A **checkpoint** states, for one network, how many events the ledger holds
(``size``), the Merkle root over those events (``root``, RFC 9162) and the
hash chain's head (``chain_hash``) at a given ``time``.  A coordinator signs
it with Ed25519; other coordinators (or anyone trusted to watch the ledger)
co-sign the very same bytes::

    b"mutualcredit/checkpoint/v1\\n" + RFC8785({network, network_name, size,
                                               root, chain_hash, time})

so a checkpoint document is those six fields, ``"type": "checkpoint"`` and a
list of signatures ``{signer, key, signature}``.  Once a member holds a signed
checkpoint, two proofs need nothing else — no database, no server:

- an **inclusion proof** carries one event's signed body (for a transfer, the
  body its author signed), the author's signature and the audit path.  The
  verifier recomputes ``body_hash = SHA-256(body_tag || "\\n" || RFC8785(body))``,
  the event bytes, the leaf hash, and walks the audit path up to the
  checkpoint's root.  The checkpoint vouches that the event is in the ledger;
  the author's signature shows the author consented to exactly that body;
- a **consistency proof** shows that an older checkpoint's tree is a prefix of
  a newer one's: history was only appended to, never rewritten.

A transfer signed as part of a batch (imports, settlements) carries the
batch's list of body hashes (``signature.batch.transfers``); the batch
signature covers :func:`mutualcredit.domain.transfers.batch_bytes` and the
body's hash must be in the list.

Documents arrive from outside, so every field is checked before use and every
failure raises :class:`~mutualcredit.domain.errors.IntegrityProblem` (or a
subclass below) with one sentence saying what is wrong.  Everything here is
pure: the caller supplies the time, the keys and the documents.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mutualcredit.domain.canonical import (
    TAG_BATCH,
    TAG_CHECKPOINT,
    TAG_EVENT,
    canonical_bytes,
    canonical_json,
)
from mutualcredit.domain.errors import IntegrityProblem, UsageError
from mutualcredit.domain.events import EVENT_TYPES, event_bytes
from mutualcredit.domain.merkle import (
    PROOF_LENGTH_MAX,
    TREE_SIZE_MAX,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from mutualcredit.domain.names import DISPLAY_NAME_LENGTH_MAX, HANDLE_RE
from mutualcredit.domain.transfers import TRANSFERS_PER_BATCH_MAX, batch_bytes

CHECKPOINT_SIGNATURES_MAX = 32
DOCUMENT_BYTES_MAX = 16 * 1024 * 1024  # a proof of a 100,000-transfer batch is ~6.6 MB
NETWORK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
HASH_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
SIGNATURE_HEX_RE = re.compile(r"^[0-9a-f]{128}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$", re.ASCII)
# Body tags a proof may carry: any versioned document tag except those of the
# documents that are never an event's body.
BODY_TAG_RE = re.compile(r"^mutualcredit/[a-z_]+/v[0-9]+$")
BODY_TAGS_REFUSED = frozenset(tag.decode() for tag in (TAG_EVENT, TAG_CHECKPOINT, TAG_BATCH))

INCLUSION_FIELDS = (
    "network", "checkpoint_size", "checkpoint_root", "seq", "event_type",
    "body_tag", "body", "signature", "audit_path",
)  # fmt: skip

TrustedKeys = Mapping[str, AbstractSet[str]]  # handle -> hex Ed25519 public keys


class MalformedDocument(IntegrityProblem):
    code = "malformed_document"


class InputTooDeep(UsageError):
    """JSON nested past what any document of ours holds (exit 2, as malformed input)."""

    code = "input_too_deep"


class ForeignDocument(IntegrityProblem):
    code = "foreign_document"


class SignatureInvalid(IntegrityProblem):
    code = "signature_invalid"


class UntrustedKey(IntegrityProblem):
    code = "untrusted_key"


class ProofFailed(IntegrityProblem):
    code = "proof_failed"


# --- Values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointSignature:
    signer: str  # handle of the coordinator or witness
    key: str  # hex Ed25519 public key
    signature: str  # hex Ed25519 signature over the checkpoint's signing bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    network: str
    network_name: str
    size: int
    root: str  # hex Merkle tree hash over the first ``size`` events
    chain_hash: str  # hex chain hash after event ``size``
    time: str  # ISO 8601 UTC, e.g. 2026-11-27T13:00:00Z
    signatures: tuple[CheckpointSignature, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSignature:
    """The author's signature over an event's body, or over the batch that lists it."""

    author: str
    key: str
    signature: str
    batch_transfers: tuple[str, ...] | None = None  # body hashes the batch signature covers


@dataclass(frozen=True, slots=True, kw_only=True)
class InclusionProof:
    network: str
    checkpoint_size: int
    checkpoint_root: str
    seq: int  # 1-based event number; the leaf index is seq - 1
    event_type: str
    body_tag: str
    body: Mapping[str, Any]  # the signed body, exactly as signed
    signature: EventSignature
    audit_path: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsistencyProof:
    network: str
    old_size: int
    old_root: str
    new_size: int
    new_root: str
    path: tuple[str, ...]


# --- Checkpoints ------------------------------------------------------------


def checkpoint_signing_bytes(checkpoint: Checkpoint) -> bytes:
    """The bytes every signer of a checkpoint signs (signatures themselves excluded)."""
    return canonical_bytes(
        TAG_CHECKPOINT,
        {
            "network": checkpoint.network,
            "network_name": checkpoint.network_name,
            "size": checkpoint.size,
            "root": checkpoint.root,
            "chain_hash": checkpoint.chain_hash,
            "time": checkpoint.time,
        },
    )


def sign_checkpoint(
    checkpoint: Checkpoint, *, signer: str, private_key: Ed25519PrivateKey
) -> Checkpoint:
    """A copy of ``checkpoint`` with one more signature (the first, or a co-signature)."""
    key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    assert all(
        (existing.signer, existing.key) != (signer, key) for existing in checkpoint.signatures
    ), f"{signer} already signed this checkpoint with this key"
    signature = private_key.sign(checkpoint_signing_bytes(checkpoint)).hex()
    added = CheckpointSignature(signer=signer, key=key, signature=signature)
    return replace(checkpoint, signatures=(*checkpoint.signatures, added))


def checkpoint_document(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "type": "checkpoint",
        "network": checkpoint.network,
        "network_name": checkpoint.network_name,
        "size": checkpoint.size,
        "root": checkpoint.root,
        "chain_hash": checkpoint.chain_hash,
        "time": checkpoint.time,
        "signatures": [
            {"signer": item.signer, "key": item.key, "signature": item.signature}
            for item in checkpoint.signatures
        ],
    }


def parse_checkpoint(
    document: Mapping[str, Any] | str | bytes, *, network: str | None = None
) -> Checkpoint:
    """Check a checkpoint document's shape (not its signatures) and return its value.

    With ``network`` given, a checkpoint of any other network is refused.
    """
    fields = _fields(
        document,
        what="checkpoint",
        type_="checkpoint",
        required=("network", "network_name", "size", "root", "chain_hash", "time", "signatures"),
    )
    checkpoint = Checkpoint(
        network=_network(fields, "checkpoint"),
        network_name=_text(fields, "network_name", "checkpoint"),
        size=_size(fields, "size", "checkpoint"),
        root=_hex(fields, "root", "checkpoint", HASH_HEX_RE),
        chain_hash=_hex(fields, "chain_hash", "checkpoint", HASH_HEX_RE),
        time=_time(fields, "time", "checkpoint"),
        signatures=_checkpoint_signatures(fields["signatures"]),
    )
    if network is not None and checkpoint.network != network:
        raise ForeignDocument(
            f"the checkpoint is for network {checkpoint.network}, not {network}",
            network=checkpoint.network,
        )
    return checkpoint


def _checkpoint_signatures(items: Any) -> tuple[CheckpointSignature, ...]:
    what = "checkpoint field 'signatures'"
    if not isinstance(items, list) or not 1 <= len(items) <= CHECKPOINT_SIGNATURES_MAX:
        raise MalformedDocument(
            f"{what} must be a list of 1 to {CHECKPOINT_SIGNATURES_MAX} signatures"
        )
    signatures = []
    for position, item in enumerate(items, start=1):
        where = f"checkpoint signature {position}"
        fields = _fields(item, what=where, type_=None, required=("signer", "key", "signature"))
        signatures.append(
            CheckpointSignature(
                signer=_handle(fields, "signer", where),
                key=_hex(fields, "key", where, HASH_HEX_RE),
                signature=_hex(fields, "signature", where, SIGNATURE_HEX_RE),
            )
        )
    pairs = {(item.signer, item.key) for item in signatures}
    if len(pairs) != len(signatures):
        raise MalformedDocument("the checkpoint lists the same signer and key twice")
    return tuple(signatures)


def verify_checkpoint_signatures(
    checkpoint: Checkpoint, trusted_keys: TrustedKeys | None = None
) -> tuple[str, ...]:
    """Check every signature; return the signers' handles in document order.

    With ``trusted_keys`` None only the embedded keys are used (this shows the
    document is intact, not who made it).  Otherwise every signer must be in
    ``trusted_keys`` with exactly the embedded key.
    """
    if not checkpoint.signatures:
        raise SignatureInvalid("the checkpoint has no signatures")
    message = checkpoint_signing_bytes(checkpoint)
    for item in checkpoint.signatures:
        _check_trusted(item.signer, item.key, trusted_keys, what="checkpoint signer")
        if not _ed25519_valid(key=item.key, signature=item.signature, message=message):
            raise SignatureInvalid(
                f"the checkpoint signature of {item.signer} (key {item.key[:16]}…) does not "
                f"match the checkpoint of size {checkpoint.size}",
                signer=item.signer,
            )
    return tuple(item.signer for item in checkpoint.signatures)


# --- Inclusion proofs -------------------------------------------------------


def body_hash(body_tag: str, body: Mapping[str, Any]) -> str:
    """SHA-256 hex of a body's signed bytes: tag, newline, RFC 8785 JSON."""
    return hashlib.sha256(body_tag.encode() + b"\n" + canonical_json(body)).hexdigest()


def inclusion_document(proof: InclusionProof) -> dict[str, Any]:
    signature: dict[str, Any] = {
        "author": proof.signature.author,
        "key": proof.signature.key,
        "signature": proof.signature.signature,
    }
    if proof.signature.batch_transfers is not None:
        signature["batch"] = {"transfers": list(proof.signature.batch_transfers)}
    return {
        "type": "inclusion",
        "network": proof.network,
        "checkpoint_size": proof.checkpoint_size,
        "checkpoint_root": proof.checkpoint_root,
        "seq": proof.seq,
        "event_type": proof.event_type,
        "body_tag": proof.body_tag,
        "body": copy.deepcopy(dict(proof.body)),
        "signature": signature,
        "audit_path": list(proof.audit_path),
    }


def parse_inclusion_proof(document: Mapping[str, Any] | str | bytes) -> InclusionProof:
    """Check an inclusion proof document's shape and return its value."""
    what = "inclusion proof"
    fields = _fields(
        document,
        what=what,
        type_="inclusion",
        required=INCLUSION_FIELDS,
    )
    seq = _size(fields, "seq", what)
    if seq < 1:
        raise MalformedDocument(f"{what} field 'seq' must be at least 1")
    event_type = fields["event_type"]
    if event_type not in EVENT_TYPES:
        raise MalformedDocument(
            f"{what} field 'event_type' must be one of {', '.join(EVENT_TYPES)}"
        )
    body_tag = _body_tag(fields, what)
    if not isinstance(fields["body"], Mapping):
        raise MalformedDocument(f"{what} field 'body' must be a JSON object")
    return InclusionProof(
        network=_network(fields, what),
        checkpoint_size=_size(fields, "checkpoint_size", what),
        checkpoint_root=_hex(fields, "checkpoint_root", what, HASH_HEX_RE),
        seq=seq,
        event_type=event_type,
        body_tag=body_tag,
        body=fields["body"],
        signature=_event_signature(fields["signature"]),
        audit_path=_hex_list(fields, "audit_path", what, PROOF_LENGTH_MAX),
    )


def _body_tag(fields: Mapping[str, Any], what: str) -> str:
    body_tag = fields["body_tag"]
    if not isinstance(body_tag, str) or not BODY_TAG_RE.match(body_tag):
        raise MalformedDocument(f"{what} field 'body_tag' must look like mutualcredit/transfer/v1")
    if body_tag in BODY_TAGS_REFUSED:
        raise MalformedDocument(f"{what} field 'body_tag' {body_tag} never tags an event's body")
    return body_tag


def _event_signature(document: Any) -> EventSignature:
    what = "inclusion proof signature"
    fields = _fields(
        document,
        what=what,
        type_=None,
        required=("author", "key", "signature"),
        optional=("batch",),
    )
    batch_transfers = None
    if "batch" in fields:
        batch = _fields(fields["batch"], what=f"{what} batch", type_=None, required=("transfers",))
        batch_transfers = _hex_list(batch, "transfers", f"{what} batch", TRANSFERS_PER_BATCH_MAX)
        if not batch_transfers:
            raise MalformedDocument(f"{what} batch lists no transfers")
    return EventSignature(
        author=_handle(fields, "author", what),
        key=_hex(fields, "key", what, HASH_HEX_RE),
        signature=_hex(fields, "signature", what, SIGNATURE_HEX_RE),
        batch_transfers=batch_transfers,
    )


def verify_inclusion_document(
    proof: InclusionProof | Mapping[str, Any] | str | bytes,
    checkpoint: Checkpoint | Mapping[str, Any] | str | bytes,
    *,
    trusted_keys: TrustedKeys | None = None,
) -> dict[str, Any]:
    """Check that the proof's event is in the ledger ``checkpoint`` describes; return its body.

    Checks, in order: both documents' shapes; the checkpoint's signatures;
    that proof, checkpoint and body name the same network; that the proof was
    made for this checkpoint; the audit path from the recomputed leaf to the
    checkpoint's root; the author's signature over the body (or its batch).
    ``trusted_keys`` (handle -> hex public keys) applies to checkpoint signers
    and to the author alike.
    """
    proof = proof if isinstance(proof, InclusionProof) else parse_inclusion_proof(proof)
    checkpoint = _as_checkpoint(checkpoint)
    verify_checkpoint_signatures(checkpoint, trusted_keys)
    _check_same_network(proof.network, checkpoint.network, what="inclusion proof")
    _check_body_identity(proof)
    if (proof.checkpoint_size, proof.checkpoint_root) != (checkpoint.size, checkpoint.root):
        raise ProofFailed(
            f"the inclusion proof was made for the checkpoint of size {proof.checkpoint_size}, "
            f"not this checkpoint of size {checkpoint.size} (or its root differs)"
        )
    digest = _body_hash_checked(proof.body_tag, proof.body)
    leaf = leaf_hash(event_bytes(seq=proof.seq, type=proof.event_type, body_hash=digest))
    path = [bytes.fromhex(item) for item in proof.audit_path]
    root = bytes.fromhex(checkpoint.root)
    if not verify_inclusion(leaf, proof.seq - 1, checkpoint.size, path, root):
        raise ProofFailed(
            f"event {proof.seq} ({proof.event_type}, body hash {digest[:16]}…) is not in the "
            f"ledger of {checkpoint.size} events that the checkpoint describes",
            seq=proof.seq,
        )
    _check_event_signature(proof, digest, trusted_keys)
    return copy.deepcopy(dict(proof.body))


def _body_hash_checked(body_tag: str, body: Mapping[str, Any]) -> str:
    try:
        return body_hash(body_tag, body)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as error:
        raise MalformedDocument(f"the proof's body has no canonical JSON form ({error})") from None


def _check_body_identity(proof: InclusionProof) -> None:
    """A body that names its network and author must name the proof's."""
    body_network = proof.body.get("network", proof.network)
    if body_network != proof.network:
        raise ForeignDocument(
            f"the proof's body is for network {body_network}, not {proof.network}"
        )
    body_author = proof.body.get("author", proof.signature.author)
    if body_author != proof.signature.author:
        raise SignatureInvalid(
            f"the body was written by {body_author} but the proof's signature is by "
            f"{proof.signature.author}"
        )


def _check_event_signature(proof: InclusionProof, digest: str, trusted: TrustedKeys | None) -> None:
    signature = proof.signature
    _check_trusted(signature.author, signature.key, trusted, what="author")
    if signature.batch_transfers is None:
        message = proof.body_tag.encode() + b"\n" + canonical_json(proof.body)
        signed = "body"
    else:
        if digest not in signature.batch_transfers:
            raise SignatureInvalid(
                f"event {proof.seq}'s body hash {digest[:16]}… is not in the signed batch of "
                f"{len(signature.batch_transfers)} transfers"
            )
        message = batch_bytes(
            network=proof.network,
            author=signature.author,
            body_hashes=list(signature.batch_transfers),
        )
        signed = "batch"
    if not _ed25519_valid(key=signature.key, signature=signature.signature, message=message):
        raise SignatureInvalid(
            f"the signature of {signature.author} (key {signature.key[:16]}…) does not match "
            f"the {signed} of event {proof.seq}",
            seq=proof.seq,
        )


# --- Consistency proofs -----------------------------------------------------


def consistency_document(proof: ConsistencyProof) -> dict[str, Any]:
    return {
        "type": "consistency",
        "network": proof.network,
        "old_size": proof.old_size,
        "old_root": proof.old_root,
        "new_size": proof.new_size,
        "new_root": proof.new_root,
        "path": list(proof.path),
    }


def parse_consistency_proof(document: Mapping[str, Any] | str | bytes) -> ConsistencyProof:
    what = "consistency proof"
    fields = _fields(
        document,
        what=what,
        type_="consistency",
        required=("network", "old_size", "old_root", "new_size", "new_root", "path"),
    )
    proof = ConsistencyProof(
        network=_network(fields, what),
        old_size=_size(fields, "old_size", what),
        old_root=_hex(fields, "old_root", what, HASH_HEX_RE),
        new_size=_size(fields, "new_size", what),
        new_root=_hex(fields, "new_root", what, HASH_HEX_RE),
        path=_hex_list(fields, "path", what, PROOF_LENGTH_MAX),
    )
    if proof.old_size > proof.new_size:
        raise MalformedDocument(
            f"{what} goes from size {proof.old_size} down to {proof.new_size}; it must not shrink"
        )
    return proof


def verify_consistency_document(
    proof: ConsistencyProof | Mapping[str, Any] | str | bytes,
    old_checkpoint: Checkpoint | Mapping[str, Any] | str | bytes,
    new_checkpoint: Checkpoint | Mapping[str, Any] | str | bytes,
    *,
    trusted_keys: TrustedKeys | None = None,
) -> None:
    """Check that ``old_checkpoint``'s ledger is a prefix of ``new_checkpoint``'s."""
    proof = proof if isinstance(proof, ConsistencyProof) else parse_consistency_proof(proof)
    old, new = _as_checkpoint(old_checkpoint), _as_checkpoint(new_checkpoint)
    for checkpoint in (old, new):
        verify_checkpoint_signatures(checkpoint, trusted_keys)
        _check_same_network(proof.network, checkpoint.network, what="consistency proof")
    for label, size, root, checkpoint in (
        ("old", proof.old_size, proof.old_root, old),
        ("new", proof.new_size, proof.new_root, new),
    ):
        if (size, root) != (checkpoint.size, checkpoint.root):
            raise ProofFailed(
                f"the consistency proof's {label} tree (size {size}) is not the {label} "
                f"checkpoint's (size {checkpoint.size}), or its root differs"
            )
    if old.size == new.size and old.chain_hash != new.chain_hash:
        raise ProofFailed(
            f"both checkpoints describe {old.size} events but their chain hashes differ"
        )
    path = [bytes.fromhex(item) for item in proof.path]
    if not verify_consistency(
        old.size, new.size, bytes.fromhex(old.root), bytes.fromhex(new.root), path
    ):
        raise ProofFailed(
            f"the ledger of {old.size} events is not a prefix of the ledger of {new.size} "
            "events: history was changed, or the proof is wrong"
        )


# --- Reading documents ------------------------------------------------------


def load_json_document(text: str | bytes, *, what: str = "document") -> dict[str, Any]:
    """Parse JSON strictly: one object, no duplicate keys, no floats, NaN or infinities.

    Floats are refused because no signed document holds one (amounts are
    decimal strings) and their canonical form is lossy; duplicate keys are
    refused because two readers could pick different values for one key.
    """
    if len(text) > DOCUMENT_BYTES_MAX:
        raise MalformedDocument(f"the {what} is {len(text)} bytes; at most {DOCUMENT_BYTES_MAX}")
    try:
        document = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_float=_refuse_float,
            parse_constant=_refuse_float,
        )
    except RecursionError:
        raise InputTooDeep(f"the {what} is nested too deeply to be a {what}") from None
    except ValueError as error:
        raise MalformedDocument(f"the {what} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedDocument(f"the {what} is not a JSON object")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"the key {key!r} appears twice in one object")
        document[key] = value
    return document


def _refuse_float(text: str) -> Any:
    raise ValueError(f"the number {text} is not an integer; signed documents hold no floats")


# --- Field checks -----------------------------------------------------------


def _fields(
    document: Any,
    *,
    what: str,
    type_: str | None,
    required: Sequence[str],
    optional: Sequence[str] = (),
) -> Mapping[str, Any]:
    """The document as a mapping with exactly the expected keys (and ``type`` if given)."""
    if isinstance(document, str | bytes):
        document = load_json_document(document, what=what)
    if not isinstance(document, Mapping):
        raise MalformedDocument(f"the {what} is not a JSON object")
    expected = set(required) | set(optional)
    if type_ is not None:
        expected.add("type")
        if document.get("type") != type_:
            raise MalformedDocument(
                f"the {what} has type {document.get('type')!r}; expected {type_!r}"
            )
    missing = [key for key in required if key not in document]
    if missing:
        raise MalformedDocument(f"the {what} is missing the field {missing[0]!r}")
    unknown = sorted(str(key) for key in document if key not in expected)
    if unknown:
        raise MalformedDocument(f"the {what} has an unknown field {unknown[0]!r}")
    return document


def _hex(fields: Mapping[str, Any], key: str, what: str, pattern: re.Pattern[str]) -> str:
    value = fields[key]
    if not isinstance(value, str) or not pattern.match(value):
        digits = 64 if pattern is HASH_HEX_RE else 128
        raise MalformedDocument(f"{what} field {key!r} must be {digits} lowercase hex digits")
    return value


def _hex_list(fields: Mapping[str, Any], key: str, what: str, length_max: int) -> tuple[str, ...]:
    value = fields[key]
    if (
        not isinstance(value, list)
        or len(value) > length_max
        or not all(isinstance(item, str) and HASH_HEX_RE.match(item) for item in value)
    ):
        raise MalformedDocument(
            f"{what} field {key!r} must be a list of at most {length_max} hashes of 64 "
            "lowercase hex digits"
        )
    return tuple(value)


def _size(fields: Mapping[str, Any], key: str, what: str) -> int:
    value = fields[key]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= TREE_SIZE_MAX:
        raise MalformedDocument(
            f"{what} field {key!r} must be an integer from 0 to {TREE_SIZE_MAX}"
        )
    return value


def _network(fields: Mapping[str, Any], what: str) -> str:
    value = fields["network"]
    if not isinstance(value, str) or not NETWORK_ID_RE.match(value):
        raise MalformedDocument(
            f"{what} field 'network' must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_', "
            "':' and '-'"
        )
    return value


def _handle(fields: Mapping[str, Any], key: str, what: str) -> str:
    value = fields[key]
    if not isinstance(value, str) or not HANDLE_RE.match(value):
        raise MalformedDocument(f"{what} field {key!r} is not a valid handle")
    return value


def _text(fields: Mapping[str, Any], key: str, what: str) -> str:
    value = fields[key]
    if (
        not isinstance(value, str)
        or len(value) > DISPLAY_NAME_LENGTH_MAX
        or any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in value)
    ):
        raise MalformedDocument(
            f"{what} field {key!r} must be text of at most {DISPLAY_NAME_LENGTH_MAX} characters "
            "without control characters"
        )
    return value


def _time(fields: Mapping[str, Any], key: str, what: str) -> str:
    value = fields[key]
    if not isinstance(value, str) or not TIME_RE.match(value) or not _valid_datetime(value):
        raise MalformedDocument(
            f"{what} field {key!r} must be an ISO 8601 UTC time like 2026-11-27T13:00:00Z"
        )
    return value


def _valid_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return False
    return True


# --- Shared checks ----------------------------------------------------------


def _as_checkpoint(checkpoint: Checkpoint | Mapping[str, Any] | str | bytes) -> Checkpoint:
    return checkpoint if isinstance(checkpoint, Checkpoint) else parse_checkpoint(checkpoint)


def _check_same_network(proof_network: str, checkpoint_network: str, *, what: str) -> None:
    if proof_network != checkpoint_network:
        raise ForeignDocument(
            f"the {what} is for network {proof_network} but the checkpoint is for "
            f"network {checkpoint_network}"
        )


def _check_trusted(handle: str, key: str, trusted: TrustedKeys | None, *, what: str) -> None:
    if trusted is None:
        return
    if key not in trusted.get(handle, ()):
        raise UntrustedKey(
            f"{what} {handle} signed with key {key[:16]}…, which is not one of "
            f"{handle}'s trusted keys",
            signer=handle,
        )


def _ed25519_valid(*, key: str, signature: str, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key)).verify(
            bytes.fromhex(signature), message
        )
    except (InvalidSignature, ValueError):
        return False
    return True
