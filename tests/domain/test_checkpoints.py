"""Checkpoints, inclusion and consistency proof documents: signatures, tampering, schemas."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jsonschema import Draft202012Validator

from mutualcredit.domain.canonical import TAG_TRANSFER, canonical_bytes
from mutualcredit.domain.checkpoints import (
    Checkpoint,
    ConsistencyProof,
    EventSignature,
    ForeignDocument,
    InclusionProof,
    MalformedDocument,
    ProofFailed,
    SignatureInvalid,
    UntrustedKey,
    body_hash,
    checkpoint_document,
    checkpoint_signing_bytes,
    consistency_document,
    inclusion_document,
    load_json_document,
    parse_checkpoint,
    parse_consistency_proof,
    parse_inclusion_proof,
    sign_checkpoint,
    verify_checkpoint_signatures,
    verify_consistency_document,
    verify_inclusion_document,
)
from mutualcredit.domain.errors import ExitCode, IntegrityProblem
from mutualcredit.domain.events import event_bytes
from mutualcredit.domain.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
)
from mutualcredit.domain.transfers import batch_bytes

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
NETWORK = "fde-7f3a9c"
ZERO_HASH = "0" * 64


def private_key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


KEYS = {"coord": private_key(1), "palafita": private_key(2), "ana": private_key(3)}
KEYS_IMPORTER = private_key(4)
TRUSTED = {handle: {public_hex(key)} for handle, key in KEYS.items()}
TRUSTED["bilheteria"] = {public_hex(KEYS_IMPORTER)}


def transfer_body(number: int, *, author: str = "ana") -> dict[str, Any]:
    return {
        "network": NETWORK,
        "kind": "payment",
        "author": author,
        "key": f"pay-{number}",
        "postings": [
            {"account": "members:ana", "currency": "CARD", "amount": f"-{number}.00"},
            {"account": "members:caio", "currency": "CARD", "amount": f"{number}.00"},
        ],
        "memo": f"ensaio {number}",
        "refs": {},
        "meta": {},
        "created_at": f"2026-11-27T13:00:{number:02d}.000000Z",
    }


class Ledger:
    """A tiny ledger: events 1..6 are signed payments, 7..9 one signed import batch."""

    def __init__(self) -> None:
        self.bodies = [transfer_body(number) for number in range(1, 7)]
        self.bodies += [transfer_body(number, author="bilheteria") for number in range(7, 10)]
        self.hashes = [body_hash(TAG_TRANSFER.decode(), body) for body in self.bodies]
        self.leaf_hashes = [
            leaf_hash(event_bytes(seq=seq, type="transfer", body_hash=digest))
            for seq, digest in enumerate(self.hashes, start=1)
        ]
        self.batch = tuple(self.hashes[6:9])
        self.batch_signature = KEYS_IMPORTER.sign(
            batch_bytes(network=NETWORK, author="bilheteria", body_hashes=list(self.batch))
        ).hex()

    def checkpoint(self, size: int, *, cosigned: bool = False) -> Checkpoint:
        unsigned = Checkpoint(
            network=NETWORK,
            network_name="Fora do Eixo",
            size=size,
            root=root_from_leaf_hashes(self.leaf_hashes, size).hex(),
            chain_hash=hashlib.sha256(b"chain %d" % size).hexdigest(),
            time=f"2026-11-28T0{size}:00:00Z",
        )
        signed = sign_checkpoint(unsigned, signer="coord", private_key=KEYS["coord"])
        if cosigned:
            signed = sign_checkpoint(signed, signer="palafita", private_key=KEYS["palafita"])
        return signed

    def signature(self, seq: int) -> EventSignature:
        body = self.bodies[seq - 1]
        if seq > 6:
            return EventSignature(
                author="bilheteria",
                key=public_hex(KEYS_IMPORTER),
                signature=self.batch_signature,
                batch_transfers=self.batch,
            )
        signed = canonical_bytes(TAG_TRANSFER, body)
        return EventSignature(
            author="ana", key=public_hex(KEYS["ana"]), signature=KEYS["ana"].sign(signed).hex()
        )

    def inclusion(self, seq: int, checkpoint: Checkpoint) -> dict[str, Any]:
        path = inclusion_proof(self.leaf_hashes, seq - 1, checkpoint.size)
        proof = InclusionProof(
            network=NETWORK,
            checkpoint_size=checkpoint.size,
            checkpoint_root=checkpoint.root,
            seq=seq,
            event_type="transfer",
            body_tag=TAG_TRANSFER.decode(),
            body=self.bodies[seq - 1],
            signature=self.signature(seq),
            audit_path=tuple(digest.hex() for digest in path),
        )
        return inclusion_document(proof)

    def consistency(self, old: Checkpoint, new: Checkpoint) -> dict[str, Any]:
        path = consistency_proof(self.leaf_hashes, old.size, new.size)
        proof = ConsistencyProof(
            network=NETWORK,
            old_size=old.size,
            old_root=old.root,
            new_size=new.size,
            new_root=new.root,
            path=tuple(digest.hex() for digest in path),
        )
        return consistency_document(proof)


LEDGER = Ledger()


def flip_hex(text: str, position: int = 0) -> str:
    return text[:position] + ("1" if text[position] == "0" else "0") + text[position + 1 :]


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


# --- Checkpoint signing bytes and signatures ------------------------------------


def test_signing_bytes_are_the_tagged_canonical_json_of_six_fields() -> None:
    checkpoint = Checkpoint(
        network="n1",
        network_name="Fora do Eixo",
        size=3,
        root="a" * 64,
        chain_hash="b" * 64,
        time="2026-11-28T00:00:00Z",
    )
    assert checkpoint_signing_bytes(checkpoint) == (
        b"mutualcredit/checkpoint/v1\n"
        b'{"chain_hash":"' + b"b" * 64 + b'","network":"n1","network_name":"Fora do Eixo",'
        b'"root":"' + b"a" * 64 + b'","size":3,"time":"2026-11-28T00:00:00Z"}'
    )
    # Signatures are not part of what is signed, so co-signers sign the same bytes.
    signed = sign_checkpoint(checkpoint, signer="coord", private_key=KEYS["coord"])
    assert checkpoint_signing_bytes(signed) == checkpoint_signing_bytes(checkpoint)


def test_a_valid_checkpoint_verifies_with_embedded_and_trusted_keys() -> None:
    document = checkpoint_document(LEDGER.checkpoint(9))
    checkpoint = parse_checkpoint(json.dumps(document), network=NETWORK)
    assert checkpoint == LEDGER.checkpoint(9)
    assert verify_checkpoint_signatures(checkpoint) == ("coord",)
    assert verify_checkpoint_signatures(checkpoint, TRUSTED) == ("coord",)


def test_a_cosigned_checkpoint_verifies_every_signature() -> None:
    checkpoint = LEDGER.checkpoint(9, cosigned=True)
    assert verify_checkpoint_signatures(checkpoint, TRUSTED) == ("coord", "palafita")
    bad = replace(checkpoint.signatures[1], signature=flip_hex(checkpoint.signatures[1].signature))
    forged = replace(checkpoint, signatures=(checkpoint.signatures[0], bad))
    with pytest.raises(SignatureInvalid, match="signature of palafita"):
        verify_checkpoint_signatures(forged)


@pytest.mark.parametrize("position", [0, 63, 127])
def test_one_flipped_signature_byte_is_refused(position: int) -> None:
    document = checkpoint_document(LEDGER.checkpoint(9))
    document["signatures"][0]["signature"] = flip_hex(
        document["signatures"][0]["signature"], position
    )
    checkpoint = parse_checkpoint(document)
    with pytest.raises(SignatureInvalid) as raised:
        verify_checkpoint_signatures(checkpoint)
    key = public_hex(KEYS["coord"])[:16]
    assert str(raised.value) == (
        f"the checkpoint signature of coord (key {key}…) does not match the checkpoint of size 9"
    )
    assert raised.value.exit_code == ExitCode.INTEGRITY


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size", 8),
        ("root", flip_hex(LEDGER.checkpoint(9).root, 5)),
        ("chain_hash", ZERO_HASH),
        ("time", "2026-11-28T09:00:01Z"),
        ("network_name", "Fora do Eixo!"),
        ("network", "other-net"),
    ],
)
def test_any_edited_signed_field_breaks_the_signature(field: str, value: Any) -> None:
    document = checkpoint_document(LEDGER.checkpoint(9))
    document[field] = value
    with pytest.raises(SignatureInvalid):
        verify_checkpoint_signatures(parse_checkpoint(document))


def test_a_checkpoint_of_another_network_is_foreign() -> None:
    document = checkpoint_document(LEDGER.checkpoint(9))
    with pytest.raises(ForeignDocument) as raised:
        parse_checkpoint(document, network="other-net")
    assert str(raised.value) == f"the checkpoint is for network {NETWORK}, not other-net"


def test_an_untrusted_signer_or_key_is_refused() -> None:
    checkpoint = LEDGER.checkpoint(9)
    with pytest.raises(UntrustedKey, match="checkpoint signer coord signed with key"):
        verify_checkpoint_signatures(checkpoint, {"coord": {public_hex(KEYS["ana"])}})
    with pytest.raises(UntrustedKey):
        verify_checkpoint_signatures(checkpoint, {})


@pytest.mark.parametrize(
    "field", ["type", "network", "network_name", "size", "root", "chain_hash", "time", "signatures"]
)
def test_a_missing_field_is_named(field: str) -> None:
    document = checkpoint_document(LEDGER.checkpoint(9))
    del document[field]
    expected = (
        "the checkpoint has type None; expected 'checkpoint'"
        if field == "type"
        else f"the checkpoint is missing the field {field!r}"
    )
    with pytest.raises(MalformedDocument) as raised:
        parse_checkpoint(document)
    assert str(raised.value) == expected
    assert isinstance(raised.value, IntegrityProblem)
    assert not validator("checkpoint.schema.json").is_valid(document)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", -1, "checkpoint field 'size' must be an integer from 0 to 9007199254740991"),
        ("size", True, "checkpoint field 'size' must be an integer from 0 to 9007199254740991"),
        ("size", "9", "checkpoint field 'size' must be an integer from 0 to 9007199254740991"),
        ("root", "AB" * 32, "checkpoint field 'root' must be 64 lowercase hex digits"),
        ("chain_hash", "ab", "checkpoint field 'chain_hash' must be 64 lowercase hex digits"),
        (
            "time",
            "2026-11-28 09:00:00",
            "checkpoint field 'time' must be an ISO 8601 UTC time like 2026-11-27T13:00:00Z",
        ),
        (
            "time",
            "2026-02-30T09:00:00Z",
            "checkpoint field 'time' must be an ISO 8601 UTC time like 2026-11-27T13:00:00Z",
        ),
        ("signatures", [], "checkpoint field 'signatures' must be a list of 1 to 32 signatures"),
        ("extra", 1, "the checkpoint has an unknown field 'extra'"),
    ],
)
def test_malformed_fields_are_refused_with_a_sentence(field: str, value: Any, message: str) -> None:
    document = checkpoint_document(LEDGER.checkpoint(9))
    document[field] = value
    with pytest.raises(MalformedDocument) as raised:
        parse_checkpoint(document)
    assert str(raised.value) == message
    if value != "2026-02-30T09:00:00Z":  # a pattern cannot know February's length
        assert not validator("checkpoint.schema.json").is_valid(document)


def test_a_malformed_signature_entry_is_named() -> None:
    document = checkpoint_document(LEDGER.checkpoint(9, cosigned=True))
    document["signatures"][1]["signer"] = "Palafita!"
    with pytest.raises(MalformedDocument) as raised:
        parse_checkpoint(document)
    assert str(raised.value) == "checkpoint signature 2 field 'signer' is not a valid handle"


def test_a_duplicated_signature_is_refused() -> None:
    document = checkpoint_document(LEDGER.checkpoint(9))
    document["signatures"].append(dict(document["signatures"][0]))
    with pytest.raises(MalformedDocument, match="same signer and key twice"):
        parse_checkpoint(document)


def test_json_text_is_read_strictly() -> None:
    with pytest.raises(MalformedDocument) as raised:
        load_json_document('{"size": 1, "size": 2}', what="checkpoint")
    assert str(raised.value) == (
        "the checkpoint is not valid JSON: the key 'size' appears twice in one object"
    )
    with pytest.raises(MalformedDocument, match="the number 1.5 is not an integer"):
        load_json_document('{"size": 1.5}')
    with pytest.raises(MalformedDocument, match="NaN is not an integer"):
        load_json_document('{"size": NaN}')
    with pytest.raises(MalformedDocument, match="is not a JSON object"):
        load_json_document("[1]")
    with pytest.raises(MalformedDocument, match="is not valid JSON"):
        parse_checkpoint(b"{not json")


# --- Inclusion proofs -----------------------------------------------------------


def test_every_event_of_the_ledger_is_proven_in_every_checkpoint() -> None:
    for size in range(1, 10):
        checkpoint = LEDGER.checkpoint(size)
        for seq in range(1, size + 1):
            document = json.loads(json.dumps(LEDGER.inclusion(seq, checkpoint)))
            body = verify_inclusion_document(document, checkpoint, trusted_keys=TRUSTED)
            assert body == LEDGER.bodies[seq - 1]


def test_a_proof_verifies_from_json_text_against_a_checkpoint_document() -> None:
    checkpoint = LEDGER.checkpoint(9, cosigned=True)
    text = json.dumps(LEDGER.inclusion(4, checkpoint), ensure_ascii=False)
    body = verify_inclusion_document(text, json.dumps(checkpoint_document(checkpoint)))
    assert body["memo"] == "ensaio 4"


def test_an_edited_body_is_not_in_the_ledger() -> None:
    checkpoint = LEDGER.checkpoint(9)
    document = LEDGER.inclusion(4, checkpoint)
    document["body"]["postings"][1]["amount"] = "400.00"
    with pytest.raises(ProofFailed) as raised:
        verify_inclusion_document(document, checkpoint)
    assert str(raised.value).startswith("event 4 (transfer, body hash ")
    assert str(raised.value).endswith(
        "…) is not in the ledger of 9 events that the checkpoint describes"
    )


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda d: d["audit_path"].__setitem__(1, flip_hex(d["audit_path"][1], 9)), ProofFailed),
        (lambda d: d["audit_path"].pop(), ProofFailed),
        (lambda d: d["audit_path"].append(ZERO_HASH), ProofFailed),
        (lambda d: d.__setitem__("seq", 5), ProofFailed),
        (lambda d: d.__setitem__("event_type", "record"), ProofFailed),
        (lambda d: d.__setitem__("body_tag", "mutualcredit/record/v1"), ProofFailed),
        (lambda d: d.__setitem__("checkpoint_size", 8), ProofFailed),
        (lambda d: d.__setitem__("checkpoint_root", ZERO_HASH), ProofFailed),
        (lambda d: d.__setitem__("network", "other-net"), ForeignDocument),
        (lambda d: d["body"].__setitem__("network", "other-net"), ForeignDocument),
        (lambda d: d["body"].__setitem__("author", "caio"), SignatureInvalid),
        (lambda d: d["signature"].__setitem__("key", public_hex(KEYS["coord"])), SignatureInvalid),
        (
            lambda d: d["signature"].__setitem__(
                "signature", flip_hex(d["signature"]["signature"])
            ),
            SignatureInvalid,
        ),
        (lambda d: d.__setitem__("type", "consistency"), MalformedDocument),
        (lambda d: d.__setitem__("body_tag", "mutualcredit/event/v1"), MalformedDocument),
        (lambda d: d.__setitem__("seq", 0), MalformedDocument),
        (lambda d: d.__setitem__("event_type", "payment"), MalformedDocument),
        (lambda d: d.__setitem__("audit_path", ["00"]), MalformedDocument),
        (lambda d: d["signature"].__setitem__("extra", 1), MalformedDocument),
        (lambda d: d.pop("body"), MalformedDocument),
    ],
)
def test_every_tampering_of_an_inclusion_proof_is_named(edit: Any, error: type) -> None:
    checkpoint = LEDGER.checkpoint(9)
    document = copy.deepcopy(LEDGER.inclusion(4, checkpoint))
    edit(document)
    with pytest.raises(error):
        verify_inclusion_document(document, checkpoint)


def test_a_proof_for_another_checkpoint_names_both_sizes() -> None:
    document = LEDGER.inclusion(2, LEDGER.checkpoint(5))
    with pytest.raises(ProofFailed) as raised:
        verify_inclusion_document(document, LEDGER.checkpoint(9))
    assert str(raised.value) == (
        "the inclusion proof was made for the checkpoint of size 5, not this checkpoint of "
        "size 9 (or its root differs)"
    )


def test_a_forged_checkpoint_fails_before_the_proof_is_looked_at() -> None:
    checkpoint = LEDGER.checkpoint(9)
    document = LEDGER.inclusion(2, checkpoint)
    forged = replace(checkpoint, time="2027-01-01T00:00:00Z")
    with pytest.raises(SignatureInvalid, match="checkpoint signature of coord"):
        verify_inclusion_document(document, forged)


def test_an_author_outside_the_trusted_keys_is_refused() -> None:
    checkpoint = LEDGER.checkpoint(9)
    document = LEDGER.inclusion(2, checkpoint)
    trusted = {"coord": TRUSTED["coord"]}
    with pytest.raises(UntrustedKey, match="author ana signed with key"):
        verify_inclusion_document(document, checkpoint, trusted_keys=trusted)


def test_a_transfer_signed_in_a_batch_is_proven_with_the_batch_hashes() -> None:
    checkpoint = LEDGER.checkpoint(9)
    document = LEDGER.inclusion(8, checkpoint)
    assert document["signature"]["batch"]["transfers"] == list(LEDGER.batch)
    body = verify_inclusion_document(document, checkpoint, trusted_keys=TRUSTED)
    assert body["key"] == "pay-8"


def test_a_batch_that_does_not_list_the_body_is_refused() -> None:
    checkpoint = LEDGER.checkpoint(9)
    document = LEDGER.inclusion(8, checkpoint)
    document["signature"]["batch"]["transfers"].remove(LEDGER.hashes[7])
    with pytest.raises(SignatureInvalid, match="is not in the signed batch of 2 transfers"):
        verify_inclusion_document(document, checkpoint)


def test_an_edited_batch_list_breaks_the_batch_signature() -> None:
    checkpoint = LEDGER.checkpoint(9)
    document = LEDGER.inclusion(8, checkpoint)
    document["signature"]["batch"]["transfers"].append(ZERO_HASH)
    with pytest.raises(SignatureInvalid, match="does not match the batch of event 8"):
        verify_inclusion_document(document, checkpoint)


def test_a_parsed_proof_round_trips() -> None:
    document = LEDGER.inclusion(8, LEDGER.checkpoint(9))
    assert inclusion_document(parse_inclusion_proof(document)) == document


# --- Consistency proofs ---------------------------------------------------------


def test_every_pair_of_checkpoints_is_consistent() -> None:
    checkpoints = [LEDGER.checkpoint(size, cosigned=True) for size in range(1, 10)]
    for old in checkpoints:
        for new in checkpoints[old.size - 1 :]:
            document = json.loads(json.dumps(LEDGER.consistency(old, new)))
            verify_consistency_document(document, old, new, trusted_keys=TRUSTED)


def test_a_rewritten_history_is_found() -> None:
    old = LEDGER.checkpoint(5)
    # Event 3 edited after checkpoint 5 was signed: the new tree is internally sound.
    leaves = list(LEDGER.leaf_hashes)
    leaves[2] = leaf_hash(b"edited behind the program's back")
    new = replace(LEDGER.checkpoint(9), root=root_from_leaf_hashes(leaves, 9).hex())
    new = sign_checkpoint(replace(new, signatures=()), signer="coord", private_key=KEYS["coord"])
    path = tuple(digest.hex() for digest in consistency_proof(leaves, 5, 9))
    proof = ConsistencyProof(
        network=NETWORK, old_size=5, old_root=old.root, new_size=9, new_root=new.root, path=path
    )
    with pytest.raises(ProofFailed) as raised:
        verify_consistency_document(proof, old, new)
    assert str(raised.value) == (
        "the ledger of 5 events is not a prefix of the ledger of 9 events: history was "
        "changed, or the proof is wrong"
    )


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda d: d["path"].__setitem__(0, flip_hex(d["path"][0])), ProofFailed),
        (lambda d: d["path"].pop(), ProofFailed),
        (lambda d: d.__setitem__("old_root", ZERO_HASH), ProofFailed),
        (lambda d: d.__setitem__("new_size", 8), ProofFailed),
        (lambda d: d.__setitem__("network", "other-net"), ForeignDocument),
        (lambda d: d.__setitem__("old_size", 10), MalformedDocument),
        (lambda d: d.__setitem__("type", "inclusion"), MalformedDocument),
    ],
)
def test_every_tampering_of_a_consistency_proof_is_named(edit: Any, error: type) -> None:
    old, new = LEDGER.checkpoint(3), LEDGER.checkpoint(9)
    document = LEDGER.consistency(old, new)
    edit(document)
    with pytest.raises(error):
        verify_consistency_document(document, old, new)


def test_two_checkpoints_of_one_size_must_agree_on_the_chain() -> None:
    old = LEDGER.checkpoint(6)
    fork = sign_checkpoint(
        replace(old, chain_hash=ZERO_HASH, signatures=()), signer="coord", private_key=KEYS["coord"]
    )
    document = LEDGER.consistency(old, old)
    with pytest.raises(ProofFailed, match="both checkpoints describe 6 events"):
        verify_consistency_document(document, old, fork)


def test_checkpoints_swapped_are_refused() -> None:
    old, new = LEDGER.checkpoint(3), LEDGER.checkpoint(9)
    with pytest.raises(ProofFailed, match="old tree \\(size 3\\) is not the old checkpoint's"):
        verify_consistency_document(LEDGER.consistency(old, new), new, old)


def test_a_parsed_consistency_proof_round_trips() -> None:
    document = LEDGER.consistency(LEDGER.checkpoint(3), LEDGER.checkpoint(9))
    assert consistency_document(parse_consistency_proof(document)) == document


# --- Schemas --------------------------------------------------------------------


def test_generated_documents_match_their_schemas() -> None:
    checkpoint_schema = validator("checkpoint.schema.json")
    proof_schema = validator("proof.schema.json")
    consistency_schema = validator("consistency-proof.schema.json")
    checkpoints = [LEDGER.checkpoint(size, cosigned=size % 2 == 0) for size in range(1, 10)]
    for checkpoint in checkpoints:
        checkpoint_schema.validate(checkpoint_document(checkpoint))
        for seq in range(1, checkpoint.size + 1):
            proof_schema.validate(LEDGER.inclusion(seq, checkpoint))
        consistency_schema.validate(LEDGER.consistency(checkpoints[0], checkpoint))


def test_schemas_have_their_ids_and_refuse_other_documents() -> None:
    for name in ("checkpoint.schema.json", "proof.schema.json", "consistency-proof.schema.json"):
        schema = json.loads((SCHEMAS / name).read_text())
        assert schema["$id"] == f"https://mutualcredit.example/schemas/{name}"
    checkpoint = LEDGER.checkpoint(9)
    inclusion = LEDGER.inclusion(1, checkpoint)
    assert not validator("checkpoint.schema.json").is_valid(inclusion)
    assert not validator("proof.schema.json").is_valid(checkpoint_document(checkpoint))
    assert not validator("consistency-proof.schema.json").is_valid(inclusion)
